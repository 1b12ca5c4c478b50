//! The turn runner's contract: every case of the original's
//! `turn-runner.test.ts` (its 29 cases, numbered in the section headers
//! below), plus the rows of
//! the decision table and the error paths that suite never covered.
//!
//! The runner, the stores and the databases are real (SQLite files in a temp
//! dir); only the child process is a fake, so a test can script its output,
//! its exit and its reaction to signals exactly. Cases with real agent
//! processes (the scripted agent under the shim, the real `claude`) live in
//! `overstory-cli/tests/it/`, where the `ov` binary exists.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use overstory_core::events::{EventFilter, EventStore};
use overstory_core::process::Sig;
use overstory_core::{AgentName, Layout};
use overstory_mail::{ListFilter, MailStore, MessageType, NewMessage};
use overstory_runtime::experimental::ShapeRuntime;
use overstory_turn::child::TurnSpawner;

use crate::fake_child::{Fake, FakeSpawner};
use overstory_runtime::{AgentRuntime, ClaudeRuntime, ResolvedModel};
use overstory_sessions::{AgentState, Session, SessionStore};
use overstory_turn::lock::read_turn_lock;
use overstory_turn::log::{LogLevel, MemoryLog};
use overstory_turn::{MissingSupport, RunTurnOptions, TurnError, TurnResult, run_turn};
use tokio_util::sync::CancellationToken;

// ---------- fixture ----------

struct Ctx {
    _dir: tempfile::TempDir,
    layout: Layout,
    log: MemoryLog,
}

impl Ctx {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.dir()).unwrap();
        Self {
            _dir: dir,
            layout,
            log: MemoryLog::new(),
        }
    }

    fn sessions(&self) -> SessionStore {
        SessionStore::open(&self.layout.sessions_db()).unwrap()
    }

    fn mail(&self) -> MailStore {
        MailStore::open(self.layout.mail_db()).unwrap()
    }

    fn seed(&self, agent: &str, state: AgentState, edit: impl FnOnce(&mut Session)) {
        let mut s = Session::new(agent.parse().unwrap(), "builder".parse().unwrap());
        s.worktree_path = "/tmp/worktree".into();
        s.branch_name = "branch".into();
        s.task_id = Some("task-test".parse().unwrap());
        s.state = state;
        edit(&mut s);
        self.sessions().upsert(&s).unwrap();
    }

    fn row(&self, agent: &str) -> Session {
        self.sessions().get(agent).unwrap().unwrap()
    }

    fn opts(&self, agent: &str, spawner: Arc<dyn TurnSpawner>) -> RunTurnOptions {
        self.opts_with(agent, Arc::new(ClaudeRuntime::new()), spawner)
    }

    fn opts_with(
        &self,
        agent: &str,
        runtime: Arc<dyn AgentRuntime>,
        spawner: Arc<dyn TurnSpawner>,
    ) -> RunTurnOptions {
        let mut o = RunTurnOptions::new(
            AgentName::new(agent).unwrap(),
            "builder",
            self.layout.clone(),
            self.layout.root(),
            "task-test",
            overstory_runtime::encode_user_turn("hello"),
            runtime,
            ResolvedModel {
                model: "sonnet".into(),
                ..ResolvedModel::default()
            },
        );
        o.spawner = spawner;
        o.log = Some(Arc::new(self.log.clone()));
        o
    }

    fn turn_pid(&self, agent: &str) -> PathBuf {
        self.layout.agent_turn_pid(&AgentName::new(agent).unwrap())
    }

    fn mail_to(&self, to: &str, kind: MessageType) -> Vec<overstory_mail::MailMessage> {
        self.mail()
            .list(&ListFilter {
                to: Some(to.into()),
                ..ListFilter::default()
            })
            .unwrap()
            .into_iter()
            .filter(|m| m.kind == kind)
            .collect()
    }

    fn send(&self, from: &str, to: &str, kind: MessageType) {
        self.mail()
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
}

/// A fake that runs a clean turn reporting `sid` and exits 0 as soon as it
/// is spawned.
async fn clean_turn_fake(sid: &str) -> Fake {
    let fake = Fake::new();
    fake.turn(sid, false).await;
    fake.exit_with(Some(0)).await;
    fake
}

async fn run(o: RunTurnOptions) -> TurnResult {
    run_turn(o).await.unwrap()
}

// ---------- 1–5: basics, session ids ----------

#[tokio::test]
async fn empty_turn_is_a_no_op_without_spawn_or_state_change() {
    let ctx = Ctx::new();
    ctx.seed("noop", AgentState::Working, |_| {});
    let spawner = FakeSpawner::new(|_| panic!("must not spawn"));
    let mut o = ctx.opts("noop", spawner.clone());
    o.user_turn = String::new();
    let r = run(o).await;
    assert!(spawner.specs.lock().unwrap().is_empty());
    assert_eq!(r.exit_code, None);
    assert!(!r.clean_result);
    assert!(!r.terminal_mail_observed);
    assert_eq!(r.duration_ms, 0);
    assert_eq!(
        (r.initial_state, r.final_state),
        (AgentState::Working, AgentState::Working)
    );
    assert_eq!(ctx.row("noop").state, AgentState::Working);
}

