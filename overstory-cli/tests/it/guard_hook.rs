//! `ov guard` (the PreToolUse hook): directly, and deployed as a PreToolUse hook into a real
//! `claude` run against the mock Messages API.

use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;

use overstory_core::Capability;
use overstory_runtime::{
    AgentRuntime, ClaudeRuntime, DirectSpawnOptions, EventReader, HooksDef, ParseOptions,
    RuntimeEvent, encode_user_turn,
};
use overstory_testkit::mock_api::{MockApi, Reply};
use overstory_testkit::{TempRepo, require_claude};
use serde_json::Value;

use crate::ov_bin;

fn guard(cap: &str, input: &str, env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = std::process::Command::new(ov_bin());
    cmd.args(["guard", cap])
        .env_remove("OVERSTORY_AGENT_NAME")
        .env_remove("OVERSTORY_WORKTREE_PATH")
        .env_remove("OVERSTORY_TASK_ID")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

fn bash_input(cmd: &str) -> String {
    serde_json::json!({
        "session_id": "s", "hook_event_name": "PreToolUse", "cwd": "/tmp",
        "tool_name": "Bash", "tool_input": {"command": cmd}
    })
    .to_string()
}

#[test]
fn guard_command_prints_a_deny_decision_or_nothing() {
    let (code, out) = guard(
        "scout",
        &bash_input("git status && git push"),
        &[("OVERSTORY_AGENT_NAME", "scout-1")],
    );
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny");
    assert!(
        v["hookSpecificOutput"]["permissionDecisionReason"]
            .as_str()
            .unwrap()
            .starts_with("git push is blocked")
    );

    let (code, out) = guard(
        "scout",
        &bash_input("grep -r x . | head"),
        &[("OVERSTORY_AGENT_NAME", "scout-1")],
    );
    assert_eq!((code, out.as_str()), (0, ""));

    // Outside agent sessions only the universal push guard applies.
    let (_, out) = guard("scout", &bash_input("rm -rf x"), &[]);
    assert_eq!(out, "");
    let (_, out) = guard("scout", &bash_input("env A=1 git push"), &[]);
    assert!(out.contains("deny"));
}

fn reason(out: &str) -> Option<String> {
    let v: Value = serde_json::from_str(out.trim()).ok()?;
    v["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .map(str::to_owned)
}

const AGENT_ENV: &[(&str, &str)] = &[
    ("OVERSTORY_AGENT_NAME", "agent-1"),
    ("OVERSTORY_TASK_ID", "task-1"),
];

#[test]
fn guard_denies_every_call_for_an_unknown_capability() {
    for input in [
        bash_input("ls"),
        serde_json::json!({"tool_name": "Write", "tool_input": {"file_path": "/tmp/x"}})
            .to_string(),
    ] {
        let (code, out) = guard("scuot", &input, AGENT_ENV);
        assert_eq!(code, 0);
        let r = reason(&out).unwrap_or_else(|| panic!("allowed: {out}"));
        assert!(r.contains("\"scuot\"") && r.contains("scout"), "{r}");
    }
}

#[test]
fn guard_fails_closed_on_commands_it_cannot_read() {
    let nested = (0..10).fold("git push origin main".to_owned(), |s, _| {
        format!("bash -c {}", overstory_runtime::shell::shell_quote(&s))
    });
    let cases: &[(&str, &str, bool)] = &[
        ("builder", "g=git; $g push", true),
        ("builder", "echo git push | sh", true),
        ("builder", "bash <<< 'git push'", true),
        ("builder", "eval 'git status'", true),
        ("builder", "git -c alias.x=push x", true),
        ("builder", "git -C .. send-pack origin main", true),
        ("builder", "echo push | xargs git", true),
        ("builder", "git commit --no-verify -m x", true),
        ("builder", &nested, true),
        ("scout", "git branch -D main", true),
        ("scout", "git config user.name x", true),
        ("scout", "sort -o out.txt in.txt", true),
        ("reviewer", "ov stop builder-1", true),
        ("reviewer", "ov clean --all", true),
        (
            "builder",
            "cargo test -p x && git add -A && git commit -m done",
            false,
        ),
        ("scout", "git log --oneline | head -3", false),
        ("scout", "rg -n TODO src | sort | uniq -c", false),
        ("reviewer", "git diff main...HEAD --stat", false),
        (
            "scout",
            "ov mail send --to lead --subject s --body b",
            false,
        ),
    ];
    for (cap, cmd, denied) in cases {
        let (code, out) = guard(cap, &bash_input(cmd), AGENT_ENV);
        assert_eq!(code, 0);
        assert_eq!(reason(&out).is_some(), *denied, "{cap}: {cmd:?} -> {out}");
    }
}

#[test]
fn guard_legacy_flag_prints_decision_block() {
    let mut cmd = std::process::Command::new(ov_bin());
    cmd.args(["guard", "builder", "--legacy"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(bash_input("git push").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["decision"], "block");
}

struct Turn {
    events: Vec<RuntimeEvent>,
    stderr: String,
}

impl Turn {
    fn tool_results(&self) -> Vec<(Option<bool>, String)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                RuntimeEvent::ToolResult {
                    is_error, content, ..
                } => Some((*is_error, content.to_string())),
                _ => None,
            })
            .collect()
    }
}

/// Deploys headless hooks for `cap` into `repo` and runs one claude turn
/// there as that agent.
fn guarded_turn(claude: &Path, mock: &MockApi, repo: &Path, cap: Capability, prompt: &str) -> Turn {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let runtime = ClaudeRuntime::new().with_program(claude);
    let agent = format!("{cap}-1");
    let def = HooksDef::new(&agent, Some(cap), repo)
        .headless(true)
        .guard_program(ov_bin());
    runtime.deploy_config(repo, None, &def).unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut opts = DirectSpawnOptions::new(repo);
    opts.model = Some("sonnet".into());
    for (k, v) in mock.claude_env(home.path()) {
        opts.env.insert(k, v);
    }
    opts.env.insert("OVERSTORY_AGENT_NAME".into(), agent);
    opts.env
        .insert("OVERSTORY_WORKTREE_PATH".into(), repo.display().to_string());
    opts.env.insert("OVERSTORY_TASK_ID".into(), "task-1".into());
    let mut cmd = runtime.direct_spawn(&opts).unwrap().command();
    cmd.env_remove("ANTHROPIC_AUTH_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(encode_user_turn(prompt).as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let events = rt.block_on(async {
        let mut r = EventReader::new(&out.stdout[..], ParseOptions::default());
        let mut v = Vec::new();
        while let Some(e) = r.next().await.unwrap() {
            v.push(e);
        }
        v
    });
    Turn {
        events,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn deployed_guard_blocks_git_push_in_a_real_claude_run() {
    let Some(claude) = require_claude("deployed_guard_blocks_git_push") else {
        return;
    };
    let repo = TempRepo::new();
    let remote = tempfile::tempdir().unwrap();
    std::process::Command::new("git")
        .args(["init", "-q", "--bare"])
        .arg(remote.path())
        .status()
        .unwrap();
    repo.git(&["remote", "add", "origin", remote.path().to_str().unwrap()]);
    let mock = MockApi::start();
    mock.push([
        Reply::bash("git push origin main"),
        Reply::bash("echo sneaky && env X=1 git push origin main"),
        Reply::text("gave up"),
    ]);
    let turn = guarded_turn(&claude, &mock, repo.path(), Capability::Builder, "push it");
    let results = turn.tool_results();
    assert_eq!(
        results.len(),
        2,
        "events: {:?}\nstderr: {}",
        turn.events,
        turn.stderr
    );
    for (is_error, content) in &results {
        assert_eq!(*is_error, Some(true), "{content}");
        assert!(content.contains("git push is blocked"), "{content}");
    }
    // Nothing reached the remote.
    let refs = std::process::Command::new("git")
        .args(["for-each-ref"])
        .current_dir(remote.path())
        .output()
        .unwrap();
    assert!(
        refs.stdout.is_empty(),
        "remote got refs: {}",
        String::from_utf8_lossy(&refs.stdout)
    );
    // The model was told why.
    let last = mock.agent_requests().pop().unwrap();
    assert!(last.body.to_string().contains("git push is blocked"));
}

#[test]
fn deployed_guard_blocks_unreadable_pushes_in_a_real_claude_run() {
    let Some(claude) = require_claude("deployed_guard_blocks_unreadable_pushes") else {
        return;
    };
    let repo = TempRepo::new();
    let remote = tempfile::tempdir().unwrap();
    std::process::Command::new("git")
        .args(["init", "-q", "--bare"])
        .arg(remote.path())
        .status()
        .unwrap();
    repo.git(&["remote", "add", "origin", remote.path().to_str().unwrap()]);
    let mock = MockApi::start();
    mock.push([
        Reply::bash("g=git; $g push origin main"),
        Reply::bash("echo 'git push origin main' | sh"),
        Reply::bash("git -c alias.p=push p origin main"),
        Reply::text("gave up"),
    ]);
    let turn = guarded_turn(&claude, &mock, repo.path(), Capability::Builder, "push it");
    let results = turn.tool_results();
    assert_eq!(
        results.len(),
        3,
        "events: {:?}\nstderr: {}",
        turn.events,
        turn.stderr
    );
    assert!(results.iter().all(|(e, _)| *e == Some(true)), "{results:?}");
    let refs = std::process::Command::new("git")
        .args(["for-each-ref"])
        .current_dir(remote.path())
        .output()
        .unwrap();
    assert!(refs.stdout.is_empty(), "something was pushed");
}

#[test]
fn deployed_guard_blocks_writes_by_a_read_only_capability() {
    let Some(claude) = require_claude("deployed_guard_blocks_writes_by_read_only") else {
        return;
    };
    let repo = TempRepo::new();
    let target = repo.path().join("notes.md");
    let mock = MockApi::start();
    mock.push([
        Reply::write(target.to_str().unwrap(), "scout was here\n"),
        Reply::bash("echo scout > notes.md"),
        Reply::text("ok"),
    ]);
    let turn = guarded_turn(&claude, &mock, repo.path(), Capability::Scout, "take notes");
    assert!(!target.exists(), "a scout must not be able to write files");
    let results = turn.tool_results();
    assert_eq!(
        results.len(),
        2,
        "events: {:?}\nstderr: {}",
        turn.events,
        turn.stderr
    );
    assert!(
        results[0].1.contains("scout agents cannot use Write"),
        "{}",
        results[0].1
    );
    assert!(
        results[1].1.contains("scout agents cannot modify files"),
        "{}",
        results[1].1
    );
    assert!(results.iter().all(|(e, _)| *e == Some(true)));
}

#[test]
fn deployed_guard_allows_permitted_commands() {
    let Some(claude) = require_claude("deployed_guard_allows_permitted_commands") else {
        return;
    };
    let repo = TempRepo::new();
    let mock = MockApi::start();
    mock.push([
        Reply::bash("git status --short && echo permitted-output"),
        Reply::write(
            repo.path().join("src/ok.txt").to_str().unwrap(),
            "builder writes\n",
        ),
        Reply::text("done"),
    ]);
    let turn = guarded_turn(&claude, &mock, repo.path(), Capability::Builder, "work");
    let results = turn.tool_results();
    assert_eq!(
        results.len(),
        2,
        "events: {:?}\nstderr: {}",
        turn.events,
        turn.stderr
    );
    assert_ne!(results[0].0, Some(true), "{}", results[0].1);
    assert!(results[0].1.contains("permitted-output"));
    assert_eq!(
        std::fs::read_to_string(repo.path().join("src/ok.txt")).unwrap(),
        "builder writes\n"
    );
}

#[test]
fn the_deployed_hook_command_run_by_sh_prints_valid_json() {
    let repo = TempRepo::new();
    let def = HooksDef::new("reviewer-1", Some(Capability::Reviewer), repo.path())
        .headless(true)
        .guard_program(ov_bin())
        .quality_gates(vec![
            overstory_core::config::QualityGate::new("Deps", "npm install", "q"),
            overstory_core::config::QualityGate::new("Odd", "say 'it''s'", "q"),
        ]);
    ClaudeRuntime::new()
        .deploy_config(repo.path(), None, &def)
        .unwrap();
    let settings: Value = serde_json::from_str(
        &std::fs::read_to_string(repo.path().join(".claude/settings.local.json")).unwrap(),
    )
    .unwrap();
    let command = settings["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = |cmd: &str| {
        let mut child = std::process::Command::new("/bin/sh")
            .args(["-c", &command])
            .env("OVERSTORY_AGENT_NAME", "reviewer-1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(bash_input(cmd).as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let denied = run("rm -rf src");
    let v: Value = serde_json::from_str(denied.trim()).unwrap();
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny");
    // The gates reached the guard through sh quoting: a whitelisted gate
    // passes while its neighbours stay blocked.
    assert_eq!(run("npm install"), "");
    assert!(run("npm ci").contains("deny"));
}

#[test]
fn lead_close_gate_counts_real_merge_ready_mail() {
    let repo = TempRepo::new();
    let ov = |args: &[&str]| {
        let out = std::process::Command::new(ov_bin())
            .args(args)
            .current_dir(repo.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ov {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    ov(&["init"]);
    let close = |cmd: &str| {
        let mut child = std::process::Command::new(ov_bin())
            .args(["guard", "lead"])
            .current_dir(repo.path())
            .env("OVERSTORY_AGENT_NAME", "lead-1")
            .env("OVERSTORY_TASK_ID", "task-1")
            .env_remove("OVERSTORY_WORKTREE_PATH")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(bash_input(cmd).as_bytes())
            .unwrap();
        String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
    };
    assert!(
        close("sd close task-1").contains("merge_ready"),
        "no merge_ready yet must block"
    );
    ov(&[
        "mail",
        "send",
        "--to",
        "coordinator",
        "--subject",
        "ready",
        "--body",
        "b",
        "--type",
        "merge_ready",
        "--agent",
        "lead-1",
    ]);
    assert_eq!(close("sd close task-1"), "");
    // Two workers reporting done raise the bar above one merge_ready.
    ov(&[
        "mail",
        "send",
        "--to",
        "lead-1",
        "--subject",
        "done",
        "--body",
        "b",
        "--type",
        "worker_done",
        "--agent",
        "builder-1",
    ]);
    ov(&[
        "mail",
        "send",
        "--to",
        "lead-1",
        "--subject",
        "done",
        "--body",
        "b",
        "--type",
        "worker_done",
        "--agent",
        "builder-2",
    ]);
    assert!(
        close("sd close task-1").contains("worker_done"),
        "1 merge_ready < 2 worker_done must block"
    );
}
