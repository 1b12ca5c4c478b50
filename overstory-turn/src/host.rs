//! The agent host: one long-lived headless process for a persistent agent
//! (coordinator, orchestrator, monitor), fed its mail on stdin.
//!
//! Task-scoped workers run one process per turn ([`crate`]). A
//! persistent agent keeps one runtime process for its whole life instead,
//! and something must own it: keep its stdin open, record what it says, and
//! write each new batch of mail as one more stream-json user turn — with no
//! server running. That owner is the host, a detached `ov agent-host --agent
//! <name>` process ([`run_host`], started by [`crate::dispatch::Launcher::launch_host`]):
//!
//! 1. it takes the agent's host lock (`agents/<name>/host.lock`, an OS
//!    advisory lock the kernel drops when the host dies), so there is at
//!    most one host per agent, and writes `agents/<name>/host.pid`;
//! 2. it spawns the runtime's headless child ([`AgentRuntime::direct_spawn`])
//!    through the same spawner as the turn runner — under `ov turn-shim`, so
//!    a host killed with SIGKILL takes the child's whole process group with
//!    it — with stdin piped and kept open;
//! 3. it tees the child's raw stdout to `logs/<name>/<stamp>/stdout.log`
//!    (stderr to `stderr.log`), parses it with the runtime's event reader,
//!    records the events in `events.db` in batches, captures the runtime
//!    session id and keeps `lastActivity` fresh (also every 30 s while the
//!    agent idles waiting for mail: waiting is not stalling);
//! 4. whenever the agent is idle — before its first turn, and after each
//!    `result` event — it delivers everything pending as ONE user turn
//!    (after the first delivery it records the child's pid in the session
//!    row, so a starter waiting for the pid knows the first prompt is out):
//!    queued turns ([`crate::queue::enqueue_turn`]: the first prompt,
//!    nudges) then all unread mail in the escaped
//!    [`overstory_mail::framing::format_batch`] framing. Mail is marked read
//!    only after the write to stdin succeeded;
//! 5. it learns about new mail from a datagram on `agents/<name>/host.sock`
//!    ([`poke`], called by [`crate::dispatch::wake`], hence by `ov mail send`
//!    and `ov nudge`), and polls every [`DEFAULT_POLL_INTERVAL`] as a
//!    fallback;
//! 6. on a stop request (SIGTERM, or [`HostOptions::shutdown`], or its
//!    project's `.overstory/config.yaml` vanishing) it kills the
//!    child's group (SIGTERM, grace, SIGKILL) and settles the session
//!    `completed`; when the child dies on its own it settles `zombie` and
//!    records an error event. Either way it flushes the events, removes the
//!    socket and pid file, and only then lets go of the lock.
//!
//! A host killed with SIGKILL leaves its socket and pid file behind; they
//! are never trusted: liveness is the lock ([`live_host`]), and the next
//! host removes them before binding.
//!
//! The host records its agent's events itself; a log tailer (the
//! original's watchdog tails `stdout.log` of headless agents) must skip
//! agents whose host is live, or every event would be stored twice.
//!
//! Measured on the 2-core development machine (debug build, scripted
//! agent): 5–9 ms from `ov mail send` storing a mail to the host writing it
//! to the agent's stdin.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use overstory_core::events::{EventLevel, EventStore, EventType, NewEvent};
use overstory_core::lockfile::FileLock;
use overstory_core::process::{self, Sig};
use overstory_core::{AgentName, DbError, FsError, Layout, env};
use overstory_mail::MailClient;
use overstory_sessions::{AgentState, RunMode, Session, SessionStore, Transition};
use serde::Serialize;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWriteExt as _, ReadBuf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::child::{ChildOutput, ChildStdin, TurnChild, copy_stderr};
use crate::factory::TurnFactory;
use crate::feed::{Feed, Intake, pump};
use crate::log::Sink;
use crate::queue::{queued_turns, turn_text};
use overstory_runtime::error::RuntimeError;
use overstory_runtime::runtime::{AgentRuntime, DirectSpawnOptions, SpawnSpec};
use overstory_runtime::stream_json::{ParseOptions, RuntimeEvent};

