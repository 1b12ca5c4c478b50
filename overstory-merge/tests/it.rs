//! The merge engine against real git repositories.
#![allow(clippy::unwrap_used, clippy::disallowed_methods, reason = "tests")]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use overstory_core::Layout;
use overstory_core::config::QualityGate;
use overstory_merge::{
    AiOptions, Engine, EnqueueRequest, MergeOptions, MergeQueue, MergeReport, MergeStatus,
    MergeTier,
};
use overstory_testkit::TempRepo;

struct Project {
    repo: TempRepo,
    layout: Layout,
    queue: MergeQueue,
}

impl Project {
    fn new() -> Self {
        let repo = TempRepo::new();
        let layout = Layout::new(repo.path());
        std::fs::create_dir_all(layout.dir()).unwrap();
        std::fs::write(layout.dir().join(".gitignore"), "*\n").unwrap();
        let queue = MergeQueue::open_in(&layout).unwrap();
        Self {
            repo,
            layout,
            queue,
        }
    }

    fn path(&self) -> &Path {
        self.repo.path()
    }

    fn git(&self, args: &[&str]) -> String {
        self.repo.git(args)
    }

    /// Commits `files` on `branch` (created from `from` when new), then
    /// returns to `main`.
    fn commit_on(&self, branch: &str, from: &str, files: &[(&str, Option<&str>)], msg: &str) {
        let exists = self
            .git(&["branch", "--list", branch])
            .trim()
            .trim_start_matches("* ")
            == branch;
        if branch != "main" {
            if exists {
                self.git(&["checkout", "-q", branch]);
            } else {
                self.git(&["checkout", "-q", "-b", branch, from]);
            }
        }
        for (f, content) in files {
            let p = self.path().join(f);
            match content {
                Some(c) => {
                    if let Some(d) = p.parent() {
                        std::fs::create_dir_all(d).unwrap();
                    }
                    std::fs::write(&p, c).unwrap();
                    self.git(&["add", "--", f]);
                }
                None => {
                    self.git(&["rm", "-q", "--", f]);
                }
            }
        }
        self.git(&["commit", "-q", "-m", msg]);
        self.git(&["checkout", "-q", "main"]);
    }

    fn enqueue(&mut self, branch: &str) -> i64 {
        self.queue
            .enqueue(&EnqueueRequest {
                branch_name: branch.into(),
                task_id: "task-1".into(),
                agent_name: "builder-1".into(),
                files_modified: vec![],
            })
            .unwrap()
            .entry
            .id
    }

    fn merge(&mut self, branch: &str, opts: MergeOptions) -> MergeReport {
        let id = self.enqueue(branch);
        let mut r = Engine::new(&self.layout, opts)
            .merge(&self.queue, &[id])
            .unwrap();
        assert_eq!(r.len(), 1);
        r.remove(0)
    }

    fn read(&self, f: &str) -> String {
        std::fs::read_to_string(self.path().join(f)).unwrap_or_default()
    }

    fn assert_no_scratch(&self) {
        let list = self.git(&["worktree", "list"]);
        assert_eq!(list.lines().count(), 1, "leftover worktree: {list}");
        let root = overstory_merge::scratch_root(&self.layout);
        let left: Vec<_> = std::fs::read_dir(&root)
            .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "leftover scratch files: {left:?}");
    }
}

fn main_opts() -> MergeOptions {
    MergeOptions::new("main")
}

fn parents(p: &Project, rev: &str) -> usize {
    p.git(&["rev-list", "--parents", "-n", "1", rev])
        .split_whitespace()
        .count()
        - 1
}

#[test]
fn clean_merge_makes_a_two_parent_commit_and_moves_the_checkout() {
    let mut p = Project::new();
    p.commit_on("feature", "main", &[("a.txt", Some("a\n"))], "a");
    p.commit_on("main", "main", &[("b.txt", Some("b\n"))], "b");
    let r = p.merge("feature", main_opts());
    assert!(r.success, "{r:#?}");
    assert_eq!(r.tier, Some(MergeTier::CleanMerge));
    assert_eq!(r.entry.status, MergeStatus::Merged);
    assert_eq!(parents(&p, "main"), 2);
    assert_eq!(p.git(&["rev-parse", "main"]), r.commit.clone().unwrap());
    assert_eq!(p.read("a.txt"), "a\n", "the root checkout moved forward");
    assert_eq!(
        p.git(&["status", "--porcelain", "--untracked-files=no"]),
        ""
    );
    p.assert_no_scratch();
    // Merging again is a no-op that says so.
    let again = p.merge("feature", main_opts());
    assert!(again.success && again.already_merged, "{again:#?}");
}

