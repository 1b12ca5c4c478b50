//! `run_turn`: one user turn of one headless agent, from lock to settlement.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use overstory_core::config::BudgetConfig;
use overstory_core::events::{EventLevel, EventStore, EventType, NewEvent, filter_tool_args};
use overstory_core::process::{self, Sig};
use overstory_core::{AgentName, Capability, Layout, clock, env};
use overstory_mail::protocol::{TerminatedBy, WorkerDied};
use overstory_mail::{ListFilter, MailStore, MessageType, NewMessage};
use overstory_sessions::budget::BudgetExceeded;
use overstory_sessions::metrics::TurnUsage;
use overstory_sessions::{AgentState, SessionStore, Transition, TransitionOutcome};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWriteExt as _, ReadBuf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::child::{ChildOutput, ProcessSpawner, TurnChild, TurnSpawner, copy_stderr};
use crate::feed::{Feed, Intake, pump};
use crate::lock::{self, TurnLock, TurnLockError};
use crate::log::{RunnerLog, Sink};
use crate::outcome::{self, TurnFacts};
use crate::spend;
use overstory_runtime::runtime::{AgentRuntime, DirectSpawnOptions, ResolvedModel, SpawnSpec};
use overstory_runtime::stream_json::{ParseOptions, RuntimeEvent};

/// Default gap between SIGTERM and SIGKILL.
pub const DEFAULT_SIGKILL_DELAY: Duration = Duration::from_millis(2000);
/// Default longest silence before a turn counts as stalled.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a child may take to exit after closing its stdout before it is
/// terminated.
pub const EXIT_GRACE: Duration = Duration::from_secs(30);

/// The database files a turn reads and writes. Normally all under
/// `.overstory/`; each may be pointed elsewhere.
#[derive(Debug, Clone)]
pub struct TurnPaths {
    /// `mail.db`: terminal-mail check and `worker_died`.
    pub mail_db: PathBuf,
    /// `events.db`: the turn's events.
    pub events_db: PathBuf,
    /// `sessions.db`: state, runtime session id, last activity.
    pub sessions_db: PathBuf,
}

impl TurnPaths {
    /// Returns the project's default paths.
    pub fn of(layout: &Layout) -> Self {
        Self {
            mail_db: layout.mail_db(),
            events_db: layout.events_db(),
            sessions_db: layout.sessions_db(),
        }
    }
}

/// Everything one turn needs.
#[derive(Clone)]
#[non_exhaustive]
pub struct RunTurnOptions {
    /// The agent: session key, lock key, mail sender.
    pub agent: AgentName,
    /// Its capability (selects the terminal mail types; free text accepted).
    pub capability: String,
    /// The project.
    pub layout: Layout,
    /// Database files (defaults from the layout).
    pub paths: TurnPaths,
    /// The child's working directory.
    pub worktree: PathBuf,
    /// The task, for the child's environment and `worker_died`.
    pub task_id: String,
    /// The encoded user turn (stream-json lines). Empty ⇒ no-op.
    pub user_turn: String,
    /// The runtime that builds the child and parses its output.
    pub runtime: Arc<dyn AgentRuntime>,
    /// The model and its provider environment.
    pub model: ResolvedModel,
    /// Stamped on every event row.
    pub run_id: Option<String>,
    /// Starts the child (default: a real process group, no shim).
    pub spawner: Arc<dyn TurnSpawner>,
    /// Receives diagnostics (default: `runner.log` and `tracing`).
    pub log: Option<Arc<dyn RunnerLog>>,
    /// Cancelling it aborts the turn (SIGTERM, then SIGKILL).
    pub abort: Option<CancellationToken>,
    /// Gap between SIGTERM and SIGKILL.
    pub sigkill_delay: Duration,
    /// Longest silence (no output byte, no event) before the turn is
    /// stall-aborted; `None` disables the watchdog.
    pub stall_timeout: Option<Duration>,
    /// How long to wait for the turn lock.
    pub lock_timeout: Duration,
    /// Settle a clean turn without terminal mail as `working` while the agent
    /// has live children, unread mail or unpicked dispatches, instead of
    /// completing it.
    pub wait_for_outstanding_work: bool,
    /// Ids of the mail this turn carries. Whoever delivers it marks it read
    /// only after a turn whose child exited 0 (the dispatcher does), so
    /// while such a turn settles that mail is still unread; it is not
    /// outstanding work. After any other exit it is (it stays unread and
    /// will be delivered again). Mail that arrived during the turn is not
    /// listed here and keeps the agent waiting for its next turn.
    pub delivering: Vec<String>,
    /// Spending limits: a turn is refused ([`TurnError::OverBudget`]) once
    /// the agent or its run has reached one (default: unlimited).
    pub budget: BudgetConfig,
}

impl std::fmt::Debug for RunTurnOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunTurnOptions")
            .field("agent", &self.agent)
            .field("capability", &self.capability)
            .field("worktree", &self.worktree)
            .field("task_id", &self.task_id)
            .field("runtime", &self.runtime.id())
            .finish_non_exhaustive()
    }
}

