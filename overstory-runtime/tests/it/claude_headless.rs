//! The real `claude` binary, run headless with our argv against the mock API.

use overstory_runtime::RuntimeEvent;
use overstory_testkit::mock_api::{MockApi, Reply};
use overstory_testkit::{TempRepo, require_claude};

use crate::support::claude_turn;

#[tokio::test]
async fn our_headless_argv_is_accepted_and_parses_to_status_message_result() {
    let Some(claude) = require_claude("our_headless_argv_is_accepted") else {
        return;
    };
    let mock = MockApi::start();
    mock.push([Reply::text("hello from the mock")]);
    let home = tempfile::tempdir().unwrap();
    let repo = TempRepo::new();
    let out = claude_turn(
        &claude,
        &mock,
        home.path(),
        repo.path(),
        "say hello",
        None,
        &[],
    )
    .await;
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(
        out.argv[1..10],
        [
            "-p",
            "--output-format",
            "stream-json",
            "--input-format",
            "stream-json",
            "--verbose",
            "--strict-mcp-config",
            "--permission-mode",
            "bypassPermissions"
        ]
    );
    assert_eq!(
        out.kinds(),
        ["status", "assistant_message", "result"],
        "{:?}",
        out.events
    );
    let RuntimeEvent::AssistantMessage { text, model, .. } = &out.events[1] else {
        panic!()
    };
    assert_eq!(text, "hello from the mock");
    assert!(model.is_some());
    let RuntimeEvent::Result {
        is_error,
        subtype,
        usage,
        total_cost_usd,
        num_turns,
        ..
    } = out.result()
    else {
        panic!()
    };
    assert_eq!(*is_error, Some(false));
    assert_eq!(subtype.as_deref(), Some("success"));
    assert!(usage.is_some() && total_cost_usd.is_some() && num_turns.is_some());
    // The user turn reached the model.
    let reqs = mock.agent_requests();
    assert!(
        reqs.iter()
            .any(|r| r.body.to_string().contains("say hello"))
    );
}

#[tokio::test]
async fn scripted_bash_tool_use_runs_and_parses_into_tool_events() {
    let Some(claude) = require_claude("scripted_bash_tool_use_runs") else {
        return;
    };
    let mock = MockApi::start();
    mock.push([
        Reply::bash("echo made-by-claude > marker.txt && echo ok"),
        Reply::text("all done"),
    ]);
    let home = tempfile::tempdir().unwrap();
    let repo = TempRepo::new();
    let out = claude_turn(
        &claude,
        &mock,
        home.path(),
        repo.path(),
        "make a marker",
        None,
        &[],
    )
    .await;
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(repo.path().join("marker.txt"))
            .unwrap()
            .trim(),
        "made-by-claude"
    );
    let kinds = out.kinds();
    let tu = kinds
        .iter()
        .position(|k| *k == "tool_use")
        .expect("tool_use event");
    let tr = kinds
        .iter()
        .position(|k| *k == "tool_result")
        .expect("tool_result event");
    assert!(tu < tr && tr < kinds.len() - 1);
    let RuntimeEvent::ToolUse {
        name,
        input,
        call_id,
        ..
    } = &out.events[tu]
    else {
        panic!()
    };
    assert_eq!(name.as_deref(), Some("Bash"));
    assert!(input["command"].as_str().unwrap().contains("marker.txt"));
    let RuntimeEvent::ToolResult {
        tool_use_id,
        is_error,
        content,
        ..
    } = &out.events[tr]
    else {
        panic!()
    };
    assert_eq!(tool_use_id, call_id);
    assert_ne!(*is_error, Some(true));
    assert!(content.to_string().contains("ok"));
    assert!(out.result().is_clean_result());
}

#[tokio::test]
async fn scripted_write_tool_use_creates_the_file() {
    let Some(claude) = require_claude("scripted_write_tool_use_creates_the_file") else {
        return;
    };
    let mock = MockApi::start();
    let repo = TempRepo::new();
    let target = repo.path().join("src/new.txt");
    mock.push([
        Reply::write(target.to_str().unwrap(), "written\n"),
        Reply::text("wrote it"),
    ]);
    let home = tempfile::tempdir().unwrap();
    let out = claude_turn(
        &claude,
        &mock,
        home.path(),
        repo.path(),
        "write a file",
        None,
        &[],
    )
    .await;
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "written\n");
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, RuntimeEvent::ToolUse { name: Some(n), .. } if n == "Write"))
    );
}

#[tokio::test]
async fn resume_continues_the_same_session_id() {
    let Some(claude) = require_claude("resume_continues_the_same_session_id") else {
        return;
    };
    let mock = MockApi::start();
    mock.push([Reply::text("first"), Reply::text("second")]);
    let home = tempfile::tempdir().unwrap();
    let repo = TempRepo::new();
    let first = claude_turn(
        &claude,
        &mock,
        home.path(),
        repo.path(),
        "turn one",
        None,
        &[],
    )
    .await;
    assert_eq!(first.code, Some(0), "stderr: {}", first.stderr);
    let sid = first.session_ids()[0].clone();
    let second = claude_turn(
        &claude,
        &mock,
        home.path(),
        repo.path(),
        "turn two",
        Some(&sid),
        &[],
    )
    .await;
    assert_eq!(second.code, Some(0), "stderr: {}", second.stderr);
    assert!(second.argv.ends_with(&["--resume".to_owned(), sid.clone()]));
    let ids = second.session_ids();
    assert!(!ids.is_empty());
    assert!(
        ids.iter().all(|i| *i == sid),
        "resumed turn reported {ids:?}, expected {sid}"
    );
    // The resumed request carries the first turn's history.
    let last = mock.agent_requests().pop().unwrap();
    let body = last.body.to_string();
    assert!(body.contains("turn one") && body.contains("turn two"));
}