#[test]
fn a_branch_ahead_of_the_target_fast_forwards() {
    let mut p = Project::new();
    p.commit_on("feature", "main", &[("a.txt", Some("a\n"))], "a");
    let r = p.merge("feature", main_opts());
    assert!(r.success);
    assert_eq!(
        p.git(&["rev-parse", "main"]),
        p.git(&["rev-parse", "feature"])
    );
}

#[test]
fn unrelated_uncommitted_changes_survive_and_overwritten_ones_refuse() {
    let mut p = Project::new();
    std::fs::write(p.path().join("notes.txt"), "mine\n").unwrap();
    p.git(&["add", "notes.txt"]);
    p.git(&["commit", "-q", "-m", "notes"]);
    p.commit_on("feature", "main", &[("a.txt", Some("a\n"))], "a");
    std::fs::write(p.path().join("notes.txt"), "mine, edited\n").unwrap();
    std::fs::write(p.path().join("scratch.txt"), "untracked\n").unwrap();
    let r = p.merge("feature", main_opts());
    assert!(r.success, "{r:#?}");
    assert_eq!(p.read("notes.txt"), "mine, edited\n");
    assert_eq!(p.read("scratch.txt"), "untracked\n");
    assert_eq!(p.read("a.txt"), "a\n");

    // Now a branch that changes the file the user is editing.
    p.git(&["checkout", "-q", "notes.txt"]);
    p.commit_on("other", "main", &[("notes.txt", Some("theirs\n"))], "n");
    std::fs::write(p.path().join("notes.txt"), "mine again\n").unwrap();
    let before = p.git(&["rev-parse", "main"]);
    let r = p.merge("other", main_opts());
    assert!(!r.success);
    assert_eq!(r.entry.status, MergeStatus::Failed);
    let msg = r.error_message.unwrap();
    assert!(
        msg.contains("uncommitted changes would be overwritten"),
        "{msg}"
    );
    assert_eq!(p.git(&["rev-parse", "main"]), before, "target unmoved");
    assert_eq!(p.read("notes.txt"), "mine again\n", "user's edit untouched");
    p.assert_no_scratch();
}

#[test]
fn a_real_conflict_is_reported_and_leaves_everything_clean() {
    let mut p = Project::new();
    p.commit_on("main", "main", &[("f.txt", Some("one\n"))], "base");
    p.commit_on("feature", "main", &[("f.txt", Some("branch\n"))], "b");
    p.commit_on("main", "main", &[("f.txt", Some("target\n"))], "t");
    let before = p.git(&["rev-parse", "main"]);
    let r = p.merge("feature", main_opts());
    assert!(!r.success);
    assert_eq!(r.entry.status, MergeStatus::Conflict);
    assert_eq!(r.entry.resolved_tier, None, "no tier stored for a failure");
    assert_eq!(r.tier, Some(MergeTier::AutoResolve));
    assert_eq!(r.conflict_files, vec!["f.txt".to_owned()]);
    let msg = r.error_message.unwrap();
    assert!(
        msg.starts_with("All enabled resolution tiers failed"),
        "{msg}"
    );
    assert!(r.warnings[0].contains("auto-resolve skipped for f.txt"));
    assert_eq!(p.git(&["rev-parse", "main"]), before);
    assert_eq!(p.read("f.txt"), "target\n");
    assert_eq!(
        p.git(&["status", "--porcelain", "--untracked-files=no"]),
        ""
    );
    p.assert_no_scratch();
    let attempts = p.queue.attempts("feature").unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].conflict_files, vec!["f.txt".to_owned()]);
}

#[test]
fn auto_resolve_keeps_the_branch_side_when_the_target_side_is_blank() {
    let mut p = Project::new();
    p.commit_on("main", "main", &[("f.txt", Some("a\nb\n"))], "base");
    p.commit_on("feature", "main", &[("f.txt", Some("a\nnew\nb\n"))], "b");
    p.commit_on("main", "main", &[("f.txt", Some("a\n\nb\n"))], "t");
    let r = p.merge("feature", main_opts());
    assert!(r.success, "{r:#?}");
    assert_eq!(r.tier, Some(MergeTier::AutoResolve));
    assert!(p.read("f.txt").contains("new"));
    assert_eq!(parents(&p, "main"), 2);
}

