//! `ov scripted-agent` as a real child process: exit codes, crashes,
//! stalls, stdin, and the scripted runtime's spawn spec.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::Stdio;
use std::time::{Duration, Instant};

use overstory_runtime::{AgentRuntime, DirectSpawnOptions, ScriptedRuntime, encode_user_turn};
use overstory_testkit::TempRepo;
use serde_json::Value;

use crate::ov_bin;

fn script(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("agent.json");
    std::fs::write(&p, text).unwrap();
    p
}

fn spawn(
    script: &std::path::Path,
    cwd: &std::path::Path,
    resume: Option<&str>,
) -> std::process::Child {
    let rt = ScriptedRuntime::new(ov_bin().to_path_buf(), Some(script.to_path_buf()));
    let mut opts = DirectSpawnOptions::new(cwd);
    opts.resume_session_id = resume.map(str::to_owned);
    opts.env
        .insert("OVERSTORY_AGENT_NAME".into(), "builder-1".into());
    let mut cmd = rt.direct_spawn(&opts).unwrap().command();
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().unwrap()
}

#[test]
fn reads_the_user_turn_from_stdin_and_answers_in_stream_json() {
    let repo = TempRepo::new();
    let dir = tempfile::tempdir().unwrap();
    let s = script(
        dir.path(),
        r#"{"session_id":"fixed","steps":[{"echo_input":true}]}"#,
    );
    let mut child = spawn(&s, repo.path(), None);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(encode_user_turn("hello agent").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["subtype"], "init");
    assert_eq!(lines[1]["message"]["content"][0]["text"], "hello agent");
    assert_eq!(lines[2]["type"], "result");
}

#[test]
fn scripted_non_zero_exit_is_the_process_exit_code() {
    let repo = TempRepo::new();
    let dir = tempfile::tempdir().unwrap();
    let s = script(
        dir.path(),
        r#"{"steps":[{"say":"about to fail"},{"exit":3}]}"#,
    );
    let child = spawn(&s, repo.path(), None);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("\"type\":\"result\""));
}

#[test]
fn scripted_crash_aborts_the_process() {
    use std::os::unix::process::ExitStatusExt as _;
    let repo = TempRepo::new();
    let dir = tempfile::tempdir().unwrap();
    let s = script(dir.path(), r#"{"steps":[{"crash":true}]}"#);
    let out = spawn(&s, repo.path(), None).wait_with_output().unwrap();
    assert!(!out.status.success());
    assert_eq!(
        out.status.signal(),
        Some(6),
        "expected SIGABRT, got {:?}",
        out.status
    );
}

#[test]
fn stall_produces_no_output_for_its_duration() {
    let repo = TempRepo::new();
    let dir = tempfile::tempdir().unwrap();
    let s = script(
        dir.path(),
        r#"{"steps":[{"say":"before"},{"stall_ms":600},{"say":"after"}]}"#,
    );
    let mut child = spawn(&s, repo.path(), None);
    drop(child.stdin.take());
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut stamps = Vec::new();
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        stamps.push((Instant::now(), line.clone()));
        line.clear();
    }
    assert!(child.wait().unwrap().success());
    let before = stamps
        .iter()
        .find(|(_, l)| l.contains("\"before\""))
        .unwrap()
        .0;
    let after = stamps
        .iter()
        .find(|(_, l)| l.contains("\"after\""))
        .unwrap()
        .0;
    assert!(
        after - before >= Duration::from_millis(550),
        "gap {:?}",
        after - before
    );
}

