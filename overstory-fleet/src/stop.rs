//! `ov stop`: end an agent, headless or in tmux, and optionally remove its
//! worktree.
//!
//! A headless agent's running turn is found through
//! `.overstory/agents/<name>/turn.pid` (else the row's pid) and its whole
//! process group is terminated (SIGTERM, grace, SIGKILL). A tmux agent's
//! session is killed with its process tree. The row then moves to
//! `completed` through the sessions store's compare-and-swap. Removing the
//! worktree never deletes commits that are not on the canonical branch
//! unless forced.

use std::time::Duration;

use overstory_core::process;
use overstory_core::worktree::{RemoveOptions, Worktrees};
use overstory_core::{AgentName, Capability, Config, Layout, WorktreeError, clock};
use overstory_mail::nudge::NudgeMarker;
use overstory_mail::{ListFilter, MailStore, MessageType};
use overstory_sessions::{AgentState, RunMode, Session, Transition, open_sessions};
use serde::Serialize;

use crate::error::FleetError;
use crate::tmux::{Tmux, kill_process_tree};

/// Choices of [`stop_agent`].
#[derive(Debug, Clone)]
pub struct StopOptions {
    /// Force-remove a dirty worktree and delete an unmerged branch.
    pub force: bool,
    /// Remove the agent's worktree and branch after stopping it.
    pub clean_worktree: bool,
    /// Time between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// The tmux server of tmux agents.
    pub tmux: Tmux,
}

impl Default for StopOptions {
    fn default() -> Self {
        Self {
            force: false,
            clean_worktree: false,
            grace: Duration::from_secs(2),
            tmux: Tmux::default(),
        }
    }
}

/// What [`stop_agent`] did; serialises as the `stop` JSON envelope data.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StopReport {
    /// Always true on success.
    pub stopped: bool,
    /// The agent that was stopped.
    pub agent_name: AgentName,
    /// The id of its session row.
    pub session_id: String,
    /// The capability it ran as.
    pub capability: Capability,
    /// Whether a tmux session was killed.
    pub tmux_killed: bool,
    /// Whether a process (group) was killed.
    pub pid_killed: bool,
    /// Whether the worktree was removed.
    pub worktree_removed: bool,
    /// Whether the branch was deleted.
    pub branch_deleted: bool,
    /// Whether `--force` was given.
    pub force: bool,
    /// Whether the agent was a zombie.
    pub was_zombie: bool,
    /// Whether the agent was already completed.
    pub was_completed: bool,
    /// Non-fatal problems (worktree kept because of unmerged work, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Stops the agent `name`.
///
/// # Errors
/// [`FleetError::Validation`] for an empty or invalid name,
/// [`FleetError::AgentNotFound`], [`FleetError::AlreadyCompleted`] (without
/// `clean_worktree`), or store failures. Worktree problems are warnings in
/// the report, not errors.
pub fn stop_agent(
    layout: &Layout,
    config: &Config,
    name: &str,
    opts: &StopOptions,
) -> Result<StopReport, FleetError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(FleetError::invalid("name", "Agent name is required"));
    }
    let agent = AgentName::new(name)?;
    let (mut store, _) = open_sessions(layout)?;
    let session = store
        .get(agent.as_str())?
        .ok_or_else(|| FleetError::AgentNotFound {
            agent: name.to_owned(),
        })?;
    let was_completed = session.state == AgentState::Completed;
    if was_completed && !opts.clean_worktree {
        return Err(FleetError::AlreadyCompleted {
            agent: name.to_owned(),
        });
    }
    let mut report = StopReport {
        stopped: true,
        agent_name: session.agent_name.clone(),
        session_id: session.id.clone(),
        capability: session.capability,
        tmux_killed: false,
        pid_killed: false,
        worktree_removed: false,
        branch_deleted: false,
        force: opts.force,
        was_zombie: session.state == AgentState::Zombie,
        was_completed,
        warnings: Vec::new(),
    };

    if !was_completed {
        if session.mode() != RunMode::Tmux {
            report.pid_killed = kill_headless(layout, &agent, &session, opts.grace);
        } else if opts.tmux.is_alive(&session.tmux_session) {
            report.tmux_killed = opts.tmux.kill_session(&session.tmux_session, opts.grace)?;
        } else if let Some(pid) = session.pid.and_then(|p| i32::try_from(p).ok())
            && process::is_alive(pid)
        {
            // The session is gone but the agent process outlived it.
            kill_process_tree(pid, opts.grace);
            report.pid_killed = true;
        }
        store.transition(
            agent.as_str(),
            &Transition::to(AgentState::Completed).touch_activity(),
        )?;
        if session.capability == Capability::Lead.as_str() {
            write_lead_nudge(layout, &agent);
        }
    }

    if opts.clean_worktree {
        clean_worktree(layout, config, &session, opts.force, &mut report);
    }
    Ok(report)
}

/// Kills a headless agent's processes: a persistent agent through its host;
/// otherwise the process group of the pid in `turn.pid` (else the row's
/// pid, unless the row is terminal or names this process), SIGTERM then
/// SIGKILL after `grace`. Always removes `turn.pid`. Returns whether
/// something was killed. Shared by `ov stop`, `ov clean` and
/// `ov coordinator stop`.
pub(crate) fn kill_headless(
    layout: &Layout,
    agent: &AgentName,
    session: &Session,
    grace: Duration,
) -> bool {
    kill_headless_within(layout, agent, session, grace, grace * 3)
}

