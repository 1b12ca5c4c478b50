//! The agent host of a persistent agent: one long-lived process whose stdin
//! stays open, fed its mail by `ov mail send` alone (issue 6).
//!
//! Everything is real: `ov agent-host` as a detached process, the shim, the
//! scripted agent (or the real `claude` against the mock Messages API) as
//! its child, SQLite files and a git repository.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use overstory_core::events::{EventFilter, EventStore};
use overstory_core::process::{self, Sig};
use overstory_core::{AgentName, Layout};
use overstory_mail::MailStore;
use overstory_sessions::{AgentState, Session, SessionStore};
use overstory_testkit::mock_api::{MockApi, Reply};
use overstory_testkit::{TempRepo, holds_within, wait_until};
use overstory_turn::factory::RuntimeChoice;

use crate::support::{command, initialized_repo, live_group_members, run};

pub(crate) struct Project {
    pub repo: TempRepo,
    pub layout: Layout,
}

impl Project {
    pub fn new() -> Self {
        let repo = initialized_repo();
        let layout = Layout::new(repo.path());
        Self { repo, layout }
    }

    pub fn path(&self) -> &Path {
        self.repo.path()
    }

    fn agent_name(&self, name: &str) -> AgentName {
        AgentName::new(name).unwrap()
    }

    /// Registers a headless persistent session at the project root.
    fn persistent(&self, name: &str, capability: &str, runtime: &str) {
        let mut s = Session::new(name.parse().unwrap(), capability.parse().unwrap());
        s.worktree_path = self.path().display().to_string();
        s.branch_name = "main".into();
        SessionStore::open(&self.layout.sessions_db())
            .unwrap()
            .upsert(&s)
            .unwrap();
        RuntimeChoice {
            runtime: runtime.into(),
            script: None,
        }
        .save(&self.layout, &self.agent_name(name))
        .unwrap();
    }

    fn script(&self, agent: &str, json: &serde_json::Value) {
        let dir = self.layout.scripts_dir();
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

    fn unread(&self, agent: &str) -> usize {
        MailStore::open(self.layout.mail_db())
            .unwrap()
            .unread_count(agent)
            .unwrap()
    }

    /// Starts `ov agent-host` for `agent` (with extra environment).
    fn host(&self, agent: &str, env: &[(String, String)]) -> Child {
        let mut cmd = command(self.path());
        cmd.args(["agent-host", "--agent", agent])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.spawn().unwrap()
    }

    /// Waits until the host has started its agent; returns the agent's pid.
    fn agent_pid(&self, agent: &str) -> i32 {
        wait_until(
            Duration::from_secs(30),
            "the host to start its agent",
            || {
                self.session(agent).pid.is_some()
                    && overstory_turn::host::live_host(&self.layout, &self.agent_name(agent))
                        .is_some()
            },
        );
        i32::try_from(self.session(agent).pid.unwrap()).unwrap()
    }

    fn send(&self, to: &str, subject: &str, body: &str) {
        run(command(self.path()).args([
            "mail",
            "send",
            "--to",
            to,
            "--subject",
            subject,
            "--body",
            body,
            "--from",
            "operator",
        ]))
        .ok();
    }

    /// The agent's `result` events in events.db.
    fn results(&self, agent: &str) -> usize {
        self.events(agent, "result")
    }

    fn events(&self, agent: &str, kind: &str) -> usize {
        let Ok(Some(store)) = EventStore::open_if_exists(&self.layout.events_db()) else {
            return 0;
        };
        store
            .by_agent(agent, &EventFilter::default())
            .unwrap()
            .iter()
            .filter(|e| e.event_type == kind)
            .count()
    }

    /// The host's `turn_delivered` events.
    fn delivered_turns(&self, agent: &str) -> usize {
        let Ok(Some(store)) = EventStore::open_if_exists(&self.layout.events_db()) else {
            return 0;
        };
        store
            .by_agent(agent, &EventFilter::default())
            .unwrap()
            .iter()
            .filter(|e| e.custom_type().as_deref() == Some("turn_delivered"))
            .count()
    }

    /// The raw stdout log of the agent's (latest) process.
    fn stdout_log(&self, agent: &str) -> String {
        let dir = self.layout.agent_logs_dir(&self.agent_name(agent));
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default();
        dirs.sort();
        dirs.last()
            .and_then(|d| std::fs::read_to_string(d.join("stdout.log")).ok())
            .unwrap_or_default()
    }

    /// The user-turn texts the scripted agent echoed, in order.
    fn echoed(&self, agent: &str) -> Vec<String> {
        self.stdout_log(agent)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["type"] == "assistant")
            .filter_map(|v| {
                v.pointer("/message/content/0/text")
                    .and_then(|t| t.as_str())
                    .map(str::to_owned)
            })
            .filter(|t| t.contains("[MAIL]"))
            .collect()
    }

