//! `ov clean`: wipe runtime state of a project, by category, or one agent.
//!
//! Order matters: session-end events are logged and agents are killed
//! before their worktrees go, worktrees before branches, and the databases
//! last. Worktrees and branches holding commits that are not on the
//! canonical branch are kept (and listed) unless `force` is set, so cleaning
//! never loses an agent's work. Never touched: `events.db`, config, manifest, hooks, agent
//! definitions, `groups.json`, the watchdog, `session-branch.txt`,
//! `orchestrator-tmux.json`.

use std::path::Path;
use std::time::Duration;

use overstory_core::events::{EventStore, EventType, NewEvent};
use overstory_core::worktree::{RemoveOptions, Worktrees};
use overstory_core::{AgentName, Config, FsError, Layout};
use overstory_sessions::{AgentState, Session, SessionStore, Transition, open_sessions};
use serde::Serialize;
use serde_json::json;

use crate::error::FleetError;
use crate::stop::{StopOptions, stop_agent};
use crate::tmux::{self, Tmux};
use crate::worktrees::AGENT_BRANCH_PREFIX;

/// What to clean. `all` implies every other flag plus the all-only items
/// (merge queue, nudge state, current run).
#[derive(Debug, Clone, Default)]
#[allow(clippy::struct_excessive_bools, reason = "one flag per CLI option")]
pub struct CleanOptions {
    /// Everything.
    pub all: bool,
    /// `mail.db`.
    pub mail: bool,
    /// `sessions.db`.
    pub sessions: bool,
    /// `metrics.db`.
    pub metrics: bool,
    /// `logs/`.
    pub logs: bool,
    /// Agent worktrees (and their tmux sessions and processes).
    pub worktrees: bool,
    /// `overstory/*` branches.
    pub branches: bool,
    /// `agents/`.
    pub agents: bool,
    /// `specs/`.
    pub specs: bool,
    /// Delete unmerged worktrees and branches too.
    pub force: bool,
}

impl CleanOptions {
    /// Returns whether no category was chosen.
    pub fn is_empty(&self) -> bool {
        !(self.all
            || self.mail
            || self.sessions
            || self.metrics
            || self.logs
            || self.worktrees
            || self.branches
            || self.agents
            || self.specs)
    }
}

/// What [`clean`] did; the `clean` JSON data.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(clippy::struct_excessive_bools, reason = "the original's JSON shape")]
pub struct CleanReport {
    /// `session_end` events logged for active sessions.
    pub session_end_events_logged: usize,
    /// tmux sessions killed.
    pub tmux_killed: usize,
    /// Live processes of stored sessions killed.
    pub orphan_pids_reaped: usize,
    /// Worktrees removed.
    pub worktrees_cleaned: usize,
    /// Branches deleted.
    pub branches_deleted: usize,
    /// Whether `mail.db` was deleted.
    pub mail_wiped: bool,
    /// Whether `sessions.db` was deleted.
    pub sessions_cleared: bool,
    /// Whether `merge-queue.db` was deleted.
    pub merge_queue_cleared: bool,
    /// Whether `metrics.db` was deleted.
    pub metrics_wiped: bool,
    /// Whether `logs/` was emptied.
    pub logs_cleared: bool,
    /// Whether `agents/` was emptied.
    pub agents_cleared: bool,
    /// Whether `specs/` was emptied.
    pub specs_cleared: bool,
    /// Whether the nudge state and pending nudges were deleted.
    pub nudge_state_cleared: bool,
    /// Whether `current-run.txt` was deleted.
    pub current_run_cleared: bool,
    /// mulch health (not checked by this implementation: always null).
    pub mulch_health: Option<serde_json::Value>,
    /// Branches kept because they hold unmerged commits (pass force to delete).
    pub unmerged_kept: Vec<String>,
}

impl CleanReport {
    /// Returns whether nothing was cleaned.
    pub fn is_noop(&self) -> bool {
        self.session_end_events_logged == 0
            && self.tmux_killed == 0
            && self.orphan_pids_reaped == 0
            && self.worktrees_cleaned == 0
            && self.branches_deleted == 0
            && !(self.mail_wiped
                || self.sessions_cleared
                || self.merge_queue_cleared
                || self.metrics_wiped
                || self.logs_cleared
                || self.agents_cleared
                || self.specs_cleared
                || self.nudge_state_cleared
                || self.current_run_cleared)
    }
}

/// The valid `ov clean` categories, for the "no flag" error.
pub const CLEAN_FLAGS: &str =
    "--all, --mail, --sessions, --metrics, --logs, --worktrees, --branches, --agents, --specs";