impl RunTurnOptions {
    /// Builds options with the defaults: paths from `layout`, a plain
    /// process spawner, default timeouts, waiting enabled.
    #[allow(clippy::too_many_arguments, reason = "every argument is required")]
    pub fn new(
        agent: AgentName,
        capability: impl Into<String>,
        layout: Layout,
        worktree: impl Into<PathBuf>,
        task_id: impl Into<String>,
        user_turn: impl Into<String>,
        runtime: Arc<dyn AgentRuntime>,
        model: ResolvedModel,
    ) -> Self {
        Self {
            agent,
            capability: capability.into(),
            paths: TurnPaths::of(&layout),
            layout,
            worktree: worktree.into(),
            task_id: task_id.into(),
            user_turn: user_turn.into(),
            runtime,
            model,
            run_id: None,
            spawner: Arc::new(ProcessSpawner::new()),
            log: None,
            abort: None,
            sigkill_delay: DEFAULT_SIGKILL_DELAY,
            stall_timeout: Some(DEFAULT_STALL_TIMEOUT),
            lock_timeout: lock::DEFAULT_TIMEOUT,
            wait_for_outstanding_work: true,
            delivering: Vec::new(),
            budget: BudgetConfig::default(),
        }
    }
}

/// What a turn did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TurnResult {
    /// The child's exit code; `None` when aborted, stalled, killed by a
    /// signal, or for the no-op turn.
    pub exit_code: Option<i32>,
    /// The last `result` event was not an error.
    pub clean_result: bool,
    /// The runtime session id reported this turn.
    pub new_session_id: Option<String>,
    /// A stored session id was requested but the runtime reported another.
    pub resume_mismatch: bool,
    /// The agent sent terminal mail during the turn.
    pub terminal_mail_observed: bool,
    /// Clean result, no terminal mail, not aborted.
    pub terminal_mail_missing: bool,
    /// The agent was left `working`, waiting on outstanding work.
    pub waiting: bool,
    /// The stall watchdog fired.
    pub stall_aborted: bool,
    /// Milliseconds from taking the lock to the end; 0 for the no-op.
    pub duration_ms: u64,
    /// The state read under the lock.
    pub initial_state: AgentState,
    /// The state the runner decided (the compare-and-swap may have kept another).
    pub final_state: AgentState,
}

/// What a runtime lacks for headless turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingSupport {
    /// It cannot build a headless child process
    /// ([`AgentRuntime::direct_spawn`] returns `None`).
    HeadlessSpawn,
    /// It has no parser for its child's stdout
    /// ([`AgentRuntime::event_reader`] returns `None`).
    EventParser,
}

impl std::fmt::Display for MissingSupport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::HeadlessSpawn => "cannot start a headless process",
            Self::EventParser => "has no parser for its headless output",
        })
    }
}