#[test]
fn union_attribute_files_keep_both_sides() {
    let mut p = Project::new();
    p.commit_on(
        "main",
        "main",
        &[
            (".gitattributes", Some("CHANGELOG merge=union\n")),
            ("CHANGELOG", Some("v1\n")),
        ],
        "base",
    );
    p.commit_on(
        "feature",
        "main",
        &[("CHANGELOG", Some("v1\nbranch entry\n"))],
        "b",
    );
    p.commit_on(
        "main",
        "main",
        &[("CHANGELOG", Some("v1\ntarget entry\n"))],
        "t",
    );
    let r = p.merge("feature", main_opts());
    assert!(r.success, "{r:#?}");
    let log = p.read("CHANGELOG");
    assert!(
        log.contains("branch entry") && log.contains("target entry"),
        "{log}"
    );
}

#[test]
fn add_delete_and_rename_merge_without_losing_work() {
    let mut p = Project::new();
    p.commit_on(
        "main",
        "main",
        &[
            ("old.txt", Some("l1\nl2\nl3\nl4\nl5\n")),
            ("gone.txt", Some("x\n")),
        ],
        "base",
    );
    // The branch renames old.txt, deletes gone.txt and adds new.txt.
    p.git(&["checkout", "-q", "-b", "feature"]);
    p.git(&["mv", "old.txt", "renamed.txt"]);
    p.git(&["rm", "-q", "gone.txt"]);
    std::fs::write(p.path().join("new.txt"), "added\n").unwrap();
    p.git(&["add", "new.txt"]);
    p.git(&["commit", "-q", "-m", "rename"]);
    p.git(&["checkout", "-q", "main"]);
    // The target edits the file the branch renamed.
    p.commit_on(
        "main",
        "main",
        &[("old.txt", Some("l1\nl2\nl3\nl4\nl5 edited\n"))],
        "t",
    );
    let r = p.merge("feature", main_opts());
    assert!(r.success, "{r:#?}");
    assert_eq!(r.tier, Some(MergeTier::CleanMerge));
    assert!(p.read("renamed.txt").contains("l5 edited"));
    assert!(!p.path().join("old.txt").exists());
    assert!(!p.path().join("gone.txt").exists());
    assert_eq!(p.read("new.txt"), "added\n");
}

#[test]
fn modify_delete_conflict_keeps_the_modified_file() {
    let mut p = Project::new();
    p.commit_on("main", "main", &[("f.txt", Some("a\n"))], "base");
    p.commit_on("feature", "main", &[("f.txt", Some("a\nmore\n"))], "b");
    p.commit_on("main", "main", &[("f.txt", None)], "delete");
    let r = p.merge("feature", main_opts());
    assert!(r.success, "{r:#?}");
    assert_eq!(r.tier, Some(MergeTier::AutoResolve));
    assert_eq!(p.read("f.txt"), "a\nmore\n");
}

#[test]
fn a_failing_gate_keeps_the_target_and_records_the_output() {
    let mut p = Project::new();
    p.commit_on("feature", "main", &[("a.txt", Some("a\n"))], "a");
    let before = p.git(&["rev-parse", "main"]);
    let mut opts = main_opts();
    opts.gates = vec![QualityGate::new(
        "Tests",
        "echo checking; test -f must-exist || { echo 'missing must-exist'; exit 3; }",
        "must pass",
    )];
    let r = p.merge("feature", opts);
    assert!(!r.success);
    assert_eq!(r.entry.status, MergeStatus::Failed);
    assert!(r.error_message.unwrap().contains("Quality gate \"Tests\""));
    assert!(r.gate_output.unwrap().contains("missing must-exist"));
    assert_eq!(p.git(&["rev-parse", "main"]), before);
    p.assert_no_scratch();
    let a = p.queue.attempts("feature").unwrap();
    assert!(
        a[0].error_message
            .as_deref()
            .unwrap()
            .contains("missing must-exist")
    );
}

