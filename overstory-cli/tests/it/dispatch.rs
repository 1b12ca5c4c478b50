//! Mail wakes its recipient with no server running: `ov mail send` starts a
//! detached dispatcher that runs the headless turn.
//!
//! Everything is real: the `ov` binary, the dispatcher and shim processes,
//! the scripted agent as a child process (or the real `claude` against the
//! mock Messages API), SQLite files and a git repository.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use overstory_core::{AgentName, Layout};
use overstory_mail::{ListFilter, MailStore, MessageType};
use overstory_sessions::{AgentState, Session, SessionStore};
use overstory_testkit::mock_api::{MockApi, Reply};
use overstory_testkit::{TempRepo, wait_until};
use overstory_turn::lock::read_turn_lock;

use crate::support::{command, initialized_repo, path_without_claude, run};

struct Project {
    repo: TempRepo,
    layout: Layout,
}

impl Project {
    fn new() -> Self {
        let repo = initialized_repo();
        let layout = Layout::new(repo.path());
        Self { repo, layout }
    }

    fn path(&self) -> &Path {
        self.repo.path()
    }

    /// Registers a headless session working in the project root.
    fn agent(
        &self,
        name: &str,
        capability: &str,
        parent: Option<&str>,
        state: AgentState,
        runtime: &str,
    ) {
        crate::support::register_headless(
            &self.layout,
            self.path(),
            name,
            capability,
            parent,
            state,
            runtime,
        );
    }

    fn script(&self, agent: &str, json: &serde_json::Value) {
        let dir = self.layout.dir().join("scripts");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{agent}.json")), json.to_string()).unwrap();
    }

    fn session(&self, name: &str) -> Session {
        SessionStore::open(&self.layout.sessions_db())
            .unwrap()
            .get(name)
            .unwrap()
            .unwrap()
    }

    fn mail(&self, to: &str, kind: MessageType) -> Vec<overstory_mail::MailMessage> {
        MailStore::open(self.layout.mail_db())
            .unwrap()
            .list(&ListFilter {
                to: Some(to.into()),
                kind: Some(kind),
                ..ListFilter::default()
            })
            .unwrap()
    }

    fn unread(&self, agent: &str) -> usize {
        MailStore::open(self.layout.mail_db())
            .unwrap()
            .unread_count(agent)
            .unwrap()
    }

