//! What `ov dashboard` shows, gathered without a terminal: the agents with
//! their state and unread mail, the latest mail, the merge queue and the
//! recent events, as one [`DashboardSnapshot`].
//!
//! Read-only and cheap to repeat: a [`Dashboard`] opens each store once,
//! only after its file exists (it never creates a database), and keeps the
//! connection across refreshes. No state is reconciled or written — unlike
//! the original, whose dashboard rewrote session states on every render.
//! A store that fails to open or to answer does not end the view: the
//! failure is listed in [`DashboardSnapshot::problems`] and the store is
//! tried again on the next refresh.
//!
//! ```
//! use overstory_core::Layout;
//! use overstory_fleet::dashboard::{Dashboard, DashboardOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let layout = Layout::new(dir.path());
//! std::fs::create_dir_all(layout.dir())?;
//! let mut dash = Dashboard::new(layout.clone(), DashboardOptions::default());
//! let snap = dash.snapshot();
//! assert!(snap.agents.is_empty() && snap.mail.is_none() && snap.problems.is_empty());
//! assert!(!layout.sessions_db().exists()); // nothing was created
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use overstory_core::clock;
use overstory_core::events::{EventFilter, EventStore, StoredEvent};
use overstory_core::{DbError, Layout};
use overstory_mail::{ListFilter, MailMessage, MailStore};
use overstory_merge::{MergeEntry, MergeQueue, MergeStatus, QueueCounts};
use overstory_sessions::{Session, SessionStore};

/// What a [`Dashboard`] shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardOptions {
    /// Every session of every run, finished ones included; otherwise the
    /// active sessions of the current run (and those with no run).
    pub all: bool,
    /// How many of the latest messages to read (default 50).
    pub mail_limit: usize,
    /// How many of the latest events to read (default 50).
    pub event_limit: usize,
}

impl Default for DashboardOptions {
    fn default() -> Self {
        Self {
            all: false,
            mail_limit: 50,
            event_limit: 50,
        }
    }
}

/// One agent as the dashboard lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRow {
    /// The session row (state, capability, task, parent, last activity).
    pub session: Session,
    /// Unread messages addressed to the agent.
    pub unread_mail: usize,
}

/// The mail part of a snapshot.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MailSummary {
    /// Unread messages in the whole project.
    pub unread_total: usize,
    /// The latest messages, newest first.
    pub recent: Vec<MailMessage>,
}

/// The merge-queue part of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MergeSummary {
    /// Entries per status.
    pub counts: QueueCounts,
    /// Entries not yet merged (merging, pending, conflict, failed), oldest
    /// first.
    pub unsettled: Vec<MergeEntry>,
}

/// Everything one frame of the dashboard shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DashboardSnapshot {
    /// When it was taken (ms since the epoch).
    pub taken_at_ms: i64,
    /// The current run, when `current-run.txt` names one.
    pub run_id: Option<String>,
    /// The agents shown, oldest first.
    pub agents: Vec<AgentRow>,
    /// Sessions in scope that are finished and not shown (without `all`).
    pub finished_hidden: usize,
    /// Mail; `None` while `mail.db` does not exist.
    pub mail: Option<MailSummary>,
    /// The merge queue; `None` while `merge-queue.db` does not exist.
    pub merge: Option<MergeSummary>,
    /// The latest events, oldest first; `None` while `events.db` does not
    /// exist.
    pub events: Option<Vec<StoredEvent>>,
    /// What could not be read this time, one line each (shown, not fatal).
    pub problems: Vec<String>,
}

/// The dashboard's read side: one connection per store, kept open across
/// [`Dashboard::snapshot`] calls.
#[derive(Debug)]
pub struct Dashboard {
    layout: Layout,
    opts: DashboardOptions,
    sessions: Option<SessionStore>,
    mail: Option<MailStore>,
    merge: Option<MergeQueue>,
    events: Option<EventStore>,
}

/// Opens a store once its file exists; records a failure in `problems`.
fn ensure<T, E: std::fmt::Display>(
    slot: &mut Option<T>,
    path: &std::path::Path,
    problems: &mut Vec<String>,
    open: impl FnOnce() -> Result<T, E>,
) -> bool {
    if slot.is_none() && path.is_file() {
        match open() {
            Ok(store) => *slot = Some(store),
            Err(e) => problems.push(format!("{}: {e}", path.display())),
        }
    }
    slot.is_some()
}

impl Dashboard {
    /// Prepares a dashboard of `layout`'s project; nothing is opened yet.
    pub fn new(layout: Layout, opts: DashboardOptions) -> Self {
        Self {
            layout,
            opts,
            sessions: None,
            mail: None,
            merge: None,
            events: None,
        }
    }

    /// Returns the options it was made with.
    pub fn options(&self) -> &DashboardOptions {
        &self.opts
    }

