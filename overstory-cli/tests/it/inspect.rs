//! `ov inspect`, and the readable timelines of `trace`, `feed`, `replay`
//! and `errors`, over a real headless turn of the scripted agent.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use overstory_core::events::{EventStore, EventType, NewEvent};
use overstory_core::process::{Sig, signal_process};
use overstory_core::{AgentName, Layout};
use overstory_mail::{MailStore, MessageType, NewMessage};
use overstory_sessions::metrics::{MetricsStore, SessionMetrics};
use overstory_sessions::{AgentState, Session, SessionStore};
use overstory_testkit::{TempRepo, wait_until};
use overstory_turn::factory::RuntimeChoice;

use crate::sessions_support::{self, json, stderr, stdout};
use crate::support::{command, initialized_repo, ov, run};

#[test]
fn unknown_agent_is_a_clear_error_exit_1() {
    let p = sessions_support::Project::new();
    let o = p.ov(&["inspect", "ghost-1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("Agent not found: ghost-1"),
        "{}",
        stderr(&o)
    );
    let o = p.ov(&["inspect", "ghost-1", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    assert_eq!(v["success"], false);
    assert_eq!(v["error"], "Agent not found: ghost-1");
    for bad in [
        ["inspect", "ghost-1", "--interval", "100"],
        ["inspect", "ghost-1", "--limit", "0"],
    ] {
        let o = p.ov(&bad);
        assert_eq!(o.status.code(), Some(1), "{bad:?}");
        assert!(stderr(&o).contains("VALIDATION_ERROR"), "{}", stderr(&o));
    }
    assert!(
        !p.layout.events_db().exists(),
        "inspect creates no events.db"
    );
    assert!(!p.layout.mail_db().exists(), "inspect creates no mail.db");
}

fn session(name: &str, parent: Option<&str>, state: AgentState) -> Session {
    let mut s = Session::new(name.parse().unwrap(), "builder".parse().unwrap());
    s.task_id = Some(format!("task-{name}").parse().unwrap());
    s.branch_name = format!("overstory/{name}/task-{name}");
    s.worktree_path = format!("/w/{name}");
    s.parent_agent = parent.map(|p| p.parse().unwrap());
    s.state = state;
    s
}

#[test]
fn inspect_gathers_family_mail_tokens_and_newest_tool_calls() {
    let p = sessions_support::Project::new();
    let mut lead = session("lead-1", None, AgentState::Working);
    lead.capability = "lead".parse().unwrap();
    p.add(&lead);
    p.add(&session("builder-1", Some("lead-1"), AgentState::Working));
    p.add(&session("builder-2", Some("lead-1"), AgentState::Completed));
    p.add(&session("other-1", None, AgentState::Working));

    let events = EventStore::open(&p.layout.events_db()).unwrap();
    for i in 0..30 {
        events
            .insert(
                &NewEvent::new("lead-1", EventType::ToolStart)
                    .tool(
                        "Read",
                        Some(&serde_json::json!({"file_path": format!("src/f{i:02}.rs")})),
                    )
                    .at(format!("2026-01-01T00:00:{i:02}.000Z")),
            )
            .unwrap();
    }
    let mail = MailStore::open(p.layout.mail_db()).unwrap();
    for (from, to, subject) in [
        ("coordinator", "lead-1", "Plan the auth work"),
        ("builder-1", "lead-1", "Done: login form"),
        ("lead-1", "builder-1", "Build the login form"),
    ] {
        mail.insert(&NewMessage {
            from: from.into(),
            to: to.into(),
            subject: subject.into(),
            kind: MessageType::Status,
            ..NewMessage::default()
        })
        .unwrap();
    }
    let metrics = MetricsStore::open(&p.layout.metrics_db()).unwrap();
    metrics
        .record_session(&SessionMetrics {
            agent_name: "lead-1".into(),
            task_id: "task-lead-1".into(),
            capability: "lead".into(),
            started_at: "2026-01-01T00:00:00.000Z".into(),
            completed_at: None,
            duration_ms: 0,
            exit_code: None,
            merge_result: None,
            parent_agent: None,
            input_tokens: 1234,
            output_tokens: 56,
            cache_read_tokens: 7000,
            cache_creation_tokens: 100,
            estimated_cost_usd: Some(0.25),
            model_used: Some("claude-sonnet-4-5".into()),
            run_id: None,
        })
        .unwrap();

    let v = json(&p.ov(&["inspect", "lead-1", "--limit", "5", "--json"]));
    assert_eq!(v["success"], true);
    assert_eq!(v["command"], "inspect");
    assert_eq!(v["session"]["agentName"], "lead-1");
    let calls = v["recentToolCalls"].as_array().unwrap();
    assert_eq!(calls.len(), 5);
    assert_eq!(
        calls[0]["timestamp"], "2026-01-01T00:00:25.000Z",
        "newest N"
    );
    assert_eq!(calls[4]["args"], "file_path=src/f29.rs");
    assert_eq!(calls[4]["summary"], "Read  src/f29.rs");
    assert_eq!(v["currentFile"], "src/f29.rs");
    assert_eq!(v["toolStats"][0]["count"], 30, "all time");
    assert_eq!(v["tokenUsage"]["inputTokens"], 1234);
    assert_eq!(v["tokenUsage"]["estimatedCostUsd"], 0.25);
    assert_eq!(v["tokenUsage"]["source"], "metrics");
    let kids: Vec<_> = v["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["agentName"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["builder-1", "builder-2"]);
    assert_eq!(v["mail"]["received"], 2);
    assert_eq!(v["mail"]["unread"], 2);
    assert_eq!(v["mail"]["sent"], 1);
    assert_eq!(
        v["mail"]["latestSent"][0]["subject"],
        "Build the login form"
    );
    assert_eq!(v["tmuxOutput"], serde_json::Value::Null);
    assert!(v["headlessTurnInfo"].is_object());

    let text = stdout(&p.ov(&["inspect", "lead-1", "--limit", "3"]));
    for want in [
        "lead-1  working  (lead)",
        "Parent:        none (the operator)",
        "overstory/lead-1/task-lead-1",
        "Children (2)",
        "builder-2",
        "Mail: 2 received (2 unread), 1 sent",
        "← coordinator: Plan the auth work",
        "→ builder-1: Build the login form",
        "in 1,234 / out 56  cache 7,000 read / 100 new  $0.25  claude-sonnet-4-5",
        "Recent tool calls (3)",
        "Read  src/f29.rs",
        "Current file:",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert!(!text.contains("src/f26.rs"), "only the newest 3:\n{text}");
}

#[test]
fn inspect_follow_redraws_until_sigint() {
    let p = sessions_support::Project::new();
    p.add(&session("builder-1", None, AgentState::Working));
    let mut child = p
        .cmd()
        .args([
            "inspect",
            "builder-1",
            "--follow",
            "--interval",
            "500",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Two frames: the first at once, the next after an interval.
    for _ in 0..2 {
        let line = rx.recv_timeout(Duration::from_secs(15)).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["command"], "inspect");
        assert_eq!(v["session"]["agentName"], "builder-1");
    }
    signal_process(i32::try_from(child.id()).unwrap(), Sig::Int).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

/// A project with a headless scripted builder whose one turn runs a
/// command, writes a file, says something and mails its parent.
struct Headless {
    repo: TempRepo,
    layout: Layout,
}

impl Headless {
    fn run_one_turn() -> Self {
        let repo = initialized_repo();
        let layout = Layout::new(repo.path());
        let mut s = Session::new("builder-7".parse().unwrap(), "builder".parse().unwrap());
        s.worktree_path = repo.path().display().to_string();
        s.branch_name = "main".into();
        s.task_id = Some("task-b7".parse().unwrap());
        s.parent_agent = Some("lead-1".parse().unwrap());
        s.state = AgentState::Booting;
        SessionStore::open(&layout.sessions_db())
            .unwrap()
            .upsert(&s)
            .unwrap();
        RuntimeChoice {
            runtime: "scripted".into(),
            script: None,
        }
        .save(&layout, &AgentName::new("builder-7").unwrap())
        .unwrap();
        let dir = layout.dir().join("scripts");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("builder-7.json"),
            serde_json::json!({"steps": [
                {"run": "git status --short"},
                {"write": {"path": "notes.txt", "content": "hi\n"}},
                {"say": "I wrote the notes.\nNothing else to do."},
                {"mail": {"to": "lead-1", "subject": "Done: notes", "body": "ok", "type": "worker_done"}}
            ]})
            .to_string(),
        )
        .unwrap();
        run(command(repo.path()).args([
            "mail",
            "send",
            "--to",
            "builder-7",
            "--subject",
            "Write the notes",
            "--body",
            "please",
            "--from",
            "lead-1",
        ]))
        .ok();
        let me = Self { repo, layout };
        wait_until(Duration::from_secs(60), "the turn's result event", || {
            me.has_result()
                && !overstory_turn::dispatch::is_dispatching(
                    &me.layout,
                    &AgentName::new("builder-7").unwrap(),
                )
        });
        me
    }

    fn has_result(&self) -> bool {
        EventStore::open_if_exists(&self.layout.events_db())
            .ok()
            .flatten()
            .and_then(|s| {
                s.by_agent("builder-7", &Default::default())
                    .ok()
                    .map(|evs| evs.iter().any(|e| e.event_type == "result"))
            })
            .unwrap_or(false)
    }

    fn ov(&self, args: &[&str]) -> crate::support::Run {
        ov(self.repo.path(), args)
    }
}

#[test]
fn a_headless_turn_reads_as_text_in_inspect_and_the_timelines() {
    let h = Headless::run_one_turn();

    let v = h.ov(&["inspect", "builder-7", "--json"]).ok().json();
    let calls = v["recentToolCalls"].as_array().unwrap();
    let summaries: Vec<&str> = calls
        .iter()
        .map(|c| c["summary"].as_str().unwrap())
        .collect();
    assert!(
        summaries
            .iter()
            .any(|s| s.starts_with("Bash  git status --short  (")),
        "{summaries:?}"
    );
    assert!(
        summaries.iter().any(|s| s.starts_with("Write  ")),
        "{summaries:?}"
    );
    assert!(
        calls.iter().all(|c| c["durationMs"].is_number()),
        "paired by call id: {calls:?}"
    );
    assert_eq!(v["mail"]["received"], 1);
    assert_eq!(v["mail"]["latestReceived"][0]["subject"], "Write the notes");
    assert_eq!(v["mail"]["sent"], 1);
    assert_eq!(v["mail"]["latestSent"][0]["subject"], "Done: notes");
    assert!(v["tokenUsage"].is_object(), "{}", v["tokenUsage"]);
    let info = &v["headlessTurnInfo"];
    assert_eq!(info["currentTurn"], 1, "{info}");
    assert_eq!(info["isMidTool"], false);
    let last = v["lastOutput"].as_str().unwrap();
    assert!(!last.is_empty(), "{v}");

    let text = h.ov(&["inspect", "builder-7"]).ok().stdout;
    assert!(text.contains("headless (one process per turn)"), "{text}");
    assert!(text.contains("Bash  git status --short  ("), "{text}");
    assert!(text.contains("← lead-1: Write the notes"), "{text}");

    let trace = h.ov(&["trace", "builder-7"]).ok().stdout;
    eprintln!("{text}\n{trace}");
    for want in [
        "Bash  git status --short  (",
        "Bash done",
        "I wrote the notes.",
        "result ok  in 0 / out 0 tokens  $0.00",
        "session init",
    ] {
        assert!(trace.contains(want), "missing {want:?} in:\n{trace}");
    }
    assert!(
        !trace.contains("Nothing else to do"),
        "first line only:\n{trace}"
    );
    assert!(!trace.contains("data={"), "no raw JSON:\n{trace}");

    let feed = h.ov(&["feed"]).ok().stdout;
    assert!(
        feed.contains("mail → lead-1: Done: notes  [worker_done]"),
        "{feed}"
    );
    assert!(
        feed.contains("PROG  builder-7       I wrote the notes."),
        "{feed}"
    );

    let replay = h.ov(&["replay", "--agent", "builder-7"]).ok().stdout;
    assert!(replay.contains("Write  "), "{replay}");

    // --json keeps the stored records unchanged.
    let v = h.ov(&["trace", "builder-7", "--json"]).ok().json();
    let result = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["eventType"] == "result")
        .unwrap();
    let data: serde_json::Value = serde_json::from_str(result["data"].as_str().unwrap()).unwrap();
    assert_eq!(data["type"], "result");
}

#[test]
fn errors_read_as_text() {
    let p = sessions_support::Project::new();
    let s = EventStore::open(&p.layout.events_db()).unwrap();
    s.insert(
        &NewEvent::new("builder-1", EventType::Error)
            .level(overstory_core::events::EventLevel::Error)
            .data(
                &serde_json::json!({"hook": "session-end:transitionToCompleted",
                                      "attempts": 5, "message": "database is locked"}),
            ),
    )
    .unwrap();
    s.insert(
        &NewEvent::new("builder-1", EventType::Result)
            .level(overstory_core::events::EventLevel::Error)
            .data(
                &serde_json::json!({"type": "result", "subtype": "error_max_turns",
                                      "isError": true, "durationMs": 61_000.0}),
            ),
    )
    .unwrap();
    let out = stdout(&p.ov(&["errors"]));
    assert!(
        out.contains("session-end:transitionToCompleted: database is locked"),
        "{out}"
    );
    assert!(
        out.contains("result error (error_max_turns)  1m 01s"),
        "{out}"
    );
}

/// Records a `progress` (assistant message) row of `agent`, with `usage`
/// when given, as the turn runner stores it.
fn assistant_row(
    events: &EventStore,
    agent: &str,
    at: &str,
    model: &str,
    usage: Option<serde_json::Value>,
) {
    let mut data =
        serde_json::json!({"type": "assistant_message", "text": "working", "model": model});
    if let Some(u) = usage {
        data["usage"] = u;
    }
    events
        .insert(&NewEvent::new(agent, EventType::Progress).data(&data).at(at))
        .unwrap();
}

fn result_row(events: &EventStore, agent: &str, at: &str, usage: serde_json::Value) {
    events
        .insert(
            &NewEvent::new(agent, EventType::Result)
                .data(&serde_json::json!({"type": "result", "subtype": "success", "usage": usage}))
                .at(at),
        )
        .unwrap();
}

#[test]
fn context_utilization_is_the_newest_calls_context_over_the_models_window() {
    let p = sessions_support::Project::new();
    for name in ["builder-1", "builder-2", "builder-3", "builder-4"] {
        p.add(&session(name, None, AgentState::Working));
    }
    let events = EventStore::open(&p.layout.events_db()).unwrap();
    // builder-1: the newest assistant message counts (input + cache read +
    // cache creation), not an older one nor the turn's summed result.
    assistant_row(
        &events,
        "builder-1",
        "2026-01-01T00:00:01.000Z",
        "claude-sonnet-4-5",
        Some(
            serde_json::json!({"input_tokens": 10, "cache_read_input_tokens": 100, "output_tokens": 3}),
        ),
    );
    assistant_row(
        &events,
        "builder-1",
        "2026-01-01T00:00:02.000Z",
        "claude-sonnet-4-5",
        Some(
            serde_json::json!({"input_tokens": 2000, "cache_read_input_tokens": 40000,
                                "cache_creation_input_tokens": 8000, "output_tokens": 900}),
        ),
    );
    result_row(
        &events,
        "builder-1",
        "2026-01-01T00:00:03.000Z",
        serde_json::json!({"input_tokens": 150_000, "cache_read_input_tokens": 150_000}),
    );
    // builder-2: no usage on its messages, so the turn result's counts, on
    // the long-context window its model names.
    assistant_row(
        &events,
        "builder-2",
        "2026-01-01T00:00:01.000Z",
        "claude-opus-4-1[1m]",
        None,
    );
    result_row(
        &events,
        "builder-2",
        "2026-01-01T00:00:02.000Z",
        serde_json::json!({"input_tokens": 100, "cache_creation_input_tokens": 99_900}),
    );
    // builder-3: a model whose window is unknown.
    assistant_row(
        &events,
        "builder-3",
        "2026-01-01T00:00:01.000Z",
        "gpt-5",
        Some(serde_json::json!({"input_tokens": 5000})),
    );
    // builder-4 recorded nothing.
    drop(events);

    let util = |agent: &str| {
        let v = json(&p.ov(&["inspect", agent, "--json"]));
        assert_eq!(v["success"], true, "{v}");
        v["headlessTurnInfo"]["contextUtilization"].clone()
    };
    assert_eq!(util("builder-1"), serde_json::json!(0.25));
    assert_eq!(util("builder-2"), serde_json::json!(0.1));
    assert_eq!(util("builder-3"), serde_json::Value::Null, "unknown window");
    assert_eq!(util("builder-4"), serde_json::Value::Null, "no usage");
}

/// A tmux server on a socket of its own: the default server name `ov`
/// uses, under a private `TMUX_TMPDIR`, so neither the test nor `ov` can
/// touch any other server. Killed (and its socket directory removed) on drop.
struct PrivateTmux {
    dir: tempfile::TempDir,
}

impl PrivateTmux {
    fn start(session: &str, script: &str) -> Option<Self> {
        if std::process::Command::new("tmux")
            .arg("-V")
            .output()
            .is_err()
        {
            overstory_testkit::skip_notice(
                "SKIPPED inspect_of_a_tmux_agent_shows_its_pane: tmux is not installed",
            );
            return None;
        }
        let t = Self {
            dir: tempfile::Builder::new()
                .prefix("ovt")
                .tempdir_in("/tmp")
                .unwrap(),
        };
        let o = t
            .tmux()
            .args(["new-session", "-d", "-s", session, "-x", "100", "-y", "20"])
            .args(["sh", "-c", script])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        Some(t)
    }

    /// `tmux` on this server, as `ov` would run it.
    fn tmux(&self) -> std::process::Command {
        let mut c = std::process::Command::new("tmux");
        c.arg("-L")
            .arg(overstory_fleet::tmux::DEFAULT_SERVER)
            .env("TMUX_TMPDIR", self.dir.path())
            .env_remove("TMUX");
        c
    }

    fn pane(&self, session: &str) -> String {
        let o = self
            .tmux()
            .args(["capture-pane", "-p", "-t", &format!("={session}:")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for PrivateTmux {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").output();
    }
}

#[test]
fn inspect_of_a_tmux_agent_shows_its_pane() {
    const MARKER: &str = "ov-inspect-pane-marker-5501";
    let p = sessions_support::Project::new();
    let name = "overstory-inspect-tmux-1";
    // The marker is built by the shell, so only the pane's output (not the
    // command line tmux was given) can hold it whole.
    let Some(tmux) = PrivateTmux::start(
        name,
        "printf '%s-%s\\n' ov-inspect-pane-marker 5501; exec cat",
    ) else {
        return;
    };
    let mut s = session("tmux-1", None, AgentState::Working);
    s.tmux_session = name.to_owned();
    p.add(&s);
    wait_until(Duration::from_secs(10), "the marker in the pane", || {
        tmux.pane(name).contains(MARKER)
    });

    let inspect = |args: &[&str]| {
        p.cmd()
            .args(args)
            .env("TMUX_TMPDIR", tmux.dir.path())
            .env_remove("TMUX")
            .output()
            .unwrap()
    };
    let v = json(&inspect(&["inspect", "tmux-1", "--json"]));
    assert_eq!(v["success"], true, "{v}");
    let pane = v["tmuxOutput"].as_str().unwrap_or_default();
    assert!(pane.contains(MARKER), "tmuxOutput: {v}");
    assert!(
        v["lastOutput"]
            .as_str()
            .unwrap_or_default()
            .contains(MARKER),
        "{v}"
    );
    assert_eq!(v["headlessTurnInfo"], serde_json::Value::Null);
    let text = stdout(&inspect(&["inspect", "tmux-1"]));
    assert!(text.contains(MARKER), "{text}");
    let v = json(&inspect(&["inspect", "tmux-1", "--no-tmux", "--json"]));
    assert_eq!(v["tmuxOutput"], serde_json::Value::Null, "--no-tmux");

    drop(tmux);
}