/// How often a host looks for mail when nobody pokes it.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Default gap between SIGTERM and SIGKILL when the child is stopped.
pub const DEFAULT_SIGKILL_DELAY: Duration = Duration::from_secs(2);
/// How long a starting host waits for a lock that is just being let go.
const LOCK_WAIT: Duration = Duration::from_secs(1);
/// How often an idle agent's `lastActivity` is refreshed (waiting for mail
/// is not a stall).
const IDLE_HEARTBEAT: Duration = Duration::from_secs(30);

/// A host could not start (once running, problems are logged, not returned).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// Another host already owns the agent.
    #[error("An agent host for \"{agent}\" is already running{}; stop it first with `ov stop {agent}`", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    AlreadyRunning {
        /// The agent.
        agent: String,
        /// The other host's pid, when readable.
        pid: Option<i32>,
    },
    /// The agent has no session row.
    #[error(
        "No session for agent \"{agent}\"; start it with `ov coordinator start` (or its own start command)"
    )]
    NoSession {
        /// The agent.
        agent: String,
    },
    /// The agent's session is finished.
    #[error(
        "Agent \"{agent}\" is {state}; a finished agent gets no host. Start a new one with its start command (e.g. `ov coordinator start`)"
    )]
    Finished {
        /// The agent.
        agent: String,
        /// Its state.
        state: AgentState,
    },
    /// The runtime cannot run a headless child.
    #[error(
        "Runtime \"{runtime}\" cannot run \"{agent}\" headless (no direct spawn or event parser)"
    )]
    Unsupported {
        /// The agent.
        agent: String,
        /// The runtime id.
        runtime: String,
    },
    /// The agent process could not be started.
    #[error("Failed to start the agent process for \"{agent}\"")]
    Spawn {
        /// The agent.
        agent: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A file could not be written.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The runtime could not be built.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The pid file could not be written.
    #[error(transparent)]
    Process(#[from] overstory_core::ProcessError),
}

impl HostError {
    /// Returns the error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Db(e) => e.code(),
            Self::Fs(e) => e.code(),
            Self::Runtime(e) => e.code(),
            Self::Process(e) => e.code(),
            _ => "AGENT_ERROR",
        }
    }
}

/// Choices for one host run.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// How often to look for mail without a poke.
    pub poll_interval: Duration,
    /// Gap between SIGTERM and SIGKILL when the child is stopped.
    pub sigkill_delay: Duration,
    /// Cancelling it stops the host (as SIGTERM does).
    pub shutdown: CancellationToken,
    /// Also stop on SIGTERM sent to this process (the `ov agent-host`
    /// process sets it; an embedding program may prefer the token alone).
    pub stop_on_sigterm: bool,
}

impl Default for HostOptions {
    fn default() -> Self {
        Self {
            poll_interval: DEFAULT_POLL_INTERVAL,
            sigkill_delay: DEFAULT_SIGKILL_DELAY,
            shutdown: CancellationToken::new(),
            stop_on_sigterm: false,
        }
    }
}

/// Why a host ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostEnd {
    /// A stop was requested; the agent is `completed`.
    Stopped,
    /// The agent process ended on its own; the agent is `zombie`.
    ChildExited,
}

/// What a host run did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostReport {
    /// The hosted agent (`coordinator`).
    pub agent: AgentName,
    /// The agent process's pid (its process group).
    pub child_pid: u32,
    /// User turns written to the agent.
    pub turns: usize,
    /// Mail ids delivered and marked read.
    pub delivered: Vec<String>,
    /// Why the host ended.
    pub end: HostEnd,
    /// The agent process's exit code (`None` when a signal ended it).
    pub exit_code: Option<i32>,
    /// The state written at the end.
    pub final_state: AgentState,
    /// The directory holding `stdout.log` and `stderr.log`.
    pub log_dir: PathBuf,
}

/// Returns whether `session` is a persistent agent that runs under a host:
/// a persistent capability, headless (no tmux session), not finished.
pub fn is_hosted_session(session: &Session) -> bool {
    session.mode() == RunMode::Hosted && !session.state.is_terminal()
}

