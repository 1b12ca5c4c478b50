//! Dispatch in the library: which agents take turns by themselves, how
//! options are built for them, and how the dispatcher turns pending mail and
//! queued nudges into turns (the counterparts of the original's mail-loop
//! tests; there is no polling interval to test).
//!
//! The dispatcher, stores and databases are real; the turn child is a fake
//! so each turn's outcome is chosen by the test.

use std::sync::Arc;
use std::time::Duration;

use overstory_core::config::Config;
use overstory_core::{AgentName, Layout};
use overstory_mail::{MailStore, MessageType, NewMessage};
use overstory_runtime::experimental::{SaplingRuntime, ShapeRuntime};
use overstory_runtime::{AgentRuntime, ClaudeRuntime};
use overstory_sessions::{AgentState, Session, SessionStore};
use overstory_turn::dispatch::{DispatcherOptions, is_spawn_per_turn, run_dispatcher};
use overstory_turn::factory::{RuntimeChoice, TurnFactory};
use overstory_turn::queue::enqueue_turn;

use crate::fake_child::{Fake, FakeSpawner};

struct Project {
    _dir: tempfile::TempDir,
    layout: Layout,
}

impl Project {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.dir()).unwrap();
        std::fs::write(layout.config(), "project:\n  name: dispatch-test\n").unwrap();
        Self { _dir: dir, layout }
    }

    fn session(&self, name: &str, capability: &str, state: AgentState) -> Session {
        let mut s = Session::new(name.parse().unwrap(), capability.parse().unwrap());
        s.worktree_path = "/tmp/wt-build".into();
        s.task_id = Some("task-1".parse().unwrap());
        s.run_id = Some("run-abc".into());
        s.state = state;
        SessionStore::open(&self.layout.sessions_db())
            .unwrap()
            .upsert(&s)
            .unwrap();
        RuntimeChoice {
            runtime: "claude".into(),
            script: None,
        }
        .save(&self.layout, &AgentName::new(name).unwrap())
        .unwrap();
        s
    }

    fn factory(&self, spawner: Arc<FakeSpawner>) -> TurnFactory {
        let mut f = TurnFactory::new(
            self.layout.clone(),
            Config::defaults_for(self.layout.root()),
            None,
        );
        f.spawner = spawner;
        f
    }

    fn mail(&self, to: &str, subject: &str) {
        MailStore::open(self.layout.mail_db())
            .unwrap()
            .insert(&NewMessage {
                from: "lead".into(),
                to: to.into(),
                subject: subject.into(),
                body: format!("body of {subject}"),
                kind: MessageType::Dispatch,
                ..NewMessage::default()
            })
            .unwrap();
    }

    fn unread(&self, agent: &str) -> usize {
        MailStore::open(self.layout.mail_db())
            .unwrap()
            .unread_count(agent)
            .unwrap()
    }

    fn state(&self, agent: &str) -> AgentState {
        SessionStore::open(&self.layout.sessions_db())
            .unwrap()
            .get(agent)
            .unwrap()
            .unwrap()
            .state
    }
}

/// A spawner whose every child runs one turn and exits with `code`; each
/// child's stdin is kept for inspection.
fn turns_exiting(code: i32, fakes: Arc<std::sync::Mutex<Vec<Fake>>>) -> Arc<FakeSpawner> {
    FakeSpawner::new(move |_| {
        let fake = Fake::new();
        fakes.lock().unwrap().push(fake.clone_light());
        let f = fake.clone_light();
        tokio::spawn(async move {
            f.turn("sid-d", code != 0).await;
            f.exit_with(Some(code)).await;
        });
        Ok(fake)
    })
}

fn quick() -> DispatcherOptions {
    DispatcherOptions {
        max_attempts: 2,
        backoff: Duration::from_millis(1),
        ..DispatcherOptions::default()
    }
}

// ---------- 38–45: options and eligibility ----------

