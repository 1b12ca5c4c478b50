//! `ov clean` wiring.

use overstory_core::Layout;

use crate::support::{initialized_repo, ov};

#[test]
fn clean_without_flags_is_a_validation_error() {
    let repo = initialized_repo();
    let v = ov(repo.path(), &["clean", "--json"]).fails().json();
    assert_eq!(v["command"], "clean");
    assert_eq!(v["code"], "VALIDATION_ERROR");
    assert!(v["error"].as_str().unwrap().contains("--worktrees"));
}

#[test]
fn clean_flags_touch_only_their_targets_and_all_is_repeatable() {
    let repo = initialized_repo();
    let layout = Layout::new(repo.path());
    std::fs::write(layout.specs_dir().join("t.md"), "x\n").unwrap();
    std::fs::create_dir_all(layout.logs_dir().join("a")).unwrap();
    std::fs::write(layout.current_run(), "run-1\n").unwrap();
    let v = ov(repo.path(), &["clean", "--specs", "--json"]).ok().json();
    assert_eq!(v["specsCleared"], true);
    assert_eq!(v["logsCleared"], false);
    assert!(layout.specs_dir().is_dir());
    assert!(layout.logs_dir().join("a").exists());
    assert!(layout.current_run().exists());

    let v = ov(repo.path(), &["clean", "--all", "--json"]).ok().json();
    assert_eq!(v["logsCleared"], true);
    assert_eq!(v["currentRunCleared"], true);
    assert!(v["mulchHealth"].is_null());
    assert!(layout.config().exists(), "config is never touched");
    let r = ov(repo.path(), &["clean", "--all"]).ok();
    assert!(r.stdout.contains("Nothing to clean"), "{r:?}");
}

#[test]
fn clean_worktrees_keeps_unmerged_branches_unless_forced() {
    let repo = initialized_repo();
    let wt = repo.path().join(".overstory/worktrees/b1");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "overstory/b1/t",
        wt.to_str().unwrap(),
        "main",
    ]);
    std::fs::write(wt.join("f.txt"), "x\n").unwrap();
    let g = overstory_core::git::Git::new(&wt);
    g.run(&["add", "f.txt"]).unwrap();
    g.run(&["commit", "-q", "-m", "w"]).unwrap();
    let v = ov(
        repo.path(),
        &["clean", "--worktrees", "--branches", "--json"],
    )
    .ok()
    .json();
    assert_eq!(v["worktreesCleaned"], 0);
    assert_eq!(v["unmergedKept"], serde_json::json!(["overstory/b1/t"]));
    assert!(wt.exists());
    let v = ov(repo.path(), &["clean", "--worktrees", "--force", "--json"])
        .ok()
        .json();
    assert_eq!(v["worktreesCleaned"], 1);
    assert_eq!(v["branchesDeleted"], 1);
    assert!(!wt.exists());
}

#[test]
fn clean_agent_cannot_be_combined_with_all() {
    let repo = initialized_repo();
    let v = ov(repo.path(), &["clean", "--all", "--agent", "x", "--json"])
        .fails()
        .json();
    assert_eq!(v["code"], "VALIDATION_ERROR");
    let v = ov(repo.path(), &["clean", "--agent", "ghost", "--json"])
        .fails()
        .json();
    assert_eq!(v["code"], "AGENT_ERROR");
}
