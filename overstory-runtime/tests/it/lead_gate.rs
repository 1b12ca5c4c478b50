//! The lead close gate's probe, executed for real: `ov mail list` counts
//! through a stand-in `ov`, and ancestry through real git.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use overstory_core::Capability;
use overstory_runtime::guard::{GateProbe, GuardContext, ProcessProbe, ToolCall, evaluate};
use overstory_testkit::TempRepo;

/// A stand-in `ov` answering `mail list --json --from|--to <agent> --type <t>`
/// with `mr` merge_ready and `wd` worker_done rows, only for `lead-1`.
fn fake_ov(dir: &Path, mr: usize, wd: usize) -> std::path::PathBuf {
    let row = r#"{"id":"msg-x","from":"lead-1"}"#;
    let rows = |n: usize| vec![row; n].join(",");
    let script = format!(
        "#!/bin/sh\n\
         case \"$*\" in\n\
         *'--from lead-1 --type merge_ready'*) echo '[{}]' ;;\n\
         *'--to lead-1 --type worker_done'*) echo '[{}]' ;;\n\
         *) echo '[]' ;;\n\
         esac\n",
        rows(mr),
        rows(wd)
    );
    let p = dir.join("ov");
    std::fs::write(&p, script).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
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
fn mail_counts_come_from_ov_mail_list_for_this_agent_only() {
    let bin = tempfile::tempdir().unwrap();
    let probe = ProcessProbe {
        ov: fake_ov(bin.path(), 2, 1),
        project_root: None,
    };
    assert_eq!(probe.mail_counts("lead-1"), (2, 1));
    assert_eq!(probe.mail_counts("someone-else"), (0, 0));
    let broken = ProcessProbe {
        ov: bin.path().join("missing"),
        project_root: None,
    };
    assert_eq!(broken.mail_counts("lead-1"), (0, 0));
}

#[test]
fn close_is_blocked_until_merge_ready_covers_worker_done() {
    let repo = TempRepo::new();
    let bin = tempfile::tempdir().unwrap();
    let close = ToolCall::bash("sd close task-1");
    for (mr, wd, blocked) in [(0, 0, true), (1, 0, false), (1, 2, true), (2, 2, false)] {
        let probe = ProcessProbe {
            ov: fake_ov(bin.path(), mr, wd),
            project_root: None,
        };
        let d = evaluate(&ctx(repo.path()), &close, &probe);
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
    let probe = ProcessProbe {
        ov: "ov".into(),
        project_root: Some(root.path().to_path_buf()),
    };
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
    let bin = tempfile::tempdir().unwrap();
    let probe = ProcessProbe {
        ov: fake_ov(bin.path(), 1, 0),
        project_root: None,
    };
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