/// Takes the agent's host lock (held for the host's whole life) unless
/// another host holds it.
fn try_take_host_lock(layout: &Layout, agent: &AgentName) -> Result<Option<FileLock>, FsError> {
    FileLock::try_acquire(&layout.agent_host_lock(agent))
}

/// Returns the pid of the agent's live host, or `None` when no host holds
/// its lock (a pid file or socket left by a killed host does not count).
pub fn live_host(layout: &Layout, agent: &AgentName) -> Option<i32> {
    if !layout.agent_host_lock(agent).exists() {
        return None;
    }
    match try_take_host_lock(layout, agent) {
        Ok(None) => {
            // Held: the pid file may lag the lock by a moment at start.
            process::read_pid_file(&layout.agent_host_pid(agent)).or(Some(0))
        }
        _ => None,
    }
}

/// Wakes the agent's live host so it looks at its mail now. Returns the
/// host's pid, or `None` when no host is alive. A host whose socket cannot
/// be reached still finds the mail at its next poll.
pub fn poke(layout: &Layout, agent: &AgentName) -> Option<i32> {
    let pid = live_host(layout, agent)?;
    if let Ok(sock) = UnixDatagram::unbound() {
        let _ = sock.send_to(b"wake", layout.agent_host_socket(agent));
    }
    Some(pid)
}

/// Stops the agent's live host: SIGTERM, then waits up to `wait` for it to
/// settle the agent and let go of its lock; a host that does not is killed
/// with SIGKILL (its shim then kills the agent's group). Returns whether a
/// host was running.
pub fn stop_host(layout: &Layout, agent: &AgentName, wait: Duration) -> bool {
    let Some(pid) = live_host(layout, agent) else {
        return false;
    };
    if pid > 0 {
        let _ = process::signal_process(pid, Sig::Term);
    }
    let deadline = std::time::Instant::now() + wait;
    while std::time::Instant::now() < deadline {
        if live_host(layout, agent).is_none() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if pid > 0 {
        let _ = process::signal_process(pid, Sig::Kill);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while live_host(layout, agent).is_some() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Removes the host's socket and pid file when dropped (before the lock).
struct HostFiles {
    socket: PathBuf,
    pid: PathBuf,
    owner: PathBuf,
    socket_stop: Arc<AtomicBool>,
}

impl Drop for HostFiles {
    fn drop(&mut self) {
        self.socket_stop.store(true, Ordering::Relaxed);
        let _ = std::fs::remove_file(&self.socket);
        let _ = process::remove_pid_file(&self.pid);
        let _ = process::remove_pid_file(&self.owner);
    }
}

/// Binds the wake socket and forwards each datagram into `tx` from a
/// thread. Returns false when the socket cannot be bound (the host then
/// relies on polling).
fn listen(path: &Path, tx: mpsc::Sender<()>, stop: Arc<AtomicBool>) -> bool {
    let _ = std::fs::remove_file(path);
    let sock = match UnixDatagram::bind(path) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "agent-host: cannot bind the wake socket; polling only");
            return false;
        }
    };
    let _ = sock.set_read_timeout(Some(Duration::from_millis(250)));
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        while !stop.load(Ordering::Relaxed) {
            if sock.recv(&mut buf).is_ok() {
                // A full channel already holds a wake-up; one is enough.
                let _ = tx.try_send(());
            }
        }
    });
    true
}

/// Copies every byte read from the child's stdout into `stdout.log`.
struct Tee {
    inner: ChildOutput,
    file: Option<File>,
}

impl AsyncRead for Tee {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = self.inner.as_mut().poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) {
            let new = &buf.filled()[before..];
            if !new.is_empty()
                && let Some(f) = self.file.as_mut()
                && f.write_all(new).is_err()
            {
                self.file = None;
            }
        }
        poll
    }
}

