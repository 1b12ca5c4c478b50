//! `ov worktree list|clean`: agent worktrees joined to their sessions, and
//! their cleanup.
//!
//! Cleanup never deletes a branch holding commits that are not on the
//! canonical branch unless forced, so cleaning never loses an agent's work.
//! A lead's branch is the one exception: its `.seeds/` changes are first
//! carried onto the canonical branch, and the branch is deleted only when
//! nothing else on it is unmerged.

use std::path::{Path, PathBuf};
use std::time::Duration;

use overstory_core::worktree::{RemoveOptions, Worktrees};
use overstory_core::{AgentName, Capability, Config, Layout, process};
use overstory_mail::{MailStore, PurgeFilter};
use overstory_sessions::{AgentState, RunMode, Session, SessionStore, Transition, open_sessions};
use serde::Serialize;

use crate::error::FleetError;
use crate::tmux::Tmux;

/// The prefix of every agent branch.
pub const AGENT_BRANCH_PREFIX: &str = overstory_core::BranchName::AGENT_PREFIX;

/// An agent worktree and the session that owns it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentWorktree {
    /// The worktree directory.
    pub path: String,
    /// Its branch.
    pub branch: String,
    /// Its HEAD commit.
    pub head: String,
    /// The agent whose session names this path.
    pub agent_name: Option<AgentName>,
    /// That session's state.
    pub state: Option<String>,
    /// That session's task (`""` when it has none, as the original writes).
    pub task_id: Option<String>,
}

fn same_path(a: &str, b: &Path) -> bool {
    let a = Path::new(a);
    a == b || a.canonicalize().ok() == b.canonicalize().ok() && a.exists()
}

/// Lists the worktrees whose branch starts `overstory/`, with their sessions.
///
/// # Errors
/// [`FleetError::Worktree`] when git fails; [`FleetError::Session`] when the
/// sessions store cannot be read.
pub fn list_worktrees(layout: &Layout) -> Result<Vec<AgentWorktree>, FleetError> {
    let sessions = load_sessions(layout)?;
    let wts = Worktrees::new(layout.root()).list()?;
    Ok(wts
        .into_iter()
        .filter(|w| w.branch.starts_with(AGENT_BRANCH_PREFIX))
        .map(|w| {
            let s = sessions
                .iter()
                .find(|s| !s.worktree_path.is_empty() && same_path(&s.worktree_path, &w.path));
            AgentWorktree {
                path: w.path.to_string_lossy().into_owned(),
                branch: w.branch,
                head: w.head,
                agent_name: s.map(|s| s.agent_name.clone()),
                state: s.map(|s| s.state.as_str().to_owned()),
                task_id: s.map(|s| s.task_str().to_owned()),
            }
        })
        .collect())
}

fn load_sessions(layout: &Layout) -> Result<Vec<Session>, FleetError> {
    if !layout.sessions_db().exists() {
        return Ok(Vec::new());
    }
    let (store, _) = open_sessions(layout)?;
    Ok(store.all()?)
}

/// Choices of [`clean_worktrees`].
#[derive(Debug, Clone, Default)]
pub struct WorktreeCleanOptions {
    /// Clean worktrees of every state, not only completed ones (the merge
    /// check still applies).
    pub all: bool,
    /// Delete unmerged branches and stop live children.
    pub force: bool,
    /// The tmux server of tmux agents.
    pub tmux: Tmux,
}

/// What [`clean_worktrees`] did; the `worktree clean` JSON data.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorktreeCleanReport {
    /// Branches whose worktree was removed.
    pub cleaned: Vec<String>,
    /// Branches whose removal failed.
    pub failed: Vec<String>,
    /// Branches kept because they hold unmerged commits.
    pub skipped: Vec<String>,
    /// Branches kept because their agent still has live children.
    pub blocked_by_children: Vec<String>,
    /// Zombie session rows deleted because their worktree is gone.
    pub pruned: usize,
    /// Messages purged from and to cleaned agents.
    pub mail_purged: usize,
    /// Lead branches whose `.seeds/` changes were committed to the canonical branch.
    pub seeds_preserved: Vec<String>,
    /// Human notes (forced deletions of unmerged work, failures).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Removes agent worktrees and their branches, except those of agents