/// Cleans the chosen categories.
///
/// # Errors
/// [`FleetError::Validation`] when no category is chosen; store and file
/// failures.
pub fn clean(
    layout: &Layout,
    config: &Config,
    opts: &CleanOptions,
    tmux: &Tmux,
) -> Result<CleanReport, FleetError> {
    if opts.is_empty() {
        return Err(FleetError::invalid(
            "flags",
            format!("No cleanup targets specified. Use one of: {CLEAN_FLAGS}"),
        ));
    }
    let all = opts.all;
    let mut r = CleanReport::default();
    let canonical = config.project.canonical_branch.as_str();
    let wt = Worktrees::new(layout.root());

    // Deleting sessions.db or agents/ under live agents would orphan them
    // (and drop their lock files), so those flags stop them first, as
    // --worktrees does.
    if all || opts.worktrees || opts.sessions || opts.agents {
        let sessions = if layout.sessions_db().exists() {
            open_sessions(layout)
                .ok()
                .map(|(s, _)| s.all().unwrap_or_default())
        } else {
            Some(Vec::new())
        };
        if let Some(list) = &sessions {
            r.session_end_events_logged = log_session_ends(layout, list, "clean");
        }
        let prefix = format!("overstory-{}-", tmux::sanitize(&config.project.name));
        for t in tmux.list_sessions().unwrap_or_default() {
            let registered = match &sessions {
                Some(list) => list.iter().any(|s| s.tmux_session == t.name),
                None => true,
            };
            if t.name.starts_with(&prefix)
                && registered
                && tmux
                    .kill_session(&t.name, Duration::from_secs(2))
                    .unwrap_or(false)
            {
                r.tmux_killed += 1;
            }
        }
        for s in sessions.iter().flatten() {
            if kill_agent_processes(layout, s) {
                r.orphan_pids_reaped += 1;
            }
        }
    }

    if all || opts.worktrees {
        for w in wt.list()? {
            if !w.branch.starts_with(AGENT_BRANCH_PREFIX) {
                continue;
            }
            let remove = RemoveOptions {
                force_worktree: true,
                force_unmerged: opts.force,
                target: Some(canonical.to_owned()),
                keep_branch: false,
            };
            match wt.remove(&w.path, &remove) {
                Ok(out) => {
                    r.worktrees_cleaned += 1;
                    if out.branch_deleted {
                        r.branches_deleted += 1;
                    }
                }
                Err(_) => r.unmerged_kept.push(w.branch.clone()),
            }
        }
    }

    if all || opts.branches {
        let git = overstory_core::git::Git::new(layout.root());
        let refs = git
            .run(&[
                "for-each-ref",
                "--format=%(refname:short)",
                "refs/heads/overstory/",
            ])
            .unwrap_or_default();
        for branch in refs.lines().filter(|b| !b.is_empty()) {
            match wt.delete_branch(branch, canonical, opts.force) {
                Ok(()) => r.branches_deleted += 1,
                Err(_) => {
                    if !r.unmerged_kept.iter().any(|b| b == branch) {
                        r.unmerged_kept.push(branch.to_owned());
                    }
                }
            }
        }
    }

    if all || opts.mail {
        r.mail_wiped = remove_db(&layout.mail_db())?;
    }
    if all || opts.metrics {
        r.metrics_wiped = remove_db(&layout.metrics_db())?;
    }
    if all || opts.sessions {
        r.sessions_cleared = remove_db(&layout.sessions_db())?;
        let legacy = layout.sessions_json();
        if legacy.exists() {
            overstory_core::fsio::write_atomic(&legacy, "[]\n")?;
            r.sessions_cleared = true;
        }
    }
    if all {
        r.merge_queue_cleared = remove_db(&layout.merge_queue_db())?;
    }
    if all || opts.logs {
        r.logs_cleared = empty_dir(&layout.logs_dir())?;
    }
    if all || opts.agents {
        r.agents_cleared = empty_dir(&layout.agents_dir())?;
    }
    if all || opts.specs {
        r.specs_cleared = empty_dir(&layout.specs_dir())?;
    }
    if all {
        let a = remove_file(&layout.nudge_state())?;
        let b = empty_dir(&layout.pending_nudges_dir())?;
        r.nudge_state_cleared = a || b;
        r.current_run_cleared = remove_file(&layout.current_run())?;
    }
    Ok(r)
}

