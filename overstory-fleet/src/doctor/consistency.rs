//! Category `consistency`: sessions against what exists — worktrees,
//! processes, tmux sessions — and pid files whose process is gone.
//!
//! Reports only, apart from stale pid files: settling rows and killing
//! processes is the reconciler's job (see `run`'s fleet repair).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use overstory_core::doctor::{Check, Finding, Fix};
use overstory_core::{Capability, process};
use overstory_sessions::{RunMode, Session, SessionStore};
use overstory_turn::host;

use super::Probe;
use crate::tmux::{SessionState, Tmux};

const CATEGORY: &str = "consistency";

pub(super) fn findings(p: &Probe<'_>) -> Vec<Finding> {
    let layout = p.layout;
    let mut out = Vec::new();
    let sessions: Vec<Session> = if layout.sessions_db().is_file() {
        match SessionStore::open(&layout.sessions_db()).and_then(|s| s.all_readable()) {
            Ok((good, _)) => good,
            Err(e) => {
                out.push(
                    Check::warn(
                        CATEGORY,
                        "sessions",
                        format!(
                            "Cannot read sessions.db ({}): see the databases category",
                            overstory_core::error::chain_text(&e)
                        ),
                    )
                    .into(),
                );
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    let active: Vec<&Session> = sessions.iter().filter(|s| !s.state.is_terminal()).collect();

    // Worktrees without a session row.
    let base = layout.root().join(&p.config.worktrees.base_dir);
    let known: BTreeSet<&str> = sessions.iter().map(|s| s.agent_name.as_str()).collect();
    let orphans: Vec<String> = std::fs::read_dir(&base)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !known.contains(n.as_str()))
        .collect();
    out.push(
        if orphans.is_empty() {
            Check::pass(
                CATEGORY,
                "orphaned worktrees",
                "Every worktree has a session",
            )
        } else {
            Check::warn(
                CATEGORY,
                "orphaned worktrees",
                format!(
                    "Worktrees with no session: {}; review them, then ov worktree clean \
                     (unmerged commits are never deleted without --force)",
                    orphans.join(", ")
                ),
            )
        }
        .into(),
    );

    // Active task-scoped agents whose worktree is gone.
    let missing: Vec<&str> = active
        .iter()
        .filter(|s| s.capability.is_task_scoped() && !Path::new(&s.worktree_path).is_dir())
        .map(|s| s.agent_name.as_str())
        .collect();
    out.push(
        if missing.is_empty() {
            Check::pass(
                CATEGORY,
                "missing worktrees",
                "Every active agent has its worktree",
            )
        } else {
            Check::warn(
                CATEGORY,
                "missing worktrees",
                format!(
                    "Active agents whose worktree is gone: {}; stop them with ov stop <agent>",
                    missing.join(", ")
                ),
            )
        }
        .into(),
    );

    // Hosted agents whose process is gone.
    let dead: Vec<String> = active
        .iter()
        .filter(|s| s.mode() == RunMode::Hosted)
        .filter_map(|s| {
            let pid = i32::try_from(s.pid?).ok()?;
            (!process::is_alive(pid)).then(|| format!("{} (pid {pid})", s.agent_name))
        })
        .collect();
    out.push(
        if dead.is_empty() {
            Check::pass(CATEGORY, "dead processes", "Every active hosted agent's process is alive")
        } else {
            Check::warn(
                CATEGORY,
                "dead processes",
                format!(
                    "Active agents whose process is gone: {}; run ov doctor --fix to settle them, then restart \
                     them (ov coordinator start reclaims a dead one) or stop them",
                    dead.join(", ")
                ),
            )
        }
        .into(),
    );

    // Tmux agents whose session is gone (asked only when there are some).
    let tmux_rows: Vec<&&Session> = active
        .iter()
        .filter(|s| s.mode() == RunMode::Tmux)
        .collect();
    if !tmux_rows.is_empty() {
        let tmux = Tmux::default();
        let gone: Vec<String> = tmux_rows
            .iter()
            .filter(|s| tmux.check_state(&s.tmux_session) != SessionState::Alive)
            .map(|s| format!("{} ({})", s.agent_name, s.tmux_session))
            .collect();
        out.push(
            if gone.is_empty() {
                Check::pass(CATEGORY, "tmux sessions", "Every tmux agent's session is alive")
            } else {
                Check::warn(
                    CATEGORY,
                    "tmux sessions",
                    format!(
                        "Active agents whose tmux session is gone: {}; stop them with ov stop <agent>",
                        gone.join(", ")
                    ),
                )
            }
            .into(),
        );
    }

    // Finished agents whose host still runs (a host must not outlive its agent).
    let lingering: Vec<&str> = sessions
        .iter()
        .filter(|s| s.state.is_terminal() && s.mode() == RunMode::Hosted)
        .filter(|s| host::live_host(layout, &s.agent_name).is_some())
        .map(|s| s.agent_name.as_str())
        .collect();
    out.push(
        if lingering.is_empty() {
            Check::pass(
                CATEGORY,
                "orphaned processes",
                "No finished agent's host still runs",
            )
        } else {
            Check::warn(
                CATEGORY,
                "orphaned processes",
                format!(
                    "Finished agents whose host still runs: {}; end them with ov stop <agent>",
                    lingering.join(", ")
                ),
            )
        }
        .into(),
    );

    out.push(reviewer_coverage(&active, &sessions).into());
    out.push(stale_pid_files(&layout.agents_dir()));
    out
}

/// Every active lead with builders has at least one reviewer.
fn reviewer_coverage(active: &[&Session], all: &[Session]) -> Check {
    const NAME: &str = "reviewer coverage";
    let children = |lead: &Session, cap: Capability| {
        all.iter()
            .filter(|s| s.capability == cap && s.parent_agent.as_ref() == Some(&lead.agent_name))
            .count()
    };
    let uncovered: Vec<String> = active
        .iter()
        .filter(|s| s.capability == Capability::Lead)
        .filter_map(|lead| {
            let builders = children(lead, Capability::Builder);
            (builders > 0 && children(lead, Capability::Reviewer) == 0)
                .then(|| format!("{} ({builders} builders)", lead.agent_name))
        })
        .collect();
    if uncovered.is_empty() {
        Check::pass(
            CATEGORY,
            NAME,
            "Every active lead with builders has a reviewer",
        )
    } else {
        Check::warn(
            CATEGORY,
            NAME,
            format!(
                "Leads whose builders no reviewer checks: {}; sling one with \
                 ov sling <task> --capability reviewer --parent <lead>",
                uncovered.join(", ")
            ),
        )
    }
}

/// `agents/<name>/turn.pid` and `host.pid` files naming a process that is
/// gone (or holding no pid at all).
fn stale_pid_files(agents_dir: &Path) -> Finding {
    let mut stale: Vec<PathBuf> = Vec::new();
    for dir in std::fs::read_dir(agents_dir)
        .into_iter()
        .flatten()
        .flatten()
    {
        for file in ["turn.pid", "host.pid"] {
            let path = dir.path().join(file);
            if path.is_file() && !process::read_pid_file(&path).is_some_and(process::is_alive) {
                stale.push(path);
            }
        }
    }
    if stale.is_empty() {
        return Check::pass(
            CATEGORY,
            "stale pid files",
            "No pid file names a dead process",
        )
        .into();
    }
    let names: Vec<String> = stale.iter().map(|p| p.display().to_string()).collect();
    Finding::fixable(
        Check::warn(
            CATEGORY,
            "stale pid files",
            format!(
                "Pid files naming dead processes: {}; run ov doctor --fix to remove them",
                names.join(", ")
            ),
        ),
        stale.into_iter().map(Fix::RemoveFile).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use overstory_core::doctor::CheckStatus;
    use overstory_core::{AgentName, Layout};
    use overstory_sessions::AgentState;

    fn row(name: &str, cap: Capability, parent: Option<&str>, worktree: &Path) -> Session {
        let mut s = Session::new(AgentName::new(name).unwrap(), cap);
        s.parent_agent = parent.map(|p| AgentName::new(p).unwrap());
        s.worktree_path = worktree.to_string_lossy().into_owned();
        s.state = AgentState::Working;
        s
    }

    #[test]
    fn sessions_are_checked_against_worktrees_and_reviewers() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let wt = layout.worktrees_dir();
        std::fs::create_dir_all(wt.join("builder-1")).unwrap();
        std::fs::create_dir_all(wt.join("stray")).unwrap();
        std::fs::create_dir_all(wt.join("lead-1")).unwrap();
        let store = SessionStore::open(&layout.sessions_db()).unwrap();
        store
            .upsert(&row("lead-1", Capability::Lead, None, &wt.join("lead-1")))
            .unwrap();
        store
            .upsert(&row(
                "builder-1",
                Capability::Builder,
                Some("lead-1"),
                &wt.join("builder-1"),
            ))
            .unwrap();
        store
            .upsert(&row(
                "builder-2",
                Capability::Builder,
                Some("lead-1"),
                &wt.join("gone"),
            ))
            .unwrap();
        let f = findings(&Probe::with_defaults(&layout));
        let get = |name: &str| {
            f.iter()
                .find(|f| f.check.name == name)
                .unwrap()
                .check
                .clone()
        };
        let orphans = get("orphaned worktrees");
        assert_eq!(orphans.status, CheckStatus::Warn);
        assert!(orphans.message.contains("stray") && !orphans.message.contains("builder-1"));
        let missing = get("missing worktrees");
        assert!(missing.message.contains("builder-2"), "{}", missing.message);
        let review = get("reviewer coverage");
        assert_eq!(review.status, CheckStatus::Warn);
        assert!(
            review.message.contains("lead-1 (2 builders)"),
            "{}",
            review.message
        );
        store
            .upsert(&row(
                "reviewer-1",
                Capability::Reviewer,
                Some("lead-1"),
                &wt.join("lead-1"),
            ))
            .unwrap();
        let f = findings(&Probe::with_defaults(&layout));
        let review = f
            .iter()
            .find(|f| f.check.name == "reviewer coverage")
            .unwrap();
        assert_eq!(review.check.status, CheckStatus::Pass);
    }
}