    fn send(&self, to: &str, subject: &str, env: &[(String, String)]) {
        let mut cmd = command(self.path());
        cmd.args([
            "mail",
            "send",
            "--to",
            to,
            "--subject",
            subject,
            "--body",
            "please",
            "--from",
            "coordinator",
        ]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run(&mut cmd).ok();
    }

    fn dispatching(&self, agent: &str) -> bool {
        overstory_turn::dispatch::is_dispatching(&self.layout, &AgentName::new(agent).unwrap())
    }

    fn turn_pid(&self, agent: &str) -> PathBuf {
        self.layout.agent_turn_pid(&AgentName::new(agent).unwrap())
    }
}

#[test]
fn mail_to_an_idle_headless_agent_runs_a_turn_and_resumes_on_the_next_mail() {
    let p = Project::new();
    // A lead with a live builder child: its first turn ends without terminal
    // mail, so it waits (working) for its child instead of completing.
    p.agent(
        "lead-1",
        "lead",
        Some("coordinator"),
        AgentState::Booting,
        "scripted",
    );
    p.agent(
        "builder-9",
        "builder",
        Some("lead-1"),
        AgentState::Working,
        "scripted",
    );
    p.script(
        "lead-1",
        &serde_json::json!({"turns": [
            {"steps": [{"say": "waiting for my builder"}]},
            {"steps": [
                {"write": {"path": "lead-notes.txt", "content": "merged\n"}},
                {"commit": "lead: record the merge"},
                {"mail": {"to": "coordinator", "subject": "all done", "body": "work merged", "type": "worker_done"}}
            ]}
        ]}),
    );

    let started = Instant::now();
    p.send("lead-1", "first", &[]);
    let lead_log = p
        .layout
        .agent_dispatch_log(&AgentName::new("lead-1").unwrap());
    wait_until(
        Duration::from_secs(30),
        "the first mail to be delivered",
        || p.unread("lead-1") == 0 && !p.dispatching("lead-1"),
    );
    assert!(
        lead_log.exists(),
        "the positive case leaves the same evidence"
    );
    let first = p.session("lead-1");
    assert_eq!(first.state, AgentState::Working, "waiting is not finishing");
    let sid = first
        .claude_session_id
        .clone()
        .expect("the turn recorded its session id");
    assert!(p.mail("coordinator", MessageType::WorkerDied).is_empty());
    assert!(
        !p.turn_pid("lead-1").exists(),
        "turn.pid removed after the turn"
    );
    eprintln!("first turn delivered in {:?}", started.elapsed());

    // The second mail starts a second turn that resumes the same session
    // (the script plays its second turn only under --resume of that id).
    p.send("lead-1", "second", &[]);
    wait_until(Duration::from_secs(30), "the lead to complete", || {
        p.session("lead-1").state == AgentState::Completed
    });
    let done = p.session("lead-1");
    assert_eq!(done.claude_session_id.as_deref(), Some(sid.as_str()));
    let to_coord = p.mail("coordinator", MessageType::WorkerDone);
    assert_eq!(to_coord.len(), 1);
    assert_eq!(to_coord[0].from, "lead-1");
    assert!(p.mail("coordinator", MessageType::WorkerDied).is_empty());
    assert!(
        p.repo
            .git(&["log", "--oneline", "-1"])
            .contains("lead: record the merge")
    );
    wait_until(Duration::from_secs(10), "the dispatcher to exit", || {
        !p.dispatching("lead-1")
    });
    assert_eq!(
        p.unread("lead-1"),
        0,
        "mail marked read after the clean turn"
    );
}

/// Processes in group `pgid` that are not zombies.
fn live_group_members(pgid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the parenthesised command: state ppid pgrp …
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[2] == pgid.to_string() && fields[0] != "Z" {
            out.push(pid);
        }
    }
    out
}