#[test]
fn a_batch_lands_the_good_branches_and_isolates_the_bad_one() {
    let mut p = Project::new();
    for i in 0..4 {
        let content = if i == 2 { "BAD\n" } else { "ok\n" };
        let file = format!("f{i}.txt");
        p.commit_on(&format!("b{i}"), "main", &[(&file, Some(content))], "w");
        p.enqueue(&format!("b{i}"));
    }
    let mut opts = main_opts();
    opts.gates = vec![QualityGate::new("NoBad", "! grep -rq BAD f*.txt", "no BAD")];
    let reports = Engine::new(&p.layout, opts)
        .merge_pending(&p.queue)
        .unwrap();
    assert_eq!(reports.len(), 4);
    for r in &reports {
        let bad = r.entry.branch_name == "b2";
        assert_eq!(r.success, !bad, "{r:#?}");
    }
    for i in [0, 1, 3] {
        assert_eq!(p.read(&format!("f{i}.txt")), "ok\n");
    }
    assert!(!p.path().join("f2.txt").exists());
    p.assert_no_scratch();
}

fn fake_model(dir: &Path, body: &str) -> AiOptions {
    let script = dir.join("fake-model.sh");
    std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    AiOptions {
        command: Arc::new(move |prompt: &str| {
            vec![script.to_string_lossy().into_owned(), prompt.to_owned()]
        }),
        stdin_command: None,
        timeout: Duration::from_secs(20),
    }
}