    fn host_files_exist(&self, agent: &str) -> (bool, bool) {
        let a = self.agent_name(agent);
        (
            self.layout.agent_host_socket(&a).exists(),
            self.layout.agent_host_pid(&a).exists(),
        )
    }
}

/// Stops a host with SIGTERM and waits for it to exit 0.
fn stop(host: &mut Child) {
    process::signal_process(host.id() as i32, Sig::Term).unwrap();
    let mut exit = None;
    assert!(
        holds_within(Duration::from_secs(20), || {
            exit = host.try_wait().unwrap();
            exit.is_some()
        }),
        "the host did not stop"
    );
    let status = exit.unwrap();
    let mut err = String::new();
    if let Some(mut e) = host.stderr.take() {
        use std::io::Read as _;
        let _ = e.read_to_string(&mut err);
    }
    assert!(status.success(), "host exited with {status}: {err}");
}

/// Kills a host that a failed assertion left running.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn echo_script() -> serde_json::Value {
    serde_json::json!({"steps": [{"echo_input": true}]})
}

#[test]
fn two_mails_become_two_turns_of_one_long_lived_process() {
    let p = Project::new();
    p.persistent("coordinator", "coordinator", "scripted");
    p.script("coordinator", &echo_script());
    let mut host = Reaper(p.host("coordinator", &[]));
    let pid = p.agent_pid("coordinator");

    p.send("coordinator", "first task", "do one thing");
    wait_until(Duration::from_secs(30), "the first turn", || {
        p.results("coordinator") == 1
    });
    assert_eq!(p.unread("coordinator"), 0, "delivered mail is marked read");
    p.send("coordinator", "second task", "do another thing");
    wait_until(Duration::from_secs(30), "the second turn", || {
        p.results("coordinator") == 2
    });

    let echoed = p.echoed("coordinator");
    assert_eq!(echoed.len(), 2, "one turn per mail: {echoed:?}");
    assert!(echoed[0].contains("Subject: first task") && echoed[0].contains("do one thing"));
    assert!(echoed[1].contains("Subject: second task") && !echoed[1].contains("first task"));
    let row = p.session("coordinator");
    assert_eq!(
        row.pid,
        Some(i64::from(pid)),
        "the same process ran both turns"
    );
    assert!(
        process::is_alive(pid),
        "the agent stays alive between turns"
    );
    assert_eq!(row.state, AgentState::Working);
    assert!(
        row.claude_session_id.is_some(),
        "the session id was captured"
    );
    assert_eq!(p.delivered_turns("coordinator"), 2);
    stop(&mut host.0);
}

#[test]
fn mail_sent_during_a_turn_is_delivered_after_it_as_one_batch() {
    let p = Project::new();
    p.persistent("coordinator", "coordinator", "scripted");
    let gate = p.path().join("release-turn-1");
    p.script(
        "coordinator",
        &serde_json::json!({"turns": [
            {"steps": [
                {"say": "busy"},
                {"run": format!("while [ ! -e {} ]; do sleep 0.05; done", gate.display())},
                {"echo_input": true}
            ]},
            {"steps": [{"echo_input": true}]}
        ]}),
    );
    let _host = Reaper(p.host("coordinator", &[]));
    p.agent_pid("coordinator");

    p.send("coordinator", "one", "first");
    wait_until(
        Duration::from_secs(30),
        "the first turn to be under way",
        || p.stdout_log("coordinator").contains("busy"),
    );
    p.send("coordinator", "two", "second");
    p.send("coordinator", "three", "third");
    assert_eq!(p.unread("coordinator"), 2, "nothing is written mid-turn");
    std::fs::write(&gate, "").unwrap();

    wait_until(Duration::from_secs(30), "the second turn", || {
        p.results("coordinator") == 2
    });
    wait_until(
        Duration::from_secs(10),
        "the batch to be marked read",
        || p.unread("coordinator") == 0,
    );
    let echoed = p.echoed("coordinator");
    assert_eq!(echoed.len(), 2, "{echoed:?}");
    assert!(echoed[0].contains("Subject: one") && !echoed[0].contains("Subject: two"));
    assert!(
        echoed[1].contains("Subject: two") && echoed[1].contains("Subject: three"),
        "both mails ride in one turn: {}",
        echoed[1]
    );
}