/// still active (`all`: those too), killing their tmux sessions first.
///
/// A branch with commits not on the canonical branch is skipped unless
/// `force` is set (a lead's branch after its `.seeds/` changes are carried
/// over), as is a worktree in which child processes still run; the report
/// lists each outcome.
///
/// # Errors
/// [`FleetError::Worktree`] when the worktrees cannot be listed; store errors.
pub fn clean_worktrees(
    layout: &Layout,
    config: &Config,
    opts: &WorktreeCleanOptions,
) -> Result<WorktreeCleanReport, FleetError> {
    let canonical = config.project.canonical_branch.clone();
    let wt = Worktrees::new(layout.root());
    let sessions = load_sessions(layout)?;
    let mut report = WorktreeCleanReport::default();
    let mut cleaned_agents: Vec<String> = Vec::new();
    for w in wt.list()? {
        if !w.branch.starts_with(AGENT_BRANCH_PREFIX) {
            continue;
        }
        let session = sessions
            .iter()
            .find(|s| !s.worktree_path.is_empty() && same_path(&s.worktree_path, &w.path));
        if !opts.all && session.is_some_and(|s| !s.state.is_terminal()) {
            continue;
        }
        let is_lead = session.is_some_and(|s| s.capability == Capability::Lead.as_str());
        let unmerged = wt
            .unmerged_commits(&w.branch, &canonical)
            .unwrap_or(usize::MAX);
        if unmerged > 0 && !opts.force && !is_lead {
            report.skipped.push(w.branch.clone());
            continue;
        }
        if live_children(&w.path, opts.force) {
            report.blocked_by_children.push(w.branch.clone());
            continue;
        }
        if let Some(s) = session
            && s.mode() == RunMode::Tmux
        {
            let _ = opts
                .tmux
                .kill_session(&s.tmux_session, Duration::from_secs(2));
        }
        if is_lead && unmerged > 0 {
            let r = wt.preserve_seeds_changes(
                &w.branch,
                &canonical,
                &agent_of(session, &w.branch),
                layout.dir(),
            );
            if r.preserved {
                report.seeds_preserved.push(w.branch.clone());
            }
            if let Some(e) = &r.error {
                report
                    .warnings
                    .push(format!("Could not preserve .seeds/ of {}: {e}", w.branch));
            }
            let safe =
                r.error.is_none() && !wt.has_changes_outside(&w.branch, &canonical, ".seeds");
            if !safe && !opts.force {
                report.skipped.push(w.branch.clone());
                continue;
            }
        }
        if unmerged > 0 && opts.force {
            report.warnings.push(format!(
                "Force-deleting unmerged branch {} ({} commit(s) not on {canonical})",
                w.branch,
                if unmerged == usize::MAX { 0 } else { unmerged }
            ));
        }
        let remove = RemoveOptions {
            force_worktree: true,
            force_unmerged: true,
            target: Some(canonical.clone()),
            keep_branch: false,
        };
        match wt.remove(&w.path, &remove) {
            Ok(_) => {
                report.cleaned.push(w.branch.clone());
                if let Some(s) = session {
                    cleaned_agents.push(s.agent_name.to_string());
                }
            }
            Err(e) => {
                report.failed.push(w.branch.clone());
                report.warnings.push(e.to_string());
            }
        }
    }

    if !cleaned_agents.is_empty() && layout.mail_db().exists() {
        let store = MailStore::open(layout.mail_db())?;
        for agent in &cleaned_agents {
            report.mail_purged += store.purge(&PurgeFilter {
                agent: Some(agent.clone()),
                ..PurgeFilter::default()
            })?;
        }
    }
    if layout.sessions_db().exists() {
        let (mut store, _) = open_sessions(layout)?;
        for agent in &cleaned_agents {
            store.transition(agent, &Transition::to(AgentState::Zombie))?;
        }
        report.pruned = prune_zombies(&store, &wt)?;
    }
    Ok(report)
}

fn agent_of(session: Option<&Session>, branch: &str) -> String {
    session.map_or_else(
        || branch.split('/').nth(1).unwrap_or_default().to_owned(),
        |s| s.agent_name.to_string(),
    )
}

/// Deletes zombie rows whose worktree git no longer lists.
fn prune_zombies(store: &SessionStore, wt: &Worktrees) -> Result<usize, FleetError> {
    let listed: Vec<PathBuf> = wt.list()?.into_iter().map(|w| w.path).collect();
    let mut pruned = 0;
    for s in store.all()? {
        if s.state != AgentState::Zombie || s.worktree_path.is_empty() {
            continue;
        }
        if !listed.iter().any(|p| same_path(&s.worktree_path, p)) && store.remove(&s.agent_name)? {
            pruned += 1;
        }
    }
    Ok(pruned)
}

/// Returns whether non-terminal sessions in the worktree's own
/// `.overstory/sessions.db` still have live processes. With `force`, they
/// are sent SIGTERM (and given 500 ms) instead, and `false` is returned.
fn live_children(worktree: &Path, force: bool) -> bool {
    let db = Layout::new(worktree).sessions_db();
    if !db.exists() {
        return false;
    }
    let Ok(store) = SessionStore::open(&db) else {
        return false;
    };
    let live: Vec<i32> = store
        .all()
        .unwrap_or_default()
        .into_iter()
        .filter(|s| !s.state.is_terminal())
        .filter_map(|s| s.pid.and_then(|p| i32::try_from(p).ok()))
        .filter(|p| process::is_alive(*p))
        .collect();
    if live.is_empty() {
        return false;
    }
    if !force {
        return true;
    }
    for pid in live {
        let _ = process::signal_process(pid, process::Sig::Term);
    }
    std::thread::sleep(Duration::from_millis(500));
    false
}