/// What [`clean_agent`] did; the `agent` object of the JSON data.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(clippy::struct_excessive_bools, reason = "the original's JSON shape")]
pub struct AgentCleanReport {
    /// The agent whose state was cleaned.
    pub agent_name: String,
    /// Whether its tmux session was killed.
    pub tmux_killed: bool,
    /// Whether its process was killed.
    pub pid_killed: bool,
    /// Whether its worktree was removed.
    pub worktree_removed: bool,
    /// Whether its branch was deleted.
    pub branch_deleted: bool,
    /// Whether `agents/<name>/` was emptied.
    pub agent_dir_cleared: bool,
    /// Whether `logs/<name>/` was emptied.
    pub logs_dir_cleared: bool,
    /// Whether a `session_end` event was logged.
    pub session_end_event_logged: bool,
    /// Whether the row was moved to `completed`.
    pub marked_completed: bool,
    /// Non-fatal problems (unmerged work kept, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Cleans one agent: stops it, removes its worktree and branch (unmerged
/// work only with `force`), completes its row and empties its agent and log
/// directories.
///
/// # Errors
/// As [`stop_agent`], except that an already completed agent is fine.
pub fn clean_agent(
    layout: &Layout,
    config: &Config,
    name: &str,
    force: bool,
    tmux: &Tmux,
) -> Result<AgentCleanReport, FleetError> {
    let agent = AgentName::new(name.trim())?;
    let (store, _) = open_sessions(layout)?;
    let session = store
        .get(agent.as_str())?
        .ok_or_else(|| FleetError::AgentNotFound {
            agent: agent.to_string(),
        })?;
    let mut r = AgentCleanReport {
        agent_name: agent.to_string(),
        ..AgentCleanReport::default()
    };
    if session.state.is_active() {
        r.session_end_event_logged =
            log_session_ends(layout, std::slice::from_ref(&session), "clean --agent") > 0;
    }
    let stop = stop_agent(
        layout,
        config,
        agent.as_str(),
        &StopOptions {
            force,
            clean_worktree: true,
            grace: Duration::from_secs(2),
            tmux: tmux.clone(),
        },
    )?;
    r.tmux_killed = stop.tmux_killed;
    r.pid_killed = stop.pid_killed;
    r.worktree_removed = stop.worktree_removed;
    r.branch_deleted = stop.branch_deleted;
    r.marked_completed = !stop.was_completed;
    r.warnings = stop.warnings;
    r.agent_dir_cleared = empty_dir(&layout.agent_dir(&agent))?;
    r.logs_dir_cleared = empty_dir(&layout.agent_logs_dir(&agent))?;
    Ok(r)
}

fn log_session_ends(layout: &Layout, sessions: &[Session], reason: &str) -> usize {
    let active: Vec<&Session> = sessions.iter().filter(|s| s.state.is_active()).collect();
    if active.is_empty() {
        return 0;
    }
    let Ok(store) = EventStore::open(&layout.events_db()) else {
        return 0;
    };
    active
        .iter()
        .filter(|s| {
            let e = NewEvent::new(s.agent_name.clone(), EventType::SessionEnd)
                .run(s.run_id.clone())
                .session(Some(s.id.clone()))
                .data(&json!({"reason": reason, "capability": s.capability}));
            store.insert(&e).is_ok()
        })
        .count()
}

/// Kills a stored session's live process: its agent host (persistent
/// agents), its running turn's group (`turn.pid`) and its recorded pid's
/// tree. Returns whether anything died.
fn kill_agent_processes(layout: &Layout, s: &Session) -> bool {
    let killed = crate::stop::kill_headless(layout, &s.agent_name, s, Duration::from_secs(2));
    if killed && let Ok(mut store) = SessionStore::open(&layout.sessions_db()) {
        let _ = store.transition(&s.agent_name, &Transition::to(AgentState::Completed));
    }
    killed
}

fn remove_file(path: &Path) -> Result<bool, FleetError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(FsError::new("delete", path, e).into()),
    }
}

fn remove_db(path: &Path) -> Result<bool, FleetError> {
    let removed = remove_file(path)?;
    for suffix in ["-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        remove_file(Path::new(&side))?;
    }
    Ok(removed)
}

/// Empties a directory, keeping it. Returns whether anything was removed.
fn empty_dir(dir: &Path) -> Result<bool, FleetError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(false);
    };
    let mut any = false;
    for entry in entries.flatten() {
        let p = entry.path();
        let res = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        res.map_err(|e| FsError::new("delete", &p, e))?;
        any = true;
    }
    Ok(any)
}
