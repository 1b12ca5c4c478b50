//! Taking in one agent's runtime events: the one intake shared by the turn
//! runner and the agent host.
//!
//! [`pump`] moves parsed events off the child's stdout onto a channel, so
//! either caller can `select!` between the next event, a timer and a stop
//! request. [`Intake`] then decides what each event means for the agent's
//! session row and records it in `events.db`:
//!
//! - **Session id.** An event reporting a runtime session id other than the
//!   last one seen stores it in the row (the latest id wins: it is the one
//!   the next turn resumes).
//! - **Booting → working.** The first event of each user turn moves the
//!   agent to `working` when its row is `booting` or `stalled`, in one
//!   compare-and-swap that also resets the watchdog's escalation (the rule
//!   the hooks follow too). A row already `working` is left alone silently;
//!   a `completed` or `zombie` row is left alone and the refusal is logged.
//!   The turn runner runs one user turn per intake and arms it once; the
//!   host re-arms it with [`Intake::begin_turn`] for every turn it writes.
//! - **Rows.** Every event becomes a row ([`crate::event_row`]), written in
//!   batches of at most [`EVENT_BATCH`] whenever the producer pauses.
//! - **Activity.** Events refresh the row's `lastActivity` at most once per
//!   [`TOUCH_EVERY`], so a long turn never looks idle to the watchdog.
//!
//! Failures never stop the intake; they go to the caller's [`Sink`].

use std::time::Duration;

use overstory_core::AgentName;
use overstory_core::events::{EventStore, NewEvent};
use overstory_sessions::{AgentState, SessionStore, Transition, TransitionOutcome};
use tokio::io::AsyncRead;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::event_row;
use crate::log::Sink;
use crate::spend::Ledger;
use overstory_runtime::stream_json::{EventReader, RuntimeEvent};

/// Events are written to `events.db` in batches of at most this many.
pub(crate) const EVENT_BATCH: usize = 256;
/// Events refresh `lastActivity` at most this often.
pub(crate) const TOUCH_EVERY: Duration = Duration::from_secs(1);

/// One item from [`pump`].
pub(crate) enum Feed {
    /// The next parsed event.
    Event(Box<RuntimeEvent>),
    /// Reading stdout failed; nothing follows.
    Failed(std::io::Error),
}

/// Spawns a task that reads `reader` to the end and forwards each event.
/// The channel closes at end of stream, after a read error (sent as
/// [`Feed::Failed`]) or when the receiver is dropped. Abort the returned
/// task to stop reading early.
pub(crate) fn pump(
    mut reader: EventReader<Box<dyn AsyncRead + Send + Unpin>>,
) -> (mpsc::Receiver<Feed>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<Feed>(1024);
    let task = tokio::spawn(async move {
        loop {
            match reader.next().await {
                Ok(Some(ev)) => {
                    if tx.send(Feed::Event(Box::new(ev))).await.is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Feed::Failed(e)).await;
                    break;
                }
            }
        }
    });
    (rx, task)
}

/// What [`Intake::record`] learned from one event.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Intook {
    /// The event reported a session id other than the last one seen.
    pub(crate) new_session_id: Option<String>,
    /// The event was a `result`; `Some(true)` when it was not an error.
    pub(crate) result: Option<bool>,
}

/// One agent's event intake; see the [module docs](self) for its rules.
pub(crate) struct Intake {
    agent: AgentName,
    run_id: Option<String>,
    events: Option<EventStore>,
    batch: Vec<NewEvent>,
    session_id: Option<String>,
    /// The next event is the first of a user turn.
    turn_started: bool,
    last_touch: Option<Instant>,
    /// Where `result` usage is charged; none: not recorded.
    ledger: Option<Ledger>,
}

impl Intake {
    /// Starts an intake that writes to `events` (none: rows are dropped) and
    /// stamps `run_id` on every row. The first user turn is armed.
    pub(crate) fn new(
        agent: AgentName,
        run_id: Option<String>,
        events: Option<EventStore>,
    ) -> Self {
        Self {
            agent,
            run_id,
            events,
            batch: Vec::new(),
            session_id: None,
            turn_started: true,
            last_touch: None,
            ledger: None,
        }
    }

    /// Charges the usage of later `result` events to `ledger`'s agent.
    pub(crate) fn charge_to(&mut self, ledger: Option<Ledger>) {
        self.ledger = ledger;
    }

    /// Returns the last session id an event reported.
    pub(crate) fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// Marks the start of another user turn: its first event promotes the
    /// agent to `working` again if the row is `booting` or `stalled`.
    pub(crate) fn begin_turn(&mut self) {
        self.turn_started = true;
    }