#[test]
fn turn_options_carry_the_sessions_facts_and_the_payload() {
    let p = Project::new();
    let s = p.session("build-agent-1", "builder", AgentState::Working);
    let f = p.factory(FakeSpawner::new(|_| panic!("no spawn")));
    let o = f.turn_options(&s, "payload\n".into()).unwrap();
    assert_eq!(o.agent.as_str(), "build-agent-1");
    assert_eq!(o.capability, "builder");
    assert_eq!(o.worktree, std::path::Path::new("/tmp/wt-build"));
    assert_eq!(o.task_id, "task-1");
    assert_eq!(o.run_id.as_deref(), Some("run-abc"));
    assert_eq!(o.layout.root(), p.layout.root());
    assert_eq!(o.paths.mail_db, p.layout.mail_db());
    assert_eq!(o.paths.events_db, p.layout.events_db());
    assert_eq!(o.paths.sessions_db, p.layout.sessions_db());
    assert_eq!(o.user_turn, "payload\n");
    assert_eq!(o.runtime.id(), "claude");
}

#[test]
fn merger_options_keep_the_merger_capability() {
    let p = Project::new();
    let s = p.session("merger-1", "merger", AgentState::Working);
    let f = p.factory(FakeSpawner::new(|_| panic!("no spawn")));
    assert_eq!(f.turn_options(&s, "x".into()).unwrap().capability, "merger");
}

#[test]
fn task_scoped_headless_agents_are_eligible() {
    let claude = ClaudeRuntime::new();
    for cap in ["builder", "scout", "reviewer", "merger", "lead"] {
        let mut s = Session::new("a".parse().unwrap(), cap.parse().unwrap());
        s.state = AgentState::Working;
        assert!(is_spawn_per_turn(&s, &claude), "{cap}");
    }
}

#[test]
fn persistent_agents_are_not_eligible() {
    let claude = ClaudeRuntime::new();
    for cap in ["coordinator", "orchestrator", "monitor", "supervisor"] {
        let s = Session::new("a".parse().unwrap(), cap.parse().unwrap());
        assert!(!is_spawn_per_turn(&s, &claude), "{cap}");
    }
}

#[test]
fn finished_agents_are_not_eligible() {
    let claude = ClaudeRuntime::new();
    for state in [AgentState::Completed, AgentState::Zombie] {
        let mut s = Session::new("a".parse().unwrap(), "builder".parse().unwrap());
        s.state = state;
        assert!(!is_spawn_per_turn(&s, &claude), "{state}");
    }
}

#[test]
fn tmux_agents_are_never_given_a_second_process() {
    let mut s = Session::new("a".parse().unwrap(), "builder".parse().unwrap());
    s.tmux_session = "overstory-p-a".into();
    assert!(!is_spawn_per_turn(&s, &ClaudeRuntime::new()));
}

#[test]
fn runtimes_without_direct_spawn_or_parser_are_not_eligible() {
    let s = Session::new("a".parse().unwrap(), "builder".parse().unwrap());
    let copilot: Box<dyn AgentRuntime> = Box::new(ShapeRuntime::by_id("copilot", None).unwrap());
    assert!(!is_spawn_per_turn(&s, copilot.as_ref()), "no direct spawn");
    assert!(!is_spawn_per_turn(&s, &SaplingRuntime), "no event parser");
}

// ---------- 51–57: delivering pending work ----------

#[tokio::test]
async fn all_unread_mail_goes_into_one_turn_and_is_marked_read() {
    let p = Project::new();
    p.session("b1", "builder", AgentState::Working);
    p.mail("b1", "Task A");
    p.mail("b1", "Task B");
    let fakes = Arc::default();
    let spawner = turns_exiting(0, Arc::clone(&fakes));
    let report = run_dispatcher(
        &p.factory(spawner.clone()),
        &AgentName::new("b1").unwrap(),
        &quick(),
    )
    .await
    .unwrap();
    assert_eq!(report.turns, 1);
    assert_eq!(report.delivered.len(), 2);
    assert_eq!(spawner.specs.lock().unwrap().len(), 1);
    let stdin = fakes.lock().unwrap()[0].writes().join("");
    assert!(
        stdin.contains("Task A") && stdin.contains("Task B"),
        "{stdin}"
    );
    assert!(stdin.contains("[MAIL] From: lead"), "{stdin}");
    assert_eq!(p.unread("b1"), 0);
}

