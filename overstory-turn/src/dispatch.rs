//! Dispatch: turning mail and nudges into user turns, with no server running.
//!
//! A headless task-scoped agent has no process between turns, so something
//! must start its next turn when mail arrives. In the original only `ov
//! serve` did, by polling. Here the sender does it:
//!
//! 1. after inserting mail, the sender calls [`wake`] for each recipient;
//! 2. `wake` checks the agent is a spawn-per-turn agent ([`is_spawn_per_turn`])
//!    and, unless a dispatcher already runs for it, starts one: a detached
//!    `ov dispatch --agent <name>` process ([`Launcher`]);
//! 3. the dispatcher ([`run_dispatcher`]) holds the agent's dispatch lock,
//!    batches everything pending — queued nudges first, then all unread mail
//!    — into one user turn, runs it with [`run_turn`], and marks the mail
//!    read (and the nudges done) only when that turn exited 0. It repeats
//!    until nothing is pending, then releases the lock and looks once more,
//!    so mail that arrived while it was letting go is never stranded.
//!
//! Delivery is at-least-once: a turn that fails leaves its mail unread, and
//! the dispatcher retries with backoff up to a limit. A turn whose agent
//! cannot start at all ([`TurnError::is_start_failure`]: a missing runtime
//! binary, a scripted agent without a script) is not retried: the agent is
//! settled `zombie`, its parent gets `worker_died`, and the dispatcher fails
//! with [`DispatchError::CannotStart`] (so `ov dispatch` exits non-zero). [`sweep`] finds agents
//! with pending work and no dispatcher (after a crash, or a give-up) and
//! wakes them; `ov serve` and the watchdog run it as a backstop.
//!
//! Nudges and an agent's first prompt use the same path: [`enqueue_turn`](crate::queue::enqueue_turn)
//! writes the text into `.overstory/agents/<name>/nudges/` and the next
//! dispatcher turn carries it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use overstory_core::lockfile::{self, FileLock};
use overstory_core::{AgentName, FsError, Layout, process};
use overstory_mail::MailClient;
use overstory_runtime::error::RuntimeError;
use overstory_runtime::runtime::AgentRuntime;
use overstory_sessions::{AgentState, RunMode, Session, SessionStore, Transition};
use serde::Serialize;
use std::fs::OpenOptions;

use crate::factory::TurnFactory;
use crate::queue::{queued_turns, turn_text};
use crate::{RunnerWorkerDied, TurnError, TurnResult, run_turn};

/// Dispatching failed before any turn ran.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DispatchError {
    /// `sessions.db` could not be opened or read.
    #[error(transparent)]
    Db(#[from] overstory_core::DbError),
    /// `mail.db` could not be opened, read, or updated when acknowledging mail.
    #[error(transparent)]
    Mail(#[from] overstory_mail::MailError),
    /// A file under `.overstory/` could not be written or read.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The runtime could not be chosen or built.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The agent's process cannot start (its binary is missing, or it exited
    /// saying it could not start), so no retry can help: the agent was
    /// settled as `zombie` and its parent got `worker_died`.
    #[error("Agent \"{agent}\" cannot start, so it was settled as zombie: {reason}")]
    CannotStart {
        /// The agent.
        agent: String,
        /// Why, as the runtime or the failed start tells it.
        reason: String,
    },
    /// The dispatcher process could not be started.
    #[error("Failed to start the dispatcher for \"{agent}\"")]
    Launch {
        /// The agent the dispatcher or host was to run for.
        agent: String,
        /// The OS error from starting the `ov` executable.
        #[source]
        source: std::io::Error,
    },
}

impl DispatchError {
    /// Returns the error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Db(e) => e.code(),
            Self::Mail(e) => e.code(),
            Self::Fs(e) => e.code(),
            Self::Runtime(e) => e.code(),
            _ => "AGENT_ERROR",
        }
    }
}

/// Returns whether `session` runs one process per turn: a task-scoped
/// capability, not in a terminal state, not in tmux (a tmux agent must never
/// get a second process in its worktree), and a runtime that can spawn
/// headless children and parse their output.
pub fn is_spawn_per_turn(session: &Session, runtime: &dyn AgentRuntime) -> bool {
    session.mode() == RunMode::SpawnPerTurn
        && !session.state.is_terminal()
        && overstory_runtime::runtime::supports_headless(runtime, Path::new(&session.worktree_path))
}