/// Runs the host of `agent` until it is stopped or its agent process ends;
/// see the [module docs](self).
///
/// # Errors
/// [`HostError`] when the host cannot start: another host runs, the agent
/// has no (or a finished) session, the runtime cannot run it headless, the
/// lock or pid file cannot be written, or the process cannot be started.
/// Nothing is left behind on these paths.
///
/// # Cancel safety
/// Not cancel safe: dropping the future removes the socket, pid file and
/// lock but leaves the agent process to its shim (which kills it when this
/// process exits). Stop through [`HostOptions::shutdown`] instead.
pub async fn run_host(
    factory: &TurnFactory,
    agent: &AgentName,
    opts: &HostOptions,
) -> Result<HostReport, HostError> {
    let layout = &factory.layout;
    let name = agent.as_str();
    let _lock = take_lock(layout, agent).await?;
    let (wake_tx, mut wake_rx) = mpsc::channel::<()>(1);
    let files = HostFiles {
        socket: layout.agent_host_socket(agent),
        pid: layout.agent_host_pid(agent),
        owner: layout.agent_host_owner(agent),
        socket_stop: Arc::new(AtomicBool::new(false)),
    };
    // The program this host lives for, if its starter named one.
    let owner = process::read_pid_file(&files.owner);
    process::write_pid_file(&files.pid, std::process::id())?;
    listen(&files.socket, wake_tx, files.socket_stop.clone());

    let sessions = SessionStore::open(&layout.sessions_db())?;
    let session = sessions.get(name)?.ok_or_else(|| HostError::NoSession {
        agent: name.to_owned(),
    })?;
    if session.state.is_terminal() {
        return Err(HostError::Finished {
            agent: name.to_owned(),
            state: session.state,
        });
    }
    let runtime = factory.runtime_for(&session)?;
    let model = factory.model_for(&session);
    let cwd = if session.worktree_path.is_empty() {
        layout.root().to_path_buf()
    } else {
        PathBuf::from(&session.worktree_path)
    };
    let mut child_env: BTreeMap<String, String> = runtime.build_env(&model);
    child_env.insert(env::AGENT_NAME.into(), name.to_owned());
    child_env.insert(
        env::WORKTREE_PATH.into(),
        cwd.to_string_lossy().into_owned(),
    );
    child_env.insert(env::TASK_ID.into(), session.task_str().to_owned());
    child_env.insert(
        env::PROJECT_ROOT.into(),
        layout.root().to_string_lossy().into_owned(),
    );
    let spawn_opts = DirectSpawnOptions {
        cwd: cwd.clone(),
        env: child_env,
        model: model.spawn_model().map(str::to_owned),
        instruction_path: runtime.instruction_path().to_owned(),
        resume_session_id: session.claude_session_id.clone().filter(|s| !s.is_empty()),
        disallowed_tools: Vec::new(),
        // One process serves every turn: it may spend what is left of the run's.
        max_budget_usd: crate::spend::remaining_usd(
            layout,
            &factory.config.budget,
            session.run_id.as_deref(),
        ),
    };
    let unsupported = || HostError::Unsupported {
        agent: name.to_owned(),
        runtime: runtime.id().to_owned(),
    };
    let spec = runtime.direct_spawn(&spawn_opts).ok_or_else(unsupported)?;

    let stamp = overstory_sessions::hook_events::log_dir_stamp();
    let log_dir = layout.agent_log_session_dir(agent, &stamp);
    std::fs::create_dir_all(&log_dir).map_err(|e| FsError::new("create directory", &log_dir, e))?;
    let mut running = start_child(factory, runtime.as_ref(), agent, &spec, &stamp, opts).await?;
    let child_pid = running.child.pid();

    let mut state = HostState {
        agent,
        layout,
        runtime: runtime.as_ref(),
        intake: Intake::new(
            agent.clone(),
            session.run_id.clone(),
            EventStore::open(&layout.events_db()).ok(),
        ),
        sink: Sink::new(None, name),
        sessions,
        client: MailClient::open(layout).ok(),
        idle: true,
        turns: 0,
        delivered: Vec::new(),
    };
    state.intake.charge_to(crate::spend::Ledger::open(
        layout,
        overstory_sessions::metrics::TurnUsage::of_session(&session),
        &state.sink,
    ));
    let end = state
        .serve(opts, owner, &mut running, &mut wake_rx, child_pid)
        .await;
    let (exit_code, final_state) = state.wind_down(end, running, opts, child_pid).await;
    drop(files);
    Ok(HostReport {
        agent: agent.clone(),
        child_pid,
        turns: state.turns,
        delivered: state.delivered,
        end,
        exit_code,
        final_state,
        log_dir,
    })
}

