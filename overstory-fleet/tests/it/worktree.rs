//! The worktree manager in real git repositories.

use std::path::Path;

use overstory_core::worktree::{RemoveOptions, Worktrees};
use overstory_core::{AgentName, TaskId, WorktreeError};
use overstory_testkit::TempRepo;

fn names(agent: &str, task: &str) -> (AgentName, TaskId) {
    (AgentName::new(agent).unwrap(), TaskId::new(task).unwrap())
}

fn base() -> &'static Path {
    Path::new(".overstory/worktrees")
}

fn commit_in(dir: &Path, file: &str) {
    std::fs::write(dir.join(file), "work\n").unwrap();
    let git = overstory_core::git::Git::new(dir);
    git.run(&["add", file]).unwrap();
    git.run(&[
        "-c",
        "user.email=t@e.x",
        "-c",
        "user.name=T",
        "commit",
        "-q",
        "-m",
        "work",
    ])
    .unwrap();
}

#[test]
fn create_makes_agent_branch_and_lists_it_with_main() {
    let repo = TempRepo::new();
    let wt = Worktrees::new(repo.path());
    let (a, t) = names("builder-1", "task-1");
    let created = wt.create(base(), &a, &t, "main").unwrap();
    assert_eq!(created.branch.as_str(), "overstory/builder-1/task-1");
    assert!(created.path.join("README.md").is_file());
    let list = wt.list().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].branch, "main");
    assert_eq!(list[1].branch, "overstory/builder-1/task-1");
    assert_eq!(list[1].head.len(), 40);
}

