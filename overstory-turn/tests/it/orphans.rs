//! Turns whose process dies under them, with real processes: a killed turn
//! process (the shim's place in the tree) whose agent runs on holding
//! stdout, and an agent program that is not there at all.
//!
//! The agent here is a small shell script standing in for `claude` (the
//! Claude adapter pointed at it), started by the real [`ProcessSpawner`] in
//! its own process group.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use overstory_core::events::{EventFilter, EventStore, StoredEvent};
use overstory_core::process::{self, Sig};
use overstory_core::{AgentName, Layout};
use overstory_runtime::{ClaudeRuntime, ResolvedModel};
use overstory_sessions::{AgentState, Session, SessionStore};
use overstory_testkit::wait_until_async;
use overstory_turn::child::ProcessSpawner;
use overstory_turn::lock::read_turn_lock;
use overstory_turn::{RunTurnOptions, TurnError, run_turn};

struct Ctx {
    dir: tempfile::TempDir,
    layout: Layout,
}

impl Ctx {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.dir()).unwrap();
        Self { dir, layout }
    }

    fn seed(&self, agent: &str) {
        let mut s = Session::new(agent.parse().unwrap(), "builder".parse().unwrap());
        s.worktree_path = self.dir.path().display().to_string();
        s.branch_name = "branch".into();
        s.state = AgentState::Working;
        SessionStore::open(&self.layout.sessions_db())
            .unwrap()
            .upsert(&s)
            .unwrap();
    }

    /// Writes an executable shell script standing in for the agent.
    fn agent_program(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn opts(&self, agent: &str, program: &Path) -> RunTurnOptions {
        let mut o = RunTurnOptions::new(
            AgentName::new(agent).unwrap(),
            "builder",
            self.layout.clone(),
            self.dir.path(),
            "task-orphan",
            overstory_runtime::encode_user_turn("go"),
            Arc::new(ClaudeRuntime::new().with_program(program)),
            ResolvedModel::default(),
        );
        o.spawner = Arc::new(ProcessSpawner::new());
        o.sigkill_delay = Duration::from_millis(200);
        o.wait_for_outstanding_work = false;
        o
    }

    fn errors(&self, agent: &str) -> Vec<StoredEvent> {
        EventStore::open(&self.layout.events_db())
            .unwrap()
            .by_agent(agent, &EventFilter::default())
            .unwrap()
            .into_iter()
            .filter(|e| e.event_type == "error")
            .collect()
    }

    fn turn_pid(&self, agent: &str) -> PathBuf {
        self.layout.agent_turn_pid(&AgentName::new(agent).unwrap())
    }
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
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[2] == pgid.to_string() && fields[0] != "Z" {
            out.push(pid);
        }
    }
    out
}

const CLEAN_TURN: &str = r#"cat >/dev/null
echo '{"type":"system","subtype":"init","session_id":"s-next"}'
echo '{"type":"result","subtype":"success","session_id":"s-next","is_error":false,"result":"ok"}'"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_turn_process_takes_its_agent_group_down_and_frees_the_lock() {
    let ctx = Ctx::new();
    ctx.seed("orphan");
    // The leader (`sh`) starts a tool that keeps stdout open, reports in,
    // and waits: like the shim over an agent with a running tool.
    let program = ctx.agent_program(
        "agent.sh",
        r#"sleep 300 &
echo '{"type":"system","subtype":"init","session_id":"s-orphan"}'
wait"#,
    );
    let turn = tokio::spawn(run_turn(ctx.opts("orphan", &program)));
    let pid_file = ctx.turn_pid("orphan");
    wait_until_async(Duration::from_secs(20), "turn.pid", || pid_file.exists()).await;
    let leader = process::read_pid_file(&pid_file).unwrap();
    wait_until_async(Duration::from_secs(20), "the agent's tool to start", || {
        live_group_members(leader).len() >= 2
    })
    .await;

    process::signal_process(leader, Sig::Kill).unwrap();

    // The stall timeout (600 s) is far away: only noticing the dead leader
    // ends this turn.
    let result = tokio::time::timeout(Duration::from_secs(30), turn)
        .await
        .expect("the turn ended when its process was killed")
        .unwrap()
        .unwrap();
    assert_eq!(result.exit_code, None, "killed by a signal");
    assert!(!result.stall_aborted);
    assert!(
        live_group_members(leader).is_empty(),
        "the agent's group is gone: {:?}",
        live_group_members(leader)
    );
    let agent = AgentName::new("orphan").unwrap();
    assert_eq!(read_turn_lock(&ctx.layout, &agent).held_by_pid, None);
    assert!(!pid_file.exists());
    let errors = ctx.errors("orphan");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let data = errors[0].data.as_deref().unwrap_or_default();
    assert!(data.contains("process group was terminated"), "{data}");
    assert!(data.contains(&format!("\"pid\":{leader}")), "{data}");

    // The lock is free: the next turn runs at once.
    let next = ctx.agent_program("next.sh", CLEAN_TURN);
    let mut o = ctx.opts("orphan", &next);
    o.lock_timeout = Duration::from_millis(500);
    let r = run_turn(o).await.unwrap();
    assert_eq!(r.exit_code, Some(0));
    assert!(r.clean_result);
}