#[tokio::test]
async fn api_error_ends_the_turn_with_an_error_result() {
    let Some(claude) = require_claude("api_error_ends_the_turn_with_an_error_result") else {
        return;
    };
    let mock = MockApi::start();
    mock.push([Reply::Error {
        status: 400,
        kind: "invalid_request_error".into(),
        message: "scripted failure".into(),
    }]);
    let home = tempfile::tempdir().unwrap();
    let repo = TempRepo::new();
    let out = claude_turn(
        &claude,
        &mock,
        home.path(),
        repo.path(),
        "fail please",
        None,
        &[],
    )
    .await;
    let RuntimeEvent::Result { is_error, .. } = out.result() else {
        panic!()
    };
    assert_eq!(*is_error, Some(true), "{:?}", out.events);
    assert!(!out.result().is_clean_result());
}

#[tokio::test]
async fn transcript_lands_where_transcript_dir_says_and_sums_tokens() {
    use overstory_runtime::{AgentRuntime, ClaudeRuntime};
    let Some(claude) = require_claude("transcript_lands_where_transcript_dir_says") else {
        return;
    };
    let mock = MockApi::start();
    mock.push([Reply::text("tokens please")]);
    let home = tempfile::tempdir().unwrap();
    let repo = TempRepo::new();
    // A worktree path with '.' and '_' pins the project-key normalisation.
    let wt = repo.path().join("wt.dot_under");
    std::fs::create_dir_all(&wt).unwrap();
    let out = claude_turn(&claude, &mock, home.path(), &wt, "hi", None, &[]).await;
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let sid = out.session_ids()[0].clone();
    let rt = ClaudeRuntime::new().with_home(Some(home.path().to_path_buf()));
    let dir = rt.transcript_dir(&wt).unwrap();
    let file = dir.join(format!("{sid}.jsonl"));
    let summary = rt.parse_transcript(&file).await.unwrap_or_else(|| {
        let found: Vec<_> = walk(home.path());
        panic!(
            "no transcript at {}; files under HOME: {found:?}",
            file.display()
        )
    });
    assert!(summary.output_tokens > 0, "{summary:?}");
    assert!(summary.model_used.is_some_and(|m| !m.is_empty()));
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

#[tokio::test]
async fn a_hanging_model_leaves_claude_silent_until_its_group_is_killed() {
    use overstory_runtime::{
        AgentRuntime, ClaudeRuntime, DirectSpawnOptions, ParseOptions, encode_user_turn,
    };
    use std::time::Duration;
    use tokio::io::AsyncWriteExt as _;
    let Some(claude) = require_claude("a_hanging_model_leaves_claude_silent") else {
        return;
    };
    let mock = MockApi::start();
    mock.push([Reply::Hang]);
    let home = tempfile::tempdir().unwrap();
    let repo = TempRepo::new();
    let rt = ClaudeRuntime::new().with_program(&claude);
    let mut opts = DirectSpawnOptions::new(repo.path());
    for (k, v) in mock.claude_env(home.path()) {
        opts.env.insert(k, v);
    }
    let mut cmd = rt.direct_spawn(&opts).unwrap().tokio_command();
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let pid = child.id().unwrap() as i32;
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(encode_user_turn("hang").as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let mut reader = rt
        .event_reader(
            Box::new(child.stdout.take().unwrap()),
            ParseOptions::default(),
        )
        .unwrap();
    let mut kinds = Vec::new();
    let waited = tokio::time::timeout(Duration::from_secs(6), async {
        while let Some(ev) = reader.next().await.unwrap() {
            kinds.push(ev.kind());
        }
    })
    .await;
    assert!(
        waited.is_err(),
        "claude finished although the model never answered: {kinds:?}"
    );
    assert!(!kinds.contains(&"result"));
    overstory_core::process::signal_group(pid, overstory_core::process::Sig::Kill).unwrap();
    assert!(!child.wait().await.unwrap().success());
}

#[tokio::test]
async fn disallowed_tools_flag_is_accepted_and_removes_the_tools() {
    let Some(claude) = require_claude("disallowed_tools_flag_is_accepted") else {
        return;
    };
    let mock = MockApi::start();
    mock.push([Reply::text("fine")]);
    let home = tempfile::tempdir().unwrap();
    let repo = TempRepo::new();
    let denied = overstory_runtime::guard::always_denied_tools();
    let out =
        crate::support::claude_turn_with(&claude, &mock, home.path(), repo.path(), "hi", denied)
            .await;
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let RuntimeEvent::Status {
        tools: Some(tools), ..
    } = &out.events[0]
    else {
        panic!("{:?}", out.events)
    };
    assert!(tools.iter().any(|t| t == "Bash"));
    for t in [
        "Task",
        "TeamCreate",
        "SendMessage",
        "AskUserQuestion",
        "EnterWorktree",
    ] {
        assert!(
            !tools.iter().any(|x| x == t),
            "{t} still offered: {tools:?}"
        );
    }
}