/// Returns whether the agent has queued turns or unread mail.
fn has_pending(layout: &Layout, agent: &AgentName) -> bool {
    if !queued_turns(layout, agent).is_empty() {
        return true;
    }
    overstory_mail::MailStore::open(layout.mail_db())
        .and_then(|m| m.unread_count(agent.as_str()))
        .is_ok_and(|n| n > 0)
}

/// Holds an agent's dispatch lock (one dispatcher per agent).
#[derive(Debug)]
struct DispatchLock(Option<FileLock>);

impl DispatchLock {
    fn try_take(layout: &Layout, agent: &AgentName) -> Result<Option<Self>, FsError> {
        Ok(FileLock::try_acquire(&layout.agent_dispatch_lock(agent))?.map(|l| Self(Some(l))))
    }

    /// Records the holder's pid in the lock file, for [`dispatcher_pid`].
    fn record_pid(&self) {
        if let Some(l) = &self.0 {
            l.record_pid();
        }
    }

    fn release(&mut self) {
        self.0 = None;
    }
}

/// Returns whether a dispatcher currently runs for the agent.
pub fn is_dispatching(layout: &Layout, agent: &AgentName) -> bool {
    matches!(DispatchLock::try_take(layout, agent), Ok(None))
}

/// Returns the pid of the dispatcher running for the agent, when one runs
/// (read from its dispatch lock file, which the holder writes).
pub fn dispatcher_pid(layout: &Layout, agent: &AgentName) -> Option<i32> {
    lockfile::holder_pid(&layout.agent_dispatch_lock(agent))
}

/// Starts dispatcher processes.
#[derive(Debug, Clone)]
pub struct Launcher {
    /// The `ov` executable (`ov dispatch --agent <name>` is run).
    pub ov: PathBuf,
}

impl Launcher {
    /// Starts a detached dispatcher for `agent`. The child leads its own
    /// process group, reads nothing, and writes its diagnostics to
    /// `.overstory/logs/<agent>/dispatch.log`; a background thread reaps it.
    ///
    /// # Errors
    /// [`DispatchError::Launch`] when the process cannot be started.
    pub fn launch(&self, layout: &Layout, agent: &AgentName) -> Result<u32, DispatchError> {
        self.detached(layout, agent, "dispatch", &layout.agent_dispatch_log(agent))
    }

    /// Starts a detached agent host for the persistent agent `agent`
    /// (`ov agent-host --agent <name>`, see [`crate::host`]). Like
    /// [`launch`](Self::launch), the child leads its own process group; its
    /// diagnostics go to `.overstory/logs/<agent>/host.log`.
    ///
    /// # Errors
    /// [`DispatchError::Launch`] when the process cannot be started.
    pub fn launch_host(&self, layout: &Layout, agent: &AgentName) -> Result<u32, DispatchError> {
        self.detached(layout, agent, "agent-host", &layout.agent_host_log(agent))
    }

    fn detached(
        &self,
        layout: &Layout,
        agent: &AgentName,
        command: &str,
        log_path: &Path,
    ) -> Result<u32, DispatchError> {
        let stderr = log_path
            .parent()
            .and_then(|d| std::fs::create_dir_all(d).ok())
            .and_then(|()| {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log_path)
                    .ok()
            })
            .map_or_else(Stdio::null, Stdio::from);
        let mut child = process::command(&self.ov)
            .arg(command)
            .arg("--agent")
            .arg(agent.as_str())
            .arg("--project")
            .arg(layout.root())
            .env_remove(overstory_core::env::PROJECT_ROOT)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|source| DispatchError::Launch {
                agent: agent.to_string(),
                source,
            })?;
        let pid = child.id();
        std::thread::spawn(move || child.wait());
        Ok(pid)
    }
}