/// A turn that could not run or could not be trusted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TurnError {
    /// The runtime cannot run headless turns.
    #[error("Runtime \"{runtime}\" {missing}, so it cannot take headless turns")]
    Unsupported {
        /// The runtime's id (`copilot`, `sapling`, …).
        runtime: String,
        /// What the runtime lacks.
        missing: MissingSupport,
    },
    /// The turn lock could not be taken.
    #[error(transparent)]
    Lock(#[from] TurnLockError),
    /// The agent or its run has reached a `budget.*` limit; no child was
    /// started, an `error` event was recorded and the parent was told.
    #[error("{0}")]
    OverBudget(Box<BudgetExceeded>),
    /// The child could not be started.
    #[error("Failed to start the agent process for \"{agent}\"")]
    Spawn {
        /// The agent.
        agent: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// `turn.pid` could not be written, so the turn could not be stopped from
    /// outside; the child was killed.
    #[error("failed to write turn.pid at {}", path.display())]
    TurnPid {
        /// The pid file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: overstory_core::ProcessError,
    },
    /// Writing the user turn to the child's stdin failed; the child was killed.
    #[error("Failed to write the user turn to the agent's stdin")]
    Stdin {
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Reading the child's output failed; the child was killed.
    #[error("Failed to read the agent's output stream")]
    Stream {
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl TurnError {
    /// Whether the agent process cannot start at all, so running the turn
    /// again cannot succeed: its program is missing or not executable, or
    /// it exited with [`crate::shim::SPAWN_FAILED`] before any output (the
    /// shim could not run it, or a scripted agent has no script): the spawn
    /// error carries [`CannotStart`](crate::child::CannotStart). Other spawn
    /// errors (a missing working directory, out of processes) may pass.
    pub fn is_start_failure(&self) -> bool {
        matches!(
            self,
            Self::Spawn { source, .. }
                if source
                    .get_ref()
                    .is_some_and(|e| e.is::<crate::child::CannotStart>())
        )
    }

    /// Returns the error code: `AGENT_ERROR`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Lock(_) => "LIFECYCLE_ERROR",
            Self::OverBudget(_) => "BUDGET_EXCEEDED",
            _ => "AGENT_ERROR",
        }
    }
}

/// Runs one user turn for one agent; the steps are described in the
/// [`turn`](crate) module docs.
///
/// # Errors
/// [`TurnError`] for a runtime without headless support, a lock timeout, a
/// spawn failure, an unwritable `turn.pid`, or a broken stdin or stdout.
/// Store, mail and event failures are not errors: they go to the log. On
/// every error path the child (if any) is killed and reaped, `turn.pid` is
/// removed and the lock released.
///
/// # Cancel safety
/// Not cancel safe: dropping the future mid-turn releases the lock and
/// removes `turn.pid` (their guards run), but leaves the child's group
/// running. Cancel through [`RunTurnOptions::abort`] instead.
pub async fn run_turn(opts: RunTurnOptions) -> Result<TurnResult, TurnError> {
    let runtime_id = opts.runtime.id().to_owned();
    let probe = DirectSpawnOptions::new(&opts.worktree);
    if opts.runtime.direct_spawn(&probe).is_none() {
        return Err(TurnError::Unsupported {
            runtime: runtime_id,
            missing: MissingSupport::HeadlessSpawn,
        });
    }
    // One sessions connection serves the whole turn (opening costs more
    // than any query the runner makes).
    let mut sessions = SessionStore::open(&opts.paths.sessions_db).ok();
    let peeked = sessions
        .as_ref()
        .and_then(|s| s.get(opts.agent.as_str()).ok().flatten())
        .map_or(AgentState::Booting, |s| s.state);
    if opts.user_turn.is_empty() {
        return Ok(TurnResult {
            exit_code: None,
            clean_result: false,
            new_session_id: None,
            resume_mismatch: false,
            terminal_mail_observed: false,
            terminal_mail_missing: false,
            waiting: false,
            stall_aborted: false,
            duration_ms: 0,
            initial_state: peeked,
            final_state: peeked,
        });
    }
    if let Some(over) = refuse_over_budget(&opts, sessions.as_ref()) {
        return Err(TurnError::OverBudget(Box::new(over)));
    }
    let lock = lock::acquire_async(&opts.layout, &opts.agent, opts.lock_timeout).await?;
    let started = Instant::now();
    let started_at = clock::now_rfc3339();
    let mut guard = TurnGuard {
        _lock: lock,
        turn_pid: None,
    };
    let mut sink = Sink::new(opts.log.clone(), opts.agent.as_str());
    let result = drive(
        &opts,
        &mut sessions,
        peeked,
        started,
        &started_at,
        &mut guard,
        &mut sink,
    )
    .await;
    guard.cleanup(&sink);
    result
}

/// Checks the budget before a turn; when a limit is reached, records the
/// refusal and tells the parent.
fn refuse_over_budget(
    opts: &RunTurnOptions,
    sessions: Option<&SessionStore>,
) -> Option<BudgetExceeded> {
    let sink = Sink::new(opts.log.clone(), opts.agent.as_str());
    let agent = opts.agent.as_str();
    let over = spend::over_budget(
        &opts.layout,
        &opts.budget,
        agent,
        opts.run_id.as_deref(),
        &sink,
    )?;
    let parent = read_row(sessions, &opts.agent).parent;
    spend::report_refusal(
        &opts.layout,
        agent,
        &opts.task_id,
        opts.run_id.as_deref(),
        parent.as_deref(),
        &over,
        &sink,
    );
    Some(over)
}

/// Owns what every exit path must undo: `turn.pid`, then the lock.
struct TurnGuard {
    _lock: TurnLock,
    turn_pid: Option<PathBuf>,
}

impl TurnGuard {
    fn cleanup(&mut self, sink: &Sink) {
        if let Some(path) = self.turn_pid.take() {
            if let Err(e) = process::remove_pid_file(&path) {
                sink.error(&format!(
                    "failed to unlink turn.pid at {}: {e}",
                    path.display()
                ));
            }
            if path.exists() {
                sink.error(&format!(
                    "turn.pid still exists at {} after cleanup — kill primitive will target stale PID",
                    path.display()
                ));
            }
        }
    }
}

impl Drop for TurnGuard {
    fn drop(&mut self) {
        if let Some(path) = self.turn_pid.take() {
            let _ = process::remove_pid_file(&path);
        }
    }
}

/// What the re-read under the lock found.
#[derive(Default)]
struct RowFacts {
    state: Option<AgentState>,
    prior_session_id: Option<String>,
    parent: Option<String>,
    last_activity: Option<String>,
    /// Whom the turn's usage is charged to, from the row.
    usage: Option<TurnUsage>,
}

fn read_row(store: Option<&SessionStore>, agent: &AgentName) -> RowFacts {
    let Some(store) = store else {
        return RowFacts::default();
    };
    match store.get(agent.as_str()) {
        Ok(Some(s)) => RowFacts {
            usage: Some(TurnUsage::of_session(&s)),
            state: Some(s.state),
            prior_session_id: s.claude_session_id.filter(|id| !id.is_empty()),
            parent: s.parent_agent.map(AgentName::into_string),
            last_activity: Some(s.last_activity),
        },
        _ => RowFacts::default(),
    }
}

/// Steps 3–7 of a turn (see the [crate](crate) docs), under the lock:
/// re-read the row, spawn, drain, reap, settle.
async fn drive(
    opts: &RunTurnOptions,
    sessions: &mut Option<SessionStore>,
    peeked: AgentState,
    started: Instant,
    started_at: &str,
    guard: &mut TurnGuard,
    sink: &mut Sink,
) -> Result<TurnResult, TurnError> {
    let agent = opts.agent.as_str();
    let row = read_row(sessions.as_ref(), &opts.agent);
    let initial_state = row.state.unwrap_or(peeked);
    let terminal_types = Capability::terminal_mail_types_for(&opts.capability);

    let spec = spawn_spec(opts, &row)?;
    let log_dir = open_log_dir(opts, sink);
    let sink: &Sink = sink;

    // Baseline for terminal mail: a rowid, not a time stamp.
    let mail = MailStore::open(&opts.paths.mail_db).ok();
    let baseline = mail
        .as_ref()
        .and_then(|m| m.high_water_mark().ok())
        .unwrap_or(0);

    let mut child = spawn_child(opts, &spec, guard, sink).await?;
    let stderr_task = child
        .take_stderr()
        .map(|err| copy_stderr(err, log_dir.join("stderr.log")));
    let stdin_task = write_user_turn(&mut *child, &opts.user_turn);
    let (mut rx, reader_task, activity) = read_events(opts, &mut *child).await?;

    let mut drain = Drain::new(opts, sink, row.prior_session_id.as_deref());
    drain.intake.charge_to(spend::Ledger::open(
        &opts.layout,
        turn_usage(opts, &row),
        sink,
    ));
    let stream_error = drain
        .run(&mut *child, &mut rx, &activity, sessions.as_mut())
        .await;
    drain.intake.flush(sink);
    let new_session_id = drain.intake.session_id().map(str::to_owned);
    if let Some(e) = stream_error {
        child.signal(Sig::Kill);
        let _ = child.wait().await;
        reader_task.abort();
        return Err(TurnError::Stream { source: e });
    }
    let _ = reader_task.await;

    // Exit: keep escalation armed until the child is reaped.
    let exit = wait_with_escalation(&mut *child, drain.kill_at, opts.sigkill_delay).await;
    if drain.orphaned {
        end_orphaned_group(&mut *child, drain.kill_at).await;
    }
    let ended_by_us = drain.aborted || drain.stall_aborted;
    let exit_code = if ended_by_us { None } else { exit };
    if let Some(t) = stderr_task {
        let _ = t.await;
    }
    if let Some(t) = stdin_task {
        match t.await {
            Ok(Err(source)) if !ended_by_us && !drain.observed_any_event => {
                return Err(TurnError::Stdin { source });
            }
            Ok(Err(e)) => sink.warn(&format!("writing the user turn failed: {e}")),
            _ => {}
        }
    }

    // An agent that could not start at all (the shim could not run it, or
    // it refused to: a scripted agent without a script) is a spawn failure,
    // not a turn that ran.
    if exit_code == Some(crate::shim::SPAWN_FAILED) && !drain.observed_any_event {
        let stderr = log_dir.join("stderr.log");
        let detail = stderr_reason(&stderr).unwrap_or_else(|| {
            format!(
                "the agent process exited with code {} before writing any output",
                crate::shim::SPAWN_FAILED
            )
        });
        let source = crate::child::cannot_start(std::io::ErrorKind::NotFound, detail);
        record_start_failure(opts, &source, sink);
        return Err(TurnError::Spawn {
            agent: agent.to_owned(),
            source,
        });
    }

    // Terminal mail, outstanding work.
    let terminal_mail_observed = mail
        .as_ref()
        .and_then(|m| m.has_sent_since(agent, terminal_types, baseline).ok())
        .unwrap_or(false);
    let outstanding_work = opts.wait_for_outstanding_work
        && has_outstanding_work(
            agent,
            // The deliverer acknowledges the carried mail only after a turn
            // that exited 0; after any other exit it stays unread and is
            // still work to do.
            if exit_code == Some(0) {
                &opts.delivering
            } else {
                &[]
            },
            sessions.as_ref(),
            mail.as_ref(),
        );
    let facts = TurnFacts {
        aborted: drain.aborted,
        stall_aborted: drain.stall_aborted,
        clean_result: drain.clean_result,
        terminal_mail_observed,
        observed_any_event: drain.observed_any_event,
        outstanding_work,
    };
    let settlement = outcome::settle(initial_state, &facts);
    if settlement.terminal_mail_missing && !settlement.waiting {
        sink.error(&format!(
            "agent exited cleanly without sending terminal mail (expected {}); marking completed and surfacing contract violation",
            outcome::expected_types(terminal_types)
        ));
    }
    let final_state = settlement.final_state;
    if final_state != initial_state {
        write_final_state(opts, sessions.as_mut(), initial_state, final_state, sink);
    }

    // Tell the parent.
    if let (Some(parent), Some(reason)) = (row.parent.as_deref(), settlement.notify_parent) {
        let reason = outcome::death_reason_text(reason, terminal_types);
        let last_activity = row
            .last_activity
            .clone()
            .unwrap_or_else(|| started_at.to_owned());
        notify_parent(opts, mail.as_ref(), parent, &reason, &last_activity, sink);
    }

    touch_last_activity(opts, sessions.as_ref(), sink);

    Ok(TurnResult {
        exit_code,
        clean_result: drain.clean_result,
        new_session_id,
        resume_mismatch: drain.resume_mismatch,
        terminal_mail_observed,
        terminal_mail_missing: settlement.terminal_mail_missing,
        waiting: settlement.waiting,
        stall_aborted: drain.stall_aborted,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        initial_state,
        final_state,
    })
}

/// Builds the child's environment and argv; the stored runtime session id
/// read under the lock is the one resumed.
fn spawn_spec(opts: &RunTurnOptions, row: &RowFacts) -> Result<SpawnSpec, TurnError> {
    let mut child_env: BTreeMap<String, String> = opts.runtime.build_env(&opts.model);
    child_env.insert(env::AGENT_NAME.into(), opts.agent.as_str().to_owned());
    child_env.insert(
        env::WORKTREE_PATH.into(),
        opts.worktree.to_string_lossy().into_owned(),
    );
    child_env.insert(env::TASK_ID.into(), opts.task_id.clone());
    child_env.insert(
        env::PROJECT_ROOT.into(),
        opts.layout.root().to_string_lossy().into_owned(),
    );
    let spawn_opts = DirectSpawnOptions {
        cwd: opts.worktree.clone(),
        env: child_env,
        model: opts.model.spawn_model().map(str::to_owned),
        instruction_path: opts.runtime.instruction_path().to_owned(),
        resume_session_id: row.prior_session_id.clone(),
        disallowed_tools: Vec::new(),
        max_budget_usd: spend::remaining_usd(&opts.layout, &opts.budget, opts.run_id.as_deref()),
    };
    opts.runtime
        .direct_spawn(&spawn_opts)
        .ok_or_else(|| TurnError::Unsupported {
            runtime: opts.runtime.id().to_owned(),
            missing: MissingSupport::HeadlessSpawn,
        })
}

/// Creates the turn's log directory (the sink writes `runner.log` there
/// from now on) and the directory of `turn.pid`; returns the log directory.
fn open_log_dir(opts: &RunTurnOptions, sink: &mut Sink) -> PathBuf {
    let stamp = overstory_sessions::hook_events::log_dir_stamp();
    let log_dir = opts.layout.agent_log_session_dir(&opts.agent, &stamp);
    if std::fs::create_dir_all(&log_dir).is_ok() {
        sink.bind_file(log_dir.join("runner.log"));
    }
    if let Some(dir) = opts.layout.agent_turn_pid(&opts.agent).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    log_dir
}

/// Spawns the child and publishes `turn.pid` (the guard removes it on every
/// exit path). A child whose pid cannot be published is killed: nobody
/// could stop it from outside.
async fn spawn_child(
    opts: &RunTurnOptions,
    spec: &SpawnSpec,
    guard: &mut TurnGuard,
    sink: &Sink,
) -> Result<Box<dyn TurnChild>, TurnError> {
    let mut child = match opts.spawner.spawn(spec) {
        Ok(c) => c,
        Err(source) => {
            record_start_failure(opts, &source, sink);
            return Err(TurnError::Spawn {
                agent: opts.agent.as_str().to_owned(),
                source,
            });
        }
    };
    let turn_pid_path = opts.layout.agent_turn_pid(&opts.agent);
    guard.turn_pid = Some(turn_pid_path.clone());
    if let Err(source) = process::write_pid_file(&turn_pid_path, child.pid()) {
        sink.error(&format!(
            "failed to write turn.pid at {} — kill primitive unavailable, aborting turn",
            turn_pid_path.display()
        ));
        child.signal(Sig::Kill);
        let _ = child.wait().await;
        return Err(TurnError::TurnPid {
            path: turn_pid_path,
            source,
        });
    }
    Ok(child)
}

/// Writes the user turn to the child's stdin in the background, concurrently
/// with draining stdout, then closes it.
fn write_user_turn(
    child: &mut dyn TurnChild,
    user_turn: &str,
) -> Option<JoinHandle<std::io::Result<()>>> {
    child.take_stdin().map(|mut input| {
        let turn = user_turn.to_owned();
        tokio::spawn(async move {
            input.write_all(turn.as_bytes()).await?;
            input.flush().await?;
            input.shutdown().await
        })
    })
}

/// The time of the last byte read from the child's stdout.
type Activity = Arc<std::sync::Mutex<Instant>>;

/// Starts parsing the child's stdout into events, through a reader task so
/// the stall timer can wait on a cancel-safe channel. Kills the child when
/// it has no stdout or the runtime has no event reader.
async fn read_events(
    opts: &RunTurnOptions,
    child: &mut dyn TurnChild,
) -> Result<(mpsc::Receiver<Feed>, JoinHandle<()>, Activity), TurnError> {
    let activity: Activity = Arc::new(std::sync::Mutex::new(Instant::now()));
    let Some(stdout) = child.take_stdout() else {
        child.signal(Sig::Kill);
        let _ = child.wait().await;
        return Err(TurnError::Stream {
            source: std::io::Error::other("the child has no stdout"),
        });
    };
    let watched: Box<dyn AsyncRead + Send + Unpin> = Box::new(Watched {
        inner: stdout,
        activity: activity.clone(),
    });
    let Some(reader) = opts.runtime.event_reader(watched, ParseOptions::default()) else {
        child.signal(Sig::Kill);
        let _ = child.wait().await;
        return Err(TurnError::Unsupported {
            runtime: opts.runtime.id().to_owned(),
            missing: MissingSupport::EventParser,
        });
    };
    let (rx, task) = pump(reader);
    Ok((rx, task, activity))
}

/// The drain step: takes in the child's events until its stdout ends,
/// while watching for an operator abort and for stalls.
struct Drain<'a> {
    opts: &'a RunTurnOptions,
    sink: &'a Sink,
    /// The session id the turn asked to resume.
    prior_session_id: Option<&'a str>,
    intake: Intake,
    resume_mismatch: bool,
    clean_result: bool,
    observed_any_event: bool,
    aborted: bool,
    stall_aborted: bool,
    /// When a pending SIGKILL fires.
    kill_at: Option<Instant>,
    last_event_at: Instant,
    /// The child exited (and was reaped) while its stdout was still open;
    /// its exit code, `None` for a signal.
    leader_exit: Option<Option<i32>>,
    /// The child exited but its process group lived on (the turn shim was
    /// killed, or the agent left processes behind); the group is being
    /// terminated.
    orphaned: bool,
}

impl<'a> Drain<'a> {
    fn new(opts: &'a RunTurnOptions, sink: &'a Sink, prior_session_id: Option<&'a str>) -> Self {
        let events = match EventStore::open(&opts.paths.events_db) {
            Ok(s) => Some(s),
            Err(e) => {
                sink.warn(&format!("failed to open events.db: {e}"));
                None
            }
        };
        Self {
            opts,
            sink,
            prior_session_id,
            intake: Intake::new(opts.agent.clone(), opts.run_id.clone(), events),
            resume_mismatch: false,
            clean_result: false,
            observed_any_event: false,
            aborted: false,
            stall_aborted: false,
            kill_at: None,
            last_event_at: Instant::now(),
            leader_exit: None,
            orphaned: false,
        }
    }

    /// Runs until the event channel closes. Returns the read error that
    /// ended it early, if any (the caller kills the child).
    async fn run(
        &mut self,
        child: &mut dyn TurnChild,
        rx: &mut mpsc::Receiver<Feed>,
        activity: &Activity,
        mut sessions: Option<&mut SessionStore>,
    ) -> Option<std::io::Error> {
        let abort = self.opts.abort.clone().unwrap_or_default();
        loop {
            let stall_at = self.stall_at(activity);
            let wake = match (stall_at.filter(|_| !self.ended_by_us()), self.kill_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let feed = tokio::select! {
                biased;
                () = abort.cancelled(), if !self.aborted => {
                    self.on_abort(child);
                    continue;
                }
                feed = rx.recv() => feed,
                status = child.wait(), if self.leader_exit.is_none() => {
                    self.on_leader_exit(child, status.ok().flatten());
                    continue;
                }
                () = sleep_until_opt(wake) => {
                    self.on_timer(child, stall_at);
                    continue;
                }
            };
            // A closed channel is the end of the stream.
            let feed = feed?;
            match feed {
                Feed::Event(ev) => self.on_event(&ev, sessions.as_deref_mut(), rx.is_empty()),
                Feed::Failed(e) => {
                    self.sink.error(&format!(
                        "parser iteration threw — killing subprocess to avoid orphan: {e}"
                    ));
                    return Some(e);
                }
            }
        }
    }

    fn ended_by_us(&self) -> bool {
        self.aborted || self.stall_aborted
    }

    /// When the turn counts as stalled: `stall_timeout` after the later of
    /// the last event and the last byte read.
    fn stall_at(&self, activity: &Activity) -> Option<Instant> {
        self.opts.stall_timeout.map(|t| {
            let bytes_at = activity.lock().map(|a| *a).unwrap_or(self.last_event_at);
            bytes_at.max(self.last_event_at) + t
        })
    }

    /// An operator abort: SIGTERM now, SIGKILL after `sigkill_delay`.
    fn on_abort(&mut self, child: &mut dyn TurnChild) {
        self.aborted = true;
        child.signal(Sig::Term);
        self.kill_at
            .get_or_insert(Instant::now() + self.opts.sigkill_delay);
    }

    /// The child exited while its stdout is still open. Normally the rest of
    /// its output is already in the pipe and the stream ends next. But when
    /// processes are left in its group (the turn shim was killed and the
    /// agent under it runs on, or the agent left tools behind holding
    /// stdout), nothing would ever end the turn short of the stall timeout:
    /// the group is terminated now (SIGTERM, SIGKILL after `sigkill_delay`).
    fn on_leader_exit(&mut self, child: &mut dyn TurnChild, exit: Option<i32>) {
        self.leader_exit = Some(exit);
        if !child.group_alive() {
            return;
        }
        self.orphaned = true;
        let pid = child.pid();
        let how = exit.map_or_else(
            || "was killed by a signal".to_owned(),
            |c| format!("exited with code {c}"),
        );
        self.sink.error(&format!(
            "turn process {pid} {how} but its process group still runs — terminating the group"
        ));
        self.intake.push(
            NewEvent::new(self.opts.agent.as_str(), EventType::Error)
                .level(EventLevel::Error)
                .run(self.opts.run_id.clone())
                .data(&json!({
                    "reason": "the turn process ended while its agent was still running; the agent's process group was terminated",
                    "pid": pid,
                    "exitCode": exit,
                })),
        );
        child.signal(Sig::Term);
        self.kill_at
            .get_or_insert(Instant::now() + self.opts.sigkill_delay);
    }

    /// A timer fired: the pending SIGKILL, or the stall watchdog.
    fn on_timer(&mut self, child: &mut dyn TurnChild, stall_at: Option<Instant>) {
        let now = Instant::now();
        if self.kill_at.is_some_and(|k| now >= k) {
            child.signal(Sig::Kill);
            self.kill_at = None;
        }
        if let (Some(t), Some(at)) = (self.opts.stall_timeout, stall_at)
            && now >= at
            && !self.ended_by_us()
        {
            self.stall_aborted = true;
            self.sink.error(&format!(
                "parser stalled: no event for {}ms — aborting via SIGTERM",
                t.as_millis()
            ));
            child.signal(Sig::Term);
            self.kill_at.get_or_insert(now + self.opts.sigkill_delay);
        }
    }

    /// One event: re-arms the stall timer, goes through the intake, and
    /// flags a resumed session the runtime did not honour.
    fn on_event(
        &mut self,
        ev: &RuntimeEvent,
        sessions: Option<&mut SessionStore>,
        producer_paused: bool,
    ) {
        self.last_event_at = Instant::now();
        self.observed_any_event = true;
        let intook = self.intake.record(ev, sessions, self.sink);
        if let Some(sid) = intook.new_session_id
            && !self.resume_mismatch
            && let Some(prior) = self.prior_session_id.filter(|p| *p != sid)
        {
            self.resume_mismatch = true;
            self.intake.push(
                NewEvent::custom(
                    self.opts.agent.as_str(),
                    "resume_mismatch",
                    json!({"requestedSessionId": prior, "observedSessionId": sid}),
                )
                .level(EventLevel::Warn),
            );
            self.sink.warn(&format!(
                "resume mismatch: requested {prior} but runtime returned {sid}"
            ));
        }
        if let Some(clean) = intook.result {
            self.clean_result = clean;
        }
        self.intake.flush_if_paused(producer_paused, self.sink);
    }
}

/// Writes the decided state through the compare-and-swap; a rejection or a
/// missing store is logged, not fatal.
fn write_final_state(
    opts: &RunTurnOptions,
    sessions: Option<&mut SessionStore>,
    initial_state: AgentState,
    final_state: AgentState,
    sink: &Sink,
) {
    let Some(store) = sessions else {
        sink.warn(&format!(
            "failed to transition state to {final_state}: sessions.db unavailable"
        ));
        return;
    };
    match store.transition(opts.agent.as_str(), &Transition::to(final_state)) {
        Ok(TransitionOutcome::Rejected { prev, attempted }) => sink.warn(&format!(
            "turn-end transition {initial_state} → {attempted} rejected: state is now {prev}"
        )),
        Ok(_) => {}
        Err(e) => sink.warn(&format!("failed to transition state to {final_state}: {e}")),
    }
}

/// Refreshes `lastActivity` at the end of the turn; a failure makes the
/// row's `lastActivity` unreliable and is logged as an error.
fn touch_last_activity(opts: &RunTurnOptions, sessions: Option<&SessionStore>, sink: &Sink) {
    let touched = match sessions {
        Some(s) => s
            .touch(opts.agent.as_str())
            .map(|_| ())
            .map_err(|e| e.to_string()),
        None => Err(format!("cannot open {}", opts.paths.sessions_db.display())),
    };
    if let Err(e) = touched {
        sink.warn(&format!("failed to update lastActivity: {e}"));
        sink.error(
            "lastActivity stayed at startedAt — session.lastActivity is unreliable for this turn",
        );
    }
}

/// Whether the agent still has something to wait for: a child that has not
/// finished, mail it has not read, or a dispatch nobody has picked up.
fn has_outstanding_work(
    agent: &str,
    delivering: &[String],
    sessions: Option<&SessionStore>,
    mail: Option<&MailStore>,
) -> bool {
    let live_children = sessions.and_then(|s| s.active().ok()).is_some_and(|all| {
        all.iter()
            .any(|s| s.parent_agent.as_deref() == Some(agent) && !s.state.is_terminal())
    });
    // The mail this turn carries is still unread until its deliverer
    // acknowledges it after the turn: only other unread mail counts.
    let unread = mail
        .and_then(|m| m.unread_count_except(agent, delivering).ok())
        .is_some_and(|n| n > 0);
    // A dispatch nobody picked up counts, unless its recipient has ended
    // (a killed builder never reads its dispatch; waiting on it is forever).
    let ended = |to: &str| {
        sessions
            .and_then(|s| s.get(to).ok().flatten())
            .is_some_and(|row| row.state.is_terminal())
    };
    let dispatched = mail.is_some_and(|m| {
        m.has_unread_from(agent, MessageType::Dispatch.as_str())
            .unwrap_or(false)
            && m.list(&ListFilter {
                from: Some(agent.to_owned()),
                unread: Some(true),
                kind: Some(MessageType::Dispatch),
                ..ListFilter::default()
            })
            // Unlistable: assume the dispatch is still wanted.
            .map_or(true, |l| l.iter().any(|d| !ended(&d.to)))
    });
    live_children || unread || dispatched
}

fn notify_parent(
    opts: &RunTurnOptions,
    mail: Option<&MailStore>,
    parent: &str,
    reason: &str,
    last_activity: &str,
    sink: &Sink,
) {
    let Some(store) = mail else {
        sink.warn("failed to open mail store for parent notify");
        return;
    };
    let died = RunnerWorkerDied {
        agent: opts.agent.as_str(),
        capability: &opts.capability,
        task_id: &opts.task_id,
        parent,
        what: "ended without sending its terminal mail",
        reason,
        last_activity,
    };
    if let Err(e) = store.insert(&died.message()) {
        sink.warn(&format!("failed to send worker_died mail to parent: {e}"));
    }
}

/// The turn runner's `worker_died` mail (`terminatedBy: runner`), from the
/// worker to its parent. The dispatcher sends the same one for an agent that
/// cannot start.
pub(crate) struct RunnerWorkerDied<'a> {
    pub(crate) agent: &'a str,
    pub(crate) capability: &'a str,
    pub(crate) task_id: &'a str,
    pub(crate) parent: &'a str,
    /// What happened, completing "Worker \"x\" (builder) on task t …".
    pub(crate) what: &'a str,
    pub(crate) reason: &'a str,
    pub(crate) last_activity: &'a str,
}

impl RunnerWorkerDied<'_> {
    pub(crate) fn message(&self) -> NewMessage {
        let Self {
            agent,
            capability,
            task_id,
            parent,
            what,
            reason,
            last_activity,
        } = *self;
        WorkerDied {
            agent_name: agent.to_owned(),
            capability: capability.to_owned(),
            task_id: task_id.to_owned(),
            reason: reason.to_owned(),
            last_activity: last_activity.to_owned(),
            terminated_by: TerminatedBy::Runner,
        }
        .to_parent(parent, what)
    }
}

