//! Mail that wakes its recipient, with no server running.
//!
//! Storing a message is not enough for a headless agent: between turns it
//! has no process that could read it. [`send_and_wake`] stores the message
//! (resolving groups against the real fleet, see [`roster`](crate::roster))
//! and then wakes every recipient that takes turns headless: a task-scoped
//! agent gets a detached dispatcher (`ov dispatch --agent <name>`) unless
//! one runs, a persistent agent's host is poked. The CLI's `ov mail send`
//! and `ov mail reply`, the scripted agent and embedding programs all go
//! through here, so mail wakes the same way whoever sends it.
//!
//! Waking never undoes a send: a recipient that could not be woken comes
//! back as [`WakeOutcome::Failed`] with the reason, and its mail waits for
//! the next wake or a sweep ([`crate::dispatch::sweep`]).
//!
//! ```
//! use overstory_core::{AgentName, Layout};
//! use overstory_mail::{Address, MailClient, SendRequest};
//! use overstory_turn::wake::{Waker, send_and_wake};
//!
//! let dir = tempfile::tempdir()?;
//! let layout = Layout::new(dir.path());
//! std::fs::create_dir_all(layout.dir())?;
//! let mut client = MailClient::open(&layout)?;
//! let req = SendRequest::new(
//!     AgentName::new("orchestrator")?,
//!     Address::parse("builder-1")?,
//!     "Rebase",
//!     "main moved; rebase before you report",
//! );
//! // `ov` is what a woken agent's dispatcher runs; builder-1 has no
//! // session here, so nothing is woken and the mail simply waits.
//! let waker = Waker::new(layout.clone(), "/usr/local/bin/ov");
//! let posted = send_and_wake(&mut client, &req, &waker)?;
//! assert_eq!(posted.delivery.sent.len(), 1);
//! assert!(posted.wakeups.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::PathBuf;

use overstory_core::config::Config;
use overstory_core::error::chain_text;
use overstory_core::{AgentName, Layout};
use overstory_mail::{
    Address, Delivery, MailClient, MailError, MessageType, Priority, ReplyRequest, SendRequest,
    Sent,
};
use overstory_runtime::scripted::{MailReport, MailStep, ScriptMailer};
use overstory_sessions::{RunMode, SessionStore};
use serde::Serialize;

use crate::dispatch::{Launcher, WakeOutcome, wake};
use crate::factory::TurnFactory;
use crate::roster::roster;

/// What waking one recipient did.
#[derive(Debug, Clone, Serialize)]
pub struct Wakeup {
    /// The recipient that was to be woken.
    pub agent: AgentName,
    /// What happened, or why waking failed (the mail is stored either way).
    #[serde(flatten)]
    pub outcome: WakeOutcome,
}

impl Wakeup {
    /// Returns the line a sender shows for this wake-up: that a turn was
    /// started, or that the mail is stored but no turn was; `None` when
    /// there is nothing to say (a dispatcher already runs, the host was
    /// poked, the agent does not take turns headless).
    pub fn note(&self) -> Option<String> {
        match &self.outcome {
            WakeOutcome::Started { pid } => Some(format!(
                "Started a turn for \"{}\" (dispatcher pid {pid})",
                self.agent
            )),
            WakeOutcome::Failed { reason } => Some(format!(
                "The mail to \"{}\" is stored, but no turn was started: {reason}",
                self.agent
            )),
            WakeOutcome::AlreadyRunning
            | WakeOutcome::Poked { .. }
            | WakeOutcome::NotEligible { .. } => None,
        }
    }
}

/// A stored message and what waking its recipients did.
#[derive(Debug, Clone)]
pub struct Posted {
    /// The stored messages, one per recipient.
    pub delivery: Delivery,
    /// One entry per recipient that takes turns headless; recipients in
    /// tmux, finished or unknown are not listed.
    pub wakeups: Vec<Wakeup>,
}