/// What [`wake`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum WakeOutcome {
    /// A dispatcher was started.
    Started {
        /// The pid of the new `ov dispatch` process.
        pid: u32,
    },
    /// A dispatcher already runs and will pick the work up.
    AlreadyRunning,
    /// The persistent agent's host was poked: it delivers the pending work
    /// on its agent's stdin as soon as the agent is idle.
    Poked {
        /// The host's pid.
        host_pid: i32,
    },
    /// The agent does not take turns this way (tmux, persistent, terminal,
    /// unknown, or a runtime without headless support).
    NotEligible {
        /// Why the agent is not eligible (`no session`, `builder agent in state working (tmux)`).
        reason: String,
    },
    /// Waking failed (the mail is stored and waits for the next wake or
    /// sweep).
    Failed {
        /// What went wrong.
        reason: String,
    },
}

/// Makes sure `agent`'s pending work will be delivered: a persistent
/// headless agent's live host is poked ([`WakeOutcome::Poked`]); for a
/// spawn-per-turn agent a dispatcher is started unless one runs.
///
/// # Errors
/// Database failures and [`DispatchError::Launch`].
pub fn wake(
    factory: &TurnFactory,
    launcher: &Launcher,
    agent: &AgentName,
) -> Result<WakeOutcome, DispatchError> {
    let store = SessionStore::open(&factory.layout.sessions_db())?;
    let Some(session) = store.get(agent.as_str())? else {
        return Ok(WakeOutcome::NotEligible {
            reason: "no session".into(),
        });
    };
    if crate::host::is_hosted_session(&session) {
        return Ok(match crate::host::poke(&factory.layout, agent) {
            Some(host_pid) => WakeOutcome::Poked { host_pid },
            None => WakeOutcome::NotEligible {
                reason: format!(
                    "{} agent in state {} has no live agent host",
                    session.capability, session.state
                ),
            },
        });
    }
    let runtime = factory.runtime_for(&session)?;
    if !is_spawn_per_turn(&session, runtime.as_ref()) {
        return Ok(WakeOutcome::NotEligible {
            reason: format!(
                "{} agent in state {} ({})",
                session.capability,
                session.state,
                if session.mode() != RunMode::Tmux {
                    "headless"
                } else {
                    "tmux"
                }
            ),
        });
    }
    if is_dispatching(&factory.layout, agent) {
        return Ok(WakeOutcome::AlreadyRunning);
    }
    let pid = launcher.launch(&factory.layout, agent)?;
    Ok(WakeOutcome::Started { pid })
}

/// Wakes every spawn-per-turn agent that has pending work and no dispatcher.
/// The backstop for crashed or given-up dispatchers.
///
/// # Errors
/// Database failures.
pub fn sweep(
    factory: &TurnFactory,
    launcher: &Launcher,
) -> Result<Vec<(String, WakeOutcome)>, DispatchError> {
    let store = SessionStore::open(&factory.layout.sessions_db())?;
    let mut out = Vec::new();
    // A row another program wrote that our types reject is left alone: its
    // agent cannot be dispatched from here, and the others still are.
    let (sessions, _unreadable) = store.all_readable()?;
    for session in sessions.iter().filter(|s| s.state.is_active()) {
        let agent = &session.agent_name;
        if !has_pending(&factory.layout, agent) || is_dispatching(&factory.layout, agent) {
            continue;
        }
        out.push((agent.to_string(), wake(factory, launcher, agent)?));
    }
    Ok(out)
}

/// Choices for one dispatcher run.
#[derive(Debug, Clone)]
pub struct DispatcherOptions {
    /// Failed turns in a row before the dispatcher gives up (the work stays
    /// pending for the next wake or sweep).
    pub max_attempts: u32,
    /// Delay before the first retry; doubles each time.
    pub backoff: Duration,
    /// Starts a parent's dispatcher when this agent's turn ends it (see
    /// [`wake_waiting_parent`]); `None`: the parent is not woken.
    pub launcher: Option<Launcher>,
}

impl Default for DispatcherOptions {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            backoff: Duration::from_millis(500),
            launcher: None,
        }
    }
}

/// What a dispatcher run did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DispatchReport {
    /// How many turns ran, failed ones included.
    pub turns: usize,
    /// Mail ids delivered and marked read.
    pub delivered: Vec<String>,
    /// Queued turns (nudges, first prompts) delivered.
    pub nudges: usize,
    /// How many turns failed or did not end cleanly; their mail stays unread.
    pub failures: usize,
    /// Another dispatcher already held the lock; nothing was done.
    pub already_running: bool,
    /// Why the run stopped early, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// Runs the dispatcher loop for `agent` until nothing is pending. See the