/// A model that takes its prompt on stdin (like `claude --print`): it
/// refuses any argument, records the prompt it read in `prompt` next to
/// itself, and answers with the conflicted file minus its markers.
fn stdin_model(dir: &Path) -> AiOptions {
    let script = dir.join("stdin-model.sh");
    let prompt = dir.join("prompt");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh
[ $# -eq 0 ] || exit 7
cat > '{p}'
             sed -n '/^--- f.txt (with conflict markers) ---$/,$p' '{p}' | sed 1d | \
             grep -v -e '^<<<<<<<' -e '^=======' -e '^>>>>>>>' -e '^|||||||'
",
            p = prompt.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let argv_script = script.clone();
    AiOptions {
        command: Arc::new(move |prompt: &str| {
            vec![
                argv_script.to_string_lossy().into_owned(),
                prompt.to_owned(),
            ]
        }),
        stdin_command: Some(vec![script.to_string_lossy().into_owned()]),
        timeout: Duration::from_secs(60),
    }
}

/// `lines` numbered lines of about 40 bytes each, starting with `side`.
fn many_lines(side: &str, lines: usize) -> String {
    (0..lines)
        .map(|i| format!("{side} line {i:05} ..........................\n"))
        .collect()
}

fn conflicting(p: &Project) {
    p.commit_on("main", "main", &[("f.txt", Some("one\n"))], "base");
    p.commit_on("feature", "main", &[("f.txt", Some("branch line\n"))], "b");
    p.commit_on("main", "main", &[("f.txt", Some("target line\n"))], "t");
}

#[test]
fn ai_resolve_lands_a_validated_answer_as_a_merge_commit() {
    let mut p = Project::new();
    conflicting(&p);
    let tools = tempfile::tempdir().unwrap();
    let mut opts = main_opts();
    opts.ai_resolve = true;
    opts.ai = Some(fake_model(
        tools.path(),
        "case \"$1\" in *'<<<<<<<'*) printf 'target line\\nbranch line\\n';; *) exit 9;; esac",
    ));
    let r = p.merge("feature", opts);
    assert!(r.success, "{r:#?}");
    assert_eq!(r.tier, Some(MergeTier::AiResolve));
    assert_eq!(p.read("f.txt"), "target line\nbranch line\n");
    assert_eq!(parents(&p, "main"), 2);
}

#[test]
fn ai_answers_that_drop_lines_or_are_prose_fail_the_tier() {
    let mut p = Project::new();
    conflicting(&p);
    let tools = tempfile::tempdir().unwrap();
    let mut opts = main_opts();
    opts.ai_resolve = true;
    opts.ai = Some(fake_model(tools.path(), "printf 'target line\\n'"));
    let r = p.merge("feature", opts.clone());
    assert!(!r.success);
    let msg = r.error_message.unwrap();
    assert!(msg.contains("would drop 1 line(s)"), "{msg}");
    assert!(msg.contains("f.txt: branch line"), "{msg}");

    opts.ai = Some(fake_model(
        tools.path(),
        "echo 'Here is the resolved file:'",
    ));
    let r = p.merge("feature", opts.clone());
    assert!(r.error_message.unwrap().contains("prose"));

    opts.ai = Some(AiOptions {
        timeout: Duration::from_millis(200),
        ..fake_model(tools.path(), "sleep 30")
    });
    let r = p.merge("feature", opts);
    assert!(r.error_message.unwrap().contains("timed out"));
    assert_eq!(p.read("f.txt"), "target line\n");
    p.assert_no_scratch();
}

#[test]
fn a_conflict_larger_than_one_argument_goes_to_the_model_on_stdin() {
    let mut p = Project::new();
    let (ours, theirs) = (many_lines("target", 2800), many_lines("branch", 2800));
    p.commit_on("main", "main", &[("f.txt", Some("one\n"))], "base");
    p.commit_on("feature", "main", &[("f.txt", Some(&theirs))], "b");
    p.commit_on("main", "main", &[("f.txt", Some(&ours))], "t");
    let tools = tempfile::tempdir().unwrap();
    let mut opts = main_opts();
    opts.ai_resolve = true;
    opts.ai = Some(stdin_model(tools.path()));
    let r = p.merge("feature", opts);
    assert!(r.success, "{r:#?}");
    assert_eq!(r.tier, Some(MergeTier::AiResolve));
    let sent = std::fs::read_to_string(tools.path().join("prompt")).unwrap();
    assert!(
        sent.len() > 200 * 1024 && sent.contains(&ours) && sent.contains(&theirs),
        "the whole conflict went in: {} bytes",
        sent.len()
    );
    assert_eq!(p.read("f.txt"), format!("{ours}{theirs}"));
    assert_eq!(parents(&p, "main"), 2);
    p.assert_no_scratch();
}

#[test]
fn a_small_conflict_goes_on_stdin_too() {
    let mut p = Project::new();
    conflicting(&p);
    let tools = tempfile::tempdir().unwrap();
    let mut opts = main_opts();
    opts.ai_resolve = true;
    opts.ai = Some(stdin_model(tools.path()));
    let r = p.merge("feature", opts);
    assert!(r.success, "{r:#?}");
    assert_eq!(p.read("f.txt"), "target line\nbranch line\n");
    let sent = std::fs::read_to_string(tools.path().join("prompt")).unwrap();
    assert!(sent.contains("<<<<<<<"), "{sent}");
    p.assert_no_scratch();
}

#[test]
fn an_argv_only_model_refuses_a_prompt_too_large_for_one_argument() {
    let mut p = Project::new();
    let (ours, theirs) = (many_lines("target", 2000), many_lines("branch", 2000));
    p.commit_on("main", "main", &[("f.txt", Some("one\n"))], "base");
    p.commit_on("feature", "main", &[("f.txt", Some(&theirs))], "b");
    p.commit_on("main", "main", &[("f.txt", Some(&ours))], "t");
    let before = p.git(&["rev-parse", "main"]);
    let tools = tempfile::tempdir().unwrap();
    let mut opts = main_opts();
    opts.ai_resolve = true;
    opts.ai = Some(fake_model(
        tools.path(),
        &format!("touch '{}'", tools.path().join("ran").display()),
    ));
    let r = p.merge("feature", opts);
    assert!(!r.success);
    let msg = r.error_message.unwrap();
    assert!(
        msg.contains("more than one command-line argument can hold (128 KiB)")
            && msg.contains("runtime.printCommand"),
        "{msg}"
    );
    assert!(!tools.path().join("ran").exists(), "no model was started");
    assert_eq!(p.git(&["rev-parse", "main"]), before);
    assert_eq!(p.read("f.txt"), ours);
    p.assert_no_scratch();
}

#[test]
fn reimagine_runs_when_enabled_and_commits_a_merge() {
    let mut p = Project::new();
    conflicting(&p);
    let tools = tempfile::tempdir().unwrap();
    let mut opts = main_opts();
    opts.reimagine = true;
    opts.ai = Some(fake_model(
        tools.path(),
        "case \"$1\" in Reimplement*) printf 'target line\\nbranch line\\n';; *) exit 9;; esac",
    ));
    let r = p.merge("feature", opts);
    assert!(r.success, "{r:#?}");
    assert_eq!(r.tier, Some(MergeTier::Reimagine));
    assert_eq!(parents(&p, "main"), 2);
}

#[test]
fn predict_names_conflicts_and_touches_nothing() {
    let p = Project::new();
    conflicting(&p);
    p.commit_on("clean", "main", &[("c.txt", Some("c\n"))], "c");
    let engine = Engine::new(&p.layout, main_opts());
    let head = p.git(&["rev-parse", "HEAD"]);
    let pr = engine.predict("feature").unwrap();
    assert_eq!(pr.predicted_conflict_files, vec!["f.txt".to_owned()]);
    assert!(!pr.fast_forward);
    let pr = engine.predict("clean").unwrap();
    assert!(pr.predicted_conflict_files.is_empty());
    assert!(pr.fast_forward);
    assert_eq!(p.git(&["rev-parse", "HEAD"]), head);
    assert_eq!(
        p.git(&["status", "--porcelain", "--untracked-files=no"]),
        ""
    );
    assert!(p.queue.list(None).unwrap().is_empty());
    assert!(engine.predict("nope").is_err());
}

#[test]
fn unrelated_histories_are_refused_not_sent_through_the_tiers() {
    let mut p = Project::new();
    p.git(&["checkout", "-q", "--orphan", "stranger"]);
    p.git(&["rm", "-rfq", "."]);
    std::fs::write(p.path().join("s.txt"), "s\n").unwrap();
    p.git(&["add", "s.txt"]);
    p.git(&["commit", "-q", "-m", "s"]);
    p.git(&["checkout", "-q", "main"]);
    let r = p.merge("stranger", main_opts());
    assert!(!r.success);
    assert_eq!(r.entry.status, MergeStatus::Failed);
    assert!(r.error_message.unwrap().contains("Git refused to merge"));
    assert!(r.conflict_files.is_empty());
}

#[test]
fn merge_ready_mail_feeds_the_queue_and_outcomes_go_back() {
    let mut p = Project::new();
    let mail = overstory_mail::MailClient::open(&p.layout).unwrap();
    let lead = overstory_core::AgentName::new("lead-1").unwrap();
    let coordinator = overstory_mail::Address::parse("coordinator").unwrap();
    let payload = overstory_mail::protocol::MergeReady {
        branch: "overstory/builder-1/task-1".into(),
        task_id: "task-1".into(),
        agent_name: "builder-1".into(),
        files_modified: vec!["a.txt".into()],
    };
    mail.send_protocol(
        overstory_mail::SendRequest::new(lead.clone(), coordinator.clone(), "ready", ""),
        &payload,
    )
    .unwrap();
    let other = mail
        .send(&overstory_mail::SendRequest::new(
            lead,
            coordinator,
            "hi",
            "unrelated",
        ))
        .unwrap();
    let got = overstory_merge::ingest_merge_ready(&mail, &mut p.queue, &["coordinator"]).unwrap();
    assert_eq!(got.entries.len(), 1);
    assert_eq!(got.entries[0].agent_name, "builder-1");
    assert_eq!(got.entries[0].files_modified, vec!["a.txt".to_owned()]);
    let unread = mail.store().unread("coordinator").unwrap();
    assert_eq!(unread.len(), 1, "only merge_ready was consumed");
    assert_eq!(unread[0].id, other.id);

    p.commit_on(
        "overstory/builder-1/task-1",
        "main",
        &[("a.txt", Some("a\n"))],
        "a",
    );
    let r = Engine::new(&p.layout, main_opts())
        .merge_pending(&p.queue)
        .unwrap()
        .remove(0);
    let from = overstory_core::AgentName::new("coordinator").unwrap();
    let ids = overstory_merge::notify(&mail, &from, &r, Some("lead-1")).unwrap();
    assert_eq!(ids.len(), 2);
    let to_builder = mail.store().unread("builder-1").unwrap();
    assert_eq!(to_builder[0].kind, overstory_mail::MessageType::Merged);
    let m: overstory_mail::protocol::Merged = to_builder[0].payload_as().unwrap().unwrap();
    assert_eq!(m.tier, MergeTier::CleanMerge);
    assert_eq!(m.task_id, "task-1");
    assert_eq!(mail.store().unread("lead-1").unwrap().len(), 1);
}

#[test]
fn a_union_attribute_brought_by_the_branch_is_honoured_by_auto_resolve() {
    let mut p = Project::new();
    p.commit_on("main", "main", &[("CHANGELOG", Some("v1\n"))], "base");
    p.commit_on(
        "feature",
        "main",
        &[
            (".gitattributes", Some("CHANGELOG merge=union\n")),
            ("CHANGELOG", Some("v1\nbranch entry\n")),
        ],
        "b",
    );
    p.commit_on(
        "main",
        "main",
        &[("CHANGELOG", Some("v1\ntarget entry\n"))],
        "t",
    );
    let r = p.merge("feature", main_opts());
    assert!(r.success, "{r:#?}");
    let log = p.read("CHANGELOG");
    assert!(
        log.contains("branch entry") && log.contains("target entry"),
        "{log}"
    );
    assert!(!overstory_merge::conflict::has_markers(&log));
}

/// Makes a scratch worktree the way a merge run does, owned by a process
/// that is gone (a merge killed with SIGKILL).
fn leftover_scratch(p: &Project) -> std::path::PathBuf {
    let root = overstory_merge::scratch_root(&p.layout);
    std::fs::create_dir_all(&root).unwrap();
    let dir = root.join("merge-2147483632-dead00");
    std::fs::write(root.join("merge-2147483632-dead00.owner"), "2147483632\n").unwrap();
    std::fs::write(root.join("merge-2147483632-dead00.gate-1.out"), "").unwrap();
    p.git(&[
        "worktree",
        "add",
        "--detach",
        "--quiet",
        &dir.to_string_lossy(),
        "main",
    ]);
    dir
}

#[test]
fn sweep_idle_removes_only_dead_scratch_worktrees_and_never_while_a_merge_runs() {
    let mut p = Project::new();
    p.commit_on("main", "main", &[("a.txt", Some("a\n"))], "base");
    p.commit_on("feature", "main", &[("b.txt", Some("b\n"))], "b");
    let id = p.enqueue("feature");
    assert!(p.queue.claim(id).unwrap().is_some(), "interrupted: merging");
    let dead = leftover_scratch(&p);
    // Things that are not merge scratch: an agent worktree, a look-alike
    // symlink into it, an unrelated directory under the scratch root.
    let agent = p.layout.dir().join("worktrees/builder-1");
    p.git(&[
        "worktree",
        "add",
        "--quiet",
        "-b",
        "overstory/builder-1/t",
        &agent.to_string_lossy(),
        "main",
    ]);
    let root = overstory_merge::scratch_root(&p.layout);
    std::os::unix::fs::symlink(&agent, root.join("merge-link")).unwrap();
    std::fs::create_dir_all(root.join("notes")).unwrap();
    assert_eq!(
        overstory_merge::leftovers(&p.layout),
        std::slice::from_ref(&dead)
    );

    // A merge into another target is running: nothing is touched.
    let lock =
        overstory_merge::MergeLock::acquire(&p.layout, "dev", overstory_merge::LockWait::NoWait)
            .unwrap();
    match overstory_merge::sweep_idle(&p.layout, "main").unwrap() {
        overstory_merge::IdleSweep::Busy { lock: held, holder } => {
            assert!(held.ends_with("merge-dev.lock"), "{}", held.display());
            assert!(holder.starts_with("pid "), "{holder}");
        }
        other => panic!("swept while a merge runs: {other:?}"),
    }
    assert!(dead.is_dir());
    assert_eq!(
        p.queue.get(id).unwrap().unwrap().status,
        MergeStatus::Merging
    );
    lock.release();

    let swept = overstory_merge::sweep_idle(&p.layout, "main").unwrap();
    assert_eq!(
        swept,
        overstory_merge::IdleSweep::Swept(overstory_merge::Swept {
            worktrees: 1,
            children_killed: 0,
            requeued: 1,
        })
    );
    assert!(!dead.exists());
    assert!(!root.join("merge-2147483632-dead00.owner").exists());
    assert!(!root.join("merge-2147483632-dead00.gate-1.out").exists());
    let list = p.git(&["worktree", "list"]);
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(agent.join("a.txt").exists(), "the agent worktree stays");
    assert!(root.join("merge-link").exists() && root.join("notes").is_dir());
    assert_eq!(
        p.queue.get(id).unwrap().unwrap().status,
        MergeStatus::Pending
    );
    assert!(overstory_merge::leftovers(&p.layout).is_empty());
    // The retried entry lands.
    let r = Engine::new(&p.layout, main_opts())
        .merge(&p.queue, &[id])
        .unwrap();
    assert!(r[0].success, "{r:#?}");
}