#[test]
fn killing_the_host_takes_its_agent_down_and_a_new_host_starts() {
    let p = Project::new();
    p.persistent("coordinator", "coordinator", "scripted");
    p.script(
        "coordinator",
        &serde_json::json!({"steps": [{"say": "working"}, {"run": "sleep 300"}]}),
    );
    let mut first = Reaper(p.host("coordinator", &[]));
    let pid = p.agent_pid("coordinator");
    p.send("coordinator", "long job", "run it");
    wait_until(Duration::from_secs(30), "the agent's tool to start", || {
        live_group_members(pid).len() >= 3
    });

    first.0.kill().unwrap();
    first.0.wait().unwrap();
    wait_until(
        Duration::from_secs(10),
        "the agent's process group to be gone",
        || live_group_members(pid).is_empty(),
    );
    assert_eq!(
        p.host_files_exist("coordinator"),
        (true, true),
        "a killed host leaves its files behind"
    );

    p.script("coordinator", &echo_script());
    let mut second = Reaper(p.host("coordinator", &[]));
    wait_until(
        Duration::from_secs(30),
        "the new host to start a new agent",
        || {
            p.session("coordinator")
                .pid
                .is_some_and(|n| n != i64::from(pid))
        },
    );
    p.send("coordinator", "after restart", "hello again");
    wait_until(Duration::from_secs(30), "a turn in the new process", || {
        p.echoed("coordinator")
            .iter()
            .any(|t| t.contains("after restart"))
    });
    stop(&mut second.0);
}

#[test]
fn stopping_the_host_completes_the_agent_and_removes_its_files() {
    let p = Project::new();
    p.persistent("coordinator", "coordinator", "scripted");
    p.script("coordinator", &echo_script());
    let mut host = Reaper(p.host("coordinator", &[]));
    let pid = p.agent_pid("coordinator");
    assert_eq!(p.host_files_exist("coordinator"), (true, true));
    p.send("coordinator", "hello", "there");
    wait_until(Duration::from_secs(30), "the turn", || {
        p.results("coordinator") == 1
    });

    stop(&mut host.0);
    assert_eq!(p.session("coordinator").state, AgentState::Completed);
    assert_eq!(p.host_files_exist("coordinator"), (false, false));
    assert!(live_group_members(pid).is_empty(), "the agent is gone");
    let agent = AgentName::new("coordinator").unwrap();
    assert!(overstory_turn::host::live_host(&p.layout, &agent).is_none());
    // A stopped agent gets no new host.
    let again = run(command(p.path()).args(["agent-host", "--agent", "coordinator"]));
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.stderr.contains("completed"), "{again:?}");
}

#[test]
fn killing_the_agents_shim_takes_the_agent_down_and_ends_the_host() {
    let p = Project::new();
    p.persistent("coordinator", "coordinator", "scripted");
    p.script(
        "coordinator",
        &serde_json::json!({"steps": [{"say": "working"}, {"run": "sleep 300"}]}),
    );
    let mut host = Reaper(p.host("coordinator", &[]));
    // The recorded pid is the shim's: it leads the agent's group.
    let shim = p.agent_pid("coordinator");
    p.send("coordinator", "long job", "run it");
    wait_until(Duration::from_secs(30), "the agent's tool to start", || {
        live_group_members(shim).len() >= 3
    });

    overstory_core::process::signal_process(shim, overstory_core::process::Sig::Kill).unwrap();

    assert!(
        holds_within(Duration::from_secs(30), || host
            .0
            .try_wait()
            .unwrap()
            .is_some()),
        "the host did not notice its shim was gone"
    );
    wait_until(
        Duration::from_secs(5),
        "the agent's process group to be gone",
        || live_group_members(shim).is_empty(),
    );
    assert_eq!(p.session("coordinator").state, AgentState::Zombie);
    assert_eq!(p.events("coordinator", "error"), 1);
    assert_eq!(p.host_files_exist("coordinator"), (false, false));
}