#[tokio::test]
async fn a_missing_agent_program_is_a_start_failure_recorded_as_an_error_event() {
    let ctx = Ctx::new();
    ctx.seed("nobin");
    let missing = ctx.dir.path().join("no-such-claude");
    let err = run_turn(ctx.opts("nobin", &missing)).await.unwrap_err();
    assert!(err.is_start_failure(), "{err}");
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(cause.contains("no-such-claude"), "{cause}");
    assert!(cause.contains("does not exist"), "{cause}");
    let errors = ctx.errors("nobin");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .data
            .as_deref()
            .is_some_and(|d| d.contains("could not start") && d.contains("no-such-claude"))
    );
    // The runner leaves the state alone (the dispatcher settles it).
    let row = SessionStore::open(&ctx.layout.sessions_db())
        .unwrap()
        .get("nobin")
        .unwrap()
        .unwrap();
    assert_eq!(row.state, AgentState::Working);
    let agent = AgentName::new("nobin").unwrap();
    assert_eq!(read_turn_lock(&ctx.layout, &agent).held_by_pid, None);
}

#[tokio::test]
async fn a_bare_program_name_is_looked_up_on_the_childs_path() {
    let ctx = Ctx::new();
    ctx.seed("onpath");
    let o = ctx.opts("onpath", Path::new("definitely-not-installed-claude"));
    let err = run_turn(o).await.unwrap_err();
    assert!(
        matches!(&err, TurnError::Spawn { source, .. } if source.to_string().contains("\"definitely-not-installed-claude\" was not found on PATH")),
        "{err}"
    );
}

#[tokio::test]
async fn an_agent_that_exits_127_without_output_could_not_start() {
    let ctx = Ctx::new();
    ctx.seed("cant");
    let program = ctx.agent_program(
        "cant.sh",
        "cat >/dev/null\necho 'Error [SCRIPT_ERROR]: No script for agent \"cant\": write one at /x/cant.json' >&2\nexit 127",
    );
    let err = run_turn(ctx.opts("cant", &program)).await.unwrap_err();
    assert!(err.is_start_failure(), "{err}");
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(
        cause.contains("No script for agent \"cant\": write one at /x/cant.json"),
        "{cause}"
    );
    assert_eq!(ctx.errors("cant").len(), 1);
}

#[tokio::test]
async fn a_missing_working_directory_is_named_and_may_be_retried() {
    let ctx = Ctx::new();
    ctx.seed("nowt");
    let program = ctx.agent_program("fine.sh", CLEAN_TURN);
    let mut o = ctx.opts("nowt", &program);
    o.worktree = ctx.dir.path().join("removed-worktree");
    let err = run_turn(o).await.unwrap_err();
    assert!(!err.is_start_failure(), "{err}");
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(
        cause.contains("removed-worktree") && cause.contains("does not exist"),
        "{cause}"
    );
}