/// How recipients are woken: the project, the `ov` executable a
/// dispatcher runs as, and (optionally) the configuration to use.
///
/// The configuration is read from the project only when a recipient needs
/// waking, so mail to anyone else costs one read of `sessions.db`.
#[derive(Debug, Clone)]
pub struct Waker {
    layout: Layout,
    /// The `ov` executable, or why there is none (waking then fails per
    /// recipient; sending still works).
    ov: Result<PathBuf, String>,
    config: Option<Config>,
}

impl Waker {
    /// Creates a waker for the project at `layout` whose dispatchers run
    /// as `ov dispatch` from the executable `ov`.
    pub fn new(layout: Layout, ov: impl Into<PathBuf>) -> Self {
        Self {
            layout,
            ov: Ok(ov.into()),
            config: None,
        }
    }

    /// Creates a waker that has no `ov` executable to start dispatchers
    /// with, because of `reason`: mail is still stored, and every recipient
    /// that needed waking is reported as [`WakeOutcome::Failed`] with it.
    pub fn without_ov(layout: Layout, reason: impl Into<String>) -> Self {
        Self {
            layout,
            ov: Err(reason.into()),
            config: None,
        }
    }

    /// Uses `config` instead of loading the project's configuration.
    #[must_use]
    pub fn with_config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// Wakes each of `recipients` that takes turns headless and returns
    /// what happened to each of those. Never fails: a recipient that could
    /// not be woken is a [`WakeOutcome::Failed`] with the reason.
    pub fn wake(&self, recipients: &[String]) -> Vec<Wakeup> {
        let headless = headless_recipients(&self.layout, recipients);
        if headless.is_empty() {
            return Vec::new();
        }
        let ov = match &self.ov {
            Ok(ov) => ov,
            Err(reason) => return failed(headless, reason),
        };
        let config = match &self.config {
            Some(c) => c.clone(),
            None => match Config::load(self.layout.root()) {
                Ok(loaded) => loaded.config,
                Err(e) => return failed(headless, &chain_text(&e)),
            },
        };
        wake_recipients(&self.layout, &config, ov, &headless)
    }
}

/// Reports each of `agents` as not woken, for `reason`.
fn failed(agents: Vec<String>, reason: &str) -> Vec<Wakeup> {
    agents
        .into_iter()
        .filter_map(|agent| AgentName::new(&agent).ok())
        .map(|agent| Wakeup {
            agent,
            outcome: WakeOutcome::Failed {
                reason: reason.to_owned(),
            },
        })
        .collect()
}

/// Stores `req` (groups resolved against the project's sessions) and wakes
/// every recipient that takes turns headless.
///
/// # Errors
/// What [`MailClient::deliver`] refuses (nothing is stored then), or a
/// [`MailError`] when `sessions.db` cannot be read to resolve the
/// recipients. Waking itself never fails the call: see [`Posted::wakeups`].
pub fn send_and_wake(
    client: &mut MailClient,
    req: &SendRequest,
    waker: &Waker,
) -> Result<Posted, MailError> {
    let roster = roster(&waker.layout)?;
    let delivery = client.deliver(req, &roster)?;
    let recipients: Vec<String> = delivery.sent.iter().map(|s| s.message.to.clone()).collect();
    let wakeups = waker.wake(&recipients);
    Ok(Posted { delivery, wakeups })
}

/// Stores the reply `req` and wakes its recipient if it takes turns
/// headless. Returns the stored reply and what waking did.
///
/// # Errors
/// What [`MailClient::reply`] refuses, or a [`MailError`] when
/// `sessions.db` cannot be read.
pub fn reply_and_wake(
    client: &MailClient,
    req: &ReplyRequest,
    waker: &Waker,
) -> Result<(Sent, Vec<Wakeup>), MailError> {
    let roster = roster(&waker.layout)?;
    let sent = client.reply(req, &roster)?;
    let wakeups = waker.wake(std::slice::from_ref(&sent.message.to));
    Ok((sent, wakeups))
}