#[tokio::test]
async fn clean_turn_without_terminal_mail_completes_and_stores_the_session_id() {
    let ctx = Ctx::new();
    ctx.seed("alpha", AgentState::Booting, |_| {});
    let fake = clean_turn_fake("claude-sess-A").await;
    let spawner = FakeSpawner::one(&fake);
    let r = run(ctx.opts("alpha", spawner.clone())).await;
    assert_eq!(r.exit_code, Some(0));
    assert!(r.clean_result);
    assert_eq!(r.new_session_id.as_deref(), Some("claude-sess-A"));
    assert!(!r.resume_mismatch);
    assert!(!r.terminal_mail_observed);
    assert_eq!(r.initial_state, AgentState::Booting);
    assert!(r.terminal_mail_missing);
    assert_eq!(r.final_state, AgentState::Completed);
    let row = ctx.row("alpha");
    assert_eq!(row.state, AgentState::Completed);
    assert_eq!(row.claude_session_id.as_deref(), Some("claude-sess-A"));
    assert_eq!(spawner.resume_ids(), [None]);
}

#[tokio::test]
async fn session_id_is_reread_under_the_lock() {
    let ctx = Ctx::new();
    ctx.seed("stale", AgentState::Working, |s| {
        s.claude_session_id = Some("old-id".into())
    });
    ctx.sessions()
        .update_claude_session_id("stale", "fresh-id")
        .unwrap();
    let fake = clean_turn_fake("fresh-id").await;
    let spawner = FakeSpawner::one(&fake);
    let r = run(ctx.opts("stale", spawner.clone())).await;
    assert_eq!(spawner.resume_ids(), [Some("fresh-id".to_owned())]);
    assert!(!r.resume_mismatch);
}

#[tokio::test]
async fn resume_mismatch_overwrites_the_id_and_records_a_warn_event() {
    let ctx = Ctx::new();
    ctx.seed("mm", AgentState::Working, |s| {
        s.claude_session_id = Some("want-resume".into())
    });
    let fake = clean_turn_fake("actually-new").await;
    let r = run(ctx.opts("mm", FakeSpawner::one(&fake))).await;
    assert_eq!(r.new_session_id.as_deref(), Some("actually-new"));
    assert!(r.resume_mismatch);
    assert_eq!(
        ctx.row("mm").claude_session_id.as_deref(),
        Some("actually-new")
    );
    let events = EventStore::open(&ctx.layout.events_db())
        .unwrap()
        .by_agent("mm", &EventFilter::default())
        .unwrap();
    let mismatch = events
        .iter()
        .find(|e| {
            e.data_json()
                .is_some_and(|d| d["type"] == "resume_mismatch")
        })
        .expect("a resume_mismatch event");
    assert_eq!(mismatch.event_type, "custom");
    assert_eq!(mismatch.level, "warn");
    let d = mismatch.data_json().unwrap();
    assert_eq!(d["requestedSessionId"], "want-resume");
    assert_eq!(d["observedSessionId"], "actually-new");
}

#[tokio::test]
async fn same_session_id_is_no_mismatch() {
    let ctx = Ctx::new();
    ctx.seed("same", AgentState::Working, |s| {
        s.claude_session_id = Some("same-id".into())
    });
    let fake = clean_turn_fake("same-id").await;
    let r = run(ctx.opts("same", FakeSpawner::one(&fake))).await;
    assert!(!r.resume_mismatch);
    let events = EventStore::open(&ctx.layout.events_db())
        .unwrap()
        .by_agent("same", &EventFilter::default())
        .unwrap();
    assert!(
        events
            .iter()
            .all(|e| !e.data.as_deref().unwrap_or("").contains("resume_mismatch"))
    );
}

// ---------- 6–11: terminal mail ----------