    /// Applies the rules to one event and queues its row (call
    /// [`Intake::flush_if_paused`] after it).
    pub(crate) fn record(
        &mut self,
        ev: &RuntimeEvent,
        mut sessions: Option<&mut SessionStore>,
        sink: &Sink,
    ) -> Intook {
        let agent = self.agent.as_str();
        let mut intook = Intook::default();
        if let Some(sid) = ev.session_id()
            && self.session_id.as_deref() != Some(sid)
        {
            self.session_id = Some(sid.to_owned());
            intook.new_session_id = Some(sid.to_owned());
            if let Some(store) = sessions.as_deref()
                && let Err(e) = store.update_claude_session_id(agent, sid)
            {
                sink.warn(&format!("failed to persist claudeSessionId: {e}"));
            }
        }
        if std::mem::take(&mut self.turn_started)
            && let Some(store) = sessions.as_deref_mut()
        {
            promote_to_working(store, agent, sink);
        }
        if let RuntimeEvent::Result { .. } = ev {
            intook.result = Some(ev.is_clean_result());
        }
        if let Some(ledger) = self.ledger.as_mut() {
            ledger.observe(ev, sink);
        }
        self.batch.push(event_row(
            ev,
            agent,
            self.run_id.clone(),
            self.session_id.clone(),
        ));
        if let Some(store) = sessions.as_deref() {
            self.touch_now_and_then(store, TOUCH_EVERY);
        }
        intook
    }

    /// Refreshes `lastActivity` unless it was refreshed within `every`.
    /// The host also calls it while its agent idles waiting for mail.
    pub(crate) fn touch_now_and_then(&mut self, sessions: &SessionStore, every: Duration) {
        if self.last_touch.is_none_or(|t| t.elapsed() >= every) {
            self.last_touch = Some(Instant::now());
            let _ = sessions.touch(self.agent.as_str());
        }
    }

    /// Queues a row the caller made (a `resume_mismatch` warning, a
    /// delivered turn), stamped with the run and the current session id.
    pub(crate) fn push(&mut self, row: NewEvent) {
        let row = row
            .run(self.run_id.clone())
            .session(self.session_id.clone());
        self.batch.push(row);
    }

    /// Writes the queued rows when the producer paused (its channel is
    /// empty) or the batch is full.
    pub(crate) fn flush_if_paused(&mut self, producer_paused: bool, sink: &Sink) {
        if producer_paused || self.batch.len() >= EVENT_BATCH {
            self.flush(sink);
        }
    }

    /// Writes the queued rows now.
    pub(crate) fn flush(&mut self, sink: &Sink) {
        if self.batch.is_empty() {
            return;
        }
        if let Some(s) = self.events.as_mut()
            && let Err(e) = s.insert_many(&self.batch)
        {
            sink.warn(&format!(
                "failed to record {} events: {e}",
                self.batch.len()
            ));
        }
        self.batch.clear();
    }
}