#[test]
fn endless_stall_keeps_running_until_killed() {
    let repo = TempRepo::new();
    let dir = tempfile::tempdir().unwrap();
    let s = script(dir.path(), r#"{"steps":[{"stall":null}]}"#);
    let mut child = spawn(&s, repo.path(), None);
    drop(child.stdin.take());
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert!(first.contains("\"init\""));
    assert!(
        child.try_wait().unwrap().is_none(),
        "a stalled agent keeps running"
    );
    overstory_core::process::signal_group(child.id() as i32, overstory_core::process::Sig::Kill)
        .unwrap();
    assert!(!child.wait().unwrap().success());
}

#[test]
fn resume_keeps_the_session_and_advances_the_turn() {
    let repo = TempRepo::new();
    let dir = tempfile::tempdir().unwrap();
    let s = script(
        dir.path(),
        r#"{"turns":[{"steps":[{"say":"first"}]},{"steps":[{"say":"second"}]}]}"#,
    );
    let run = |resume: Option<&str>| {
        let child = spawn(&s, repo.path(), resume);
        let out = child.wait_with_output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let one = run(None);
    let sid: Value = serde_json::from_str(one.lines().next().unwrap()).unwrap();
    let sid = sid["session_id"].as_str().unwrap().to_owned();
    assert!(one.contains("\"first\""));
    let two = run(Some(&sid));
    assert!(two.contains("\"second\""));
    assert!(two.contains(&format!("\"session_id\":\"{sid}\"")));
}

#[test]
fn bad_script_fails_with_a_script_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(dir.path(), "{ nope");
    let out = std::process::Command::new(ov_bin())
        .args(["scripted-agent", "--script"])
        .arg(&s)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SCRIPT_ERROR"));
}

#[test]
fn without_a_script_flag_the_agent_finds_its_script_by_name() {
    let repo = TempRepo::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("builder.json"),
        r#"{"steps":[{"say":"role script"}]}"#,
    )
    .unwrap();
    let rt = ScriptedRuntime::new(ov_bin().to_path_buf(), None);
    let mut opts = DirectSpawnOptions::new(repo.path());
    opts.env
        .insert("OVERSTORY_AGENT_NAME".into(), "builder-3".into());
    opts.env.insert(
        "OVERSTORY_SCRIPTS_DIR".into(),
        dir.path().display().to_string(),
    );
    let mut cmd = rt.direct_spawn(&opts).unwrap().command();
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    let out = cmd.output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("role script"));
}

#[test]
fn scripted_mail_step_lands_in_mail_db() {
    let repo = TempRepo::new();
    let init = std::process::Command::new(ov_bin())
        .arg("init")
        .current_dir(repo.path())
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let s = script(
        dir.path(),
        r#"{"steps":[{"mail":{"to":"lead-1","subject":"task-1 done","body":"all good","type":"worker_done","priority":"high"}}]}"#,
    );
    let out = spawn(&s, repo.path(), None).wait_with_output().unwrap();
    assert!(out.status.success());
    let list = std::process::Command::new(ov_bin())
        .args(["mail", "list", "--json", "--from", "builder-1"])
        .current_dir(repo.path())
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&list.stdout).unwrap();
    let msgs = v["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1, "{v}");
    assert_eq!(msgs[0]["to"], "lead-1");
    assert_eq!(msgs[0]["type"], "worker_done");
    assert_eq!(msgs[0]["priority"], "high");
    assert_eq!(msgs[0]["body"], "all good");
}

#[test]
fn scripted_mail_step_wakes_its_headless_recipient() {
    use overstory_core::{AgentName, Layout};
    use overstory_sessions::{AgentState, Session, SessionStore};
    use overstory_turn::dispatch::is_dispatching;
    use overstory_turn::factory::RuntimeChoice;

    let repo = crate::support::initialized_repo();
    let layout = Layout::new(repo.path());
    // A headless scripted lead, idle, whose next turn just answers.
    let mut lead = Session::new("lead-1".parse().unwrap(), "lead".parse().unwrap());
    lead.worktree_path = repo.path().display().to_string();
    lead.branch_name = "main".into();
    lead.task_id = Some("task-lead".parse().unwrap());
    lead.state = AgentState::Booting;
    SessionStore::open(&layout.sessions_db())
        .unwrap()
        .upsert(&lead)
        .unwrap();
    let lead_name = AgentName::new("lead-1").unwrap();
    RuntimeChoice {
        runtime: "scripted".into(),
        script: None,
    }
    .save(&layout, &lead_name)
    .unwrap();
    std::fs::create_dir_all(layout.scripts_dir()).unwrap();
    std::fs::write(
        layout.scripts_dir().join("lead-1.json"),
        r#"{"steps":[{"say":"got the builder's mail"}]}"#,
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let s = script(
        dir.path(),
        r#"{"steps":[{"mail":{"to":"lead-1","subject":"progress","body":"half way"}}]}"#,
    );
    let out = spawn(&s, repo.path(), None).wait_with_output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("Started a turn for \\\"lead-1\\\""),
        "the mail step reports the wake-up: {stdout}"
    );

    let sessions = SessionStore::open(&layout.sessions_db()).unwrap();
    let mail = overstory_mail::MailStore::open(layout.mail_db()).unwrap();
    overstory_testkit::wait_until(
        std::time::Duration::from_secs(30),
        "the lead's turn to read the mail",
        || {
            mail.unread_count("lead-1").unwrap() == 0
                && !is_dispatching(&layout, &lead_name)
                && sessions
                    .get("lead-1")
                    .unwrap()
                    .is_some_and(|s| s.claude_session_id.is_some())
        },
    );
    let from_builder = mail
        .list(&overstory_mail::ListFilter {
            from: Some("builder-1".into()),
            to: Some("lead-1".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(from_builder.len(), 1);
    assert_eq!(from_builder[0].subject, "progress");
}
