//! Settling an agent found dead: the one home of what the watchdog's
//! `terminate` and the reconciler's dead-host repair both do once the
//! agent's processes are gone.
//!
//! 1. the row moves to `zombie` through the sessions compare-and-swap (only
//!    from an active state, escalation reset);
//! 2. a `custom` event `{type:"state_change", from, to, reason, by}` is
//!    recorded for the change;
//! 3. when this call moved it (so exactly once per death) and
//!    `watchdog.notifyParentOnDeath` holds, its parent gets `worker_died`
//!    mail (and a `mail_sent` event), and a headless parent is woken.
//!
//! [`Settle`] also writes the watchdog's other state changes (step 1–2 with
//! any transition), so every state the fleet writes records its event the
//! same way.

use std::path::Path;

use overstory_core::events::{EventLevel, EventStore, EventType, NewEvent};
use overstory_core::{Config, DbError, Layout};
use overstory_mail::MailStore;
use overstory_mail::protocol::{TerminatedBy, WorkerDied};
use overstory_sessions::{AgentState, Session, SessionStore, Transition, TransitionOutcome};

/// What settling works with: the stores (opened once by the caller) and
/// who is settling.
pub(crate) struct Settle<'a> {
    pub(crate) layout: &'a Layout,
    pub(crate) config: &'a Config,
    pub(crate) store: &'a mut SessionStore,
    pub(crate) mail: Option<&'a MailStore>,
    pub(crate) events: Option<&'a EventStore>,
    /// The run events are labelled with (`current-run.txt`).
    pub(crate) run_id: Option<&'a str>,
    /// Woken parents' dispatchers run as this `ov`; `None`: not woken.
    pub(crate) ov_program: Option<&'a Path>,
    /// `watchdog.notifyParentOnDeath`.
    pub(crate) notify_parent: bool,
    /// Who writes the state (`watchdog`, `reconciler`), in each event.
    pub(crate) by: &'static str,
}

/// A state written by [`Settle::transition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Changed {
    /// The state before.
    pub(crate) prev: AgentState,
    /// The state now.
    pub(crate) next: AgentState,
}

/// What [`Settle::died`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Died {
    /// The state change, when the row was still active (`None`: it was
    /// already terminal, nothing was written).
    pub(crate) changed: Option<Changed>,
    /// Whether the parent was sent `worker_died`.
    pub(crate) worker_died: bool,
}

/// Records `e` in `events` (else in `events.db`, opened for it), labelled
/// with the run; best effort.
pub(crate) fn record(
    layout: &Layout,
    events: Option<&EventStore>,
    run_id: Option<&str>,
    e: NewEvent,
) {
    let e = e.run(run_id.map(str::to_owned));
    if let Some(events) = events {
        let _ = events.insert(&e);
    } else if let Ok(events) = EventStore::open(&layout.events_db()) {
        let _ = events.insert(&e);
    }
}

impl Settle<'_> {
    /// Records `e`, labelled with the run (best effort).
    pub(crate) fn record(&self, e: NewEvent) {
        record(self.layout, self.events, self.run_id, e);
    }

    /// Writes a state through the compare-and-swap and records the
    /// `state_change` event when the state changed. `None` when the
    /// transition did not apply (the row moved meanwhile, or is gone).
    ///
    /// # Errors
    /// [`DbError`] when `sessions.db` cannot be written.
    pub(crate) fn transition(
        &mut self,
        agent: &str,
        t: &Transition,
        reason: &str,
    ) -> Result<Option<Changed>, DbError> {
        let TransitionOutcome::Applied { prev, next } = self.store.transition(agent, t)? else {
            return Ok(None);
        };
        if prev != next {
            let level = if next == AgentState::Zombie {
                EventLevel::Warn
            } else {
                EventLevel::Info
            };
            self.record(
                NewEvent::custom(
                    agent,
                    "state_change",
                    serde_json::json!({"from": prev, "to": next, "reason": reason, "by": self.by}),
                )
                .level(level),
            );
        }
        Ok(Some(Changed { prev, next }))
    }

    /// Settles `s`, whose processes are gone, as `zombie`; see the
    /// [module docs](self).
    ///
    /// # Errors
    /// [`DbError`] when `sessions.db` cannot be written.
    pub(crate) fn died(
        &mut self,
        s: &Session,
        reason: &str,
        by: TerminatedBy,
    ) -> Result<Died, DbError> {
        let t = Transition::died().reset_escalation();
        let changed = self
            .transition(s.agent_name.as_str(), &t, reason)?
            .filter(|c| c.prev != AgentState::Zombie);
        let worker_died = changed.is_some()
            && self.notify_parent
            && s.parent_agent
                .as_ref()
                .is_some_and(|parent| self.send_worker_died(s, parent.as_str(), reason, by));
        Ok(Died {
            changed,
            worker_died,
        })
    }

    /// Mails `worker_died` about `s` to `parent` and wakes the parent;
    /// returns whether the mail was stored.
    fn send_worker_died(&self, s: &Session, parent: &str, reason: &str, by: TerminatedBy) -> bool {
        let agent = s.agent_name.as_str();
        let opened;
        let mail = match self.mail {
            Some(m) => m,
            None => match MailStore::open(self.layout.mail_db()) {
                Ok(m) => {
                    opened = m;
                    &opened
                }
                Err(_) => return false,
            },
        };
        let msg = WorkerDied {
            agent_name: agent.to_owned(),
            capability: s.capability.as_str().to_owned(),
            task_id: s.task_str().to_owned(),
            reason: reason.to_owned(),
            last_activity: s.last_activity.clone(),
            terminated_by: by,
        }
        .to_parent(parent, "was terminated by the watchdog");
        if mail.insert(&msg).is_err() {
            return false;
        }
        let tier = match by {
            TerminatedBy::Tier1 => "tier1",
            _ => "tier0",
        };
        self.record(
            NewEvent::new(agent, EventType::MailSent)
                .level(EventLevel::Warn)
                .data(&serde_json::json!({"type": "worker_died", "parent": parent, "reason": reason, "tier": tier})),
        );
        // A headless parent has no process to read it: wake it.
        if let Some(ov) = self.ov_program {
            let waker = overstory_turn::wake::Waker::new(self.layout.clone(), ov.to_path_buf())
                .with_config(self.config.clone());
            let _ = waker.wake(&[parent.to_owned()]);
        }
        true
    }
}