/// Whom this turn's tokens are charged to.
/// The row says whom (and since when); the options, which an embedder may
/// set without a row, win for the agent's capability, task and run.
fn turn_usage(opts: &RunTurnOptions, row: &RowFacts) -> TurnUsage {
    let mut t = row
        .usage
        .clone()
        .unwrap_or_else(|| TurnUsage::new(opts.agent.as_str(), opts.capability.as_str()));
    t.capability.clone_from(&opts.capability);
    t.task_id.clone_from(&opts.task_id);
    t.run_id.clone_from(&opts.run_id);
    t
}

pub(crate) fn event_row(
    ev: &RuntimeEvent,
    agent: &str,
    run_id: Option<String>,
    session: Option<String>,
) -> NewEvent {
    let kind = EventType::parse(ev.store_type()).unwrap_or(EventType::Custom);
    let level = if ev.store_level() == "error" {
        EventLevel::Error
    } else {
        EventLevel::Info
    };
    let data = serde_json::to_value(ev).unwrap_or(Value::Null);
    let mut row = NewEvent::new(agent, kind)
        .level(level)
        .run(run_id)
        .session(session);
    if let RuntimeEvent::ToolUse {
        name: Some(name),
        input,
        ..
    } = ev
    {
        let filtered = filter_tool_args(name, input);
        row = row.tool(name.clone(), Some(&Value::Object(filtered.args)));
    }
    if let Some(ms) = ev.duration_ms_rounded() {
        row.tool_duration_ms = Some(ms);
    }
    if !data.is_null() {
        row = row.data(&data);
    }
    row
}

