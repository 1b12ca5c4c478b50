//! The scripted player doing real things in a real git repository.

use std::path::Path;

use overstory_runtime::scripted::{Outcome, PlayOptions, Script, play};
use overstory_runtime::{EventReader, ParseOptions, RuntimeEvent};
use overstory_testkit::TempRepo;

fn play_script(script: &str, repo: &Path, ov: &Path) -> (Outcome, Vec<u8>) {
    let s = Script::parse(script, Path::new("test.json")).unwrap();
    let state = tempfile::tempdir().unwrap();
    let opts = PlayOptions::new(repo, ov, state.path()).agent_name(Some("builder-7".into()));
    let mut out = Vec::new();
    let o = play(&s, "do the work", &opts, &mut out).unwrap();
    (o, out)
}

fn events(bytes: &[u8]) -> Vec<RuntimeEvent> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut r = EventReader::new(bytes, ParseOptions::default());
        let mut v = Vec::new();
        while let Some(e) = r.next().await.unwrap() {
            v.push(e);
        }
        assert!(
            r.take_diagnostics().is_empty(),
            "scripted output must parse cleanly"
        );
        v
    })
}

#[test]
fn write_edit_and_commit_land_in_the_repository() {
    let repo = TempRepo::new();
    let (o, out) = play_script(
        r#"{"steps":[
            {"write":{"path":"src/lib.txt","content":"one\n"}},
            {"edit":{"path":"src/lib.txt","old":"one","new":"two"}},
            {"commit":"scripted: add lib"}
        ]}"#,
        repo.path(),
        Path::new("ov"),
    );
    assert_eq!(o, Outcome::Exit(0));
    assert_eq!(repo.git(&["log", "-1", "--format=%s"]), "scripted: add lib");
    assert_eq!(repo.git(&["show", "HEAD:src/lib.txt"]), "two");
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    let evs = events(&out);
    let tools: Vec<_> = evs
        .iter()
        .filter_map(|e| match e {
            RuntimeEvent::ToolUse { name, .. } => name.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(tools, ["Write", "Edit", "Bash"]);
    assert!(evs.last().unwrap().is_clean_result());
}

#[test]
fn run_step_really_runs_the_command_and_reports_failure() {
    let repo = TempRepo::new();
    let (_, out) = play_script(
        r#"{"steps":[{"run":"echo ran > ran.txt && echo visible"},{"run":"exit 7"}]}"#,
        repo.path(),
        Path::new("ov"),
    );
    assert_eq!(
        std::fs::read_to_string(repo.path().join("ran.txt")).unwrap(),
        "ran\n"
    );
    let results: Vec<_> = events(&out)
        .into_iter()
        .filter_map(|e| match e {
            RuntimeEvent::ToolResult {
                is_error, content, ..
            } => Some((is_error, content)),
            _ => None,
        })
        .collect();
    assert_eq!(results[0].0, Some(false));
    assert!(results[0].1.as_str().unwrap().contains("visible"));
    assert_eq!(results[1].0, Some(true));
}

#[test]
fn mail_step_runs_ov_mail_send_with_the_agent_as_sender() {
    let repo = TempRepo::new();
    let bin = tempfile::tempdir().unwrap();
    let fake_ov = bin.path().join("ov");
    let log = bin.path().join("args.log");
    std::fs::write(
        &fake_ov,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\necho sent\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&fake_ov, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (_, out) = play_script(
        r#"{"steps":[{"mail":{"to":"lead-1","subject":"Done","body":"it | works","type":"worker_done","priority":"high","payload":{"k":1}}}]}"#,
        repo.path(),
        &fake_ov,
    );
    let args: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        args,
        [
            "mail",
            "send",
            "--to",
            "lead-1",
            "--subject",
            "Done",
            "--body",
            "it | works",
            "--type",
            "worker_done",
            "--priority",
            "high",
            "--payload",
            "{\"k\":1}",
            "--agent",
            "builder-7"
        ]
    );
    assert!(events(&out).iter().any(|e| matches!(
        e,
        RuntimeEvent::ToolResult {
            is_error: Some(false),
            ..
        }
    )));
}

#[test]
fn explicit_error_result_is_not_clean() {
    let repo = TempRepo::new();
    let (_, out) = play_script(
        r#"{"steps":[{"result":{"text":"nope","is_error":true}}]}"#,
        repo.path(),
        Path::new("ov"),
    );
    let evs = events(&out);
    assert_eq!(evs.iter().filter(|e| e.kind() == "result").count(), 1);
    assert!(!evs.last().unwrap().is_clean_result());
}