#[test]
fn an_agent_process_that_dies_leaves_a_zombie_and_an_error_event() {
    let p = Project::new();
    p.persistent("coordinator", "coordinator", "scripted");
    p.script(
        "coordinator",
        &serde_json::json!({"steps": [{"say": "bye"}, {"exit": 3}]}),
    );
    let mut host = Reaper(p.host("coordinator", &[]));
    p.agent_pid("coordinator");
    p.send("coordinator", "go", "now");
    assert!(
        holds_within(Duration::from_secs(30), || host
            .0
            .try_wait()
            .unwrap()
            .is_some()),
        "the host did not end"
    );
    assert_eq!(p.session("coordinator").state, AgentState::Zombie);
    assert_eq!(p.events("coordinator", "error"), 1);
    assert_eq!(p.host_files_exist("coordinator"), (false, false));
}

#[test]
fn a_second_host_for_the_same_agent_is_refused() {
    let p = Project::new();
    p.persistent("coordinator", "coordinator", "scripted");
    p.script("coordinator", &echo_script());
    let mut host = Reaper(p.host("coordinator", &[]));
    let pid = p.agent_pid("coordinator");
    let again = run(command(p.path()).args(["agent-host", "--agent", "coordinator"]));
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.stderr.contains("already running"), "{again:?}");
    assert_eq!(p.session("coordinator").pid, Some(i64::from(pid)));
    stop(&mut host.0);
}

#[test]
fn real_claude_gets_two_mails_as_two_turns_in_one_process() {
    let Some(claude) = overstory_testkit::require_claude("real_claude_two_mails_two_turns") else {
        return;
    };
    let p = Project::new();
    p.persistent("coordinator", "coordinator", "claude");
    let mock = MockApi::start();
    mock.push([
        Reply::text("First mail handled."),
        Reply::text("Second mail handled."),
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
    let mut host = Reaper(p.host("coordinator", &env));
    let pid = p.agent_pid("coordinator");

    p.send("coordinator", "alpha", "first request");
    wait_until(Duration::from_secs(120), "claude's first turn", || {
        p.results("coordinator") == 1
    });
    p.send("coordinator", "beta", "second request");
    wait_until(Duration::from_secs(120), "claude's second turn", || {
        p.results("coordinator") == 2
    });

    assert_eq!(p.session("coordinator").pid, Some(i64::from(pid)));
    assert!(process::is_alive(pid), "claude stays alive between turns");
    let requests = mock.agent_requests();
    assert!(requests.len() >= 2, "two model calls: {}", requests.len());
    let last = requests.last().unwrap().body.to_string();
    assert!(
        last.contains("alpha") && last.contains("beta"),
        "the second call carries both turns of one conversation"
    );
    let log = p.stdout_log("coordinator");
    let session_ids: std::collections::BTreeSet<String> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["session_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(session_ids.len(), 1, "one session: {session_ids:?}");
    stop(&mut host.0);
    assert_eq!(p.session("coordinator").state, AgentState::Completed);
    assert!(live_group_members(pid).is_empty());
}

#[test]
fn a_host_whose_project_vanished_ends_and_takes_its_agent_along() {
    let p = Project::new();
    p.persistent("coordinator", "coordinator", "scripted");
    p.script("coordinator", &echo_script());
    let mut host = Reaper(p.host("coordinator", &[]));
    let pid = p.agent_pid("coordinator");
    std::fs::remove_file(p.layout.config()).unwrap();
    assert!(
        holds_within(Duration::from_secs(15), || host
            .0
            .try_wait()
            .unwrap()
            .is_some()),
        "the host kept running"
    );
    assert!(live_group_members(pid).is_empty(), "the agent is gone");
}
