//! `ov merge`: the queue, the engine and the mail protocol through the binary,
//! on real git repositories.

use std::path::Path;
use std::time::Duration;

use overstory_testkit::wait_until;

use crate::support::{TempRepo, command, initialized_repo, ov, run};

/// An initialised project whose gates are `gates` (YAML list text).
fn project(gates: &str) -> TempRepo {
    let repo = initialized_repo();
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "--allow-empty", "-m", "ov init"]);
    std::fs::write(
        repo.path().join(".overstory/config.local.yaml"),
        format!("project:\n  qualityGates: {gates}\nmerge:\n  aiResolveEnabled: false\n"),
    )
    .unwrap();
    repo
}

fn branch_with(repo: &TempRepo, branch: &str, file: &str, content: &str) {
    repo.git(&["checkout", "-q", "-b", branch, "main"]);
    std::fs::write(repo.path().join(file), content).unwrap();
    repo.git(&["add", file]);
    repo.git(&["commit", "-q", "-m", &format!("{branch}: {file}")]);
    repo.git(&["checkout", "-q", "main"]);
}

fn commit_main(repo: &TempRepo, file: &str, content: &str) {
    std::fs::write(repo.path().join(file), content).unwrap();
    repo.git(&["add", file]);
    repo.git(&["commit", "-q", "-m", &format!("main: {file}")]);
}

fn worktree_count(repo: &TempRepo) -> usize {
    repo.git(&["worktree", "list"]).lines().count()
}

#[test]
fn neither_flag_is_a_validation_error_naming_both() {
    let repo = project("[]");
    let r = ov(repo.path(), &["merge", "--json"]).fails();
    let v = r.json();
    assert_eq!(v["code"], "VALIDATION_ERROR");
    assert_eq!(
        v["error"],
        "Either --branch <name> or --all is required for ov merge"
    );
    let r = ov(repo.path(), &["merge", "--branch", "nope", "--json"]).fails();
    assert_eq!(r.json()["error"], "Branch \"nope\" not found");
}

