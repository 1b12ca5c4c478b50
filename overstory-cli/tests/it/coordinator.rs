//! `ov coordinator`: the persistent coordinator, headless under its agent
//! host, driven end to end with the scripted runtime (issue 7).

use std::path::Path;
use std::time::Duration;

use overstory_core::process;
use overstory_core::{AgentName, Layout};
use overstory_mail::{ListFilter, MailStore};
use overstory_sessions::{AgentState, RunStatus, RunStore, SessionStore};
use overstory_testkit::{holds_within, wait_until};

use crate::support::{Run, TempRepo, initialized_repo, live_group_members, ov};

struct Project {
    repo: TempRepo,
    layout: Layout,
}

impl Project {
    /// A project whose coordinator plays `turns` (one per user turn).
    fn new(turns: serde_json::Value) -> Self {
        let repo = initialized_repo();
        let layout = Layout::new(repo.path());
        std::fs::create_dir_all(layout.scripts_dir()).unwrap();
        std::fs::write(
            layout.scripts_dir().join("coordinator.json"),
            serde_json::json!({ "turns": turns }).to_string(),
        )
        .unwrap();
        Self { repo, layout }
    }

    fn path(&self) -> &Path {
        self.repo.path()
    }

    fn ov(&self, args: &[&str]) -> Run {
        ov(self.path(), args)
    }

    fn start(&self) -> serde_json::Value {
        self.ov(&["coordinator", "start", "--runtime", "scripted", "--json"])
            .ok()
            .json()
    }

    fn to_operator(&self) -> Vec<overstory_mail::MailMessage> {
        MailStore::open(self.layout.mail_db())
            .unwrap()
            .list(&ListFilter {
                from: Some("coordinator".into()),
                to: Some("operator".into()),
                ..ListFilter::default()
            })
            .unwrap()
    }

    fn state(&self) -> AgentState {
        SessionStore::open(&self.layout.sessions_db())
            .unwrap()
            .get("coordinator")
            .unwrap()
            .unwrap()
            .state
    }

    /// Waits for `cond`; on timeout prints the coordinator's logs, then panics.
    fn await_or_dump(&self, secs: u64, what: &str, cond: impl FnMut() -> bool) {
        if holds_within(Duration::from_secs(secs), cond) {
            return;
        }
        let agent = AgentName::new("coordinator").unwrap();
        for f in walk(&self.layout.agent_logs_dir(&agent)) {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            eprintln!("== {}\n{text}", f.display());
        }
        panic!("timed out waiting for: {what}");
    }

    fn enable_trigger(&self, trigger: &str) {
        let path = self.layout.config();
        let text = std::fs::read_to_string(&path).unwrap();
        let from = format!("    {trigger}: false");
        assert!(text.contains(&from), "config.yaml lists {trigger}");
        std::fs::write(&path, text.replace(&from, &format!("    {trigger}: true"))).unwrap();
    }
}

/// Stops a coordinator a failed assertion left running.
struct StopOnDrop<'a>(&'a Project);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.ov(&["coordinator", "stop"]);
    }
}

fn replying_coordinator() -> serde_json::Value {
    serde_json::json!([
        {"steps": [{"say": "coordinator ready"}]},
        {"steps": [
            {"say": "planning the work"},
            {"mail": {"to": "operator", "subject": "ack", "body": "on it"}}
        ]},
        {"steps": [
            {"mail": {"to": "operator", "subject": "answer", "body": "the answer is 42"}}
        ]}
    ])
}