    /// Reads every store once and returns what the dashboard shows now.
    /// A store that fails is dropped (reopened next time) and named in
    /// [`DashboardSnapshot::problems`].
    pub fn snapshot(&mut self) -> DashboardSnapshot {
        let mut snap = DashboardSnapshot {
            taken_at_ms: clock::now_millis(),
            run_id: self.layout.current_run_id(),
            ..DashboardSnapshot::default()
        };
        self.read_sessions(&mut snap);
        self.read_mail(&mut snap);
        self.read_merge(&mut snap);
        self.read_events(&mut snap);
        snap
    }

    /// Returns the latest `limit` events of `agent`, oldest first (empty
    /// while `events.db` does not exist).
    ///
    /// # Errors
    /// [`DbError`] naming the file when `events.db` cannot be opened or
    /// read (the store is reopened on the next call).
    pub fn agent_events(&mut self, agent: &str, limit: usize) -> Result<Vec<StoredEvent>, DbError> {
        let path = self.layout.events_db();
        if self.events.is_none() && path.is_file() {
            self.events = Some(EventStore::open(&path)?);
        }
        let Some(store) = &self.events else {
            return Ok(Vec::new());
        };
        let filter = EventFilter {
            limit: Some(limit),
            newest: true,
            ..EventFilter::default()
        };
        store
            .by_agent(agent, &filter)
            .inspect_err(|_| self.events = None)
    }

    fn read_sessions(&mut self, snap: &mut DashboardSnapshot) {
        let path = self.layout.sessions_db();
        if !ensure(&mut self.sessions, &path, &mut snap.problems, || {
            SessionStore::open(&path)
        }) {
            return;
        }
        let Some(store) = &self.sessions else { return };
        let (mut sessions, undecodable) = match store.all_readable() {
            Ok(rows) => rows,
            Err(e) => {
                snap.problems.push(e.to_string());
                self.sessions = None;
                return;
            }
        };
        if !undecodable.is_empty() {
            let names: Vec<&str> = undecodable.iter().map(|u| u.agent_name.as_str()).collect();
            snap.problems.push(format!(
                "{} unreadable session row(s) skipped: {}",
                names.len(),
                names.join(", ")
            ));
        }
        if !self.opts.all {
            if let Some(run) = &snap.run_id {
                sessions.retain(|s| s.run_id.as_deref().is_none_or(|r| r == run));
            }
            let before = sessions.len();
            sessions.retain(|s| s.state.is_active());
            snap.finished_hidden = before - sessions.len();
        }
        snap.agents = sessions
            .into_iter()
            .map(|session| AgentRow {
                session,
                unread_mail: 0,
            })
            .collect();
    }

    fn read_mail(&mut self, snap: &mut DashboardSnapshot) {
        let path = self.layout.mail_db();
        if !ensure(&mut self.mail, &path, &mut snap.problems, || {
            MailStore::open(&path)
        }) {
            return;
        }
        let Some(store) = &self.mail else { return };
        let unread = |to: Option<String>| {
            store.count(&ListFilter {
                to,
                unread: Some(true),
                ..ListFilter::default()
            })
        };
        let result = (|| {
            for row in &mut snap.agents {
                row.unread_mail = unread(Some(row.session.agent_name.to_string()))?;
            }
            Ok::<_, overstory_mail::MailError>(MailSummary {
                unread_total: unread(None)?,
                recent: store.list(&ListFilter {
                    limit: Some(self.opts.mail_limit),
                    ..ListFilter::default()
                })?,
            })
        })();
        match result {
            Ok(m) => snap.mail = Some(m),
            Err(e) => {
                snap.problems.push(e.to_string());
                self.mail = None;
            }
        }
    }

    fn read_merge(&mut self, snap: &mut DashboardSnapshot) {
        let path = self.layout.merge_queue_db();
        let layout = &self.layout;
        if !ensure(&mut self.merge, &path, &mut snap.problems, || {
            MergeQueue::open_in(layout)
        }) {
            return;
        }
        let Some(queue) = &self.merge else { return };
        let result = (|| {
            let counts = queue.counts()?;
            let mut unsettled = Vec::new();
            for status in [
                MergeStatus::Merging,
                MergeStatus::Pending,
                MergeStatus::Conflict,
                MergeStatus::Failed,
            ] {
                unsettled.extend(queue.list(Some(status))?);
            }
            unsettled.sort_by_key(|e| e.id);
            Ok::<_, overstory_merge::MergeError>(MergeSummary { counts, unsettled })
        })();
        match result {
            Ok(m) => snap.merge = Some(m),
            Err(e) => {
                snap.problems.push(e.to_string());
                self.merge = None;
            }
        }
    }