/// [module docs](self).
///
/// # Errors
/// Database failures before the first turn. Turn failures are counted and
/// retried, not returned.
///
/// # Cancel safety
/// Dropping the future releases the dispatch lock; a turn in flight is
/// abandoned (its shim kills it when this process exits).
pub async fn run_dispatcher(
    factory: &TurnFactory,
    agent: &AgentName,
    opts: &DispatcherOptions,
) -> Result<DispatchReport, DispatchError> {
    let mut report = DispatchReport::default();
    if !factory.layout.is_initialized() {
        report.stopped = Some("the project is gone".into());
        return Ok(report);
    }
    let Some(mut lock) = DispatchLock::try_take(&factory.layout, agent)? else {
        report.already_running = true;
        return Ok(report);
    };
    lock.record_pid();
    let mut attempts = 0u32;
    loop {
        // A project deleted under us (a test's temp dir, a removed checkout)
        // must not be recreated by our lock and log files.
        if !factory.layout.is_initialized() {
            report.stopped = Some("the project is gone".into());
            return Ok(report);
        }
        let sessions = SessionStore::open(&factory.layout.sessions_db())?;
        let Some(session) = sessions.get(agent.as_str())? else {
            report.stopped = Some("no session".into());
            return Ok(report);
        };
        drop(sessions);
        let runtime = factory.runtime_for(&session)?;
        if !is_spawn_per_turn(&session, runtime.as_ref()) {
            report.stopped = Some(format!("agent is {}", session.state));
            return Ok(report);
        }
        let queued = queued_turns(&factory.layout, agent);
        let mut client = MailClient::open(&factory.layout)?;
        let mail = client.peek_unread(agent)?;
        if queued.is_empty() && mail.is_empty() {
            // Let go, then look once more: a sender that saw our lock held
            // before we released it relies on us seeing its mail.
            lock.release();
            if !has_pending(&factory.layout, agent) {
                return Ok(report);
            }
            match DispatchLock::try_take(&factory.layout, agent)? {
                Some(l) => {
                    l.record_pid();
                    lock = l;
                }
                None => return Ok(report),
            }
            continue;
        }
        let text = turn_text(&queued, &mail);
        let mut turn = factory.turn_options(&session, runtime.encode_user_turn(&text))?;
        turn.delivering = mail.iter().map(|m| m.id.clone()).collect();
        let result = run_turn(turn).await;
        report.turns += 1;
        if let (Ok(r), Some(launcher)) = (&result, &opts.launcher)
            && r.final_state.is_terminal()
            && !r.initial_state.is_terminal()
        {
            wake_waiting_parent(factory, launcher, &session, r.final_state);
        }
        match result {
            Ok(r) if delivered(&r) => {
                attempts = 0;
                let ids: Vec<String> = mail.iter().map(|m| m.id.clone()).collect();
                client.acknowledge(&ids)?;
                report.delivered.extend(ids);
                for (path, _) in &queued {
                    let _ = std::fs::remove_file(path);
                }
                report.nudges += queued.len();
            }
            Ok(r) => {
                report.failures += 1;
                tracing::warn!(agent = %agent, exit = ?r.exit_code, "turn did not end cleanly; its mail stays unread");
                if r.final_state.is_terminal() {
                    report.stopped = Some(format!("agent is {}", r.final_state));
                    return Ok(report);
                }
                attempts += 1;
            }
            Err(e) if e.is_start_failure() => {
                let reason = start_failure_reason(&e, runtime.as_ref());
                tracing::error!(agent = %agent, reason = %reason, "the agent cannot start; settling it as zombie");
                let told = settle_unstartable(&factory.layout, &session, &reason);
                // The parent's `worker_died` is mail like any other: wake it,
                // or a lead waiting on this child would never hear of it.
                if let (Some(parent), Some(launcher)) = (told, &opts.launcher)
                    && let Err(e) = wake(factory, launcher, &parent)
                {
                    tracing::warn!(parent = %parent, error = %e, "could not wake the parent");
                }
                return Err(DispatchError::CannotStart {
                    agent: agent.to_string(),
                    reason,
                });
            }
            Err(e @ crate::TurnError::OverBudget(_)) => {
                // Retrying cannot help: the spend only grows.
                report.stopped = Some(e.to_string());
                return Ok(report);
            }
            Err(e) => {
                report.failures += 1;
                tracing::warn!(agent = %agent, error = %e, "turn failed; its mail stays unread");
                attempts += 1;
            }
        }
        if attempts >= opts.max_attempts {
            report.stopped = Some(format!("gave up after {attempts} failed turns"));
            return Ok(report);
        }
        if attempts > 0 {
            let delay = opts.backoff * 2u32.saturating_pow(attempts - 1);
            tokio::time::sleep(delay).await;
        }
    }
}