/// A [`ScriptMailer`] that sends a scripted agent's mail steps as
/// `ov mail send` does: through [`send_and_wake`], so a scripted swarm's
/// mail wakes its recipients exactly as a real agent's does.
///
/// A step that cannot be sent (an unknown type or priority, an invalid
/// address, a refused recipient) becomes a failed tool result with the
/// reason; it never stops the turn.
#[derive(Debug, Clone)]
pub struct WakingMailer {
    waker: Waker,
}

impl WakingMailer {
    /// Creates a mailer that stores mail in `waker`'s project and wakes
    /// recipients through it.
    pub fn new(waker: Waker) -> Self {
        Self { waker }
    }

    /// Stores the step's mail, wakes its headless recipients, and returns
    /// the lines that report it (one per stored message, one per wake-up
    /// worth noting), or why nothing was stored.
    fn deliver(&self, from: &str, mail: &MailStep) -> Result<String, String> {
        let text = |e: &dyn std::error::Error| chain_text(e);
        let kind: MessageType = mail
            .kind
            .as_deref()
            .unwrap_or("status")
            .parse()
            .map_err(|e| text(&e))?;
        let priority: Priority = mail
            .priority
            .as_deref()
            .unwrap_or("normal")
            .parse()
            .map_err(|e| text(&e))?;
        let from = AgentName::new(from).map_err(|e| text(&e))?;
        let to = Address::parse(&mail.to).map_err(|e| text(&e))?;
        let mut req = SendRequest::new(from, to, mail.subject.clone(), mail.body.clone())
            .kind(kind)
            .priority(priority);
        req.payload = mail.payload.as_ref().map(ToString::to_string);
        let mut client = MailClient::open(&self.waker.layout).map_err(|e| text(&e))?;
        let posted = send_and_wake(&mut client, &req, &self.waker).map_err(|e| text(&e))?;
        let sent = posted
            .delivery
            .sent
            .iter()
            .map(|s| format!("Sent message {} to {}", s.message.id, s.message.to));
        let notes = posted.wakeups.iter().filter_map(Wakeup::note);
        Ok(sent.chain(notes).collect::<Vec<_>>().join("\n"))
    }
}

impl ScriptMailer for WakingMailer {
    fn send(&self, from: &str, mail: &MailStep) -> MailReport {
        match self.deliver(from, mail) {
            Ok(text) => MailReport::delivered(text),
            Err(reason) => MailReport::failed(reason),
        }
    }
}

/// Returns the recipients that may need waking: those with a session that is
/// not finished and not in tmux (task-scoped agents get a dispatcher,
/// persistent ones a poke of their host). A cheap check (one read of
/// `sessions.db`, no config or manifest).
pub fn headless_recipients(layout: &Layout, recipients: &[String]) -> Vec<String> {
    if recipients.is_empty() || !layout.sessions_db().is_file() {
        return Vec::new();
    }
    let Ok(store) = SessionStore::open(&layout.sessions_db()) else {
        return Vec::new();
    };
    recipients
        .iter()
        .filter(|r| {
            store
                .get(r)
                .ok()
                .flatten()
                .is_some_and(|s| s.mode() != RunMode::Tmux && !s.state.is_terminal())
        })
        .cloned()
        .collect()
}

/// Wakes each of `recipients` with `config`. Prefer [`Waker::wake`], which
/// skips recipients that do not take turns headless; pass them through
/// [`headless_recipients`] first when calling this directly.
pub fn wake_recipients(
    layout: &Layout,
    config: &Config,
    ov: &std::path::Path,
    recipients: &[String],
) -> Vec<Wakeup> {
    let factory = TurnFactory::new(layout.clone(), config.clone(), Some(ov.to_owned()));
    let launcher = Launcher { ov: ov.to_owned() };
    recipients
        .iter()
        .filter_map(|r| AgentName::new(r).ok())
        .map(|agent| {
            let outcome =
                wake(&factory, &launcher, &agent).unwrap_or_else(|e| WakeOutcome::Failed {
                    reason: chain_text(&e),
                });
            Wakeup { agent, outcome }
        })
        .collect()
}