async fn turn_sending(
    ctx: &Ctx,
    agent: &str,
    capability: &str,
    kind: Option<MessageType>,
) -> TurnResult {
    let fake = Fake::new();
    let mut o = ctx.opts(agent, FakeSpawner::one(&fake));
    o.capability = capability.into();
    let task = tokio::spawn(run_turn(o));
    fake.line(r#"{"type":"system","subtype":"init","session_id":"s1"}"#)
        .await;
    // The agent sends its mail mid-turn, after the runner took its baseline.
    wait_for_events(ctx, agent, 1).await;
    if let Some(kind) = kind {
        ctx.send(agent, "lead-x", kind);
    }
    fake.line(r#"{"type":"result","subtype":"success","session_id":"s1","is_error":false,"duration_ms":50}"#)
        .await;
    fake.exit_with(Some(0)).await;
    task.await.unwrap().unwrap()
}

/// Waits until the runner recorded `n` events for `agent` (a signal, not a sleep).
async fn wait_for_events(ctx: &Ctx, agent: &str, n: usize) {
    let what = format!("the runner to record {n} events for {agent}");
    overstory_testkit::wait_until_async(Duration::from_secs(10), &what, || {
        EventStore::open_if_exists(&ctx.layout.events_db())
            .ok()
            .flatten()
            .and_then(|s| s.by_agent(agent, &EventFilter::default()).ok())
            .map_or(0, |v| v.len())
            >= n
    })
    .await;
}

#[tokio::test]
async fn new_worker_done_after_an_older_one_completes_the_agent() {
    let ctx = Ctx::new();
    ctx.seed("wd", AgentState::Working, |_| {});
    ctx.send("wd", "lead-x", MessageType::WorkerDone);
    let r = turn_sending(&ctx, "wd", "builder", Some(MessageType::WorkerDone)).await;
    assert!(r.terminal_mail_observed);
    assert!(r.clean_result);
    assert_eq!(r.final_state, AgentState::Completed);
    assert_eq!(ctx.row("wd").state, AgentState::Completed);
}

#[tokio::test]
async fn an_older_worker_done_does_not_count_for_this_turn() {
    let ctx = Ctx::new();
    ctx.seed("old", AgentState::Working, |_| {});
    ctx.send("old", "lead-x", MessageType::WorkerDone);
    let r = turn_sending(&ctx, "old", "builder", None).await;
    assert!(
        !r.terminal_mail_observed,
        "mail sent before the turn is not this turn's"
    );
    assert!(r.terminal_mail_missing);
}

#[tokio::test]
async fn clean_turn_without_mail_logs_the_contract_violation() {
    let ctx = Ctx::new();
    ctx.seed("cv", AgentState::Working, |_| {});
    let fake = clean_turn_fake("s").await;
    let r = run(ctx.opts("cv", FakeSpawner::one(&fake))).await;
    assert!(r.clean_result && !r.terminal_mail_observed && r.terminal_mail_missing);
    assert_eq!(r.final_state, AgentState::Completed);
    assert!(
        ctx.log
            .contains(LogLevel::Error, "without sending terminal mail")
    );
    assert_eq!(ctx.row("cv").state, AgentState::Completed);
}

#[tokio::test]
async fn merger_merged_is_terminal() {
    let ctx = Ctx::new();
    ctx.seed("m1", AgentState::Working, |s| {
        s.capability = "merger".parse().unwrap()
    });
    let r = turn_sending(&ctx, "m1", "merger", Some(MessageType::Merged)).await;
    assert!(r.terminal_mail_observed);
    assert_eq!(r.final_state, AgentState::Completed);
}

#[tokio::test]
async fn merger_merge_failed_is_terminal() {
    let ctx = Ctx::new();
    ctx.seed("m2", AgentState::Working, |s| {
        s.capability = "merger".parse().unwrap()
    });
    let r = turn_sending(&ctx, "m2", "merger", Some(MessageType::MergeFailed)).await;
    assert!(r.terminal_mail_observed);
    assert_eq!(r.final_state, AgentState::Completed);
}

#[tokio::test]
async fn scout_result_mail_is_accepted_as_terminal() {
    let ctx = Ctx::new();
    ctx.seed("sc", AgentState::Working, |s| {
        s.capability = "scout".parse().unwrap()
    });
    let r = turn_sending(&ctx, "sc", "scout", Some(MessageType::Result)).await;
    assert!(r.terminal_mail_observed && r.clean_result);
    assert_eq!(r.final_state, AgentState::Completed);
}

#[tokio::test]
async fn merger_worker_done_is_not_terminal() {
    let ctx = Ctx::new();
    ctx.seed("m3", AgentState::Working, |s| {
        s.capability = "merger".parse().unwrap()
    });
    let r = turn_sending(&ctx, "m3", "merger", Some(MessageType::WorkerDone)).await;
    assert!(!r.terminal_mail_observed);
    assert!(r.terminal_mail_missing);
    assert_eq!(r.final_state, AgentState::Completed);
}

// ---------- 12–14: stall and abort ----------
//
// These run on tokio's paused clock: the child is the in-memory fake, so
// the runtime is idle only when every task waits on a timer, and the
// clock then jumps to the next one. Timeouts cost no wall time and cannot
// race a slow machine.

#[tokio::test(start_paused = true)]
async fn silent_child_is_stall_aborted_to_zombie() {
    let ctx = Ctx::new();
    ctx.seed("st", AgentState::Working, |_| {});
    let fake = Fake::new();
    let mut o = ctx.opts("st", FakeSpawner::one(&fake));
    o.stall_timeout = Some(Duration::from_millis(50));
    o.sigkill_delay = Duration::from_millis(25);
    let r = run(o).await;
    assert_eq!(fake.signals().first(), Some(&Sig::Term));
    assert!(r.stall_aborted);
    assert_eq!(r.exit_code, None);
    assert_eq!(r.final_state, AgentState::Zombie);
    assert_eq!(ctx.row("st").state, AgentState::Zombie);
    assert!(ctx.log.contains(LogLevel::Error, "parser stalled"));
}

#[tokio::test(start_paused = true)]
async fn steady_output_keeps_the_stall_watchdog_quiet() {
    let ctx = Ctx::new();
    ctx.seed("steady", AgentState::Working, |_| {});
    let fake = Fake::new();
    let mut o = ctx.opts("steady", FakeSpawner::one(&fake));
    o.stall_timeout = Some(Duration::from_millis(500));
    let task = tokio::spawn(run_turn(o));
    fake.line(r#"{"type":"system","subtype":"init","session_id":"s"}"#)
        .await;
    for i in 0..6 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        fake.line(&format!(
            r#"{{"type":"assistant","message":{{"content":[{{"type":"text","text":"chunk {i}"}}]}}}}"#
        ))
        .await;
    }
    fake.line(r#"{"type":"result","subtype":"success","session_id":"s","is_error":false}"#)
        .await;
    fake.exit_with(Some(0)).await;
    let r = task.await.unwrap().unwrap();
    assert!(!r.stall_aborted);
    assert_eq!(r.exit_code, Some(0));
    assert!(r.clean_result);
    assert!(r.duration_ms >= 250, "{}", r.duration_ms);
}

#[tokio::test(start_paused = true)]
async fn operator_abort_terminates_and_zombifies() {
    let ctx = Ctx::new();
    ctx.seed("ab", AgentState::Working, |_| {});
    let fake = Fake::new();
    let abort = CancellationToken::new();
    let mut o = ctx.opts("ab", FakeSpawner::one(&fake));
    o.abort = Some(abort.clone());
    o.sigkill_delay = Duration::from_millis(25);
    let task = tokio::spawn(run_turn(o));
    fake.line(r#"{"type":"system","subtype":"init","session_id":"s"}"#)
        .await;
    wait_for_events(&ctx, "ab", 1).await;
    abort.cancel();
    let r = task.await.unwrap().unwrap();
    assert_eq!(fake.signals().first(), Some(&Sig::Term));
    assert_eq!(r.exit_code, None);
    assert_eq!(r.final_state, AgentState::Zombie);
    assert_eq!(ctx.row("ab").state, AgentState::Zombie);
}

#[tokio::test]
async fn pre_cancelled_abort_still_cleans_up() {
    let ctx = Ctx::new();
    ctx.seed("pre", AgentState::Working, |_| {});
    let fake = Fake::new();
    let abort = CancellationToken::new();
    abort.cancel();
    let mut o = ctx.opts("pre", FakeSpawner::one(&fake));
    o.abort = Some(abort);
    let r = run(o).await;
    assert_eq!(r.final_state, AgentState::Zombie);
    assert!(!ctx.turn_pid("pre").exists());
}

// ---------- 15–19: worker_died ----------

#[tokio::test(start_paused = true)]
async fn a_child_that_ignores_sigterm_is_killed_after_the_sigkill_delay() {
    let ctx = Ctx::new();
    ctx.seed("stubborn", AgentState::Working, |_| {});
    let fake = Fake::new();
    fake.ignore_sigterm();
    let mut o = ctx.opts("stubborn", FakeSpawner::one(&fake));
    o.stall_timeout = Some(Duration::from_millis(50));
    let sigkill_delay = o.sigkill_delay;
    let started = tokio::time::Instant::now();
    let r = run(o).await;
    assert_eq!(fake.signals(), vec![Sig::Term, Sig::Kill]);
    assert!(
        started.elapsed() >= Duration::from_millis(50) + sigkill_delay,
        "SIGKILL came {:?} after the start",
        started.elapsed()
    );
    assert!(r.stall_aborted);
    assert_eq!(r.final_state, AgentState::Zombie);
}

#[tokio::test(start_paused = true)]
async fn a_child_that_closes_stdout_but_never_exits_is_terminated_after_the_exit_grace() {
    let ctx = Ctx::new();
    ctx.seed("lingers", AgentState::Working, |_| {});
    let fake = Fake::new();
    fake.turn("s", false).await;
    fake.close_stdout().await;
    let o = ctx.opts("lingers", FakeSpawner::one(&fake));
    let started = tokio::time::Instant::now();
    let r = run(o).await;
    assert_eq!(fake.signals().first(), Some(&Sig::Term));
    assert!(
        started.elapsed() >= Duration::from_secs(30),
        "terminated {:?} after the start, before the 30 s exit grace",
        started.elapsed()
    );
    assert_eq!(r.exit_code, None, "ended by our signal");
    assert!(r.clean_result);
    assert!(!r.stall_aborted);
    assert_eq!(r.final_state, AgentState::Completed);
}

fn worker_died(ctx: &Ctx, parent: &str) -> Vec<overstory_mail::MailMessage> {
    ctx.mail_to(parent, MessageType::WorkerDied)
}

#[tokio::test(start_paused = true)]
async fn abort_notifies_the_parent_once() {
    let ctx = Ctx::new();
    ctx.seed("w15", AgentState::Working, |s| {
        s.parent_agent = Some("lead-x".parse().unwrap());
        s.task_id = Some("row-task".parse().unwrap());
    });
    let fake = Fake::new();
    let abort = CancellationToken::new();
    let mut o = ctx.opts("w15", FakeSpawner::one(&fake));
    o.abort = Some(abort.clone());
    o.sigkill_delay = Duration::from_millis(25);
    let task = tokio::spawn(run_turn(o));
    fake.line(r#"{"type":"system","subtype":"init","session_id":"s"}"#)
        .await;
    wait_for_events(&ctx, "w15", 1).await;
    abort.cancel();
    task.await.unwrap().unwrap();
    let died = worker_died(&ctx, "lead-x");
    assert_eq!(died.len(), 1);
    let m = &died[0];
    assert_eq!(m.from, "w15");
    assert_eq!(m.priority, overstory_mail::Priority::High);
    assert!(m.subject.contains("worker_died") && m.subject.contains("w15"));
    let p: serde_json::Value = serde_json::from_str(m.payload.as_deref().unwrap()).unwrap();
    assert_eq!(p["terminatedBy"], "runner");
    assert_eq!(p["agentName"], "w15");
    assert_eq!(
        p["taskId"], "task-test",
        "the task comes from the options, not the row"
    );
    assert_eq!(p["capability"], "builder");
    assert!(p["reason"].as_str().unwrap().contains("Aborted"));
}

#[tokio::test(start_paused = true)]
async fn stall_notifies_the_parent() {
    let ctx = Ctx::new();
    ctx.seed("w16", AgentState::Working, |s| {
        s.parent_agent = Some("lead-y".parse().unwrap())
    });
    let fake = Fake::new();
    let mut o = ctx.opts("w16", FakeSpawner::one(&fake));
    o.stall_timeout = Some(Duration::from_millis(50));
    o.sigkill_delay = Duration::from_millis(25);
    run(o).await;
    let died = worker_died(&ctx, "lead-y");
    assert_eq!(died.len(), 1);
    let p: serde_json::Value = serde_json::from_str(died[0].payload.as_deref().unwrap()).unwrap();
    assert_eq!(p["terminatedBy"], "runner");
    assert!(p["reason"].as_str().unwrap().contains("stalled"));
}

#[tokio::test]
async fn clean_exit_without_terminal_mail_notifies_the_parent() {
    let ctx = Ctx::new();
    ctx.seed("w17", AgentState::Working, |s| {
        s.parent_agent = Some("lead-z".parse().unwrap())
    });
    let fake = clean_turn_fake("s").await;
    let r = run(ctx.opts("w17", FakeSpawner::one(&fake))).await;
    assert!(r.clean_result && r.terminal_mail_missing);
    assert_eq!(r.final_state, AgentState::Completed);
    let died = worker_died(&ctx, "lead-z");
    assert_eq!(died.len(), 1);
    let p: serde_json::Value = serde_json::from_str(died[0].payload.as_deref().unwrap()).unwrap();
    assert_eq!(p["terminatedBy"], "runner");
    assert_eq!(p["agentName"], "w17");
    assert!(
        p["reason"]
            .as_str()
            .unwrap()
            .contains("Clean exit without terminal mail")
    );
}

#[tokio::test]
async fn without_a_parent_nobody_is_notified() {
    let ctx = Ctx::new();
    ctx.seed("w18", AgentState::Working, |_| {});
    let fake = clean_turn_fake("s").await;
    let r = run(ctx.opts("w18", FakeSpawner::one(&fake))).await;
    assert!(r.terminal_mail_missing);
    let all = ctx.mail().list(&ListFilter::default()).unwrap();
    assert!(all.iter().all(|m| m.kind != MessageType::WorkerDied));
}

#[tokio::test]
async fn terminal_mail_spares_the_parent_a_worker_died() {
    let ctx = Ctx::new();
    ctx.seed("w19", AgentState::Working, |s| {
        s.parent_agent = Some("lead-x".parse().unwrap())
    });
    let r = turn_sending(&ctx, "w19", "builder", Some(MessageType::WorkerDone)).await;
    assert!(r.terminal_mail_observed && !r.terminal_mail_missing);
    assert_eq!(r.final_state, AgentState::Completed);
    assert!(worker_died(&ctx, "lead-x").is_empty());
}

// ---------- 20–23: serialisation, spawn failure, resume, stdin ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_turns_of_one_agent_run_one_after_the_other() {
    let ctx = Ctx::new();
    ctx.seed("ser", AgentState::Working, |_| {});
    let windows: Arc<Mutex<Vec<(&'static str, u32)>>> = Arc::default();
    let w = windows.clone();
    let spawner = FakeSpawner::new(move |_| {
        let fake = Fake::new();
        w.lock().unwrap().push(("start", fake.pid));
        let (f, w) = (fake.clone_light(), w.clone());
        tokio::spawn(async move {
            f.line(r#"{"type":"system","subtype":"init","session_id":"s"}"#)
                .await;
            tokio::time::sleep(Duration::from_millis(80)).await;
            w.lock().unwrap().push(("end", f.pid));
            f.exit_with(Some(1)).await;
        });
        Ok(fake)
    });
    let a = tokio::spawn(run_turn(ctx.opts("ser", spawner.clone())));
    let b = tokio::spawn(run_turn(ctx.opts("ser", spawner.clone())));
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    let w = windows.lock().unwrap().clone();
    let kinds: Vec<_> = w.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, ["start", "end", "start", "end"]);
    assert_ne!(w[0].1, w[2].1);
}

#[tokio::test]
async fn spawn_failure_propagates_and_leaves_no_lock_or_pid_file() {
    let ctx = Ctx::new();
    ctx.seed("sf", AgentState::Booting, |_| {});
    let spawner = FakeSpawner::new(|_| {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            "ENOENT: claude binary missing",
        ))
    });
    let err = run_turn(ctx.opts("sf", spawner)).await.unwrap_err();
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(chain.contains("binary missing"), "{chain}");
    let agent = AgentName::new("sf").unwrap();
    assert_eq!(read_turn_lock(&ctx.layout, &agent).held_by_pid, None);
    assert_eq!(ctx.row("sf").state, AgentState::Booting);
    assert!(!ctx.turn_pid("sf").exists());
}

#[tokio::test]
async fn second_turn_resumes_the_first_turns_session() {
    let ctx = Ctx::new();
    ctx.seed("res", AgentState::Working, |_| {});
    let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let spawner = FakeSpawner::new(move |_| {
        let fake = Fake::new();
        let f = fake.clone_light();
        let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::spawn(async move {
            f.turn(&format!("sid-{}", i + 1), false).await;
            f.exit_with(Some(0)).await;
        });
        Ok(fake)
    });
    let mut o = ctx.opts("res", spawner.clone());
    o.wait_for_outstanding_work = true;
    // Keep the agent alive across turns: a live child means it is waiting.
    ctx.seed("kid", AgentState::Working, |s| {
        s.parent_agent = Some("res".parse().unwrap())
    });
    run(o.clone()).await;
    run(o).await;
    assert_eq!(spawner.resume_ids(), [None, Some("sid-1".to_owned())]);
}

#[tokio::test]
async fn the_user_turn_is_written_once_byte_for_byte() {
    let ctx = Ctx::new();
    ctx.seed("in", AgentState::Working, |_| {});
    let fake = clean_turn_fake("s").await;
    let mut o = ctx.opts("in", FakeSpawner::one(&fake));
    o.user_turn = "ping".into();
    run(o).await;
    assert_eq!(fake.writes(), ["ping"]);
}

// ---------- 24–29: unsupported runtime, lastActivity, failure paths ----------

#[tokio::test]
async fn runtime_without_direct_spawn_is_refused() {
    let ctx = Ctx::new();
    let runtime = Arc::new(ShapeRuntime::by_id("copilot", None).unwrap());
    let o = ctx.opts_with("nods", runtime, FakeSpawner::new(|_| panic!("no spawn")));
    let err = run_turn(o).await.unwrap_err();
    assert!(
        matches!(
            err,
            TurnError::Unsupported {
                missing: MissingSupport::HeadlessSpawn,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("\"copilot\""), "{err}");
}

#[tokio::test]
async fn last_activity_is_refreshed_and_turn_pid_removed() {
    let ctx = Ctx::new();
    let past = overstory_core::clock::format_millis(overstory_core::clock::now_millis() - 60_000);
    ctx.seed("la", AgentState::Working, |s| {
        s.started_at = past.clone();
        s.last_activity = past.clone();
    });
    let fake = clean_turn_fake("s").await;
    let r = run(ctx.opts("la", FakeSpawner::one(&fake))).await;
    assert_eq!(r.exit_code, Some(0));
    assert!(!ctx.turn_pid("la").exists());
    let row = ctx.row("la");
    assert_ne!(row.last_activity, past);
    assert!(row.last_activity > row.started_at);
}

#[tokio::test]
async fn turn_pid_is_never_written_when_spawn_fails() {
    let ctx = Ctx::new();
    let spawner = FakeSpawner::new(|_| Err(io::Error::other("boom")));
    assert!(run_turn(ctx.opts("np", spawner)).await.is_err());
    assert!(!ctx.turn_pid("np").exists());
}

/// A stdout that fails on its first read, like a parser that throws.
struct Broken;

impl tokio::io::AsyncRead for Broken {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Err(io::Error::other("synthetic stream-json failure")))
    }
}

#[tokio::test]
async fn broken_output_stream_kills_the_child_and_propagates() {
    let ctx = Ctx::new();
    ctx.seed("br", AgentState::Working, |_| {});
    let fake = Fake::new();
    if let Some(c) = fake.child.lock().unwrap().as_mut() {
        c.stdout = Some(Box::pin(Broken));
    }
    let err = run_turn(ctx.opts("br", FakeSpawner::one(&fake)))
        .await
        .unwrap_err();
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(chain.contains("synthetic stream-json"), "{chain}");
    assert!(fake.signals().contains(&Sig::Kill));
    assert!(!ctx.turn_pid("br").exists());
}

#[tokio::test]
async fn unwritable_turn_pid_kills_the_child_and_fails() {
    let ctx = Ctx::new();
    ctx.seed("tp", AgentState::Working, |_| {});
    std::fs::create_dir_all(ctx.turn_pid("tp")).unwrap();
    let fake = Fake::new();
    let err = run_turn(ctx.opts("tp", FakeSpawner::one(&fake)))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("failed to write turn.pid"),
        "{err}"
    );
    assert!(fake.signals().contains(&Sig::Kill));
    assert!(
        ctx.log
            .contains(LogLevel::Error, "failed to write turn.pid")
    );
}

#[tokio::test]
async fn unusable_sessions_db_is_logged_not_fatal() {
    let ctx = Ctx::new();
    let fake = clean_turn_fake("s").await;
    let mut o = ctx.opts("sd", FakeSpawner::one(&fake));
    let bad: &Path = ctx.layout.dir();
    o.paths.sessions_db = bad.join("not-a-db-dir");
    std::fs::create_dir_all(&o.paths.sessions_db).unwrap();
    let r = run(o).await;
    assert_eq!(r.exit_code, Some(0));
    assert!(
        ctx.log
            .contains(LogLevel::Error, "lastActivity stayed at startedAt")
    );
    assert!(!ctx.turn_pid("sd").exists());
}

// ---------- beyond the original suite ----------

#[tokio::test]
async fn waiting_lead_stays_working_without_worker_died() {
    let ctx = Ctx::new();
    ctx.seed("lead-1", AgentState::Working, |s| {
        s.capability = "lead".parse().unwrap();
        s.parent_agent = Some("coordinator".parse().unwrap());
    });
    ctx.seed("builder-1", AgentState::Working, |s| {
        s.parent_agent = Some("lead-1".parse().unwrap())
    });
    let fake = clean_turn_fake("s").await;
    let mut o = ctx.opts("lead-1", FakeSpawner::one(&fake));
    o.capability = "lead".into();
    let r = run(o).await;
    assert!(r.waiting);
    assert_eq!(r.final_state, AgentState::Working);
    assert_eq!(ctx.row("lead-1").state, AgentState::Working);
    assert!(worker_died(&ctx, "coordinator").is_empty());
}

#[tokio::test]
async fn mail_that_arrived_during_the_turn_keeps_the_agent_working() {
    let ctx = Ctx::new();
    ctx.seed("busy", AgentState::Working, |_| {});
    let fake = Fake::new();
    let task = tokio::spawn(run_turn(ctx.opts("busy", FakeSpawner::one(&fake))));
    fake.line(r#"{"type":"system","subtype":"init","session_id":"s"}"#)
        .await;
    wait_for_events(&ctx, "busy", 1).await;
    ctx.send("lead", "busy", MessageType::Status);
    fake.line(r#"{"type":"result","subtype":"success","session_id":"s","is_error":false}"#)
        .await;
    fake.exit_with(Some(0)).await;
    let r = task.await.unwrap().unwrap();
    assert!(r.waiting);
    assert_eq!(r.final_state, AgentState::Working);
}

/// A dispatch nobody picked up keeps its sender waiting, until its
/// recipient has ended: a builder killed before reading its dispatch never
/// will, and its lead must not wait on it forever.
#[tokio::test]
async fn a_dispatch_to_an_ended_recipient_is_not_outstanding_work() {
    let ctx = Ctx::new();
    ctx.seed("lead-e", AgentState::Working, |s| {
        s.capability = "lead".parse().unwrap();
    });
    // Not the lead's child: only the dispatch can keep the lead waiting.
    ctx.seed("builder-e", AgentState::Working, |_| {});
    ctx.send("lead-e", "builder-e", MessageType::Dispatch);

    let fake = clean_turn_fake("s").await;
    let mut o = ctx.opts("lead-e", FakeSpawner::one(&fake));
    o.capability = "lead".into();
    let r = run(o.clone()).await;
    assert!(
        r.waiting,
        "an unpicked dispatch to a live agent is outstanding"
    );

    // The builder was killed before it read its dispatch.
    ctx.seed("builder-e", AgentState::Zombie, |_| {});
    let fake = clean_turn_fake("s").await;
    o.spawner = FakeSpawner::one(&fake);
    let r = run(o).await;
    assert!(!r.waiting);
    assert_eq!(r.final_state, AgentState::Completed);
}

/// The soak's stuck leads: the mail a turn carries is marked read only after
/// the turn, so at settle time it is still unread. It must not count as
/// work outstanding, or a lead reading its last builder's `worker_done`
/// waits for a next turn that nothing will ever start.
#[tokio::test]
async fn the_mail_a_turn_delivers_is_not_outstanding_work() {
    let ctx = Ctx::new();
    ctx.seed("lead-d", AgentState::Working, |s| {
        s.capability = "lead".parse().unwrap();
        s.parent_agent = Some("coordinator".parse().unwrap());
    });
    ctx.seed("builder-d", AgentState::Completed, |s| {
        s.parent_agent = Some("lead-d".parse().unwrap())
    });
    ctx.send("builder-d", "lead-d", MessageType::WorkerDone);
    let carried: Vec<String> = ctx
        .mail()
        .list(&overstory_mail::ListFilter {
            to: Some("lead-d".into()),
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(carried.len(), 1);

    // Without the ids, the same unread mail keeps the lead waiting.
    let fake = clean_turn_fake("s").await;
    let mut o = ctx.opts("lead-d", FakeSpawner::one(&fake));
    o.capability = "lead".into();
    let r = run(o.clone()).await;
    assert!(
        r.waiting,
        "unread mail not carried by the turn is outstanding"
    );

    // A clean result but a failed exit: the deliverer leaves the mail
    // unread, so it is still work and the lead waits for it again.
    let fake = Fake::new();
    fake.turn("s", false).await;
    fake.exit_with(Some(1)).await;
    o.spawner = FakeSpawner::one(&fake);
    o.delivering = carried.clone();
    let r = run(o.clone()).await;
    assert!(r.clean_result);
    assert!(
        r.waiting,
        "carried mail of a failed exit is still outstanding"
    );

    let fake = clean_turn_fake("s").await;
    o.spawner = FakeSpawner::one(&fake);
    o.delivering = carried;
    let r = run(o).await;
    assert!(!r.waiting);
    assert_eq!(r.final_state, AgentState::Completed);
    assert_eq!(ctx.row("lead-d").state, AgentState::Completed);
}

#[tokio::test]
async fn unclean_turn_with_events_from_booting_is_working() {
    let ctx = Ctx::new();
    ctx.seed("unc", AgentState::Booting, |_| {});
    let fake = clean_turn_fake_err().await;
    let r = run(ctx.opts("unc", FakeSpawner::one(&fake))).await;
    assert!(!r.clean_result);
    assert_eq!(r.final_state, AgentState::Working);
    assert_eq!(ctx.row("unc").state, AgentState::Working);
}

/// The booting → working rule (shared with the agent host, see
/// `feed.rs`): the turn's first event promotes the row while the turn still
/// runs, from `booting` and from `stalled` alike.
async fn first_event_promotes_mid_turn(from: AgentState) {
    let ctx = Ctx::new();
    ctx.seed("mid", from, |s| {
        s.escalation_level = 2;
        s.stalled_since = Some("2026-01-01T00:00:00.000Z".into());
    });
    let fake = Fake::new();
    let task = tokio::spawn(run_turn(ctx.opts("mid", FakeSpawner::one(&fake))));
    fake.line(r#"{"type":"system","subtype":"init","session_id":"s"}"#)
        .await;
    wait_for_events(&ctx, "mid", 1).await;
    let row = ctx.row("mid");
    assert_eq!(
        row.state,
        AgentState::Working,
        "promoted before the turn ends"
    );
    assert_eq!(row.escalation_level, 0);
    assert_eq!(row.stalled_since, None);
    fake.exit_with(Some(1)).await;
    let r = task.await.unwrap().unwrap();
    assert_eq!(r.initial_state, from);
    assert_eq!(r.final_state, AgentState::Working);
    assert!(
        !ctx.log.contains(LogLevel::Warn, "rejected"),
        "{:?}",
        ctx.log.lines()
    );
}

#[tokio::test]
async fn first_event_moves_a_booting_agent_to_working_mid_turn() {
    first_event_promotes_mid_turn(AgentState::Booting).await;
}

#[tokio::test]
async fn first_event_recovers_a_stalled_agent_mid_turn() {
    first_event_promotes_mid_turn(AgentState::Stalled).await;
}

async fn clean_turn_fake_err() -> Fake {
    let fake = Fake::new();
    fake.turn("s", true).await;
    fake.exit_with(Some(1)).await;
    fake
}

#[tokio::test]
async fn completed_agent_stays_completed_whatever_the_turn_did() {
    let ctx = Ctx::new();
    ctx.seed("done", AgentState::Completed, |_| {});
    let fake = clean_turn_fake_err().await;
    let r = run(ctx.opts("done", FakeSpawner::one(&fake))).await;
    assert_eq!(r.final_state, AgentState::Working, "decided");
    assert_eq!(
        ctx.row("done").state,
        AgentState::Completed,
        "but the CAS keeps completed"
    );
    assert!(ctx.log.contains(LogLevel::Warn, "rejected"));
}

#[tokio::test]
async fn zombie_can_still_finish_with_terminal_mail() {
    let ctx = Ctx::new();
    ctx.seed("zz", AgentState::Zombie, |_| {});
    let r = turn_sending(&ctx, "zz", "builder", Some(MessageType::WorkerDone)).await;
    assert_eq!(r.final_state, AgentState::Completed);
    assert_eq!(ctx.row("zz").state, AgentState::Completed);
}

#[tokio::test]
async fn instant_crash_without_events_leaves_the_state_alone() {
    let ctx = Ctx::new();
    ctx.seed("crash", AgentState::Stalled, |_| {});
    let fake = Fake::new();
    fake.exit_with(Some(3)).await;
    let r = run(ctx.opts("crash", FakeSpawner::one(&fake))).await;
    assert_eq!(r.exit_code, Some(3));
    assert_eq!(r.final_state, AgentState::Stalled);
    assert_eq!(ctx.row("crash").state, AgentState::Stalled);
}

#[tokio::test(start_paused = true)]
async fn lock_timeout_inside_run_turn_is_an_error_and_spawns_nothing() {
    let ctx = Ctx::new();
    let agent = AgentName::new("held").unwrap();
    let _held = overstory_turn::lock::acquire(&ctx.layout, &agent, Duration::from_secs(1)).unwrap();
    let mut o = ctx.opts("held", FakeSpawner::new(|_| panic!("must not spawn")));
    o.lock_timeout = Duration::from_millis(50);
    let err = run_turn(o).await.unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[tokio::test]
async fn events_are_recorded_with_store_types_and_tool_args() {
    let ctx = Ctx::new();
    ctx.seed("ev", AgentState::Booting, |_| {});
    let fake = Fake::new();
    fake.line(r#"{"type":"system","subtype":"init","session_id":"s"}"#)
        .await;
    fake.line(r#"{"type":"assistant","message":{"content":[{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ls","secret":"x"}}]}}"#).await;
    fake.line(r#"{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"t1","content":"ok"}]}}"#).await;
    fake.line(r#"{"type":"result","subtype":"success","session_id":"s","is_error":false,"duration_ms":12.6}"#).await;
    fake.exit_with(Some(0)).await;
    let mut o = ctx.opts("ev", FakeSpawner::one(&fake));
    o.run_id = Some("run-1".into());
    run(o).await;
    let events = EventStore::open(&ctx.layout.events_db())
        .unwrap()
        .by_agent("ev", &EventFilter::default())
        .unwrap();
    let types: Vec<_> = events.iter().map(|e| e.event_type.as_str()).collect();
    for t in ["session_start", "tool_start", "tool_end", "result"] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
    let tool = events
        .iter()
        .find(|e| e.event_type == "tool_start")
        .unwrap();
    assert_eq!(tool.tool_name.as_deref(), Some("Bash"));
    let args: serde_json::Value = serde_json::from_str(tool.tool_args.as_deref().unwrap()).unwrap();
    assert_eq!(args["command"], "ls");
    assert!(args.get("secret").is_none(), "arguments are filtered");
    assert!(events.iter().all(|e| e.run_id.as_deref() == Some("run-1")));
    let result = events.iter().find(|e| e.event_type == "result").unwrap();
    assert_eq!(result.tool_duration_ms, Some(13));
}