    fn read_events(&mut self, snap: &mut DashboardSnapshot) {
        let path = self.layout.events_db();
        if !ensure(&mut self.events, &path, &mut snap.problems, || {
            EventStore::open(&path)
        }) {
            return;
        }
        let Some(store) = &self.events else { return };
        let filter = EventFilter {
            limit: Some(self.opts.event_limit),
            newest: true,
            ..EventFilter::default()
        };
        match store.timeline(&filter) {
            Ok(events) => snap.events = Some(events),
            Err(e) => {
                snap.problems.push(e.to_string());
                self.events = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use overstory_core::events::{EventType, NewEvent};
    use overstory_mail::NewMessage;
    use overstory_merge::EnqueueRequest;
    use overstory_sessions::AgentState;

    fn project() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.dir()).unwrap();
        (dir, layout)
    }

    fn session(name: &str, state: AgentState) -> Session {
        let mut s = Session::new(name.parse().unwrap(), "builder".parse().unwrap());
        s.state = state;
        s
    }

    #[test]
    fn snapshot_reads_every_store_without_creating_any() {
        let (_dir, layout) = project();
        let mut dash = Dashboard::new(layout.clone(), DashboardOptions::default());
        let snap = dash.snapshot();
        assert_eq!(
            snap,
            DashboardSnapshot {
                taken_at_ms: snap.taken_at_ms,
                ..DashboardSnapshot::default()
            }
        );
        for db in [
            layout.sessions_db(),
            layout.mail_db(),
            layout.merge_queue_db(),
            layout.events_db(),
        ] {
            assert!(!db.exists(), "{} was created", db.display());
        }
    }

    #[test]
    fn active_agents_with_unread_mail_merge_queue_and_events() {
        let (_dir, layout) = project();
        let store = SessionStore::open(&layout.sessions_db()).unwrap();
        store
            .upsert(&session("builder-1", AgentState::Working))
            .unwrap();
        store
            .upsert(&session("builder-2", AgentState::Completed))
            .unwrap();
        let mut dash = Dashboard::new(layout.clone(), DashboardOptions::default());
        let snap = dash.snapshot();
        assert_eq!(snap.agents.len(), 1);
        assert_eq!(snap.finished_hidden, 1);
        assert!(snap.mail.is_none());

        // Stores that appear after the first refresh are picked up.
        let mail = MailStore::open(layout.mail_db()).unwrap();
        for to in ["builder-1", "builder-1", "lead-1"] {
            mail.insert(&NewMessage {
                from: "lead-1".into(),
                to: to.into(),
                subject: format!("to {to}"),
                body: "b".into(),
                ..Default::default()
            })
            .unwrap();
        }
        MergeQueue::open_in(&layout)
            .unwrap()
            .enqueue(&EnqueueRequest {
                branch_name: "overstory/builder-1/t-1".into(),
                task_id: "t-1".into(),
                agent_name: "builder-1".into(),
                files_modified: vec![],
            })
            .unwrap();
        EventStore::open(&layout.events_db())
            .unwrap()
            .insert(&NewEvent::new("builder-1", EventType::SessionStart))
            .unwrap();

        let snap = dash.snapshot();
        assert_eq!(snap.agents[0].unread_mail, 2);
        let mail = snap.mail.unwrap();
        assert_eq!(mail.unread_total, 3);
        assert_eq!(mail.recent.len(), 3);
        let merge = snap.merge.unwrap();
        assert_eq!(merge.counts.pending, 1);
        assert_eq!(merge.unsettled[0].agent_name, "builder-1");
        assert_eq!(snap.events.unwrap().len(), 1);
        assert_eq!(dash.agent_events("builder-1", 10).unwrap().len(), 1);
        assert!(dash.agent_events("nobody", 10).unwrap().is_empty());
    }

    #[test]
    fn all_shows_finished_agents_of_every_run() {
        let (_dir, layout) = project();
        std::fs::write(layout.current_run(), "run-2\n").unwrap();
        let store = SessionStore::open(&layout.sessions_db()).unwrap();
        let mut old = session("builder-1", AgentState::Working);
        old.run_id = Some("run-1".into());
        store.upsert(&old).unwrap();
        store
            .upsert(&session("builder-2", AgentState::Zombie))
            .unwrap();
        let names = |all| {
            let opts = DashboardOptions {
                all,
                ..DashboardOptions::default()
            };
            Dashboard::new(layout.clone(), opts)
                .snapshot()
                .agents
                .into_iter()
                .map(|a| a.session.agent_name.to_string())
                .collect::<Vec<_>>()
        };
        assert!(names(false).is_empty());
        assert_eq!(names(true).len(), 2);
    }

    #[test]
    fn a_corrupt_store_is_a_problem_not_a_failure() {
        let (_dir, layout) = project();
        std::fs::write(layout.mail_db(), "this is not sqlite, just some text").unwrap();
        let snap = Dashboard::new(layout.clone(), DashboardOptions::default()).snapshot();
        assert!(snap.mail.is_none());
        assert_eq!(snap.problems.len(), 1, "{:?}", snap.problems);
        assert!(snap.problems[0].contains("mail.db"), "{:?}", snap.problems);
    }
}
