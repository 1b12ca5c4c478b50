//! `ov worktree list|clean` wiring.

use overstory_core::Layout;
use overstory_sessions::{AgentState, Session, SessionStore};

use crate::support::{TempRepo, initialized_repo, ov};

fn agent_worktree(
    repo: &TempRepo,
    name: &str,
    commit: bool,
    state: AgentState,
) -> std::path::PathBuf {
    let wt = repo.path().join(".overstory/worktrees").join(name);
    let branch = format!("overstory/{name}/t-1");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        &branch,
        wt.to_str().unwrap(),
        "main",
    ]);
    if commit {
        std::fs::write(wt.join("work.txt"), "x\n").unwrap();
        let g = overstory_core::git::Git::new(&wt);
        g.run(&["add", "work.txt"]).unwrap();
        g.run(&["commit", "-q", "-m", "work"]).unwrap();
    }
    let mut s = Session::new(name.parse().unwrap(), "builder".parse().unwrap());
    s.state = state;
    s.worktree_path = wt.to_string_lossy().into_owned();
    s.branch_name = branch;
    s.task_id = Some("t-1".parse().unwrap());
    SessionStore::open(&Layout::new(repo.path()).sessions_db())
        .unwrap()
        .upsert(&s)
        .unwrap();
    wt
}

#[test]
fn list_joins_worktrees_to_sessions() {
    let repo = initialized_repo();
    agent_worktree(&repo, "builder-1", false, AgentState::Working);
    let v = ov(repo.path(), &["worktree", "list", "--json"]).ok().json();
    assert_eq!(v["command"], "worktree list");
    let list = v["worktrees"].as_array().unwrap();
    assert_eq!(list.len(), 1, "main is not an agent worktree: {v}");
    assert_eq!(list[0]["branch"], "overstory/builder-1/t-1");
    assert_eq!(list[0]["agentName"], "builder-1");
    assert_eq!(list[0]["state"], "working");
    assert_eq!(list[0]["taskId"], "t-1");
}

#[test]
fn clean_skips_unmerged_and_active_and_removes_merged_completed() {
    let repo = initialized_repo();
    let merged = agent_worktree(&repo, "done-merged", false, AgentState::Completed);
    let unmerged = agent_worktree(&repo, "done-unmerged", true, AgentState::Completed);
    let active = agent_worktree(&repo, "busy", false, AgentState::Working);
    let v = ov(repo.path(), &["worktree", "clean", "--json"])
        .ok()
        .json();
    assert_eq!(v["command"], "worktree clean");
    assert_eq!(
        v["cleaned"],
        serde_json::json!(["overstory/done-merged/t-1"])
    );
    assert_eq!(
        v["skipped"],
        serde_json::json!(["overstory/done-unmerged/t-1"])
    );
    assert!(!merged.exists());
    assert!(
        unmerged.exists(),
        "unmerged work must survive without --force"
    );
    assert!(active.exists(), "non-terminal agents are kept by default");

    let v = ov(repo.path(), &["worktree", "clean", "--force", "--json"])
        .ok()
        .json();
    assert_eq!(
        v["cleaned"],
        serde_json::json!(["overstory/done-unmerged/t-1"])
    );
    assert!(!unmerged.exists());
    assert!(active.exists());
}

#[test]
fn worktree_without_subcommand_prints_help_and_fails() {
    let repo = initialized_repo();
    let r = ov(repo.path(), &["worktree"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("list") && r.stderr.contains("clean"),
        "{r:?}"
    );
}