/// Says why an agent cannot start: the runtime's own preflight when it fails
/// (it names the binary and how to install it), else the failed start.
fn start_failure_reason(e: &TurnError, runtime: &dyn AgentRuntime) -> String {
    match runtime.preflight() {
        Err(p) => p.to_string(),
        Ok(()) => std::error::Error::source(e).map_or_else(|| e.to_string(), ToString::to_string),
    }
}

/// Settles an agent that cannot start: `zombie` (from an active state only),
/// and, when that landed and it has a parent, a `worker_died` mail to the
/// parent, whose name is returned when the mail was stored. Failures are
/// logged: the dispatcher fails with the reason anyway.
fn settle_unstartable(layout: &Layout, session: &Session, reason: &str) -> Option<AgentName> {
    let agent = session.agent_name.as_str();
    let landed = SessionStore::open(&layout.sessions_db())
        .and_then(|mut store| store.transition(agent, &Transition::died().touch_activity()));
    match landed {
        Ok(outcome) if outcome.applied() => {}
        Ok(outcome) => {
            tracing::warn!(agent, state = ?outcome.current(), "not settled as zombie: the agent is no longer active");
            return None;
        }
        Err(e) => {
            tracing::warn!(agent, error = %e, "failed to settle the agent as zombie");
            return None;
        }
    }
    let parent = session.parent_agent.as_ref()?;
    let task_id = session.task_str();
    let died = RunnerWorkerDied {
        agent,
        capability: session.capability.as_str(),
        task_id,
        parent: parent.as_str(),
        what: "could not start its agent process",
        reason,
        last_activity: &session.last_activity,
    };
    let sent =
        overstory_mail::MailStore::open(layout.mail_db()).and_then(|m| m.insert(&died.message()));
    match sent {
        Ok(_) => Some(parent.clone()),
        Err(e) => {
            tracing::warn!(agent, error = %e, "failed to send worker_died mail to parent");
            None
        }
    }
}

/// Gives a waiting parent its next turn once `child`'s turn ended it.
///
/// A lead that read its builder's `worker_done` while the builder's turn was
/// still running saw a live child and settled `working`, waiting; the
/// builder then completes and no mail follows, so nothing would wake the
/// lead again. When the parent is a headless agent in `working`, a turn
/// saying which child ended is queued for it and its dispatcher started —
/// also when it has unread mail: that mail may be the child's own report,
/// read in a turn that still sees the child running. A queued turn and
/// pending mail are delivered together as one turn.
pub fn wake_waiting_parent(
    factory: &TurnFactory,
    launcher: &Launcher,
    child: &Session,
    final_state: AgentState,
) {
    let Some(parent) = child.parent_agent.as_ref() else {
        return;
    };
    let Ok(store) = SessionStore::open(&factory.layout.sessions_db()) else {
        return;
    };
    let Ok(Some(row)) = store.get(parent.as_str()) else {
        return;
    };
    if row.state != AgentState::Working || crate::host::is_hosted_session(&row) {
        return;
    }
    let text = format!(
        "[CHILD] {} ended ({final_state}). Check your children and mail, then finish your task or keep waiting.",
        child.agent_name
    );
    if let Err(e) = crate::queue::enqueue_turn(&factory.layout, parent, &text) {
        tracing::warn!(parent = %parent, error = %e, "could not queue the parent's turn");
        return;
    }
    if let Err(e) = wake(factory, launcher, parent) {
        tracing::warn!(parent = %parent, error = %e, "could not wake the parent");
    }
}

/// A turn delivered its input when its child exited 0.
fn delivered(r: &TurnResult) -> bool {
    r.exit_code == Some(0)
}