#[test]
fn duplicate_create_names_path_and_branch() {
    let repo = TempRepo::new();
    let wt = Worktrees::new(repo.path());
    let (a, t) = names("builder-1", "task-1");
    wt.create(base(), &a, &t, "main").unwrap();
    let err = wt.create(base(), &a, &t, "main").unwrap_err();
    match &err {
        WorktreeError::AlreadyExists { path, branch } => {
            assert!(path.ends_with(".overstory/worktrees/builder-1"));
            assert_eq!(branch, "overstory/builder-1/task-1");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(err.code(), "WORKTREE_ERROR");
    assert!(err.to_string().contains("overstory/builder-1/task-1"));
}

#[test]
fn rollback_removes_worktree_and_branch_and_tolerates_missing_paths() {
    let repo = TempRepo::new();
    let wt = Worktrees::new(repo.path());
    let (a, t) = names("builder-1", "task-1");
    let c = wt.create(base(), &a, &t, "main").unwrap();
    wt.rollback(&c.path, c.branch.as_str());
    assert!(!c.path.exists());
    assert!(!wt.branch_exists(c.branch.as_str()));
    // Twice, and on something that never existed: no panic, no error.
    wt.rollback(&c.path, c.branch.as_str());
    wt.rollback(&repo.path().join("nope"), "overstory/none/x");
    // A retry after rollback works.
    wt.create(base(), &a, &t, "main").unwrap();
}

#[test]
fn merged_check_follows_commits() {
    let repo = TempRepo::new();
    let wt = Worktrees::new(repo.path());
    let (a, t) = names("builder-1", "task-1");
    let c = wt.create(base(), &a, &t, "main").unwrap();
    assert!(wt.is_branch_merged(c.branch.as_str(), "main").unwrap());
    commit_in(&c.path, "new.txt");
    assert!(!wt.is_branch_merged(c.branch.as_str(), "main").unwrap());
    assert_eq!(wt.unmerged_commits(c.branch.as_str(), "main").unwrap(), 1);
    assert!(wt.is_branch_merged("no-such-branch", "main").is_err());
}

#[test]
fn remove_refuses_unmerged_work_unless_forced() {
    let repo = TempRepo::new();
    let wt = Worktrees::new(repo.path());
    let (a, t) = names("builder-1", "task-1");
    let c = wt.create(base(), &a, &t, "main").unwrap();
    commit_in(&c.path, "new.txt");
    let opts = RemoveOptions {
        target: Some("main".into()),
        ..RemoveOptions::default()
    };
    let err = wt.remove(&c.path, &opts).unwrap_err();
    assert!(
        matches!(err, WorktreeError::Unmerged { commits: 1, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("not merged into \"main\""));
    assert!(c.path.exists(), "nothing touched");
    assert!(wt.branch_exists(c.branch.as_str()));

    let forced = RemoveOptions {
        force_unmerged: true,
        ..opts
    };
    let out = wt.remove(&c.path, &forced).unwrap();
    assert!(out.branch_deleted);
    assert_eq!(out.discarded_commits, 1);
    assert!(!c.path.exists());
}

#[test]
fn remove_without_target_keeps_unmerged_branch_silently() {
    let repo = TempRepo::new();
    let wt = Worktrees::new(repo.path());
    let (a, t) = names("builder-1", "task-1");
    let c = wt.create(base(), &a, &t, "main").unwrap();
    commit_in(&c.path, "new.txt");
    let out = wt.remove(&c.path, &RemoveOptions::default()).unwrap();
    assert!(!out.branch_deleted);
    assert!(wt.branch_exists(c.branch.as_str()));
    assert!(!c.path.exists());
}

#[test]
fn merged_branch_is_removed_with_its_worktree() {
    let repo = TempRepo::new();
    let wt = Worktrees::new(repo.path());
    let (a, t) = names("builder-1", "task-1");
    let c = wt.create(base(), &a, &t, "main").unwrap();
    commit_in(&c.path, "new.txt");
    repo.git(&["merge", "-q", "--ff-only", c.branch.as_str()]);
    let opts = RemoveOptions {
        target: Some("main".into()),
        ..RemoveOptions::default()
    };
    let out = wt.remove(&c.path, &opts).unwrap();
    assert!(out.branch_deleted);
    assert_eq!(out.discarded_commits, 0);
}

#[test]
fn lead_seeds_changes_are_committed_to_canonical() {
    let repo = TempRepo::new();
    std::fs::create_dir_all(repo.path().join(".overstory")).unwrap();
    let wt = Worktrees::new(repo.path());
    let (a, t) = names("lead-1", "task-1");
    let c = wt.create(base(), &a, &t, "main").unwrap();
    std::fs::create_dir_all(c.path.join(".seeds")).unwrap();
    commit_in(&c.path, ".seeds/issues.jsonl");
    let r = wt.preserve_seeds_changes(
        c.branch.as_str(),
        "main",
        "lead-1",
        &repo.path().join(".overstory"),
    );
    assert_eq!(r.error, None);
    assert!(r.preserved);
    assert!(repo.path().join(".seeds/issues.jsonl").is_file());
    assert_eq!(
        repo.git(&["log", "-1", "--format=%s"]),
        "chore: preserve .seeds/ changes from lead lead-1"
    );
    // Nothing left to carry over the second time.
    let again =
        wt.preserve_seeds_changes("main", "main", "lead-1", &repo.path().join(".overstory"));
    assert!(!again.preserved);
    assert_eq!(again.error, None);
}

#[test]
fn remove_refuses_when_the_merge_check_cannot_run() {
    let repo = TempRepo::new();
    let wt = Worktrees::new(repo.path());
    let (a, t) = names("builder-1", "task-1");
    let c = wt.create(base(), &a, &t, "main").unwrap();
    let opts = RemoveOptions {
        target: Some("no-such-canonical".into()),
        ..RemoveOptions::default()
    };
    let err = wt.remove(&c.path, &opts).unwrap_err();
    assert!(matches!(err, WorktreeError::Unverified { .. }), "{err:?}");
    assert!(err.to_string().contains("Cannot tell whether branch"));
    assert!(c.path.exists());
}

#[test]
fn pending_worktree_rolls_back_on_drop_and_survives_keep() {
    let repo = TempRepo::new();
    let wt = Worktrees::new(repo.path());
    let (a, t) = names("builder-1", "task-1");
    let path = {
        let pending = wt.create_pending(base(), &a, &t, "main").unwrap();
        assert!(pending.worktree().path.exists());
        pending.worktree().path.clone()
        // Dropped here: as if a later sling step failed.
    };
    assert!(!path.exists());
    assert!(!wt.branch_exists("overstory/builder-1/task-1"));
    let kept = wt.create_pending(base(), &a, &t, "main").unwrap().keep();
    assert!(kept.path.exists());
    assert!(wt.branch_exists(kept.branch.as_str()));
}