/// The booting → working rule: a compare-and-swap from `booting` or
/// `stalled`, resetting escalation; silent when the row is already
/// `working` (or missing).
fn promote_to_working(store: &mut SessionStore, agent: &str, sink: &Sink) {
    let promote = Transition::to(AgentState::Working)
        .only_from(&[AgentState::Booting, AgentState::Stalled])
        .reset_escalation();
    match store.transition(agent, &promote) {
        Ok(TransitionOutcome::Rejected { prev, attempted }) if prev != AgentState::Working => sink
            .warn(&format!(
                "booting → working rejected: state is now {prev} (attempted {attempted})"
            )),
        Ok(_) => {}
        Err(e) => sink.warn(&format!("failed to transition booting → working: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use overstory_sessions::Session;
    use serde_json::json;

    use super::*;
    use crate::log::{LogLevel, MemoryLog};

    struct Fixture {
        _dir: tempfile::TempDir,
        sessions: SessionStore,
        events_db: std::path::PathBuf,
        log: MemoryLog,
        sink: Sink,
        intake: Intake,
    }

    fn fixture(state: AgentState) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let sessions = SessionStore::open(&dir.path().join("sessions.db")).unwrap();
        let mut row = Session::new("agent".parse().unwrap(), "builder".parse().unwrap());
        row.state = state;
        sessions.upsert(&row).unwrap();
        sessions
            .update_escalation("agent", 2, Some("2026-01-01T00:00:00.000Z"))
            .unwrap();
        let events_db = dir.path().join("events.db");
        let events = EventStore::open(&events_db).unwrap();
        let log = MemoryLog::new();
        let sink = Sink::new(Some(Arc::new(log.clone())), "agent");
        let agent = AgentName::new("agent").unwrap();
        Fixture {
            _dir: dir,
            sessions,
            events_db,
            log,
            sink,
            intake: Intake::new(agent, Some("run-1".into()), Some(events)),
        }
    }

    impl Fixture {
        fn record(&mut self, ev: &RuntimeEvent) -> Intook {
            self.intake.record(ev, Some(&mut self.sessions), &self.sink)
        }
        fn row(&self) -> Session {
            self.sessions.get("agent").unwrap().unwrap()
        }
        fn set_state(&mut self, state: AgentState) {
            self.sessions
                .transition("agent", &Transition::to(state))
                .unwrap();
        }
    }

    fn status(session_id: &str) -> RuntimeEvent {
        serde_json::from_value(json!({"type": "status", "timestamp": "t", "sessionId": session_id}))
            .unwrap()
    }

    fn result(is_error: bool) -> RuntimeEvent {
        serde_json::from_value(json!({"type": "result", "timestamp": "t", "isError": is_error}))
            .unwrap()
    }

    #[test]
    fn first_event_of_a_turn_moves_booting_to_working() {
        let mut f = fixture(AgentState::Booting);
        f.record(&status("s"));
        assert_eq!(f.row().state, AgentState::Working);
        assert!(f.log.lines().is_empty(), "{:?}", f.log.lines());
    }

    #[test]
    fn first_event_of_a_turn_recovers_a_stalled_agent_and_resets_escalation() {
        let mut f = fixture(AgentState::Stalled);
        f.record(&status("s"));
        let row = f.row();
        assert_eq!(row.state, AgentState::Working);
        assert_eq!(row.escalation_level, 0);
        assert_eq!(row.stalled_since, None);
    }

    #[test]
    fn only_the_first_event_of_each_turn_promotes() {
        let mut f = fixture(AgentState::Booting);
        f.record(&status("s"));
        // Marked stalled while the turn runs: later events of the same turn
        // leave that to the end of the turn.
        f.set_state(AgentState::Stalled);
        f.record(&result(false));
        assert_eq!(f.row().state, AgentState::Stalled);
        // The next turn's first event promotes again (the host's case).
        f.intake.begin_turn();
        f.record(&status("s"));
        assert_eq!(f.row().state, AgentState::Working);
    }

    #[test]
    fn a_working_agent_is_left_alone_silently() {
        let mut f = fixture(AgentState::Working);
        f.record(&status("s"));
        assert_eq!(f.row().state, AgentState::Working);
        assert_eq!(f.row().escalation_level, 2, "nothing was written");
        assert!(f.log.lines().is_empty(), "{:?}", f.log.lines());
    }

    #[test]
    fn a_finished_agent_is_not_revived_and_the_refusal_is_logged() {
        for state in [AgentState::Completed, AgentState::Zombie] {
            let mut f = fixture(state);
            f.record(&status("s"));
            assert_eq!(f.row().state, state);
            assert!(
                f.log
                    .contains(LogLevel::Warn, &format!("rejected: state is now {state}")),
                "{:?}",
                f.log.lines()
            );
        }
    }

    #[test]
    fn a_new_session_id_is_stored_once_and_results_are_reported() {
        let mut f = fixture(AgentState::Working);
        assert_eq!(f.record(&status("a")).new_session_id.as_deref(), Some("a"));
        assert_eq!(f.record(&status("a")).new_session_id, None);
        assert_eq!(f.row().claude_session_id.as_deref(), Some("a"));
        assert_eq!(f.record(&result(true)).result, Some(false));
        assert_eq!(f.record(&result(false)).result, Some(true));
        assert_eq!(f.record(&status("b")).new_session_id.as_deref(), Some("b"));
        assert_eq!(f.row().claude_session_id.as_deref(), Some("b"));
        assert_eq!(f.intake.session_id(), Some("b"));
    }

    #[test]
    fn rows_wait_for_the_producer_to_pause() {
        let mut f = fixture(AgentState::Working);
        let count = |f: &Fixture| {
            EventStore::open(&f.events_db)
                .unwrap()
                .by_agent("agent", &overstory_core::events::EventFilter::default())
                .unwrap()
                .len()
        };
        f.record(&status("s"));
        f.intake.flush_if_paused(false, &f.sink);
        assert_eq!(count(&f), 0, "the producer is still writing");
        f.intake.flush_if_paused(true, &f.sink);
        assert_eq!(count(&f), 1);
    }
}