fn parent_of(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit_once(')').unwrap().1;
    rest.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn killing_the_runner_frees_the_lock_kills_the_turn_and_the_next_turn_runs() {
    let p = Project::new();
    p.agent(
        "builder-1",
        "builder",
        Some("lead-1"),
        AgentState::Booting,
        "scripted",
    );
    p.script(
        "builder-1",
        &serde_json::json!({"steps": [{"say": "thinking hard"}, {"run": "sleep 300"}]}),
    );
    p.send("builder-1", "work", &[]);
    let pid_file = p.turn_pid("builder-1");
    wait_until(Duration::from_secs(30), "the turn to start", || {
        pid_file.exists()
    });
    let shim: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The agent and its tool (`sleep 300`) run in the shim's group.
    wait_until(Duration::from_secs(10), "the agent's tool to start", || {
        live_group_members(shim).len() >= 3
    });
    let runner = parent_of(shim);
    let agent = AgentName::new("builder-1").unwrap();
    assert_eq!(read_turn_lock(&p.layout, &agent).held_by_pid, Some(runner));
    // The runner is the dispatcher, and its lock file names it.
    assert_eq!(
        overstory_turn::dispatch::dispatcher_pid(&p.layout, &agent),
        Some(runner)
    );

    overstory_core::process::signal_process(runner, overstory_core::process::Sig::Kill).unwrap();

    wait_until(Duration::from_secs(5), "the turn lock to be free", || {
        read_turn_lock(&p.layout, &agent).held_by_pid.is_none()
    });
    assert_eq!(
        overstory_turn::dispatch::dispatcher_pid(&p.layout, &agent),
        None,
        "no dispatcher runs once its lock is free"
    );
    wait_until(
        Duration::from_secs(5),
        "the turn's process group to be gone",
        || live_group_members(shim).is_empty(),
    );

    // The next turn runs: a new script finishes the work.
    p.script(
        "builder-1",
        &serde_json::json!({"steps": [
            {"mail": {"to": "lead-1", "subject": "done", "body": "built", "type": "worker_done"}}
        ]}),
    );
    p.send("builder-1", "again", &[]);
    wait_until(Duration::from_secs(30), "the builder to complete", || {
        p.session("builder-1").state == AgentState::Completed
    });
    assert_eq!(p.mail("lead-1", MessageType::WorkerDone).len(), 1);
    wait_until(Duration::from_secs(10), "both mails read", || {
        p.unread("builder-1") == 0
    });
}

#[test]
fn mail_to_a_tmux_or_persistent_agent_starts_no_dispatcher() {
    let p = Project::new();
    p.agent(
        "coordinator",
        "coordinator",
        None,
        AgentState::Working,
        "scripted",
    );
    let mut s = Session::new("builder-t".parse().unwrap(), "builder".parse().unwrap());
    s.tmux_session = "overstory-x-builder-t".into();
    s.worktree_path = p.path().display().to_string();
    SessionStore::open(&p.layout.sessions_db())
        .unwrap()
        .upsert(&s)
        .unwrap();
    p.send("coordinator", "hi", &[]);
    p.send("builder-t", "hi", &[]);
    // A launched dispatcher creates its log before it starts, so a missing
    // log proves none was launched (not merely that one already finished).
    for agent in ["coordinator", "builder-t"] {
        let log = p.layout.agent_dispatch_log(&AgentName::new(agent).unwrap());
        assert!(!log.exists(), "a dispatcher was launched for {agent}");
    }
    assert_eq!(
        p.unread("builder-t"),
        1,
        "tmux agents read their mail through hooks"
    );
}

#[test]
fn real_claude_sends_worker_done_through_ov_and_completes() {
    let Some(claude) = overstory_testkit::require_claude("real_claude_sends_worker_done") else {
        return;
    };
    let p = Project::new();
    p.agent(
        "builder-c",
        "builder",
        Some("lead-c"),
        AgentState::Booting,
        "claude",
    );
    let mock = MockApi::start();
    let ov = crate::ov_bin().display().to_string();
    mock.push([
        Reply::bash(&format!(
            "{ov} mail send --to lead-c --subject done --body 'task finished' --type worker_done --agent builder-c"
        )),
        Reply::text("I sent my worker_done."),
    ]);
    let home = tempfile::tempdir().unwrap();
    let mut env = mock.claude_env(home.path());
    let path = format!(
        "{}:{}",
        claude.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    env.push(("PATH".into(), path));
    p.send("builder-c", "build it", &env);
    wait_until(
        Duration::from_secs(120),
        "claude's turn to complete the builder",
        || p.session("builder-c").state == AgentState::Completed && !p.dispatching("builder-c"),
    );
    let done = p.mail("lead-c", MessageType::WorkerDone);
    assert_eq!(done.len(), 1, "the parent got worker_done");
    assert_eq!(done[0].from, "builder-c");
    assert!(
        p.mail("lead-c", MessageType::WorkerDied).is_empty(),
        "no worker_died"
    );
    assert!(p.session("builder-c").claude_session_id.is_some());
    let prompt_seen = mock
        .agent_requests()
        .iter()
        .any(|r| r.body.to_string().contains("build it"));
    assert!(prompt_seen, "the mail reached the model as the user turn");
}

impl Project {
    /// Stores unread mail for `to` without waking anyone.
    fn post(&self, to: &str) {
        MailStore::open(self.layout.mail_db())
            .unwrap()
            .insert(&overstory_mail::NewMessage {
                from: "lead-1".into(),
                to: to.into(),
                subject: "work".into(),
                body: "please".into(),
                ..overstory_mail::NewMessage::default()
            })
            .unwrap();
    }

    fn error_events(&self, agent: &str) -> Vec<String> {
        overstory_core::events::EventStore::open(&self.layout.events_db())
            .unwrap()
            .by_agent(agent, &overstory_core::events::EventFilter::default())
            .unwrap()
            .into_iter()
            .filter(|e| e.event_type == "error")
            .map(|e| e.data.unwrap_or_default())
            .collect()
    }

    fn dispatch(&self, agent: &str, path: Option<&Path>) -> crate::support::Run {
        let mut cmd = command(self.path());
        cmd.args(["dispatch", "--agent", agent]);
        if let Some(p) = path {
            cmd.env("PATH", p);
        }
        run(&mut cmd)
    }
}

#[test]
fn a_missing_runtime_binary_settles_the_agent_tells_its_parent_and_fails_the_dispatch() {
    let p = Project::new();
    p.agent(
        "builder-m",
        "builder",
        Some("lead-1"),
        AgentState::Booting,
        "claude",
    );
    p.post("builder-m");
    let bin = path_without_claude();
    let out = p.dispatch("builder-m", Some(bin.path()));
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stderr.contains("Agent \"builder-m\" cannot start"),
        "{out:#?}"
    );
    assert!(
        out.stderr.contains("\"claude\" was not found on PATH")
            && out
                .stderr
                .contains("npm install -g @anthropic-ai/claude-code"),
        "{out:#?}"
    );
    assert_eq!(p.session("builder-m").state, AgentState::Zombie);
    let errors = p.error_events("builder-m");
    assert_eq!(errors.len(), 1, "one failed start, no retries: {errors:?}");
    assert!(errors[0].contains("not found on PATH"), "{errors:?}");
    let died = p.mail("lead-1", MessageType::WorkerDied);
    assert_eq!(died.len(), 1);
    let payload: serde_json::Value =
        serde_json::from_str(died[0].payload.as_deref().unwrap()).unwrap();
    assert_eq!(payload["terminatedBy"], "runner");
    assert!(
        payload["reason"].as_str().unwrap().contains("claude"),
        "{payload}"
    );
    let agent = AgentName::new("builder-m").unwrap();
    assert_eq!(read_turn_lock(&p.layout, &agent).held_by_pid, None);
    assert!(!p.turn_pid("builder-m").exists());
    assert_eq!(p.unread("builder-m"), 1, "undelivered mail stays unread");
}

#[test]
fn a_scripted_agent_without_a_script_says_where_to_write_one_and_settles() {
    let p = Project::new();
    p.agent(
        "builder-n",
        "builder",
        Some("lead-1"),
        AgentState::Booting,
        "scripted",
    );
    p.post("builder-n");
    let out = p.dispatch("builder-n", None);
    assert_eq!(out.code, 1, "{out:#?}");
    let expected = format!(
        "No script for agent \"builder-n\": write one at {}",
        p.layout.scripts_dir().join("builder-n.json").display()
    );
    assert!(out.stderr.contains(&expected), "{out:#?}");
    assert_eq!(p.session("builder-n").state, AgentState::Zombie);
    let errors = p.error_events("builder-n");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("No script for agent"), "{errors:?}");
    assert_eq!(p.mail("lead-1", MessageType::WorkerDied).len(), 1);
}