/// Takes the agent's host lock, waiting briefly for a host (or a liveness
/// probe) that is just letting go of it.
async fn take_lock(layout: &Layout, agent: &AgentName) -> Result<FileLock, HostError> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        if let Some(l) = try_take_host_lock(layout, agent)? {
            return Ok(l);
        }
        if Instant::now() >= deadline {
            return Err(HostError::AlreadyRunning {
                agent: agent.as_str().to_owned(),
                pid: process::read_pid_file(&layout.agent_host_pid(agent)),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The agent process, its open stdin and the tasks reading its output.
struct Running {
    child: Box<dyn TurnChild>,
    stdin: ChildStdin,
    /// Parsed events from stdout (tee'd to `stdout.log` on the way).
    rx: mpsc::Receiver<Feed>,
    reader_task: JoinHandle<()>,
    stderr_task: Option<JoinHandle<()>>,
}

/// Spawns the agent process with stdin kept open, stdout tee'd to
/// `stdout.log` and parsed, stderr copied to `stderr.log`. A child without
/// pipes, or a runtime without an event reader, is stopped again.
async fn start_child(
    factory: &TurnFactory,
    runtime: &dyn AgentRuntime,
    agent: &AgentName,
    spec: &SpawnSpec,
    stamp: &str,
    opts: &HostOptions,
) -> Result<Running, HostError> {
    let layout = &factory.layout;
    let name = agent.as_str();
    let stdout_log = File::create(layout.agent_stdout_log(agent, stamp)).ok();
    let mut child = factory
        .spawner
        .spawn(spec)
        .map_err(|source| HostError::Spawn {
            agent: name.to_owned(),
            source,
        })?;
    let stderr_task = child
        .take_stderr()
        .map(|err| copy_stderr(err, layout.agent_stderr_log(agent, stamp)));
    let (stdin, stdout) = (child.take_stdin(), child.take_stdout());
    let (Some(stdin), Some(stdout)) = (stdin, stdout) else {
        stop_child(&mut *child, opts.sigkill_delay).await;
        return Err(HostError::Spawn {
            agent: name.to_owned(),
            source: std::io::Error::other("the agent process has no stdin or stdout"),
        });
    };
    let tee: Box<dyn AsyncRead + Send + Unpin> = Box::new(Tee {
        inner: stdout,
        file: stdout_log,
    });
    let Some(reader) = runtime.event_reader(tee, ParseOptions::default()) else {
        stop_child(&mut *child, opts.sigkill_delay).await;
        return Err(HostError::Unsupported {
            agent: name.to_owned(),
            runtime: runtime.id().to_owned(),
        });
    };
    let (rx, reader_task) = pump(reader);
    Ok(Running {
        child,
        stdin,
        rx,
        reader_task,
        stderr_task,
    })
}

/// What the host loop tracks between events.
struct HostState<'a> {
    agent: &'a AgentName,
    layout: &'a Layout,
    runtime: &'a dyn AgentRuntime,
    /// Records the agent's events and applies the booting → working rule.
    intake: Intake,
    /// Where the intake's complaints go (`tracing`).
    sink: Sink,
    sessions: SessionStore,
    /// Opened again at the next delivery when it could not be opened.
    client: Option<MailClient>,
    /// The agent is between turns: the next pending batch may be written.
    idle: bool,
    turns: usize,
    delivered: Vec<String>,
}

impl HostState<'_> {
    /// Delivers the first turn, then serves events, mail and stop requests
    /// until a stop is requested or the agent process ends.
    async fn serve(
        &mut self,
        opts: &HostOptions,
        owner: Option<i32>,
        running: &mut Running,
        wake_rx: &mut mpsc::Receiver<()>,
        child_pid: u32,
    ) -> HostEnd {
        let name = self.agent.as_str();
        let mut sigterm = if opts.stop_on_sigterm {
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok()
        } else {
            None
        };
        let mut ticker = tokio::time::interval(opts.poll_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

        // The first turn (queued first prompt + pending mail) goes out at once.
        let first = self.deliver(&mut running.stdin).await;
        // The pid goes into the row once the first turn is on its way, so
        // whoever waits for it (`coordinator start`) knows that mail sent from
        // then on rides in a later turn.
        if let Err(e) = self.sessions.update_pid(name, Some(i64::from(child_pid))) {
            tracing::warn!(agent = name, error = %e, "agent-host: cannot record the agent's pid");
        }
        if first.is_err() {
            return HostEnd::ChildExited;
        }
        loop {
            let deliver = tokio::select! {
                biased;
                () = opts.shutdown.cancelled() => return HostEnd::Stopped,
                () = recv_signal(&mut sigterm) => return HostEnd::Stopped,
                feed = running.rx.recv() => match feed {
                    Some(Feed::Event(ev)) => {
                        let was_idle = self.idle;
                        self.record(&ev);
                        self.intake.flush_if_paused(running.rx.is_empty(), &self.sink);
                        self.idle && !was_idle
                    }
                    Some(Feed::Failed(e)) => {
                        tracing::warn!(agent = name, error = %e, "agent-host: reading the agent's output failed");
                        return HostEnd::ChildExited;
                    }
                    None => return HostEnd::ChildExited,
                },
                // The child (the shim) ended while the agent's stdout is
                // still open: the shim was killed, and the agent under it
                // no longer dies with us. Wind down (its group is killed).
                _ = running.child.wait() => return HostEnd::ChildExited,
                Some(()) = wake_rx.recv() => true,
                _ = ticker.tick() => {
                    if let Some(end) = self.on_tick(owner) {
                        return end;
                    }
                    true
                }
            };
            if deliver && self.deliver(&mut running.stdin).await.is_err() {
                return HostEnd::ChildExited;
            }
        }
    }

    /// The poll tick: ends the host when its project or its owner is gone,
    /// and vouches for an idle agent now and then.
    fn on_tick(&mut self, owner: Option<i32>) -> Option<HostEnd> {
        let name = self.agent.as_str();
        let mut end = None;
        // A project deleted under us (a removed checkout, a test's
        // temp dir) has nobody left to send mail: end.
        if !self.layout.is_initialized() {
            end = Some(HostEnd::Stopped);
        }
        // Neither does an agent whose owner (say, `ov demo`) died
        // without stopping it, even by SIGKILL.
        if owner.is_some_and(|p| !process::is_alive(p)) {
            tracing::info!(
                agent = name,
                owner,
                "agent-host: owner process is gone; stopping"
            );
            end = Some(HostEnd::Stopped);
        }
        // Waiting for mail is not stalling: an idle agent's host
        // vouches for it now and then.
        if self.idle {
            self.intake
                .touch_now_and_then(&self.sessions, IDLE_HEARTBEAT);
        }
        end
    }

    /// Stops the agent (a stop request) or reaps it (it ended), records what
    /// it said on the way out, and settles its state: `completed` after a
    /// stop, `zombie` with an error event when it ended on its own.
    async fn wind_down(
        &mut self,
        end: HostEnd,
        mut running: Running,
        opts: &HostOptions,
        child_pid: u32,
    ) -> (Option<i32>, AgentState) {
        let name = self.agent.as_str();
        drop(running.stdin);
        let child = &mut *running.child;
        let exit_code = match end {
            HostEnd::Stopped => terminate(child, opts.sigkill_delay).await,
            HostEnd::ChildExited => wait_or_kill(child, opts.sigkill_delay).await,
        };
        // Anything still in the pipe's reader (bounded: the group is gone).
        let drain_until = Instant::now() + Duration::from_secs(2);
        while let Ok(Some(feed)) = tokio::time::timeout_at(drain_until, running.rx.recv()).await {
            if let Feed::Event(ev) = feed {
                self.record(&ev);
            }
        }
        running.reader_task.abort();
        if let Some(t) = running.stderr_task {
            let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
        }

        let final_state = match end {
            HostEnd::Stopped => AgentState::Completed,
            HostEnd::ChildExited => {
                self.intake.push(
                    NewEvent::new(name, EventType::Error)
                        .level(EventLevel::Error)
                        .data(&json!({
                            "reason": "the agent process exited unexpectedly",
                            "exitCode": exit_code,
                            "pid": child_pid,
                        })),
                );
                AgentState::Zombie
            }
        };
        self.flush();
        let transition = match final_state {
            AgentState::Zombie => Transition::died(),
            s => Transition::to(s),
        };
        if let Err(e) = self.sessions.transition(name, &transition.touch_activity()) {
            tracing::warn!(agent = name, error = %e, "agent-host: cannot settle the agent's state");
        }
        (exit_code, final_state)
    }

    fn record(&mut self, ev: &RuntimeEvent) {
        let intook = self.intake.record(ev, Some(&mut self.sessions), &self.sink);
        if intook.result.is_some() {
            self.idle = true;
        }
    }

    fn flush(&mut self) {
        self.intake.flush(&self.sink);
    }

    /// Writes everything pending as one user turn when the agent is idle.
    /// An error means the agent's stdin is gone (it exited).
    async fn deliver(&mut self, stdin: &mut ChildStdin) -> std::io::Result<()> {
        if !self.idle {
            return Ok(());
        }
        if self.client.is_none() {
            self.client = MailClient::open(self.layout).ok();
        }
        let mail = self
            .client
            .as_ref()
            .and_then(|c| c.peek_unread(self.agent).ok())
            .unwrap_or_default();
        let queued = queued_turns(self.layout, self.agent);
        if mail.is_empty() && queued.is_empty() {
            return Ok(());
        }
        let text = turn_text(&queued, &mail);
        stdin
            .write_all(self.runtime.encode_user_turn(&text).as_bytes())
            .await?;
        stdin.flush().await?;
        // Written: now (and only now) the mail counts as delivered.
        self.idle = false;
        self.intake.begin_turn();
        self.turns += 1;
        let ids: Vec<String> = mail.iter().map(|m| m.id.clone()).collect();
        if let Some(c) = self.client.as_mut()
            && let Err(e) = c.acknowledge(&ids)
        {
            tracing::warn!(agent = %self.agent, error = %e, "agent-host: cannot mark delivered mail read");
        }
        for (path, _) in &queued {
            let _ = std::fs::remove_file(path);
        }
        self.intake.push(NewEvent::custom(
            self.agent.as_str(),
            "turn_delivered",
            json!({"messageIds": ids, "queuedTurns": queued.len(), "turn": self.turns}),
        ));
        self.flush();
        self.delivered.extend(ids);
        Ok(())
    }
}

async fn recv_signal(sig: &mut Option<tokio::signal::unix::Signal>) {
    match sig {
        Some(s) => {
            if s.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// Waits up to `delay` for the child to exit on its own, then terminates
/// it. Always reaps, and kills whatever its tools left in its group.
async fn wait_or_kill(child: &mut dyn TurnChild, delay: Duration) -> Option<i32> {
    let code = match tokio::time::timeout(delay, child.wait()).await {
        Ok(status) => status.ok().flatten(),
        Err(_) => terminate(child, delay).await,
    };
    child.signal(Sig::Kill);
    code
}

/// SIGTERM to the child's group, SIGKILL after `delay`; reaps.
async fn terminate(child: &mut dyn TurnChild, delay: Duration) -> Option<i32> {
    child.signal(Sig::Term);
    if let Ok(status) = tokio::time::timeout(delay, child.wait()).await {
        child.signal(Sig::Kill);
        return status.ok().flatten();
    }
    child.signal(Sig::Kill);
    child.wait().await.ok().flatten()
}

async fn stop_child(child: &mut dyn TurnChild, delay: Duration) {
    let _ = terminate(child, delay).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(capability: &str, tmux: &str, state: AgentState) -> Session {
        let mut s = Session::new("a".parse().unwrap(), capability.parse().unwrap());
        s.tmux_session = tmux.into();
        s.state = state;
        s
    }

    #[test]
    fn only_live_headless_persistent_sessions_are_hosted() {
        assert!(is_hosted_session(&session(
            "coordinator",
            "",
            AgentState::Working
        )));
        assert!(is_hosted_session(&session(
            "orchestrator",
            "",
            AgentState::Booting
        )));
        assert!(is_hosted_session(&session(
            "monitor",
            "",
            AgentState::Stalled
        )));
        assert!(!is_hosted_session(&session(
            "builder",
            "",
            AgentState::Working
        )));
        assert!(!is_hosted_session(&session(
            "coordinator",
            "ov-x",
            AgentState::Working
        )));
        assert!(!is_hosted_session(&session(
            "coordinator",
            "",
            AgentState::Zombie
        )));
        // An unknown capability cannot reach here: reading such a row is
        // an error (overstory-sessions' `rows_with_unknown_capability_*`).
    }

    /// The booting → working rule is the intake's (`feed.rs`); the host's
    /// part is re-arming it for every turn it writes.
    #[tokio::test]
    async fn each_delivered_turn_promotes_a_stalled_agent_again() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.dir()).unwrap();
        let agent = AgentName::new("coordinator").unwrap();
        let sessions = SessionStore::open(&layout.sessions_db()).unwrap();
        sessions
            .upsert(&Session::new(
                agent.clone(),
                overstory_core::Capability::Coordinator,
            ))
            .unwrap();
        let runtime = overstory_runtime::ClaudeRuntime::new();
        let mut state = HostState {
            agent: &agent,
            layout: &layout,
            runtime: &runtime,
            intake: Intake::new(agent.clone(), None, None),
            sink: Sink::new(None, agent.as_str()),
            sessions,
            client: None,
            idle: true,
            turns: 0,
            delivered: Vec::new(),
        };
        let mut stdin: ChildStdin = Box::pin(tokio::io::sink());
        let event =
            |json: serde_json::Value| -> RuntimeEvent { serde_json::from_value(json).unwrap() };
        let status = event(json!({"type": "status", "timestamp": "t", "sessionId": "s"}));
        let result = event(json!({"type": "result", "timestamp": "t", "isError": false}));
        let state_now = |s: &HostState<'_>| s.sessions.get("coordinator").unwrap().unwrap().state;

        // The first turn's first event promotes booting.
        state.record(&status);
        assert_eq!(state_now(&state), AgentState::Working);
        state.record(&result);
        assert!(state.idle);
        // Marked stalled while idle; the next event alone does not revive it…
        state
            .sessions
            .transition("coordinator", &Transition::to(AgentState::Stalled))
            .unwrap();
        state.record(&status);
        assert_eq!(state_now(&state), AgentState::Stalled);
        // …but the first event of the next delivered turn does.
        crate::queue::enqueue_turn(&layout, &agent, "next").unwrap();
        state.deliver(&mut stdin).await.unwrap();
        assert_eq!(state.turns, 1);
        state.record(&status);
        assert_eq!(state_now(&state), AgentState::Working);
    }

    #[test]
    fn stale_files_without_a_lock_holder_mean_no_host() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let agent = AgentName::new("coordinator").unwrap();
        assert_eq!(live_host(&layout, &agent), None);
        assert!(
            !layout.agent_dir(&agent).exists(),
            "a liveness probe creates nothing"
        );
        // What a SIGKILLed host leaves behind.
        std::fs::create_dir_all(layout.agent_dir(&agent)).unwrap();
        std::fs::write(layout.agent_host_lock(&agent), "").unwrap();
        std::fs::write(layout.agent_host_pid(&agent), "1\n").unwrap();
        let _stale = UnixDatagram::bind(layout.agent_host_socket(&agent)).unwrap();
        assert_eq!(live_host(&layout, &agent), None);
        assert_eq!(poke(&layout, &agent), None);
        assert!(!stop_host(&layout, &agent, Duration::from_millis(10)));
        // A holder of the lock is a live host.
        let held = try_take_host_lock(&layout, &agent).unwrap().unwrap();
        std::fs::write(layout.agent_host_pid(&agent), "4242\n").unwrap();
        let probe = std::thread::spawn({
            let layout = layout.clone();
            let agent = agent.clone();
            move || live_host(&layout, &agent)
        });
        assert_eq!(probe.join().unwrap(), Some(4242));
        drop(held);
        assert_eq!(live_host(&layout, &agent), None);
    }
}
