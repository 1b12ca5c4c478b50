//! The lead close gate's probe, executed for real: mail counts read from a
//! real `mail.db`, and ancestry through real git.

use std::path::Path;

use overstory_core::{Capability, Layout};
use overstory_mail::{MailStore, MessageType, NewMessage};
use overstory_runtime::guard::{GateProbe, GuardContext, ProjectProbe, ToolCall, evaluate};
use overstory_testkit::TempRepo;

/// A project directory whose `mail.db` holds `mr` merge_ready mails from
/// `lead-1` and `wd` worker_done mails to it, plus mail that must not count
/// (other agents, other types, the other direction).
fn project_with_mail(mr: usize, wd: usize) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let layout = Layout::new(root.path());
    std::fs::create_dir_all(layout.dir()).unwrap();
    let store = MailStore::open(layout.mail_db()).unwrap();
    let send = |from: &str, to: &str, kind: MessageType| {
        store
            .insert(&NewMessage {
                from: from.into(),
                to: to.into(),
                subject: format!("{kind}"),
                kind,
                ..NewMessage::default()
            })
            .unwrap();
    };
    for _ in 0..mr {
        send("lead-1", "coordinator", MessageType::MergeReady);
    }
    for _ in 0..wd {
        send("builder-1", "lead-1", MessageType::WorkerDone);
    }
    send("lead-2", "coordinator", MessageType::MergeReady);
    send("builder-2", "lead-2", MessageType::WorkerDone);
    send("lead-1", "coordinator", MessageType::Status);
    send("coordinator", "lead-1", MessageType::MergeReady);
    send("lead-1", "builder-1", MessageType::WorkerDone);
    root
}

fn probe(root: &Path) -> ProjectProbe {
    ProjectProbe {
        project_root: Some(root.to_path_buf()),
    }
}

fn ctx(wt: &Path) -> GuardContext {
    GuardContext {
        capability: Some(Capability::Lead),
        agent_name: Some("lead-1".into()),
        worktree: Some(wt.to_path_buf()),
        task_id: Some("task-1".into()),
        cwd: wt.to_path_buf(),
        ..GuardContext::default()
    }
}

#[test]
fn mail_counts_come_from_mail_db_for_this_agent_only() {
    let root = project_with_mail(2, 1);
    let p = probe(root.path());
    assert_eq!(p.mail_counts("lead-1").unwrap(), (2, 1));
    assert_eq!(p.mail_counts("someone-else").unwrap(), (0, 0));
}

#[test]
fn a_missing_mail_db_counts_zero_and_is_not_created() {
    let root = tempfile::tempdir().unwrap();
    let layout = Layout::new(root.path());
    std::fs::create_dir_all(layout.dir()).unwrap();
    assert_eq!(probe(root.path()).mail_counts("lead-1").unwrap(), (0, 0));
    assert!(!layout.mail_db().exists(), "the probe created mail.db");
    let nowhere = ProjectProbe { project_root: None };
    assert_eq!(nowhere.mail_counts("lead-1").unwrap(), (0, 0));
}

#[test]
fn an_unreadable_mail_db_denies_the_close() {
    let repo = TempRepo::new();
    let root = tempfile::tempdir().unwrap();
    let layout = Layout::new(root.path());
    std::fs::create_dir_all(layout.dir()).unwrap();
    std::fs::write(
        layout.mail_db(),
        "this is not a SQLite database, not at all",
    )
    .unwrap();
    let p = probe(root.path());
    assert!(p.mail_counts("lead-1").is_err());
    let d = evaluate(&ctx(repo.path()), &ToolCall::bash("sd close task-1"), &p);
    assert!(d.is_deny(), "{d:?}");
    assert!(
        d.reason()
            .unwrap()
            .contains("mail database could not be read"),
        "{d:?}"
    );
}

#[test]
fn close_is_blocked_until_merge_ready_covers_worker_done() {
    let repo = TempRepo::new();
    let close = ToolCall::bash("sd close task-1");
    for (mr, wd, blocked) in [(0, 0, true), (1, 0, false), (1, 2, true), (2, 2, false)] {
        let root = project_with_mail(mr, wd);
        let d = evaluate(&ctx(repo.path()), &close, &probe(root.path()));
        assert_eq!(d.is_deny(), blocked, "mr={mr} wd={wd}: {d:?}");
    }
}

#[test]
fn ancestry_blocks_until_head_is_merged_and_honours_session_branch() {
    let repo = TempRepo::new();
    repo.git(&["checkout", "-q", "-b", "overstory/lead-1/task-1"]);
    std::fs::write(repo.path().join("work.txt"), "w").unwrap();
    repo.git(&["add", "work.txt"]);
    repo.git(&["commit", "-q", "-m", "work"]);
    let root = tempfile::tempdir().unwrap();
    let probe = probe(root.path());
    // Falls back to main: not merged yet.
    assert_eq!(probe.head_merged(repo.path()), Some(false));
    // A session branch that contains HEAD.
    repo.git(&["branch", "session-x"]);
    std::fs::create_dir_all(root.path().join(".overstory")).unwrap();
    std::fs::write(
        root.path().join(".overstory/session-branch.txt"),
        "session-x\n",
    )
    .unwrap();
    assert_eq!(probe.head_merged(repo.path()), Some(true));
    // A missing target ref fails open.
    std::fs::write(
        root.path().join(".overstory/session-branch.txt"),
        "no-such-branch",
    )
    .unwrap();
    assert_eq!(probe.head_merged(repo.path()), None);
    // Back to main, then merged.
    std::fs::remove_file(root.path().join(".overstory/session-branch.txt")).unwrap();
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["merge", "-q", "--ff-only", "overstory/lead-1/task-1"]);
    repo.git(&["checkout", "-q", "overstory/lead-1/task-1"]);
    assert_eq!(probe.head_merged(repo.path()), Some(true));
}

#[test]
fn gate_blocks_an_unmerged_lead_with_enough_merge_ready_mail() {
    let repo = TempRepo::new();
    repo.git(&["checkout", "-q", "-b", "feature"]);
    std::fs::write(repo.path().join("f.txt"), "f").unwrap();
    repo.git(&["add", "f.txt"]);
    repo.git(&["commit", "-q", "-m", "f"]);
    let root = project_with_mail(1, 0);
    let probe = probe(root.path());
    let d = evaluate(
        &ctx(repo.path()),
        &ToolCall::bash("bd close task-1"),
        &probe,
    );
    assert!(d.reason().unwrap().contains("not merged"), "{d:?}");
    // Without the worktree variable the ancestry check fails open.
    let mut c = ctx(repo.path());
    c.worktree = None;
    assert!(!evaluate(&c, &ToolCall::bash("bd close task-1"), &probe).is_deny());
}