#[test]
fn start_send_ask_check_and_stop_a_headless_coordinator() {
    let p = Project::new(replying_coordinator());
    let _guard = StopOnDrop(&p);
    let started = p.start();
    assert_eq!(started["command"], "coordinator start");
    assert_eq!(started["agentName"], "coordinator");
    assert_eq!(started["capability"], "coordinator");
    assert_eq!(started["headless"], true);
    assert_eq!(started["tmuxSession"], "");
    assert_eq!(started["runtime"], "scripted");
    let pid = i32::try_from(started["pid"].as_i64().unwrap()).unwrap();
    let run_id = started["runId"].as_str().unwrap().to_owned();
    assert_eq!(
        std::fs::read_to_string(p.layout.current_run()).unwrap(),
        run_id
    );
    let settings = std::fs::read_to_string(p.path().join(".claude/settings.local.json")).unwrap();
    assert!(
        settings.contains("[ -z \\\"$OVERSTORY_AGENT_NAME\\\" ] && exit 0;"),
        "root hooks are guarded by the agent-name check: {settings}"
    );

    let status = p.ov(&["coordinator", "status", "--json"]).ok().json();
    assert_eq!(status["running"], true);
    assert_eq!(status["pid"].as_i64(), Some(i64::from(pid)));
    assert_eq!(status["headless"], true);
    assert!(process::is_alive(pid));

    let sent = p
        .ov(&["coordinator", "send", "--body", "plan the work", "--json"])
        .ok()
        .json();
    assert_eq!(sent["nudged"], true, "the host was poked: {sent}");
    assert!(sent["id"].as_str().unwrap().starts_with("msg-"));
    p.await_or_dump(30, "the coordinator's reply to the dispatch", || {
        p.to_operator().iter().any(|m| m.subject == "ack")
    });

    let asked = p
        .ov(&[
            "coordinator",
            "ask",
            "--body",
            "what is the answer?",
            "--timeout",
            "30",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(asked["body"], "the answer is 42");
    assert_eq!(asked["subject"], "answer");
    assert_eq!(asked["correlationId"].as_str().unwrap().len(), 36);
    let question = MailStore::open(p.layout.mail_db())
        .unwrap()
        .get(asked["sentId"].as_str().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(question.kind.as_str(), "dispatch");
    assert!(
        question
            .payload
            .unwrap()
            .contains(asked["correlationId"].as_str().unwrap())
    );

    let out = p.ov(&["coordinator", "output", "--json"]).ok().json();
    let content = out["content"].as_str().unwrap();
    assert!(content.contains("coordinator ready"), "{content}");
    assert!(content.contains("planning the work"), "{content}");
    assert_eq!(p.state(), AgentState::Working);

    let check = p
        .ov(&["coordinator", "check-complete", "--json"])
        .ok()
        .json();
    assert_eq!(check["complete"], false, "no trigger is enabled");
    assert_eq!(check["triggers"]["allAgentsDone"]["enabled"], false);
    p.enable_trigger("onShutdownSignal");
    p.ov(&[
        "coordinator",
        "send",
        "--subject",
        "Shutdown now",
        "--body",
        "wrap up",
    ])
    .ok();
    let check = p
        .ov(&["coordinator", "check-complete", "--json"])
        .ok()
        .json();
    assert_eq!(
        check["triggers"]["onShutdownSignal"]["met"], true,
        "{check}"
    );
    assert_eq!(check["complete"], true);

    let stopped = p.ov(&["coordinator", "stop", "--json"]).ok().json();
    assert_eq!(stopped["stopped"], true);
    assert_eq!(stopped["runCompleted"], true);
    assert_eq!(stopped["watchdogStopped"], false);
    assert_eq!(p.state(), AgentState::Completed);
    assert!(!p.layout.current_run().exists(), "current-run.txt removed");
    let run = RunStore::open(&p.layout.sessions_db())
        .unwrap()
        .get(&run_id)
        .unwrap()
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert!(!process::is_alive(pid), "the agent process is gone");
    assert!(live_group_members(pid).is_empty());
    let agent = AgentName::new("coordinator").unwrap();
    assert!(!p.layout.agent_host_pid(&agent).exists());
    assert!(!p.layout.agent_host_socket(&agent).exists());
    let status = p.ov(&["coordinator", "status", "--json"]).ok().json();
    assert_eq!(status["running"], false);
    assert!(status.get("pid").is_none(), "{status}");
}

#[test]
fn a_second_start_is_refused_while_the_coordinator_runs() {
    let p = Project::new(serde_json::json!([{"steps": [{"say": "hi"}]}]));
    let _guard = StopOnDrop(&p);
    let started = p.start();
    let again = p
        .ov(&["coordinator", "start", "--runtime", "scripted"])
        .fails();
    assert!(
        again
            .stderr
            .contains("Coordinator is already running (headless: pid"),
        "{again:?}"
    );
    let json = p
        .ov(&["coordinator", "start", "--runtime", "scripted", "--json"])
        .fails()
        .json();
    assert_eq!(json["success"], false);
    assert_eq!(json["command"], "coordinator start");
    let status = p.ov(&["coordinator", "status", "--json"]).ok().json();
    assert_eq!(status["pid"], started["pid"], "the first one still runs");
}

#[test]
fn a_dead_coordinator_is_reclaimed_by_the_next_start() {
    let p = Project::new(serde_json::json!([{"steps": [{"say": "hi"}]}]));
    let _guard = StopOnDrop(&p);
    let first = p.start();
    let first_run = first["runId"].as_str().unwrap().to_owned();
    let host = first["hostPid"].as_i64().unwrap() as i32;
    let pid = first["pid"].as_i64().unwrap() as i32;
    process::signal_process(host, process::Sig::Kill).unwrap();
    wait_until(
        Duration::from_secs(10),
        "the agent to die with its host",
        || live_group_members(pid).is_empty(),
    );

    let status = p.ov(&["coordinator", "status", "--json"]).ok().json();
    assert_eq!(status["running"], false);
    assert_eq!(status["state"], "zombie", "a dead host is reconciled");
    let send = p.ov(&["coordinator", "send", "--body", "x"]).fails();
    assert!(
        send.stderr.contains("No active coordinator session found"),
        "{send:?}"
    );

    let second = p.start();
    assert_eq!(second["reclaimed"], false, "zombie rows need no reclaiming");
    assert_ne!(second["runId"], first_run.as_str());
    let old = RunStore::open(&p.layout.sessions_db())
        .unwrap()
        .get(&first_run)
        .unwrap()
        .unwrap();
    assert_eq!(
        old.status,
        RunStatus::Completed,
        "the dead one's run is closed"
    );
    assert_ne!(second["pid"], first["pid"]);
    p.ov(&["coordinator", "stop"]).ok();
}

#[test]
fn a_coordinator_whose_host_died_unnoticed_is_reclaimed() {
    let p = Project::new(serde_json::json!([{"steps": [{"say": "hi"}]}]));
    let _guard = StopOnDrop(&p);
    let first = p.start();
    let first_run = first["runId"].as_str().unwrap().to_owned();
    let host = first["hostPid"].as_i64().unwrap() as i32;
    process::signal_process(host, process::Sig::Kill).unwrap();
    let agent = AgentName::new("coordinator").unwrap();
    wait_until(Duration::from_secs(10), "the host lock to be free", || {
        overstory_turn::host::live_host(&p.layout, &agent).is_none()
    });
    let second = p.start();
    assert_eq!(second["reclaimed"], true);
    let run = RunStore::open(&p.layout.sessions_db())
        .unwrap()
        .get(&first_run)
        .unwrap()
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed, "the dead run is closed");
    p.ov(&["coordinator", "stop"]).ok();
}

#[test]
fn commands_for_a_coordinator_that_is_not_running_say_so() {
    let p = Project::new(serde_json::json!([{"steps": [{"say": "hi"}]}]));
    for args in [
        &["coordinator", "stop"][..],
        &["coordinator", "send", "--body", "hello"],
        &["coordinator", "ask", "--body", "hello", "--timeout", "1"],
    ] {
        let r = p.ov(args).fails();
        assert!(
            r.stderr.contains("No active coordinator session found"),
            "{args:?}: {r:?}"
        );
    }
    let r = p.ov(&["coordinator", "output"]).fails();
    assert!(r.stderr.contains("No coordinator session found"), "{r:?}");
    let status = p.ov(&["coordinator", "status", "--json"]).ok().json();
    assert_eq!(status["running"], false);
    assert_eq!(status["watchdogRunning"], false);
    let check = p
        .ov(&["coordinator", "check-complete", "--json"])
        .ok()
        .json();
    assert_eq!(check["complete"], false);
    p.enable_trigger("allAgentsDone");
    let check = p
        .ov(&["coordinator", "check-complete", "--json"])
        .ok()
        .json();
    assert_eq!(
        check["triggers"]["allAgentsDone"]["detail"],
        "No current run found"
    );
}

#[test]
fn an_unanswered_ask_times_out_with_the_correlation_id() {
    let p = Project::new(serde_json::json!([{"steps": [{"say": "thinking"}]}]));
    let _guard = StopOnDrop(&p);
    p.start();
    let r = p
        .ov(&["coordinator", "ask", "--body", "anyone?", "--timeout", "1"])
        .fails();
    assert!(
        r.stderr
            .contains("Timed out after 1s waiting for coordinator reply (correlationId: "),
        "{r:?}"
    );
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn ov_nudge_and_ov_stop_reach_a_hosted_coordinator() {
    let p = Project::new(serde_json::json!([
        {"steps": [{"say": "ready"}]},
        {"steps": [{"echo_input": true}]}
    ]));
    let _guard = StopOnDrop(&p);
    let started = p.start();
    let pid = i32::try_from(started["pid"].as_i64().unwrap()).unwrap();
    let nudged = p
        .ov(&["nudge", "coordinator", "look at the board", "--json"])
        .ok()
        .json();
    assert_eq!(nudged["delivered"], true, "{nudged}");
    p.await_or_dump(30, "the nudge to arrive as a turn", || {
        p.ov(&["coordinator", "output"])
            .stdout
            .contains("look at the board")
    });
    let stopped = p.ov(&["stop", "coordinator", "--json"]).ok().json();
    assert_eq!(stopped["pidKilled"], true, "{stopped}");
    assert_eq!(p.state(), AgentState::Completed);
    assert!(live_group_members(pid).is_empty(), "the agent is gone");
    let agent = AgentName::new("coordinator").unwrap();
    assert!(overstory_turn::host::live_host(&p.layout, &agent).is_none());
}

#[test]
fn the_orchestrator_runs_on_the_configured_runtime() {
    let p = Project::new(serde_json::json!([{"steps": [{"say": "x"}]}]));
    std::fs::write(
        p.layout.scripts_dir().join("orchestrator.json"),
        r#"{"steps": [{"say": "orchestrating"}]}"#,
    )
    .unwrap();
    let config = std::fs::read_to_string(p.layout.config()).unwrap();
    assert!(config.contains("  default: claude"));
    std::fs::write(
        p.layout.config(),
        config.replace("  default: claude", "  default: scripted"),
    )
    .unwrap();
    let started = p.ov(&["orchestrator", "start", "--json"]).ok().json();
    assert_eq!(started["command"], "orchestrator start");
    assert_eq!(started["capability"], "orchestrator");
    assert_eq!(
        started["runtime"], "scripted",
        "runtime.default is honoured"
    );
    let status = p.ov(&["orchestrator", "status", "--json"]).ok().json();
    assert_eq!(status["running"], true);
    let none = p.ov(&["coordinator", "status", "--json"]).ok().json();
    assert_eq!(none["running"], false, "a different agent");
    p.await_or_dump(30, "the orchestrator's first turn", || {
        p.ov(&["orchestrator", "output"])
            .stdout
            .contains("orchestrating")
    });
    let stopped = p.ov(&["orchestrator", "stop", "--json"]).ok().json();
    assert_eq!(stopped["command"], "orchestrator stop");
    assert_eq!(stopped["runCompleted"], true);
    let r = p.ov(&["orchestrator", "check-complete"]).fails();
    assert!(r.stderr.contains("check-complete"), "{r:?}");
}

#[test]
fn tmux_mode_runs_the_coordinator_in_a_tmux_session() {
    if !overstory_fleet::Tmux::is_available() {
        eprintln!("SKIPPED tmux_mode_runs_the_coordinator_in_a_tmux_session: no tmux");
        return;
    }
    let p = Project::new(serde_json::json!([{"steps": [{"say": "hi"}]}]));
    let _guard = StopOnDrop(&p);
    let started = p
        .ov(&[
            "coordinator",
            "start",
            "--tmux",
            "--runtime",
            "scripted",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(started["headless"], false);
    let session = started["tmuxSession"].as_str().unwrap().to_owned();
    assert!(session.starts_with("overstory-") && session.ends_with("-coordinator"));
    let tmux = overstory_fleet::Tmux::default();
    assert!(tmux.is_alive(&session));
    let status = p.ov(&["coordinator", "status", "--json"]).ok().json();
    assert_eq!(status["running"], true);
    assert_eq!(status["headless"], false);
    let sent = p
        .ov(&["coordinator", "send", "--body", "typed in", "--json"])
        .ok()
        .json();
    assert_eq!(sent["nudged"], true, "{sent}");
    p.await_or_dump(10, "the nudge in the pane", || {
        p.ov(&["coordinator", "output"])
            .stdout
            .contains("[DISPATCH] operator dispatch: typed in")
    });
    let again = p.ov(&["coordinator", "start", "--tmux", "--runtime", "scripted"]);
    assert!(
        again
            .fails()
            .stderr
            .contains("Coordinator is already running (tmux: "),
        "duplicate refused"
    );
    p.ov(&["coordinator", "stop"]).ok();
    assert!(!tmux.is_alive(&session));
    assert_eq!(p.state(), AgentState::Completed);
}

#[test]
fn two_concurrent_starts_leave_one_coordinator() {
    let p = Project::new(serde_json::json!([{"steps": [{"say": "hi"}]}]));
    let _guard = StopOnDrop(&p);
    let runs: Vec<Run> = std::thread::scope(|s| {
        let a = s.spawn(|| p.ov(&["coordinator", "start", "--runtime", "scripted"]));
        let b = s.spawn(|| p.ov(&["coordinator", "start", "--runtime", "scripted"]));
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    let ok = runs.iter().filter(|r| r.code == 0).count();
    assert_eq!(ok, 1, "{runs:#?}");
    let refused = runs.iter().find(|r| r.code != 0).unwrap();
    assert!(
        refused.stderr.contains("Coordinator is already running"),
        "{refused:?}"
    );
    let status = p.ov(&["coordinator", "status", "--json"]).ok().json();
    assert_eq!(status["running"], true);
    let runs = RunStore::open(&p.layout.sessions_db())
        .unwrap()
        .list(None, None)
        .unwrap();
    assert_eq!(runs.len(), 1, "the refused start created no run");
}

#[test]
fn a_real_claude_coordinator_answers_mail_through_ov() {
    let Some(claude) = overstory_testkit::require_claude("real_claude_coordinator") else {
        return;
    };
    let p = Project::new(serde_json::json!([{"steps": [{"say": "unused"}]}]));
    let _guard = StopOnDrop(&p);
    let mock = overstory_testkit::mock_api::MockApi::start();
    let ov_bin = crate::ov_bin().display().to_string();
    mock.push([
        overstory_testkit::mock_api::Reply::text("Coordinator ready; waiting for work."),
        overstory_testkit::mock_api::Reply::bash(&format!(
            "{ov_bin} mail send --to operator --subject ack --body 'two leads planned' --agent coordinator"
        )),
        overstory_testkit::mock_api::Reply::text("Reported back to the operator."),
    ]);
    let home = tempfile::tempdir().unwrap();
    let mut env = mock.claude_env(home.path());
    env.push((
        "PATH".into(),
        format!(
            "{}:{}",
            claude.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    ));
    let mut cmd = crate::support::command(p.path());
    cmd.args(["coordinator", "start", "--runtime", "claude", "--json"]);
    for (k, v) in &env {
        cmd.env(k, v);
    }
    let started = crate::support::run(&mut cmd).ok().json();
    assert_eq!(started["runtime"], "claude");
    let pid = i32::try_from(started["pid"].as_i64().unwrap()).unwrap();

    p.ov(&["coordinator", "send", "--body", "plan the auth work"])
        .ok();
    p.await_or_dump(120, "claude's reply to the operator", || {
        p.to_operator().iter().any(|m| m.subject == "ack")
    });
    assert_eq!(
        SessionStore::open(&p.layout.sessions_db())
            .unwrap()
            .get("coordinator")
            .unwrap()
            .unwrap()
            .pid,
        Some(i64::from(pid)),
        "one long-lived claude process"
    );
    let last = mock.agent_requests().last().unwrap().body.to_string();
    assert!(
        last.contains("plan the auth work"),
        "the mail reached the model"
    );
    p.ov(&["coordinator", "stop"]).ok();
    assert!(live_group_members(pid).is_empty());
}

#[test]
fn ov_clean_all_takes_a_hosted_coordinator_down() {
    let p = Project::new(serde_json::json!([{"steps": [{"say": "hi"}]}]));
    let started = p.start();
    let pid = i32::try_from(started["pid"].as_i64().unwrap()).unwrap();
    let host = i32::try_from(started["hostPid"].as_i64().unwrap()).unwrap();
    p.ov(&["clean", "--all"]).ok();
    // The host leads its own process group (exited, it may linger as a
    // zombie until init reaps it).
    assert!(live_group_members(host).is_empty(), "the host is gone");
    assert!(live_group_members(pid).is_empty(), "the agent is gone");
    let agent = AgentName::new("coordinator").unwrap();
    assert!(overstory_turn::host::live_host(&p.layout, &agent).is_none());
    assert!(!p.layout.agent_host_socket(&agent).exists());
}

#[test]
fn stopping_a_coordinator_that_died_closes_its_run() {
    let p = Project::new(serde_json::json!([
        {"steps": [{"say": "ready"}]},
        {"steps": [{"say": "bye"}, {"exit": 3}]}
    ]));
    let started = p.start();
    let run_id = started["runId"].as_str().unwrap().to_owned();
    p.ov(&["coordinator", "send", "--body", "this one kills it"])
        .ok();
    p.await_or_dump(30, "the host to notice its agent died", || {
        p.state() == AgentState::Zombie
    });
    let status = p.ov(&["coordinator", "status", "--json"]).ok().json();
    assert_eq!(status["running"], false);
    let stopped = p.ov(&["coordinator", "stop", "--json"]).ok().json();
    assert_eq!(stopped["runCompleted"], true, "{stopped}");
    assert_eq!(p.state(), AgentState::Completed);
    assert!(!p.layout.current_run().exists());
    let run = RunStore::open(&p.layout.sessions_db())
        .unwrap()
        .get(&run_id)
        .unwrap()
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    let again = p.ov(&["coordinator", "stop"]).fails();
    assert!(again.stderr.contains("No active coordinator session found"));
}

/// Issue 12: `coordinator start --watchdog` starts the real watchdog daemon
/// (`ov watch --background`), and `coordinator stop` stops what it started.
#[test]
fn start_with_watchdog_runs_the_daemon_and_stop_takes_it_down() {
    let p = Project::new(serde_json::json!([{"steps": [{"say": "hi"}]}]));
    let _guard = StopOnDrop(&p);
    let started = p
        .ov(&[
            "coordinator",
            "start",
            "--runtime",
            "scripted",
            "--watchdog",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(started["watchdog"], true, "{started}");
    assert!(
        started["warnings"]
            .as_array()
            .is_none_or(|w| w.iter().all(|w| !w.as_str().unwrap().contains("Watchdog"))),
        "{started}"
    );
    let pid = overstory_fleet::watchdog::running_pid(&p.layout).expect("a running watchdog");
    assert!(process::is_alive(pid));
    let status = p.ov(&["coordinator", "status", "--json"]).ok().json();
    assert_eq!(status["watchdogRunning"], true, "{status}");

    let stopped = p.ov(&["coordinator", "stop", "--json"]).ok().json();
    assert_eq!(stopped["watchdogStopped"], true, "{stopped}");
    wait_until(Duration::from_secs(10), "the watchdog to exit", || {
        !process::is_alive(pid)
    });
    assert!(!p.layout.watchdog_pid().exists(), "watchdog.pid removed");
}