#[test]
fn killing_the_turn_shim_kills_the_agent_group_frees_the_lock_and_the_turn_is_retried() {
    let p = Project::new();
    p.agent(
        "builder-k",
        "builder",
        Some("lead-1"),
        AgentState::Booting,
        "scripted",
    );
    p.script(
        "builder-k",
        &serde_json::json!({"steps": [{"say": "thinking hard"}, {"run": "sleep 300"}]}),
    );
    p.send("builder-k", "work", &[]);
    let pid_file = p.turn_pid("builder-k");
    wait_until(Duration::from_secs(30), "the turn to start", || {
        pid_file.exists()
    });
    let shim: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_until(Duration::from_secs(10), "the agent's tool to start", || {
        live_group_members(shim).len() >= 3
    });
    let runner = parent_of(shim);
    // The retry plays a script that finishes the work.
    p.script(
        "builder-k",
        &serde_json::json!({"steps": [
            {"mail": {"to": "lead-1", "subject": "done", "body": "built", "type": "worker_done"}}
        ]}),
    );

    overstory_core::process::signal_process(shim, overstory_core::process::Sig::Kill).unwrap();

    wait_until(
        Duration::from_secs(10),
        "the agent's process group to be gone",
        || live_group_members(shim).is_empty(),
    );
    wait_until(Duration::from_secs(10), "the shim to be reaped", || {
        !Path::new(&format!("/proc/{shim}")).exists()
    });
    assert!(
        overstory_core::process::is_alive(runner),
        "the runner outlives its shim"
    );
    wait_until(
        Duration::from_secs(30),
        "the retried turn to complete",
        || p.session("builder-k").state == AgentState::Completed,
    );
    let errors = p.error_events("builder-k");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("process group was terminated")),
        "{errors:?}"
    );
    assert_eq!(p.mail("lead-1", MessageType::WorkerDone).len(), 1);
    wait_until(Duration::from_secs(10), "the dispatcher to exit", || {
        !p.dispatching("builder-k")
    });
    let agent = AgentName::new("builder-k").unwrap();
    assert_eq!(read_turn_lock(&p.layout, &agent).held_by_pid, None);
    // The scripted turn counters live in the project, not in /tmp.
    let state = p.layout.agent_dir(&agent).join("scripted-state");
    assert!(
        std::fs::read_dir(&state).unwrap().count() >= 1,
        "turn counters in {}",
        state.display()
    );
}