/// A lead whose last builder has finished reads that builder's report in
/// one dispatched turn and ends there: the report it is reading is not
/// "unread mail outstanding", so the lead completes instead of waiting for
/// a turn nothing would start.
#[tokio::test]
async fn a_lead_reading_its_last_report_completes() {
    let p = Project::new();
    let mut lead = p.session("lead-r", "lead", AgentState::Working);
    lead.parent_agent = Some("coordinator".parse().unwrap());
    SessionStore::open(&p.layout.sessions_db())
        .unwrap()
        .upsert(&lead)
        .unwrap();
    let mut builder = p.session("builder-r", "builder", AgentState::Completed);
    builder.parent_agent = Some("lead-r".parse().unwrap());
    SessionStore::open(&p.layout.sessions_db())
        .unwrap()
        .upsert(&builder)
        .unwrap();
    MailStore::open(p.layout.mail_db())
        .unwrap()
        .insert(&NewMessage {
            from: "builder-r".into(),
            to: "lead-r".into(),
            subject: "done".into(),
            body: "ok".into(),
            kind: MessageType::WorkerDone,
            ..NewMessage::default()
        })
        .unwrap();
    let report = run_dispatcher(
        &p.factory(turns_exiting(0, Arc::default())),
        &AgentName::new("lead-r").unwrap(),
        &quick(),
    )
    .await
    .unwrap();
    assert_eq!(report.turns, 1);
    assert_eq!(report.delivered.len(), 1);
    assert_eq!(p.unread("lead-r"), 0);
    assert_eq!(p.state("lead-r"), AgentState::Completed);
}

#[tokio::test]
async fn a_failed_turn_leaves_mail_unread_and_gives_up_after_the_limit() {
    let p = Project::new();
    p.session("b2", "builder", AgentState::Working);
    p.mail("b2", "retry me");
    let spawner = turns_exiting(1, Arc::default());
    let report = run_dispatcher(
        &p.factory(spawner.clone()),
        &AgentName::new("b2").unwrap(),
        &quick(),
    )
    .await
    .unwrap();
    assert_eq!(report.failures, 2);
    assert!(report.stopped.as_deref().unwrap().contains("gave up"));
    assert_eq!(
        p.unread("b2"),
        1,
        "at-least-once: the mail waits for a good turn"
    );
}

#[tokio::test]
async fn a_spawn_error_leaves_mail_unread() {
    let p = Project::new();
    p.session("b3", "builder", AgentState::Working);
    p.mail("b3", "x");
    let spawner = FakeSpawner::new(|_| Err(std::io::Error::other("claude binary missing")));
    let report = run_dispatcher(
        &p.factory(spawner),
        &AgentName::new("b3").unwrap(),
        &quick(),
    )
    .await
    .unwrap();
    assert_eq!(report.failures, 2);
    assert!(report.delivered.is_empty());
    assert_eq!(p.unread("b3"), 1);
}

#[tokio::test]
async fn nothing_pending_runs_no_turn() {
    let p = Project::new();
    p.session("b4", "builder", AgentState::Working);
    let spawner = FakeSpawner::new(|_| panic!("must not spawn"));
    let report = run_dispatcher(
        &p.factory(spawner),
        &AgentName::new("b4").unwrap(),
        &quick(),
    )
    .await
    .unwrap();
    assert_eq!(report.turns, 0);
}

#[tokio::test]
async fn a_finished_agent_gets_no_more_turns() {
    let p = Project::new();
    p.session("b5", "builder", AgentState::Completed);
    p.mail("b5", "too late");
    let spawner = FakeSpawner::new(|_| panic!("must not spawn"));
    let report = run_dispatcher(
        &p.factory(spawner),
        &AgentName::new("b5").unwrap(),
        &quick(),
    )
    .await
    .unwrap();
    assert_eq!(report.turns, 0);
    assert!(report.stopped.as_deref().unwrap().contains("completed"));
    assert_eq!(p.unread("b5"), 1);
}