/// [`kill_headless`], waiting at most `host_wait` for a persistent agent's
/// live host to settle it after SIGTERM (then SIGKILL).
pub(crate) fn kill_headless_within(
    layout: &Layout,
    agent: &AgentName,
    session: &Session,
    grace: Duration,
    host_wait: Duration,
) -> bool {
    // A persistent agent's host settles it and takes its process down.
    if overstory_turn::host::stop_host(layout, agent, host_wait) {
        return true;
    }
    let pid_file = layout.agent_turn_pid(agent);
    // A terminal row's pid is history and may belong to someone else by
    // now; and never signal ourselves.
    let row_pid = session
        .pid
        .and_then(|p| i32::try_from(p).ok())
        .filter(|_| !session.state.is_terminal());
    let pid = process::read_pid_file(&pid_file)
        .or(row_pid)
        .filter(|p| i64::from(*p) != i64::from(std::process::id()));
    let mut killed = false;
    if let Some(pid) = pid {
        if process::is_group_alive(pid) {
            // The turn child leads its own group: the group holds everything it started.
            let _ = process::terminate_group(pid, grace);
            killed = true;
        } else if process::is_alive(pid) {
            kill_process_tree(pid, grace);
            killed = true;
        }
    }
    let _ = process::remove_pid_file(&pid_file);
    killed
}

fn clean_worktree(
    layout: &Layout,
    config: &Config,
    session: &Session,
    force: bool,
    report: &mut StopReport,
) {
    if session.worktree_path.is_empty() {
        return;
    }
    let wt = Worktrees::new(layout.root());
    let path = std::path::Path::new(&session.worktree_path);
    let target = config.project.canonical_branch.clone();
    let opts = RemoveOptions {
        force_worktree: force,
        force_unmerged: force,
        target: Some(target.clone()),
        keep_branch: false,
    };
    match wt.remove(path, &opts) {
        Ok(outcome) => {
            report.worktree_removed = true;
            report.branch_deleted = outcome.branch_deleted;
            if outcome.discarded_commits > 0 {
                report.warnings.push(format!(
                    "Deleted branch \"{}\" with {} unmerged commit(s) (forced)",
                    outcome.branch, outcome.discarded_commits
                ));
            }
        }
        Err(e @ (WorktreeError::Unmerged { .. } | WorktreeError::Unverified { .. })) => {
            report.warnings.push(e.to_string());
        }
        Err(e) => {
            // The directory may already be gone: still try the branch, safely.
            let branch = session.branch_name.as_str();
            if !path.exists() && wt.branch_exists(branch) {
                match wt.delete_branch(branch, &target, force) {
                    Ok(()) => report.branch_deleted = true,
                    Err(e) => report.warnings.push(e.to_string()),
                }
            } else {
                report
                    .warnings
                    .push(format!("Failed to remove worktree: {e}"));
            }
        }
    }
}

/// Leaves the coordinator a note that a lead finished, naming the branches
/// of the lead's `merge_ready` mail. One file per lead, so two leads ending
/// together do not overwrite each other's notes. Errors are ignored.
fn write_lead_nudge(layout: &Layout, lead: &AgentName) {
    let Ok(coordinator) = AgentName::new(crate::persistent::COORDINATOR.agent_name) else {
        return;
    };
    let subject = lead_subject(layout, lead.as_str());
    let marker = NudgeMarker {
        from: lead.to_string(),
        reason: "lead_completed".into(),
        subject,
        message_id: format!("auto-nudge-{lead}-{}", clock::now_millis()),
        created_at: clock::now_rfc3339(),
    };
    let path = layout.pending_nudge_from(&coordinator, lead);
    let Ok(text) = serde_json::to_string_pretty(&marker) else {
        return;
    };
    let _ = overstory_core::fsio::write_atomic(&path, text + "\n");
}

fn lead_subject(layout: &Layout, lead: &str) -> String {
    let generic = format!("Lead {lead} completed — check mail for its merge_ready");
    if !layout.mail_db().exists() {
        return format!("Lead {lead} exited — no merge_ready sent, needs coordinator follow-up");
    }
    let Ok(store) = MailStore::open(layout.mail_db()) else {
        return generic;
    };
    let filter = ListFilter {
        from: Some(lead.to_owned()),
        kind: Some(MessageType::MergeReady),
        ..ListFilter::default()
    };
    let Ok(mails) = store.list(&filter) else {
        return generic;
    };
    let mut branches: Vec<String> = Vec::new();
    for m in &mails {
        let branch = m
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
            .and_then(|v| v.get("branch").and_then(|b| b.as_str()).map(str::to_owned))
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| "(branch unknown)".to_owned());
        if !branches.contains(&branch) {
            branches.push(branch);
        }
    }
    match branches.as_slice() {
        [] => format!("Lead {lead} exited — no merge_ready sent, needs coordinator follow-up"),
        [one] => format!("Lead {lead} completed — merge_ready sent for {one}"),
        many => format!(
            "Lead {lead} completed — merge_ready sent for {} branches: {}",
            many.len(),
            many.join(", ")
        ),
    }
}

/// Reads and deletes every note other agents left for `recipient` with
/// [`Layout::pending_nudge_from`] (stopped leads' notes to the
/// coordinator), oldest first. Unreadable notes are deleted and skipped.
pub fn take_sender_notes(layout: &Layout, recipient: &AgentName) -> Vec<NudgeMarker> {
    let prefix = format!("{recipient}.from-");
    let Ok(entries) = std::fs::read_dir(layout.pending_nudges_dir()) else {
        return Vec::new();
    };
    let mut notes: Vec<NudgeMarker> = entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".json"))
        })
        .filter_map(|e| {
            let text = std::fs::read_to_string(e.path()).ok();
            let _ = std::fs::remove_file(e.path());
            text.and_then(|t| serde_json::from_str(&t).ok())
        })
        .collect();
    notes.sort_by(|a, b| a.created_at.cmp(&b.created_at));
    notes
}
