//! The scripted player doing real things in a real git repository.

use std::path::Path;
use std::sync::{Arc, Mutex};

use overstory_runtime::scripted::{
    MailReport, MailStep, Outcome, PlayOptions, Script, ScriptMailer, play,
};
use overstory_runtime::{EventReader, ParseOptions, RuntimeEvent};
use overstory_testkit::TempRepo;

/// A mailer that records what it was asked to send and answers `reply`.
#[derive(Debug)]
struct Recorder {
    sent: Mutex<Vec<(String, MailStep)>>,
    reply: MailReport,
}

impl Recorder {
    fn new(reply: MailReport) -> Arc<Self> {
        Arc::new(Self {
            sent: Mutex::new(Vec::new()),
            reply,
        })
    }
}

impl ScriptMailer for Recorder {
    fn send(&self, from: &str, mail: &MailStep) -> MailReport {
        self.sent
            .lock()
            .unwrap()
            .push((from.to_owned(), mail.clone()));
        self.reply.clone()
    }
}

fn play_script(script: &str, repo: &Path) -> (Outcome, Vec<u8>) {
    play_with(script, repo, Recorder::new(MailReport::delivered("sent")))
}

fn play_with(script: &str, repo: &Path, mailer: Arc<dyn ScriptMailer>) -> (Outcome, Vec<u8>) {
    let s = Script::parse(script, Path::new("test.json")).unwrap();
    let state = tempfile::tempdir().unwrap();
    let opts = PlayOptions::new(repo, state.path())
        .mailer(mailer)
        .agent_name(Some("builder-7".into()));
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
fn mail_step_goes_to_the_mailer_with_the_agent_as_sender() {
    let repo = TempRepo::new();
    let mailer = Recorder::new(MailReport::delivered("Sent message msg-1"));
    let (_, out) = play_with(
        r#"{"steps":[{"mail":{"to":"lead-1","subject":"Done","body":"it | works","type":"worker_done","priority":"high","payload":{"k":1}}}]}"#,
        repo.path(),
        mailer.clone(),
    );
    let sent = mailer.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    let (from, mail) = &sent[0];
    assert_eq!(from, "builder-7");
    assert_eq!(
        (
            mail.to.as_str(),
            mail.subject.as_str(),
            mail.body.as_str(),
            mail.kind.as_deref(),
            mail.priority.as_deref(),
        ),
        (
            "lead-1",
            "Done",
            "it | works",
            Some("worker_done"),
            Some("high")
        )
    );
    assert_eq!(mail.payload, Some(serde_json::json!({"k": 1})));
    let evs = events(&out);
    assert!(evs.iter().any(|e| matches!(
        e,
        RuntimeEvent::ToolUse { input, .. }
            if input["command"] == "ov mail send --to lead-1 --subject Done --body 'it | works' --type worker_done --priority high --payload '{\"k\":1}' --agent builder-7"
    )), "{evs:?}");
    assert!(
        evs.iter().any(|e| matches!(
            e,
            RuntimeEvent::ToolResult {
                is_error: Some(false),
                content,
                ..
            } if content.as_str() == Some("Sent message msg-1")
        )),
        "{evs:?}"
    );
}

#[test]
fn a_failed_mail_is_a_failed_tool_result_and_the_turn_goes_on() {
    let repo = TempRepo::new();
    let mailer = Recorder::new(MailReport::failed("Mail database is locked"));
    let (o, out) = play_with(
        r#"{"steps":[{"mail":{"to":"lead-1"}},{"say":"after"}]}"#,
        repo.path(),
        mailer,
    );
    assert_eq!(o, Outcome::Exit(0));
    let evs = events(&out);
    assert!(evs.iter().any(|e| matches!(
        e,
        RuntimeEvent::ToolResult {
            is_error: Some(true),
            ..
        }
    )));
    assert!(evs.last().unwrap().is_clean_result());
}

#[test]
fn explicit_error_result_is_not_clean() {
    let repo = TempRepo::new();
    let (_, out) = play_script(
        r#"{"steps":[{"result":{"text":"nope","is_error":true}}]}"#,
        repo.path(),
    );
    let evs = events(&out);
    assert_eq!(evs.iter().filter(|e| e.kind() == "result").count(), 1);
    assert!(!evs.last().unwrap().is_clean_result());
}