/// Waits for the child to exit. A pending SIGKILL (`kill_at`) still fires;
/// a child that does not exit within [`EXIT_GRACE`] of closing its stdout is
/// terminated (SIGTERM, then SIGKILL after `sigkill_delay`). Always reaps.
async fn wait_with_escalation(
    child: &mut dyn TurnChild,
    mut kill_at: Option<Instant>,
    sigkill_delay: Duration,
) -> Option<i32> {
    let mut term_at = Some(Instant::now() + EXIT_GRACE);
    loop {
        let wake = match (kill_at, term_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            status = child.wait() => return status.ok().flatten(),
            () = sleep_until_opt(wake) => {
                let now = Instant::now();
                if kill_at.is_some_and(|k| now >= k) {
                    child.signal(Sig::Kill);
                    kill_at = None;
                }
                if term_at.is_some_and(|t| now >= t) {
                    child.signal(Sig::Term);
                    term_at = None;
                    kill_at.get_or_insert(now + sigkill_delay);
                }
            }
        }
    }
}

/// Records that the agent process could not start: an `error` event with
/// the cause (the state is left alone: deciding what a failed start means
/// for the agent is the caller's, see [`crate::dispatch`]).
fn record_start_failure(opts: &RunTurnOptions, cause: &std::io::Error, sink: &Sink) {
    sink.error(&format!("failed to start the agent process: {cause}"));
    let event = NewEvent::new(opts.agent.as_str(), EventType::Error)
        .level(EventLevel::Error)
        .run(opts.run_id.clone())
        .data(&json!({
            "reason": "the agent process could not start",
            "error": cause.to_string(),
            "runtime": opts.runtime.id(),
        }));
    let stored = EventStore::open(&opts.paths.events_db).and_then(|s| s.insert(&event));
    if let Err(e) = stored {
        sink.warn(&format!(
            "failed to record the start failure in events.db: {e}"
        ));
    }
}