/// A lead that reads its builder's `worker_done` while the builder's turn is
/// still running sees a live child and waits; when the builder's turn then
/// completes it, the lead gets a turn of its own (no mail follows, so
/// without this nothing would ever wake it and the watchdog would call it
/// dead). Found by the 100-agent soak.
#[test]
fn a_lead_waiting_on_a_builder_is_woken_when_the_builder_completes() {
    let p = Project::new();
    p.agent("lead-w", "lead", None, AgentState::Working, "scripted");
    p.agent(
        "builder-w",
        "builder",
        Some("lead-w"),
        AgentState::Working,
        "scripted",
    );
    // The builder reports, then keeps its turn open a while: the lead's turn
    // runs in that window and must see a live child.
    p.script(
        "builder-w",
        &serde_json::json!({"steps": [
            {"mail": {"to": "lead-w", "subject": "built", "body": "done", "type": "worker_done"}},
            {"sleep_ms": 1500}
        ]}),
    );
    p.script(
        "lead-w",
        &serde_json::json!({"turns": [
            {"steps": [{"say": "builder reported; waiting for it to finish"}]},
            {"steps": [{"mail": {"to": "coordinator", "subject": "all done", "body": "merged", "type": "worker_done"}}]}
        ]}),
    );
    p.send("builder-w", "build it", &[]);
    wait_until(Duration::from_secs(60), "the builder to complete", || {
        p.session("builder-w").state == AgentState::Completed
    });
    wait_until(
        Duration::from_secs(60),
        "the waiting lead to be woken and finish",
        || p.session("lead-w").state == AgentState::Completed && !p.dispatching("lead-w"),
    );
    let done = p.mail("coordinator", MessageType::WorkerDone);
    assert_eq!(done.len(), 1, "the lead's second turn ran once");
    assert_eq!(done[0].from, "lead-w");
}

#[test]
fn a_waiting_lead_is_woken_by_the_worker_died_of_a_builder_that_cannot_start() {
    let p = Project::new();
    p.agent("lead-u", "lead", None, AgentState::Working, "scripted");
    p.script(
        "lead-u",
        &serde_json::json!({"steps": [{"say": "my builder is gone; done"}]}),
    );
    // The builder has no script, so it cannot start.
    p.agent(
        "builder-u",
        "builder",
        Some("lead-u"),
        AgentState::Booting,
        "scripted",
    );
    p.post("builder-u");
    assert_eq!(p.dispatch("builder-u", None).code, 1);
    assert_eq!(p.mail("lead-u", MessageType::WorkerDied).len(), 1);
    wait_until(
        Duration::from_secs(60),
        "the lead to read the worker_died and finish",
        || {
            p.unread("lead-u") == 0
                && p.session("lead-u").state == AgentState::Completed
                && !p.dispatching("lead-u")
        },
    );
}