#[test]
fn branch_merges_cleanly_into_the_checked_out_target() {
    let repo = project("[]");
    branch_with(&repo, "overstory/builder-1/task-7", "a.txt", "a\n");
    commit_main(&repo, "b.txt", "b\n");
    let r = ov(
        repo.path(),
        &["merge", "--branch", "overstory/builder-1/task-7", "--json"],
    )
    .ok();
    let v = r.json();
    assert_eq!(v["success"], true);
    assert_eq!(v["command"], "merge");
    assert_eq!(v["tier"], "clean-merge");
    assert_eq!(v["entry"]["agentName"], "builder-1");
    assert_eq!(v["entry"]["taskId"], "task-7");
    assert_eq!(v["entry"]["status"], "merged");
    assert_eq!(v["entry"]["resolvedTier"], "clean-merge");
    let parents = repo.git(&["rev-list", "--parents", "-n", "1", "main"]);
    assert_eq!(parents.split_whitespace().count(), 3, "a two-parent merge");
    assert_eq!(
        std::fs::read_to_string(repo.path().join("a.txt")).unwrap(),
        "a\n"
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    assert_eq!(worktree_count(&repo), 1);
    // The agent hears about it.
    let inbox = ov(
        repo.path(),
        &["mail", "check", "--agent", "builder-1", "--json"],
    )
    .ok()
    .stdout;
    assert!(inbox.contains("\"merged\""), "{inbox}");
    // Asking again reports it merged, without a second queue row.
    let again = ov(
        repo.path(),
        &["merge", "--branch", "overstory/builder-1/task-7", "--json"],
    )
    .ok()
    .json();
    assert_eq!(again["alreadyMerged"], true);
    assert_eq!(again["entry"]["id"], v["entry"]["id"]);
}

#[test]
fn dry_run_predicts_conflicts_and_changes_nothing() {
    let repo = project("[]");
    commit_main(&repo, "f.txt", "base\n");
    branch_with(&repo, "feature", "f.txt", "branch\n");
    commit_main(&repo, "f.txt", "target\n");
    let head = repo.git(&["rev-parse", "HEAD"]);
    let v = ov(
        repo.path(),
        &["merge", "--branch", "feature", "--dry-run", "--json"],
    )
    .ok()
    .json();
    assert_eq!(v["predictedConflictFiles"], serde_json::json!(["f.txt"]));
    assert_eq!(v["status"], serde_json::Value::Null, "not queued");
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), head);
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    let all = ov(repo.path(), &["merge", "--all", "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(all["count"], 0, "the dry run queued nothing");
}

#[test]
fn all_ingests_merge_ready_mail_and_reports_every_outcome() {
    let repo = project("[]");
    commit_main(&repo, "f.txt", "base\n");
    branch_with(&repo, "overstory/builder-1/t1", "one.txt", "1\n");
    branch_with(&repo, "overstory/builder-2/t2", "f.txt", "branch\n");
    commit_main(&repo, "f.txt", "target\n");
    for (agent, task, branch) in [
        ("builder-1", "t1", "overstory/builder-1/t1"),
        ("builder-2", "t2", "overstory/builder-2/t2"),
    ] {
        let payload = serde_json::json!({
            "branch": branch, "taskId": task, "agentName": agent, "filesModified": []
        })
        .to_string();
        ov(
            repo.path(),
            &[
                "mail",
                "send",
                "--from",
                "lead-1",
                "--to",
                "coordinator",
                "--subject",
                "ready",
                "--body",
                "",
                "--type",
                "merge_ready",
                "--payload",
                &payload,
            ],
        )
        .ok();
    }
    ov(
        repo.path(),
        &[
            "mail",
            "send",
            "--from",
            "lead-1",
            "--to",
            "coordinator",
            "--subject",
            "keep me",
            "--body",
            "not for the merger",
        ],
    )
    .ok();
    let r = ov(repo.path(), &["merge", "--all", "--json"]).fails();
    let v = r.json();
    assert_eq!(v["success"], false);
    assert_eq!(v["count"], 2);
    assert_eq!(v["successCount"], 1);
    assert_eq!(v["failCount"], 1);
    assert_eq!(v["ingested"], 2);
    let results = v["results"].as_array().unwrap();
    let bad = results
        .iter()
        .find(|r| r["entry"]["branchName"] == "overstory/builder-2/t2")
        .unwrap();
    assert_eq!(bad["entry"]["status"], "conflict");
    assert_eq!(bad["conflictFiles"], serde_json::json!(["f.txt"]));
    assert!(repo.path().join("one.txt").exists());
    // Only the merge_ready mail was consumed.
    let left = ov(
        repo.path(),
        &["mail", "check", "--agent", "coordinator", "--json"],
    )
    .ok()
    .stdout;
    assert!(left.contains("keep me"), "{left}");
    assert!(!left.contains("merge_ready"), "{left}");
    let failed = ov(
        repo.path(),
        &["mail", "check", "--agent", "builder-2", "--json"],
    )
    .ok()
    .stdout;
    assert!(
        failed.contains("merge_failed") && failed.contains("urgent"),
        "{failed}"
    );
}

#[test]
fn a_failing_gate_fails_the_merge_and_keeps_the_target() {
    let repo = project("[{name: Tests, command: \"echo nope; exit 4\", description: must pass}]");
    branch_with(&repo, "feature", "a.txt", "a\n");
    let before = repo.git(&["rev-parse", "main"]);
    let r = ov(repo.path(), &["merge", "--branch", "feature"]).fails();
    assert!(r.stderr.contains("Quality gate \"Tests\""), "{}", r.stderr);
    assert!(r.stderr.contains("| nope"), "{}", r.stderr);
    assert_eq!(repo.git(&["rev-parse", "main"]), before);
    assert!(!repo.path().join("a.txt").exists());
    let v = ov(repo.path(), &["merge", "--branch", "feature", "--json"])
        .fails()
        .json();
    assert_eq!(v["entry"]["status"], "failed");
    assert_eq!(v["gateOutput"], "nope");
}

#[test]
fn concurrent_merges_into_one_target_both_land() {
    let repo = project("[{name: Slow, command: \"sleep 0.3\", description: d}]");
    branch_with(&repo, "one", "one.txt", "1\n");
    branch_with(&repo, "two", "two.txt", "2\n");
    let mut a = command(repo.path())
        .args(["merge", "--branch", "one", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut b = command(repo.path())
        .args(["merge", "--branch", "two", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    for f in ["one.txt", "two.txt"] {
        assert!(repo.path().join(f).exists(), "{f} landed");
    }
    repo.git(&["merge-base", "--is-ancestor", "one", "main"]);
    repo.git(&["merge-base", "--is-ancestor", "two", "main"]);
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    assert_eq!(worktree_count(&repo), 1);
}

fn gate_pid_file(root: &Path) -> Option<std::path::PathBuf> {
    std::fs::read_dir(root.join(".overstory/merge-worktrees"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".pid"))
}

/// A project whose gate blocks, and an `ov merge --branch feature` waiting
/// in that gate: the repository, the merge process and the gate's group.
fn merge_blocked_in_its_gate() -> (TempRepo, std::process::Child, i32) {
    let marker = tempfile::tempdir().unwrap();
    let started = marker.path().join("started");
    let repo = project(&format!(
        "[{{name: Block, command: \"touch {}; sleep 600\", description: d}}]",
        started.display()
    ));
    branch_with(&repo, "feature", "a.txt", "a\n");
    let child = command(repo.path())
        .args(["merge", "--branch", "feature"])
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(30), "the gate to start", || {
        started.exists() && gate_pid_file(repo.path()).is_some()
    });
    let gate_pgid: i32 = std::fs::read_to_string(gate_pid_file(repo.path()).unwrap())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (repo, child, gate_pgid)
}

#[test]
fn a_merge_killed_mid_gate_leaves_nothing_behind_and_retries() {
    let (repo, mut child, gate_pgid) = merge_blocked_in_its_gate();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !crate::support::live_group_members(gate_pgid).is_empty(),
        "the gate outlived ov"
    );

    let r =
        run(command(repo.path()).args(["merge", "--branch", "feature", "--skip-gates", "--json"]))
            .ok();
    assert_eq!(r.json()["entry"]["status"], "merged");
    assert!(
        crate::support::live_group_members(gate_pgid).is_empty(),
        "the orphaned gate was killed"
    );
    assert_eq!(worktree_count(&repo), 1, "no leftover worktree");
    assert!(gate_pid_file(repo.path()).is_none());
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    assert!(repo.path().join("a.txt").exists());
}

/// The `merge worktrees` check of `ov doctor --category merge --json`.
fn doctor_worktrees_check(repo: &TempRepo, fix: bool) -> serde_json::Value {
    let mut args = vec!["doctor", "--category", "merge", "--json"];
    if fix {
        args.push("--fix");
    }
    let v = ov(repo.path(), &args).ok().json();
    let checks = v["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks: {v:#}"));
    checks
        .iter()
        .find(|c| c["category"] == "merge" && c["name"] == "merge worktrees")
        .unwrap_or_else(|| panic!("no merge worktrees check: {v:#}"))
        .clone()
}

#[test]
fn doctor_fix_sweeps_a_killed_merge_but_never_a_running_one() {
    let (repo, mut child, gate_pgid) = merge_blocked_in_its_gate();
    let scratch: Vec<std::path::PathBuf> =
        std::fs::read_dir(repo.path().join(".overstory/merge-worktrees"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
    assert_eq!(scratch.len(), 1, "{scratch:?}");
    let scratch = scratch[0].clone();

    // While the merge runs, its worktree is not a leftover and --fix
    // leaves it (and its gate) alone.
    let c = doctor_worktrees_check(&repo, true);
    assert_eq!(c["status"], "pass", "{c}");
    assert!(scratch.is_dir());
    assert!(!crate::support::live_group_members(gate_pgid).is_empty());

    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let c = doctor_worktrees_check(&repo, false);
    assert_eq!(c["status"], "warn", "{c}");
    let name = scratch.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        c["message"].as_str().unwrap().contains(&name)
            && c["message"].as_str().unwrap().contains("ov doctor --fix"),
        "{c}"
    );
    assert_eq!(worktree_count(&repo), 2);

    // Another merge holds a lock: --fix touches nothing.
    let layout = overstory_core::Layout::new(repo.path());
    let lock =
        overstory_merge::MergeLock::acquire(&layout, "dev", overstory_merge::LockWait::NoWait)
            .unwrap();
    let c = doctor_worktrees_check(&repo, true);
    assert_eq!(c["status"], "warn", "{c}");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("a merge is running"),
        "{c}"
    );
    assert!(scratch.is_dir());
    assert_eq!(worktree_count(&repo), 2);
    lock.release();

    let c = doctor_worktrees_check(&repo, true);
    assert_eq!(c["status"], "pass", "{c}");
    assert_eq!(c["fixed"], true, "{c}");
    assert!(!scratch.exists(), "the directory is gone");
    assert_eq!(worktree_count(&repo), 1, "git no longer lists it");
    assert!(
        crate::support::live_group_members(gate_pgid).is_empty(),
        "the orphaned gate was killed"
    );
    assert!(gate_pid_file(repo.path()).is_none());
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    // The interrupted entry is pending again and lands.
    let v = ov(
        repo.path(),
        &["merge", "--branch", "feature", "--skip-gates", "--json"],
    )
    .ok()
    .json();
    assert_eq!(v["entry"]["status"], "merged", "{v}");
}

#[test]
fn ai_resolve_goes_through_the_runtime_print_command() {
    let repo = project("[]");
    std::fs::write(
        repo.path().join(".overstory/config.local.yaml"),
        "project:\n  qualityGates: []\nmerge:\n  aiResolveEnabled: true\n",
    )
    .unwrap();
    commit_main(&repo, "f.txt", "base\n");
    branch_with(&repo, "feature", "f.txt", "branch\n");
    commit_main(&repo, "f.txt", "target\n");
    // A fake `claude` on PATH answers print-mode calls.
    let bin = tempfile::tempdir().unwrap();
    let v = merge_with_fake_claude(
        &repo,
        bin.path(),
        "#!/bin/sh\n[ \"$1\" = --print ] || exit 2\nprintf 'target\\nbranch\\n'\n",
    );
    assert_eq!(v["tier"], "ai-resolve");
    assert_eq!(
        std::fs::read_to_string(repo.path().join("f.txt")).unwrap(),
        "target\nbranch\n"
    );
}

/// Runs `ov merge --branch feature --json` with a fake `claude` (the shell
/// `script`, written into `bin`) first on `PATH`; returns the JSON.
fn merge_with_fake_claude(repo: &TempRepo, bin: &Path, script: &str) -> serde_json::Value {
    let fake = bin.join("claude");
    std::fs::write(&fake, script).unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    run(command(repo.path())
        .args(["merge", "--branch", "feature", "--json"])
        .env("PATH", path))
    .ok()
    .json()
}

/// Issue: a conflict larger than one argv argument (128 KiB on Linux)
/// made the AI tier fail with E2BIG; `claude --print` now gets the prompt
/// on stdin, whatever its size.
#[test]
fn a_conflict_over_200_kib_reaches_claude_on_stdin() {
    let repo = project("[]");
    std::fs::write(
        repo.path().join(".overstory/config.local.yaml"),
        "project:\n  qualityGates: []\nmerge:\n  aiResolveEnabled: true\n",
    )
    .unwrap();
    let lines = |side: &str| -> String {
        (0..2800)
            .map(|i| format!("{side} line {i:05} ..........................\n"))
            .collect()
    };
    let (ours, theirs) = (lines("target"), lines("branch"));
    commit_main(&repo, "f.txt", "base\n");
    branch_with(&repo, "feature", "f.txt", &theirs);
    commit_main(&repo, "f.txt", &ours);
    // A fake `claude` that takes no prompt argument: it records how much it
    // read on stdin and answers with the file minus its markers.
    let bin = tempfile::tempdir().unwrap();
    let size = bin.path().join("stdin-bytes");
    let v = merge_with_fake_claude(
        &repo,
        bin.path(),
        &format!(
            "#!/bin/sh\n[ \"$*\" = --print ] || exit 2\ncat > \"$0.prompt\"\n\
         wc -c < \"$0.prompt\" > '{}'\n\
         sed -n '/^--- f.txt (with conflict markers) ---$/,$p' \"$0.prompt\" | sed 1d | \
         grep -v -e '^<<<<<<<' -e '^=======' -e '^>>>>>>>'\n",
            size.display()
        ),
    );
    assert_eq!(v["tier"], "ai-resolve", "{v}");
    let read: usize = std::fs::read_to_string(&size)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(read > 200 * 1024, "claude read {read} bytes on stdin");
    assert_eq!(
        std::fs::read_to_string(repo.path().join("f.txt")).unwrap(),
        format!("{ours}{theirs}")
    );
    assert_eq!(worktree_count(&repo), 1);
}

#[test]
fn into_moves_a_branch_that_is_not_checked_out_by_compare_and_swap() {
    let repo = project("[]");
    repo.git(&["branch", "dev", "main"]);
    branch_with(&repo, "feature", "a.txt", "a\n");
    let main_before = repo.git(&["rev-parse", "main"]);
    let v = ov(
        repo.path(),
        &["merge", "--branch", "feature", "--into", "dev", "--json"],
    )
    .ok()
    .json();
    assert_eq!(v["success"], true);
    assert_eq!(
        repo.git(&["rev-parse", "dev"]),
        repo.git(&["rev-parse", "feature"])
    );
    assert_eq!(repo.git(&["rev-parse", "main"]), main_before);
    assert!(
        !repo.path().join("a.txt").exists(),
        "the checkout is untouched"
    );
    // session-branch.txt names the default target.
    branch_with(&repo, "feature-2", "b.txt", "b\n");
    std::fs::write(repo.path().join(".overstory/session-branch.txt"), "dev\n").unwrap();
    ov(repo.path(), &["merge", "--branch", "feature-2", "--json"]).ok();
    repo.git(&["merge-base", "--is-ancestor", "feature-2", "dev"]);
    assert_eq!(repo.git(&["rev-parse", "main"]), main_before);
    let r = ov(
        repo.path(),
        &["merge", "--branch", "feature", "--into", "nope", "--json"],
    )
    .fails();
    assert_eq!(r.json()["error"], "Target branch \"nope\" not found");
}

/// Issue 13: a project whose config names no gates (no `qualityGates` key
/// at all) lands without running any — never a guessed `bun test`.
#[test]
fn a_project_without_gates_merges_without_running_any() {
    let repo = initialized_repo();
    let path = repo.path().join(".overstory/config.yaml");
    let config = std::fs::read_to_string(&path).unwrap();
    assert!(config.contains("  qualityGates: []\n"), "{config}");
    // A hand-written config may leave the key out: still no gates.
    std::fs::write(&path, config.replace("  qualityGates: []\n", "")).unwrap();
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "--allow-empty", "-m", "ov init"]);
    std::fs::write(
        repo.path().join(".overstory/config.local.yaml"),
        "merge:\n  aiResolveEnabled: false\n",
    )
    .unwrap();
    branch_with(&repo, "overstory/builder-1/task-3", "c.txt", "c\n");
    let v = ov(
        repo.path(),
        &["merge", "--branch", "overstory/builder-1/task-3", "--json"],
    )
    .ok()
    .json();
    assert_eq!(v["success"], true, "{v}");
    assert_eq!(repo.git(&["show", "main:c.txt"]).trim(), "c");
}