/// Returns what an agent that could not start said on stderr: its first
/// `Error` line (how `ov` reports), else its last non-empty line.
fn stderr_reason(path: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .iter()
        .find(|l| l.starts_with("Error"))
        .or_else(|| lines.last())
        .map(|l| l.chars().take(2000).collect())
}

/// Makes sure nothing is left of a group whose leader already exited: waits
/// for the group to empty until the pending SIGKILL time (its SIGTERM was
/// sent), then kills what is left and waits a little for it to go. The
/// members are not our children (init reaps them), so this polls.
async fn end_orphaned_group(child: &mut dyn TurnChild, kill_at: Option<Instant>) {
    let kill_at = kill_at.unwrap_or_else(Instant::now);
    let mut delay = Duration::from_millis(5);
    let mut killed = false;
    let give_up = kill_at + ORPHAN_KILL_WAIT;
    while child.group_alive() {
        let now = Instant::now();
        if !killed && now >= kill_at {
            child.signal(Sig::Kill);
            killed = true;
        }
        if now >= give_up {
            return;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(100));
    }
}

/// How long after SIGKILL an orphaned group may take to disappear before the
/// runner stops watching it.
const ORPHAN_KILL_WAIT: Duration = Duration::from_secs(2);

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Records the time of the last byte read from the child's stdout, so a
/// child that is still writing is never counted as stalled.
struct Watched {
    inner: ChildOutput,
    activity: Arc<std::sync::Mutex<Instant>>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = self.inner.as_mut().poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(())))
            && buf.filled().len() > before
            && let Ok(mut a) = self.activity.lock()
        {
            *a = Instant::now();
        }
        poll
    }
}