#[tokio::test]
async fn agent_completing_mid_stream_stops_the_dispatcher_with_later_mail_unread() {
    let p = Project::new();
    p.session("b6", "builder", AgentState::Working);
    p.mail("b6", "first");
    let layout = p.layout.clone();
    // The turn sends worker_done (so the agent completes) and, meanwhile,
    // a second mail arrives.
    let spawner = FakeSpawner::new(move |_| {
        let fake = Fake::new();
        let f = fake.clone_light();
        let layout = layout.clone();
        tokio::spawn(async move {
            f.line(r#"{"type":"system","subtype":"init","session_id":"s6"}"#)
                .await;
            let store = MailStore::open(layout.mail_db()).unwrap();
            for (from, to, kind) in [
                ("b6", "lead", MessageType::WorkerDone),
                ("lead", "b6", MessageType::Status),
            ] {
                store
                    .insert(&NewMessage {
                        from: from.into(),
                        to: to.into(),
                        subject: "s".into(),
                        body: "b".into(),
                        kind,
                        ..NewMessage::default()
                    })
                    .unwrap();
            }
            f.line(r#"{"type":"result","subtype":"success","session_id":"s6","is_error":false}"#)
                .await;
            f.exit_with(Some(0)).await;
        });
        Ok(fake)
    });
    let report = run_dispatcher(
        &p.factory(spawner.clone()),
        &AgentName::new("b6").unwrap(),
        &quick(),
    )
    .await
    .unwrap();
    assert_eq!(p.state("b6"), AgentState::Completed);
    assert_eq!(report.turns, 1, "no turn for a completed agent");
    assert_eq!(p.unread("b6"), 1, "the late mail stays unread");
}

#[tokio::test]
async fn queued_nudges_ride_in_the_same_turn_before_the_mail() {
    let p = Project::new();
    p.session("b7", "builder", AgentState::Working);
    let agent = AgentName::new("b7").unwrap();
    let queued = enqueue_turn(&p.layout, &agent, "NUDGE: check your inbox").unwrap();
    p.mail("b7", "Task C");
    let fakes = Arc::default();
    let spawner = turns_exiting(0, Arc::clone(&fakes));
    let report = run_dispatcher(&p.factory(spawner), &agent, &quick())
        .await
        .unwrap();
    assert_eq!(
        (report.turns, report.nudges, report.delivered.len()),
        (1, 1, 1)
    );
    let stdin = fakes.lock().unwrap()[0].writes().join("");
    let (n, m) = (stdin.find("NUDGE").unwrap(), stdin.find("Task C").unwrap());
    assert!(n < m, "nudge first: {stdin}");
    assert!(!queued.exists(), "a delivered nudge is removed");
}

#[tokio::test]
async fn a_dispatcher_whose_project_vanished_stops_without_recreating_it() {
    let p = Project::new();
    p.session("b9", "builder", AgentState::Working);
    p.mail("b9", "x");
    std::fs::remove_file(p.layout.config()).unwrap();
    let spawner = FakeSpawner::new(|_| panic!("must not spawn"));
    let agent = AgentName::new("b9").unwrap();
    let report = run_dispatcher(&p.factory(spawner), &agent, &quick())
        .await
        .unwrap();
    assert_eq!(report.stopped.as_deref(), Some("the project is gone"));
    assert!(!p.layout.agent_dispatch_lock(&agent).exists());
}

#[tokio::test]
async fn a_second_dispatcher_for_the_same_agent_does_nothing() {
    let p = Project::new();
    p.session("b8", "builder", AgentState::Working);
    p.mail("b8", "x");
    let agent = AgentName::new("b8").unwrap();
    // Hold the dispatch lock as a running dispatcher would.
    let path = p.layout.agent_dispatch_lock(&agent);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let held = std::fs::File::create(&path).unwrap();
    held.lock().unwrap();
    let spawner = FakeSpawner::new(|_| panic!("must not spawn"));
    let report = run_dispatcher(&p.factory(spawner), &agent, &quick())
        .await
        .unwrap();
    assert!(report.already_running);
    assert_eq!(p.unread("b8"), 1);
}

#[test]
fn a_wake_that_cannot_start_a_dispatcher_says_so() {
    use overstory_turn::dispatch::WakeOutcome;
    use overstory_turn::wake::{headless_recipients, wake_recipients};
    let p = Project::new();
    p.session("b10", "builder", AgentState::Working);
    p.session("c1", "coordinator", AgentState::Working);
    let recipients = vec!["b10".to_owned(), "c1".to_owned(), "nobody".to_owned()];
    let headless = headless_recipients(&p.layout, &recipients);
    assert_eq!(
        headless,
        ["b10", "c1"],
        "headless sessions, task-scoped or persistent"
    );
    let config = Config::defaults_for(p.layout.root());
    let woken = wake_recipients(
        &p.layout,
        &config,
        std::path::Path::new("/nonexistent/ov"),
        &headless,
    );
    assert_eq!(woken.len(), 2);
    match &woken[0].outcome {
        WakeOutcome::Failed { reason } => {
            assert!(
                reason.contains("Failed to start the dispatcher"),
                "{reason}"
            );
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    match &woken[1].outcome {
        WakeOutcome::NotEligible { reason } => {
            assert!(reason.contains("no live agent host"), "{reason}");
        }
        other => panic!("a persistent agent without a host is not eligible, got {other:?}"),
    }
}

#[test]
fn send_and_wake_stores_the_mail_even_when_no_dispatcher_can_start() {
    use overstory_mail::{Address, MailClient, SendRequest};
    use overstory_turn::dispatch::WakeOutcome;
    use overstory_turn::wake::{Waker, send_and_wake};
    let p = Project::new();
    p.session("b11", "builder", AgentState::Working);
    let waker = Waker::without_ov(p.layout.clone(), "no ov here");
    let req = SendRequest::new(
        AgentName::new("lead-1").unwrap(),
        Address::parse("b11").unwrap(),
        "s",
        "b",
    );
    let posted = send_and_wake(&mut MailClient::open(&p.layout).unwrap(), &req, &waker).unwrap();
    assert_eq!(posted.delivery.sent.len(), 1);
    assert_eq!(p.unread("b11"), 1, "the mail is stored");
    assert_eq!(posted.wakeups.len(), 1);
    match &posted.wakeups[0].outcome {
        WakeOutcome::Failed { reason } => assert_eq!(reason, "no ov here"),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn a_row_another_program_wrote_does_not_stop_mail_or_sweeps() {
    use overstory_mail::{Address, MailClient, SendRequest};
    use overstory_turn::wake::{Waker, send_and_wake};
    let p = Project::new();
    p.session("b12", "builder", AgentState::Working);
    // A row our types reject (an unknown capability), as another tool may write.
    let conn = rusqlite::Connection::open(p.layout.sessions_db()).unwrap();
    conn.execute(
        "INSERT INTO sessions (id, agent_name, capability, worktree_path, branch_name, task_id, \
         tmux_session, state, depth, started_at, last_activity, escalation_level) \
         VALUES ('s-x', 'wiz-1', 'wizard', '/w', 'b', 't', '', 'working', 0, \
         '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 0)",
        [],
    )
    .unwrap();
    drop(conn);
    let roster = overstory_turn::roster::roster(&p.layout).unwrap();
    assert!(roster.find("b12").is_some());
    assert!(roster.find("wiz-1").is_none());
    let waker = Waker::without_ov(p.layout.clone(), "no ov here");
    let req = SendRequest::new(
        AgentName::new("lead-1").unwrap(),
        Address::parse("@builders").unwrap(),
        "s",
        "b",
    );
    let posted = send_and_wake(&mut MailClient::open(&p.layout).unwrap(), &req, &waker).unwrap();
    assert_eq!(posted.delivery.sent.len(), 1, "the group still reaches b12");
    assert_eq!(p.unread("b12"), 1);
}
