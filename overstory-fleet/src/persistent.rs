//! Persistent agents: `ov coordinator` and `ov orchestrator`
//! (`start stop status send ask output`, plus `check-complete` for the
//! coordinator), and the tier-2 `ov monitor` (`start stop status`).
//!
//! A [`PersistentSpec`] names the agent, its capability and its definition
//! file; [`COORDINATOR`], [`ORCHESTRATOR`] and [`MONITOR`] are the ones the
//! CLI exposes. Every operation takes the spec, so one implementation serves
//! all three.
//!
//! **The monitor** is a companion, not a run owner: starting it needs
//! `watchdog.tier2Enabled`, it creates no run and leaves `current-run.txt`
//! alone, and stopping it stops nothing else. A coordinator started with
//! [`StartOptions::monitor`] starts it too (same runtime, same mode), and
//! [`stop`] of a coordinator or orchestrator stops it.
//!
//! **Headless is the default.** [`start`] records the session row (state
//! `booting`, no tmux session) and the run before anything is spawned,
//! queues the first prompt (agent definition, then the beacon; pending mail
//! follows in the same turn) and launches the agent's
//! [host]: a detached `ov agent-host` that owns the agent's one
//! long-lived process and writes each new batch of mail to its stdin. So
//! [`send`] is just mail plus a [`wake`] of the host,
//! [`ask`] waits for the answer in `mail.db`, [`output`] reads the process's
//! `stdout.log`, and [`stop`] asks the host to settle the agent `completed`.
//! Tmux (an interactive session reached with send-keys) is opt-in with
//! [`StartOptions::headless`] `= false`; no operation ever builds a tmux
//! target from an empty session name.
//!
//! **Runs.** Each start creates a run owned by the agent
//! (`coordinatorName`), writes `current-run.txt`, and every exit path closes
//! it: [`stop`] completes the run the agent owns (not whatever
//! `current-run.txt` happens to name) and removes `current-run.txt` only when
//! it names that run; a failed start marks its run `failed`; reclaiming a
//! dead agent completes the dead agent's run.
//!
//! ```no_run
//! use overstory_core::{Config, Layout};
//! use overstory_fleet::persistent::{self, COORDINATOR, StartOptions};
//!
//! let layout = Layout::new("/path/to/project");
//! let config = Config::load(layout.root())?.config;
//! let mut opts = StartOptions::new(COORDINATOR, "/usr/local/bin/ov".into());
//! opts.runtime = Some("scripted".into());
//! let started = persistent::start(&layout, &config, &opts)?;
//! let sent = persistent::send(&layout, &COORDINATOR, "plan", "Split the work", &opts.ov_program)?;
//! println!("{} runs as pid {:?}; mail {}", started.agent_name, started.pid, sent.id);
//! persistent::stop(&layout, &COORDINATOR, &persistent::PersistentStopOptions::default())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use overstory_core::lockfile::FileLock;
use overstory_core::{AgentName, Capability, Config, FsError, Layout, clock, env, ids, process};
use overstory_mail::{Address, MailClient, MailMessage, MailStore, MessageType, SendRequest};
use overstory_sessions::status::StatusSources as _;
use overstory_sessions::{
    AgentState, NewRun, RunMode, RunStatus, RunStore, Session, SessionStore, Transition,
    current_run_id, write_current_run,
};
use serde::Serialize;
use serde_json::{Value, json};

use crate::beacon::{BeaconTiming, deliver_beacon};
use crate::error::FleetError;
use crate::groups::TrackerCli;
use crate::nudge::{NudgeOptions, nudge_agent};
use crate::profile::ensure_identity;
use crate::status_sources::ProjectSources;
use crate::tmux::{self, NewSession, SessionState, Tmux};
use overstory_runtime::claude_settings::{
    ENV_GUARD, merge_settings, overstory_hooks, settings_path,
};
use overstory_runtime::manifest::Manifest;
use overstory_runtime::model::{process_env, resolve_model};
use overstory_runtime::prompt::SECTION_SEPARATOR;
use overstory_runtime::registry::Registry;
use overstory_runtime::runtime::{AgentRuntime, HooksDef, SpawnOptions};
use overstory_runtime::stream_json::{Fragment, LineParser, RuntimeEvent};
use overstory_turn::dispatch::{Launcher, WakeOutcome, wake};
use overstory_turn::factory::{RuntimeChoice, TurnFactory};
use overstory_turn::host;
use overstory_turn::queue::enqueue_turn;

/// The sender of operator mail.
pub const OPERATOR: &str = "operator";
/// How long [`ask`] waits by default.
pub const DEFAULT_ASK_TIMEOUT: Duration = Duration::from_secs(120);
/// How much of a body the tmux `[DISPATCH]`/`[ASK]` nudge carries.
const NUDGE_BODY_CHARS: usize = 500;

/// One persistent agent kind: what the CLI calls it and how it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersistentSpec {
    /// The command group (`coordinator`), also the JSON envelope prefix.
    pub command_name: &'static str,
    /// For messages (`Coordinator`).
    pub display_name: &'static str,
    /// The agent (session) name.
    pub agent_name: &'static str,
    /// The capability its session row records (`coordinator`, `orchestrator`).
    pub capability: Capability,
    /// Its definition file under `agents.baseDir` (when the manifest names none).
    pub agent_def_file: &'static str,
}

/// The coordinator.
pub const COORDINATOR: PersistentSpec = PersistentSpec {
    command_name: "coordinator",
    display_name: "Coordinator",
    agent_name: "coordinator",
    capability: Capability::Coordinator,
    agent_def_file: "coordinator.md",
};

/// The orchestrator (starts per-repo coordinators; never slings).
pub const ORCHESTRATOR: PersistentSpec = PersistentSpec {
    command_name: "orchestrator",
    display_name: "Orchestrator",
    agent_name: "orchestrator",
    capability: Capability::Orchestrator,
    agent_def_file: "orchestrator.md",
};

/// The tier-2 monitor (patrols the fleet; gated by `watchdog.tier2Enabled`).
pub const MONITOR: PersistentSpec = PersistentSpec {
    command_name: "monitor",
    display_name: "Monitor",
    agent_name: "monitor",
    capability: Capability::Monitor,
    agent_def_file: "monitor.md",
};

impl PersistentSpec {
    /// Returns the agent name.
    ///
    /// # Errors
    /// Never for the built-in specs; a custom spec may carry an invalid name.
    pub fn agent(&self) -> Result<AgentName, FleetError> {
        Ok(AgentName::new(self.agent_name)?)
    }

    /// Returns whether this agent owns a run (`runs` row and
    /// `current-run.txt`) and has companions (watchdog, monitor) of its own:
    /// true for the coordinator and orchestrator, false for the monitor.
    pub fn owns_run(&self) -> bool {
        self.capability != Capability::Monitor
    }

    /// Returns whether starting this agent needs `watchdog.tier2Enabled`
    /// (the monitor).
    pub fn needs_tier2(&self) -> bool {
        self.capability == Capability::Monitor
    }

    /// Renders the startup beacon stamped `now` (`tracker_cli` is `bd` or `sd`).
    pub fn beacon(&self, tracker_cli: &str, now: &str) -> String {
        let name = self.agent_name;
        let cap = self.capability.as_str();
        match self.capability {
            Capability::Monitor => format!(
                "[OVERSTORY] {name} ({cap}/tier-2) {now} — Depth: 0 | Parent: none | Role: continuous fleet patrol — \
                 Startup: run mulch prime, check the fleet (ov status --json), check mail (ov mail check --agent {name}), \
                 then patrol every 2-5 minutes: nudge a quiet agent, escalate to the coordinator when nudges do not help"
            ),
            Capability::Orchestrator => format!(
                "[OVERSTORY] {name} ({cap}) {now} — Depth: 0 | Parent: none | Role: ecosystem orchestrator — \
                 You coordinate several repositories: start one coordinator per repository with \
                 ov coordinator start --project <path> and talk to them through mail; you never sling agents yourself — \
                 Startup: check mail (ov mail check --agent {name}), then begin work"
            ),
            _ => format!(
                "[OVERSTORY] {name} ({cap}) {now} — Depth: 0 | Parent: none | Role: persistent orchestrator — \
                 HIERARCHY: dispatch leads by default; a scout or builder only for narrow work; never a reviewer or merger directly — \
                 DELEGATION: give each large work stream to a lead; for tight budgets pass --dispatch-max-agents 1 or 2 — \
                 Startup: run mulch prime, check mail (ov mail check --agent {name}), check {tracker_cli} ready, \
                 check ov group status, then begin work"
            ),
        }
    }
}

/// Choices of [`start`]. Build with [`StartOptions::new`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StartOptions {
    /// Which persistent agent.
    pub spec: PersistentSpec,
    /// The running `ov` (agent host, guard hooks, scripted runtime).
    pub ov_program: PathBuf,
    /// Headless under an agent host (default) or in a tmux session.
    pub headless: bool,
    /// Runtime name (`None` ⇒ `runtime.capabilities.<cap>` ⇒
    /// `runtime.default` ⇒ `claude`).
    pub runtime: Option<String>,
    /// The scripted runtime's script (else it looks in `.overstory/scripts/`).
    pub script: Option<PathBuf>,
    /// Start the watchdog daemon too.
    pub watchdog: bool,
    /// Start the tier-2 monitor too.
    pub monitor: bool,
    /// The tmux server (tmux mode).
    pub tmux: Tmux,
    /// Timing of the tmux beacon (tmux mode).
    pub beacon_timing: BeaconTiming,
    /// How long a headless start waits for the host to start the agent.
    pub start_timeout: Duration,
    /// Headless only: stop the agent once this process is gone, however it
    /// ended (SIGKILL included). For programs that own the agent's whole
    /// life, such as `ov demo`; `None` (the default) keeps the agent until
    /// it is stopped.
    pub owner_pid: Option<u32>,
}

impl StartOptions {
    /// Headless start of `spec` with the configured runtime.
    pub fn new(spec: PersistentSpec, ov_program: PathBuf) -> Self {
        Self {
            spec,
            ov_program,
            headless: true,
            runtime: None,
            script: None,
            watchdog: false,
            monitor: false,
            tmux: Tmux::default(),
            beacon_timing: BeaconTiming::default(),
            start_timeout: Duration::from_secs(30),
            owner_pid: None,
        }
    }
}

/// What [`start`] did; the `<command> start` JSON data.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartReport {
    /// The agent's name, also its session row's key (`coordinator`).
    pub agent_name: AgentName,
    /// The capability it runs as (`coordinator`).
    pub capability: Capability,
    /// The tmux session (`""` when headless).
    pub tmux_session: String,
    /// The project root, which is also the agent's working directory.
    pub project_root: String,
    /// The agent process (headless) or pane (tmux) pid.
    pub pid: Option<i64>,
    /// Whether the watchdog runs.
    pub watchdog: bool,
    /// Whether the monitor runs.
    pub monitor: bool,
    /// Headless (agent host) or tmux.
    pub headless: bool,
    /// The agent host's pid (headless).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_pid: Option<i32>,
    /// The run this start created (empty for the monitor, which owns none).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub run_id: String,
    /// The id of the session row this start created.
    pub session_id: String,
    /// The runtime the agent runs on (`claude`, `scripted`).
    pub runtime: String,
    /// A previous session of this agent was found dead and closed.
    pub reclaimed: bool,
    /// Non-fatal problems (watchdog or monitor not started).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Starts the persistent agent of `opts.spec`; see the [module docs](self).
///
/// Must not be called from inside an async runtime.
///
/// # Errors
/// [`FleetError::AlreadyRunning`] when it already runs,
/// [`FleetError::NameHeldByOther`] when another capability holds its name,
/// [`FleetError::RootWithoutSandbox`] as root without `IS_SANDBOX`,
/// [`FleetError::HostNotStarted`] when the agent process does not come up;
/// [`FleetError::Validation`] for a runtime that cannot run headless;
/// runtime, tmux, store and file failures. After a failure the row is
/// `zombie`, the run `failed`, and nothing is left running.
pub fn start(
    layout: &Layout,
    config: &Config,
    opts: &StartOptions,
) -> Result<StartReport, FleetError> {
    let spec = &opts.spec;
    let agent = spec.agent()?;
    if spec.needs_tier2() && !config.watchdog.tier2_enabled {
        return Err(FleetError::Tier2Disabled);
    }
    let runtime = choose_runtime(layout, config, opts)?;

    // One start at a time per agent; a second one then finds it running.
    let _start_lock = FileLock::acquire(&layout.agent_start_lock(&agent))?;
    let mut sessions = SessionStore::open(&layout.sessions_db())?;
    let reclaimed = reclaim(layout, &mut sessions, spec, &opts.tmux)?;

    // Guards at the project root (no-ops outside agent sessions), identity.
    deploy_root_hooks(layout, config, spec, opts.headless, &opts.ov_program)?;
    ensure_identity(layout, config, &agent, spec.capability)?;
    let root = layout.root();
    let cap = spec.capability;
    let manifest = Manifest::for_project(root, config).ok();
    let base_dir = Manifest::base_dir(root, config);
    let def_path = manifest
        .as_ref()
        .and_then(|m| m.definition_path(&base_dir, cap.as_str()))
        .unwrap_or_else(|| base_dir.join(spec.agent_def_file));
    let tracker = TrackerCli::for_project(root, &config.task_tracker.backend);
    let beacon = spec.beacon(tracker.program(), &clock::now_rfc3339());

    // The row and the run exist before anything is spawned.
    let (mut session, run_id) = new_row_and_run(layout, config, spec, &agent)?;
    let mut undo = StartUndo {
        layout,
        agent: &agent,
        run_id: run_id.as_deref(),
        queued: None,
        tmux: None,
        tmux_server: &opts.tmux,
        armed: true,
    };
    if let Some(run_id) = &run_id {
        write_current_run(layout, run_id)?;
    }
    RuntimeChoice {
        runtime: runtime.id().to_owned(),
        script: opts.script.clone(),
    }
    .save(layout, &agent)?;

    let mut report = StartReport {
        agent_name: agent.clone(),
        capability: cap,
        tmux_session: String::new(),
        project_root: root.to_string_lossy().into_owned(),
        pid: None,
        watchdog: false,
        monitor: false,
        headless: opts.headless,
        host_pid: None,
        run_id: run_id.clone().unwrap_or_default(),
        session_id: session.id.clone(),
        runtime: runtime.id().to_owned(),
        reclaimed,
        warnings: Vec::new(),
    };

    let launch = Launch {
        layout,
        config,
        opts,
        agent: &agent,
        runtime: runtime.as_ref(),
        manifest: manifest.as_ref(),
        def_path: &def_path,
        beacon: &beacon,
    };
    if opts.headless {
        start_headless(&launch, &mut sessions, &session, &mut undo, &mut report)?;
    } else {
        start_tmux(&launch, &mut sessions, &mut session, &mut undo, &mut report)?;
    }
    undo.armed = false;
    start_companions(layout, config, opts, &mut report);
    Ok(report)
}

/// Picks the runtime and refuses what cannot work: root without a sandbox,
/// headless with a runtime that cannot run headless, tmux without tmux.
fn choose_runtime(
    layout: &Layout,
    config: &Config,
    opts: &StartOptions,
) -> Result<std::sync::Arc<dyn AgentRuntime>, FleetError> {
    let spec = &opts.spec;
    let cap = spec.capability;
    let root = layout.root();
    let registry = Registry {
        script: opts.script.clone(),
        ov_program: Some(opts.ov_program.clone()),
    };
    let runtime = registry.get(opts.runtime.as_deref(), Some(config), Some(cap))?;
    let doing = format!("start the {}", spec.command_name);
    if overstory_runtime::sandbox::root_refusal(runtime.id(), &doing).is_some() {
        return Err(FleetError::root_without_sandbox(doing));
    }
    if opts.headless && !overstory_runtime::runtime::supports_headless(runtime.as_ref(), root) {
        return Err(FleetError::invalid(
            "runtime",
            format!(
                "Runtime \"{}\" cannot run the {} headless; start it in tmux instead",
                runtime.id(),
                spec.command_name
            ),
        ));
    }
    if !opts.headless {
        Tmux::ensure_available()?;
    }
    Ok(runtime)
}

/// Builds the agent's row (state `booting`, at the project root, depth 0)
/// and records its run (none for the monitor); the row is stored by the
/// start that follows.
fn new_row_and_run(
    layout: &Layout,
    config: &Config,
    spec: &PersistentSpec,
    agent: &AgentName,
) -> Result<(Session, Option<String>), FleetError> {
    let cap = spec.capability;
    let root = layout.root();
    let mut session = Session::new(agent.clone(), cap);
    session.worktree_path = root.to_string_lossy().into_owned();
    session.branch_name = config.project.canonical_branch.clone();
    session.task_id = None;
    session.depth = 0;
    if !spec.owns_run() {
        session.run_id = None;
        return Ok((session, None));
    }
    let run_id = ids::run_id();
    session.run_id = Some(run_id.clone());
    RunStore::open(&layout.sessions_db())?.create(&NewRun {
        id: run_id.clone(),
        started_at: clock::now_rfc3339(),
        coordinator_session_id: Some(session.id.clone()),
        coordinator_name: Some(agent.to_string()),
        status: RunStatus::Active,
    })?;
    Ok((session, Some(run_id)))
}

/// What the headless and the tmux start need besides the stores.
struct Launch<'a> {
    layout: &'a Layout,
    config: &'a Config,
    opts: &'a StartOptions,
    agent: &'a AgentName,
    runtime: &'a dyn AgentRuntime,
    manifest: Option<&'a Manifest>,
    def_path: &'a Path,
    beacon: &'a str,
}

/// Stores the row, queues the first prompt (definition, then beacon) and
/// launches the agent host, then waits until it runs the agent.
fn start_headless(
    launch: &Launch<'_>,
    sessions: &mut SessionStore,
    session: &Session,
    undo: &mut StartUndo<'_>,
    report: &mut StartReport,
) -> Result<(), FleetError> {
    let Launch {
        layout,
        opts,
        agent,
        def_path,
        beacon,
        ..
    } = *launch;
    sessions.upsert(session)?;
    let def_text = std::fs::read_to_string(def_path).unwrap_or_default();
    let prompt = [def_text.trim(), beacon]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(SECTION_SEPARATOR);
    undo.queued = Some(enqueue_turn(layout, agent, &prompt)?);
    let owner_file = layout.agent_host_owner(agent);
    match opts.owner_pid {
        Some(owner) => process::write_pid_file(&owner_file, owner)?,
        None => process::remove_pid_file(&owner_file)?,
    }
    let launched = Launcher {
        ov: opts.ov_program.clone(),
    }
    .launch_host(layout, agent)?;
    let (host_pid, pid) = wait_for_host(layout, sessions, agent, launched, opts)?;
    report.host_pid = Some(host_pid);
    report.pid = Some(pid);
    Ok(())
}

/// Starts a tmux session at the project root running the runtime's
/// interactive command, records the pane in the row and delivers the
/// beacon.
fn start_tmux(
    launch: &Launch<'_>,
    sessions: &mut SessionStore,
    session: &mut Session,
    undo: &mut StartUndo<'_>,
    report: &mut StartReport,
) -> Result<(), FleetError> {
    let Launch {
        layout,
        config,
        opts,
        agent,
        runtime,
        manifest,
        def_path,
        beacon,
    } = *launch;
    let cap = opts.spec.capability;
    let root = layout.root();
    let manifest_model = manifest
        .as_ref()
        .and_then(|m| m.agent(cap.as_str()))
        .map(|d| d.model.clone());
    let model = resolve_model(config, manifest_model.as_deref(), cap, &process_env);
    let mut env_vars = runtime.build_env(&model);
    env_vars.insert(env::AGENT_NAME.to_owned(), agent.to_string());
    env_vars.insert(
        env::PROJECT_ROOT.to_owned(),
        root.to_string_lossy().into_owned(),
    );
    let mut spawn = SpawnOptions::new(model.spawn_model().unwrap_or_default());
    spawn.cwd = root.to_path_buf();
    spawn.env.clone_from(&env_vars);
    if def_path.is_file() {
        spawn.append_system_prompt_file = Some(def_path.to_path_buf());
    }
    let command = runtime.spawn_command(&spawn)?;
    let name = tmux::session_name(&config.project.name, agent.as_str());
    let pid = opts.tmux.create_session(&NewSession {
        name: name.clone(),
        cwd: root.to_path_buf(),
        command,
        env: env_vars,
        path_prepend: opts.ov_program.parent().map(Path::to_path_buf),
    })?;
    undo.tmux = Some(name.clone());
    session.tmux_session.clone_from(&name);
    session.pid = Some(i64::from(pid));
    sessions.upsert(session)?;
    let mut timing = opts.beacon_timing.clone();
    if !runtime.requires_beacon_verification() {
        // Nothing to confirm: the runtime reads the beacon as typed.
        timing.verify_attempts = 0;
        timing.follow_up_enters.clear();
    }
    deliver_beacon(
        &opts.tmux,
        &name,
        beacon,
        |pane| runtime.detect_ready(pane),
        &timing,
    )?;
    report.tmux_session = name;
    report.pid = Some(i64::from(pid));
    Ok(())
}

/// Starts the watchdog and the monitor when asked; a failure is a warning.
fn start_companions(
    layout: &Layout,
    config: &Config,
    opts: &StartOptions,
    report: &mut StartReport,
) {
    if opts.watchdog {
        match start_watchdog(layout, &opts.ov_program) {
            Ok(()) => report.watchdog = true,
            Err(w) => report.warnings.push(w),
        }
    }
    if opts.monitor && opts.spec.owns_run() {
        if config.watchdog.tier2_enabled {
            match start_monitor(layout, config, opts) {
                Ok(()) => report.monitor = true,
                Err(e) => report.warnings.push(format!("Monitor not started: {e}")),
            }
        } else {
            report
                .warnings
                .push("Monitor skipped: watchdog.tier2Enabled is false".to_owned());
        }
    }
}

/// Starts the monitor beside a coordinator: the same runtime and mode, its
/// own script (`.overstory/scripts/monitor.json` for the scripted runtime).
/// A monitor that already runs counts as started.
fn start_monitor(layout: &Layout, config: &Config, opts: &StartOptions) -> Result<(), FleetError> {
    let mut monitor = StartOptions::new(MONITOR, opts.ov_program.clone());
    monitor.headless = opts.headless;
    monitor.runtime.clone_from(&opts.runtime);
    monitor.tmux = opts.tmux.clone();
    monitor.beacon_timing = opts.beacon_timing.clone();
    monitor.start_timeout = opts.start_timeout;
    monitor.owner_pid = opts.owner_pid;
    match start(layout, config, &monitor) {
        Ok(_) | Err(FleetError::AlreadyRunning { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Undoes a start that failed after the run was created.
struct StartUndo<'a> {
    layout: &'a Layout,
    agent: &'a AgentName,
    run_id: Option<&'a str>,
    queued: Option<PathBuf>,
    tmux: Option<String>,
    tmux_server: &'a Tmux,
    armed: bool,
}

impl Drop for StartUndo<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        host::stop_host(self.layout, self.agent, Duration::from_secs(6));
        if let Some(name) = &self.tmux {
            let _ = self.tmux_server.kill_session(name, Duration::from_secs(2));
        }
        if let Some(q) = &self.queued {
            let _ = std::fs::remove_file(q);
        }
        if let Ok(mut store) = SessionStore::open(&self.layout.sessions_db()) {
            let _ = store.transition(self.agent.as_str(), &Transition::died().touch_activity());
        }
        if let Some(run_id) = self.run_id {
            overstory_sessions::close_run(self.layout, run_id, RunStatus::Failed);
        }
    }
}

/// Waits until the host holds its lock and has recorded the agent's pid.
fn wait_for_host(
    layout: &Layout,
    sessions: &SessionStore,
    agent: &AgentName,
    launched: u32,
    opts: &StartOptions,
) -> Result<(i32, i64), FleetError> {
    let deadline = Instant::now() + opts.start_timeout;
    loop {
        let host_pid = host::live_host(layout, agent);
        let row = sessions.get(agent.as_str())?;
        if let (Some(h), Some(pid)) = (host_pid, row.as_ref().and_then(|r| r.pid)) {
            return Ok((if h > 0 { h } else { launched as i32 }, pid));
        }
        let gone = !process::is_alive(launched as i32) && host_pid.is_none();
        if gone || Instant::now() >= deadline {
            let log = std::fs::read_to_string(layout.agent_host_log(agent)).unwrap_or_default();
            let last = log.lines().rev().find(|l| !l.trim().is_empty());
            return Err(FleetError::HostNotStarted {
                agent: agent.to_string(),
                host_exited: gone,
                last_log_line: last.map(str::to_owned),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Closes a previous session of the agent, or refuses when it still runs.
/// Returns whether a session was reclaimed.
fn reclaim(
    layout: &Layout,
    sessions: &mut SessionStore,
    spec: &PersistentSpec,
    tmux_server: &Tmux,
) -> Result<bool, FleetError> {
    let agent = spec.agent()?;
    let Some(row) = sessions.get(agent.as_str())? else {
        return Ok(false);
    };
    if row.state.is_terminal() {
        // A host must never outlive its finished agent, and a dead agent's
        // run ends with it.
        host::stop_host(layout, &agent, Duration::from_secs(6));
        if row.state == AgentState::Zombie && row.capability == spec.capability.as_str() {
            close_owned_run(layout, &agent, RunStatus::Completed);
        }
        return Ok(false);
    }
    if row.capability != spec.capability.as_str() {
        return Err(FleetError::NameHeldByOther {
            agent: agent.to_string(),
            capability: row.capability.to_string(),
        });
    }
    if row.mode() != RunMode::Tmux {
        if host::live_host(layout, &agent).is_some() {
            return Err(FleetError::AlreadyRunning {
                agent: agent.to_string(),
                pid: row.pid,
                tmux_session: None,
                started_at: row.started_at,
            });
        }
        // No host: whatever the row's pid names cannot receive mail.
        if let Some(pid) = row.pid.and_then(|p| i32::try_from(p).ok())
            && process::is_group_alive(pid)
        {
            let _ = process::terminate_group(pid, Duration::from_secs(2));
        }
    } else {
        match tmux_server.check_state(&row.tmux_session) {
            SessionState::Alive => {
                let pid_dead = row
                    .pid
                    .and_then(|p| i32::try_from(p).ok())
                    .is_some_and(|p| !process::is_alive(p));
                if !pid_dead {
                    return Err(FleetError::AlreadyRunning {
                        agent: agent.to_string(),
                        pid: row.pid,
                        tmux_session: Some(row.tmux_session.to_string()),
                        started_at: row.started_at,
                    });
                }
                let _ = tmux_server.kill_session(&row.tmux_session, Duration::from_secs(2));
            }
            SessionState::Dead | SessionState::NoServer => {}
        }
    }
    sessions.transition(
        agent.as_str(),
        &Transition::to(AgentState::Completed).touch_activity(),
    )?;
    close_owned_run(layout, &agent, RunStatus::Completed);
    Ok(true)
}

/// Deploys the agent's hooks into `<root>/.claude/settings.local.json`,
/// keeping the user's entries. Every overstory command is prefixed with the
/// `OVERSTORY_AGENT_NAME` check, so the user's own Claude sessions in the
/// project root are unaffected. A headless agent gets only its guards (its
/// mail comes from the host, not from hooks).
fn deploy_root_hooks(
    layout: &Layout,
    config: &Config,
    spec: &PersistentSpec,
    headless: bool,
    ov: &Path,
) -> Result<(), FleetError> {
    let root = layout.root();
    let mut def = HooksDef::new(spec.agent_name, Some(spec.capability), root.to_path_buf())
        .headless(headless)
        .guard_program(ov.to_path_buf());
    if !config.project.quality_gates.is_empty() {
        def = def.quality_gates(config.project.quality_gates.clone());
    }
    let mut hooks = overstory_hooks(&def);
    for entries in hooks.values_mut() {
        for entry in entries.as_array_mut().into_iter().flatten() {
            for h in entry
                .get_mut("hooks")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(Value::String(cmd)) = h.get_mut("command")
                    && !cmd.contains(ENV_GUARD)
                {
                    *cmd = format!("{ENV_GUARD} {cmd}");
                }
            }
        }
    }
    let path = settings_path(root);
    let existing = std::fs::read_to_string(&path).ok();
    let merged = merge_settings(existing.as_deref(), hooks);
    overstory_core::fsio::write_atomic(&path, overstory_core::json::to_tab_string(&merged))?;
    Ok(())
}

fn start_watchdog(layout: &Layout, ov: &Path) -> Result<(), String> {
    if watchdog_running(layout) {
        return Ok(());
    }
    let out = process::command(ov)
        .args(["watch", "--background", "--project"])
        .arg(layout.root())
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("Watchdog not started: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "Watchdog not started: {}",
            err.lines().next().unwrap_or("the watch command failed")
        ));
    }
    Ok(())
}

/// Closes the run the agent owns: the one `current-run.txt` names when the
/// agent owns it, else the agent's newest active run.
fn close_owned_run(layout: &Layout, agent: &AgentName, status: RunStatus) -> Option<String> {
    let runs = RunStore::open(&layout.sessions_db()).ok()?;
    let owned_current = current_run_id(layout).filter(|id| {
        runs.get(id)
            .ok()
            .flatten()
            .is_some_and(|r| r.coordinator_name.as_deref() == Some(agent.as_str()))
    });
    let id = match owned_current {
        Some(id) => id,
        None => runs.active_for_coordinator(agent.as_str()).ok()??.id,
    };
    overstory_sessions::close_run(layout, &id, status).then_some(id)
}

/// Attaches the terminal to a tmux agent's session (`tmux -L <server>
/// attach-session -t <name>`, inheriting stdio) until the user detaches.
///
/// # Errors
/// [`FleetError::Validation`] for an empty session name; the OS error when
/// tmux cannot be run.
pub fn attach(tmux_server: &Tmux, session: &str) -> Result<(), FleetError> {
    if session.trim().is_empty() {
        return Err(FleetError::invalid(
            "tmuxSession",
            "A headless agent has no tmux session to attach to",
        ));
    }
    process::foreground_command("tmux")
        .args(["-L", tmux_server.server(), "attach-session", "-t", session])
        .status()
        .map_err(|e| FsError::new("run tmux attach-session for", Path::new(session), e))?;
    Ok(())
}

/// Choices of [`stop`].
#[derive(Debug, Clone)]
pub struct PersistentStopOptions {
    /// Gap between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// The tmux server (tmux mode).
    pub tmux: Tmux,
}

impl Default for PersistentStopOptions {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(2),
            tmux: Tmux::default(),
        }
    }
}

/// What [`stop`] did; the `<command> stop` JSON data.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentStopReport {
    /// Always true on success.
    pub stopped: bool,
    /// The stopped session's id.
    pub session_id: String,
    /// Whether a watchdog was stopped.
    pub watchdog_stopped: bool,
    /// Whether a monitor was stopped.
    pub monitor_stopped: bool,
    /// Whether the agent's run was completed.
    pub run_completed: bool,
    /// The run that was completed, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

fn active_row(
    sessions: &SessionStore,
    spec: &PersistentSpec,
) -> Result<Option<Session>, FleetError> {
    Ok(sessions
        .get(spec.agent_name)?
        .filter(|s| !s.state.is_terminal() && s.capability == spec.capability.as_str()))
}

fn not_active(spec: &PersistentSpec) -> FleetError {
    FleetError::NotActive {
        agent: spec.agent_name.to_owned(),
    }
}

/// Stops the persistent agent: its host (or tmux session), the watchdog and
/// monitor, marks it `completed`, completes its run. A `zombie` agent (its
/// process died) can be stopped too, which closes its run.
///
/// # Errors
/// [`FleetError::NotActive`] when there is no session or it is already
/// completed; store failures.
pub fn stop(
    layout: &Layout,
    spec: &PersistentSpec,
    opts: &PersistentStopOptions,
) -> Result<PersistentStopReport, FleetError> {
    let agent = spec.agent()?;
    let mut sessions = SessionStore::open(&layout.sessions_db())?;
    // A zombie (its process died) is still stopped: its run is closed.
    let row = sessions
        .get(spec.agent_name)?
        .filter(|s| s.state != AgentState::Completed && s.capability == spec.capability.as_str())
        .ok_or_else(|| not_active(spec))?;
    end_agent(layout, &agent, &row, opts);
    // The monitor is a companion: stopping it stops nothing else.
    let (watchdog_stopped, monitor_stopped) = if spec.owns_run() {
        (stop_watchdog(layout), stop(layout, &MONITOR, opts).is_ok())
    } else {
        (false, false)
    };
    sessions.transition(
        agent.as_str(),
        &Transition::to(AgentState::Completed).touch_activity(),
    )?;
    let run_id = close_owned_run(layout, &agent, RunStatus::Completed);
    Ok(PersistentStopReport {
        stopped: true,
        session_id: row.id,
        watchdog_stopped,
        monitor_stopped,
        run_completed: run_id.is_some(),
        run_id,
    })
}

/// Ends the agent's process: its host (which settles it), else its tmux
/// session, else whatever its pid names.
fn end_agent(layout: &Layout, agent: &AgentName, row: &Session, opts: &PersistentStopOptions) {
    if row.mode() != RunMode::Tmux {
        crate::stop::kill_headless(layout, agent, row, opts.grace);
    } else if opts.tmux.is_alive(&row.tmux_session) {
        let _ = opts.tmux.kill_session(&row.tmux_session, opts.grace);
    }
}

/// Stops the project's watchdog daemon (SIGTERM, waiting for it to go and
/// take its pid file with it); returns whether one was running.
fn stop_watchdog(layout: &Layout) -> bool {
    crate::watchdog::stop_running(layout, Duration::from_secs(5)).is_some()
}

fn watchdog_running(layout: &Layout) -> bool {
    crate::watchdog::running_pid(layout).is_some()
}

fn monitor_running(layout: &Layout, tmux_server: &Tmux) -> bool {
    if !layout.sessions_db().is_file() {
        return false;
    }
    let Ok(sessions) = SessionStore::open(&layout.sessions_db()) else {
        return false;
    };
    let Ok(Some(row)) = sessions.get(MONITOR.agent_name) else {
        return false;
    };
    !row.state.is_terminal() && is_live(layout, &row, tmux_server)
}

/// Whether the agent's process is reachable: a live host (headless) or a
/// live tmux session. Never probes tmux with an empty name.
fn is_live(layout: &Layout, row: &Session, tmux_server: &Tmux) -> bool {
    if row.mode() != RunMode::Tmux {
        host::live_host(layout, &row.agent_name).is_some()
    } else {
        tmux_server.is_alive(&row.tmux_session)
    }
}

/// What [`status`] reports; the `<command> status` JSON data.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentStatus {
    /// Whether the agent runs.
    pub running: bool,
    /// Its session id (absent when there is no active session).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Its state (after reconciling a dead process to `zombie`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<AgentState>,
    /// Its tmux session (`""` when headless).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmux_session: Option<String>,
    /// The agent process (headless) or pane (tmux) pid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i64>,
    /// When it started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When the agent last showed activity (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_activity: Option<String>,
    /// Headless (agent host) or tmux.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headless: Option<bool>,
    /// The agent host's pid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_pid: Option<i32>,
    /// The run the agent owns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Whether the watchdog runs.
    pub watchdog_running: bool,
    /// Whether the monitor runs.
    pub monitor_running: bool,
}

/// Reports whether the agent runs. An active row whose process is gone is
/// moved to `zombie` (and reported with `running: false`).
///
/// # Errors
/// Store failures.
pub fn status(
    layout: &Layout,
    spec: &PersistentSpec,
    tmux_server: &Tmux,
) -> Result<PersistentStatus, FleetError> {
    let watchdog = watchdog_running(layout);
    let monitor = spec.owns_run() && monitor_running(layout, tmux_server);
    let inactive = PersistentStatus {
        watchdog_running: watchdog,
        monitor_running: monitor,
        ..PersistentStatus::default()
    };
    if !layout.sessions_db().is_file() {
        return Ok(inactive);
    }
    let mut sessions = SessionStore::open(&layout.sessions_db())?;
    let Some(mut row) = active_row(&sessions, spec)? else {
        return Ok(inactive);
    };
    let running = is_live(layout, &row, tmux_server);
    if !running {
        sessions.transition(&row.agent_name, &Transition::died())?;
        row = sessions.get(&row.agent_name)?.unwrap_or(row);
    }
    let host_pid = spec
        .agent()
        .ok()
        .and_then(|a| host::live_host(layout, &a))
        .filter(|p| *p > 0);
    Ok(PersistentStatus {
        running,
        session_id: Some(row.id.clone()),
        state: Some(row.state),
        headless: Some(row.mode() != RunMode::Tmux),
        tmux_session: Some(row.tmux_session),
        pid: row.pid,
        started_at: Some(row.started_at),
        last_activity: Some(row.last_activity),
        host_pid,
        run_id: row.run_id,
        watchdog_running: watchdog,
        monitor_running: monitor,
    })
}

/// Returns the active, live row; a dead one is marked `zombie` and refused.
fn live_row(
    layout: &Layout,
    spec: &PersistentSpec,
    tmux_server: &Tmux,
) -> Result<Session, FleetError> {
    let mut sessions = SessionStore::open(&layout.sessions_db())?;
    let row = active_row(&sessions, spec)?.ok_or_else(|| not_active(spec))?;
    if !is_live(layout, &row, tmux_server) {
        sessions.transition(&row.agent_name, &Transition::died())?;
        return Err(FleetError::NotRunning {
            agent: spec.agent_name.to_owned(),
            tmux_session: (row.mode() == RunMode::Tmux).then(|| row.tmux_session.to_string()),
        });
    }
    Ok(row)
}

/// What [`send`] did; the `<command> send` JSON data.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendReport {
    /// The id of the `dispatch` mail that was sent.
    pub id: String,
    /// Whether the agent was told (host poked, or tmux nudge typed).
    pub nudged: bool,
}

/// Sends the agent a `dispatch` mail from `operator` and makes sure it sees
/// it: a headless agent's host is woken (the mail becomes its next user
/// turn); a tmux agent gets a forced `[DISPATCH] <subject>: <body…>` nudge.
///
/// # Errors
/// [`FleetError::NotActive`] when the agent is not active,
/// [`FleetError::NotRunning`] when its process is gone (then it is marked
/// `zombie`); mail and store failures.
pub fn send(
    layout: &Layout,
    spec: &PersistentSpec,
    subject: &str,
    body: &str,
    ov: &Path,
) -> Result<SendReport, FleetError> {
    let tmux_server = Tmux::default();
    let row = live_row(layout, spec, &tmux_server)?;
    let sent = send_mail(layout, spec, subject, body, None)?;
    let nudged = tell(layout, spec, &row, "DISPATCH", subject, body, ov);
    Ok(SendReport {
        id: sent.id,
        nudged,
    })
}

fn send_mail(
    layout: &Layout,
    spec: &PersistentSpec,
    subject: &str,
    body: &str,
    payload: Option<String>,
) -> Result<MailMessage, FleetError> {
    let mut req = SendRequest::new(
        AgentName::new(OPERATOR)?,
        Address::Agent(spec.agent()?),
        subject,
        body,
    )
    .kind(MessageType::Dispatch);
    if let Some(p) = payload {
        req = req.payload(p);
    }
    Ok(MailClient::open(layout)?.send(&req)?)
}

/// Makes the agent look at its mail. Errors are not fatal: the mail is
/// stored and the host's poll (or the next hook) finds it.
fn tell(
    layout: &Layout,
    spec: &PersistentSpec,
    row: &Session,
    tag: &str,
    subject: &str,
    body: &str,
    ov: &Path,
) -> bool {
    let Ok(agent) = spec.agent() else {
        return false;
    };
    if row.mode() != RunMode::Tmux {
        let config = Config::defaults_for(layout.root());
        let factory = TurnFactory::new(layout.clone(), config, Some(ov.to_path_buf()));
        let launcher = Launcher {
            ov: ov.to_path_buf(),
        };
        return matches!(
            wake(&factory, &launcher, &agent),
            Ok(WakeOutcome::Poked { .. })
        );
    }
    let short: String = body.chars().take(NUDGE_BODY_CHARS).collect();
    let mut opts = NudgeOptions::new(ov.to_path_buf());
    opts.force = true;
    opts.from = OPERATOR.to_owned();
    let config = Config::defaults_for(layout.root());
    nudge_agent(
        layout,
        &config,
        agent.as_str(),
        &format!("[{tag}] {subject}: {short}"),
        &opts,
    )
    .is_ok_and(|r| r.delivered)
}

/// The answer [`ask`] waited for; the `<command> ask` JSON data.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AskReport {
    /// The correlation id sent in the question's payload.
    pub correlation_id: String,
    /// The question's mail id.
    pub sent_id: String,
    /// The reply's mail id.
    pub reply_id: String,
    /// The reply's subject.
    pub subject: String,
    /// The reply's body.
    pub body: String,
    /// The reply's payload, parsed when it is JSON.
    pub payload: Option<Value>,
}

/// Asks the agent a question and waits up to `timeout` for its answer.
///
/// The question is a `dispatch` mail from `operator` with payload
/// `{"correlationId": <uuid>}`, delivered like [`send`] (tmux nudge prefix
/// `[ASK]`). The answer is the first mail from the agent to `operator` after
/// the question: preferably one in the question's thread or carrying its
/// correlation id; otherwise the first one sent after the question (a
/// headless agent sees its mail framed without ids, so it answers with a
/// plain `ov mail send --to operator`).
///
/// # Errors
/// As [`send`]; [`FleetError::AskTimedOut`] when no reply came in time.
pub fn ask(
    layout: &Layout,
    spec: &PersistentSpec,
    subject: &str,
    body: &str,
    timeout: Duration,
    ov: &Path,
) -> Result<AskReport, FleetError> {
    let tmux_server = Tmux::default();
    let row = live_row(layout, spec, &tmux_server)?;
    let store = MailStore::open(layout.mail_db())?;
    let baseline = store.high_water_mark()?;
    let correlation_id = ids::uuid_v4();
    let sent = send_mail(
        layout,
        spec,
        subject,
        body,
        Some(json!({"correlationId": correlation_id}).to_string()),
    )?;
    tell(layout, spec, &row, "ASK", subject, body, ov);
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(reply) = find_reply(&store, spec, &sent.id, &correlation_id, baseline)? {
            return Ok(AskReport {
                correlation_id,
                sent_id: sent.id,
                reply_id: reply.id.clone(),
                subject: reply.subject.clone(),
                body: reply.body.clone(),
                payload: reply.parse_payload(),
            });
        }
        if Instant::now() >= deadline {
            return Err(FleetError::AskTimedOut {
                agent: spec.agent_name.to_owned(),
                timeout,
                correlation_id,
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn find_reply(
    store: &MailStore,
    spec: &PersistentSpec,
    sent_id: &str,
    correlation_id: &str,
    baseline: i64,
) -> Result<Option<MailMessage>, FleetError> {
    let candidates: Vec<MailMessage> = store
        .since(baseline, 1000)?
        .into_iter()
        .map(|(_, m)| m)
        .filter(|m| m.from == spec.agent_name && m.to == OPERATOR)
        .collect();
    let exact = candidates.iter().find(|m| {
        m.thread_id.as_deref() == Some(sent_id)
            || m.parse_payload()
                .and_then(|p| p.get("correlationId").cloned())
                .and_then(|c| c.as_str().map(str::to_owned))
                .as_deref()
                == Some(correlation_id)
    });
    Ok(exact.or_else(|| candidates.first()).cloned())
}

/// What [`output`] shows; the `<command> output` JSON data.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputReport {
    /// The rendered output: stream text for a headless agent, the pane for tmux.
    pub content: String,
    /// How many lines were asked for.
    pub lines: usize,
}

/// Returns the agent's recent output: for a headless agent the text it
/// wrote (assistant messages and tool calls, from its `stdout.log`), for a
/// tmux agent the pane. At most `lines` lines.
///
/// # Errors
/// [`FleetError::NoSession`] when the agent never had a session; store
/// failures.
pub fn output(
    layout: &Layout,
    spec: &PersistentSpec,
    lines: usize,
    tmux_server: &Tmux,
) -> Result<OutputReport, FleetError> {
    let row = any_row(layout, spec)?;
    let content = if row.mode() != RunMode::Tmux {
        let text = latest_stdout_log(layout, spec)
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|t| render_stream(&t))
            .unwrap_or_default();
        last_lines(&text, lines)
    } else {
        tmux_server
            .capture_pane(&row.tmux_session, u32::try_from(lines).unwrap_or(u32::MAX))
            .unwrap_or_default()
    };
    Ok(OutputReport { content, lines })
}

fn any_row(layout: &Layout, spec: &PersistentSpec) -> Result<Session, FleetError> {
    let missing = || FleetError::NoSession {
        agent: spec.agent_name.to_owned(),
    };
    if !layout.sessions_db().is_file() {
        return Err(missing());
    }
    SessionStore::open(&layout.sessions_db())?
        .get(spec.agent_name)?
        .filter(|s| s.capability == spec.capability.as_str())
        .ok_or_else(missing)
}

fn latest_stdout_log(layout: &Layout, spec: &PersistentSpec) -> Option<PathBuf> {
    let agent = spec.agent().ok()?;
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(layout.agent_logs_dir(&agent))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("stdout.log").is_file())
        .collect();
    dirs.sort();
    dirs.pop().map(|d| d.join("stdout.log"))
}

/// Renders stream-json lines as readable text: assistant text as is (one
/// line per text block, trailing whitespace trimmed, empty blocks
/// skipped), tool calls as `→ Tool: summary` where the summary is the
/// input's `command`, `file_path`, `path` or `pattern`. Other lines are
/// skipped.
///
/// Parsing is [`LineParser`]'s, the same as the turn runner's.
pub fn render_stream(ndjson: &str) -> String {
    let mut out = String::new();
    for line in ndjson.lines() {
        let (fragments, _skipped) = LineParser::parse(line, "");
        for fragment in fragments {
            match fragment {
                Fragment::Text { text, .. } if !text.is_empty() => {
                    out.push_str(text.trim_end());
                    out.push('\n');
                }
                Fragment::Event(RuntimeEvent::ToolUse { name, input, .. }) => {
                    let summary = ["command", "file_path", "path", "pattern"]
                        .iter()
                        .find_map(|k| input.get(*k).and_then(Value::as_str))
                        .unwrap_or_default();
                    let name = name.as_deref().unwrap_or("tool");
                    out.push_str(&format!("→ {name}: {summary}\n"));
                }
                _ => {}
            }
        }
    }
    out
}

fn last_lines(text: &str, n: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(n)..].join("\n")
}

/// Follows the agent's output (`output --follow`): each [`poll`](Self::poll)
/// returns what is new since the last one.
#[derive(Debug)]
pub struct OutputFollower {
    layout: Layout,
    spec: PersistentSpec,
    tmux: Tmux,
    headless: bool,
    tmux_session: String,
    log: Option<PathBuf>,
    offset: u64,
}

impl OutputFollower {
    /// Starts following at the current end of the output.
    ///
    /// # Errors
    /// As [`output`].
    pub fn from_now(
        layout: &Layout,
        spec: &PersistentSpec,
        tmux_server: &Tmux,
    ) -> Result<Self, FleetError> {
        let row = any_row(layout, spec)?;
        let log = latest_stdout_log(layout, spec);
        let offset = log
            .as_ref()
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(0, |m| m.len());
        Ok(Self {
            layout: layout.clone(),
            spec: *spec,
            tmux: tmux_server.clone(),
            headless: row.mode() != RunMode::Tmux,
            tmux_session: row.tmux_session,
            log,
            offset,
        })
    }

    /// Returns new output (headless: text written since the last poll;
    /// tmux: the current pane), or an empty string.
    pub fn poll(&mut self) -> String {
        if !self.headless {
            return self
                .tmux
                .capture_pane(&self.tmux_session, 50)
                .unwrap_or_default();
        }
        let latest = latest_stdout_log(&self.layout, &self.spec);
        if latest != self.log {
            // A restarted agent writes a new log: follow it from its start.
            self.log = latest;
            self.offset = 0;
        }
        let Some(path) = &self.log else {
            return String::new();
        };
        let Ok(bytes) = std::fs::read(path) else {
            return String::new();
        };
        let start = usize::try_from(self.offset)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let Some(end) = bytes[start..].iter().rposition(|b| *b == b'\n') else {
            return String::new();
        };
        let chunk = String::from_utf8_lossy(&bytes[start..=start + end]).into_owned();
        self.offset += (end + 1) as u64;
        render_stream(&chunk)
    }
}

/// One exit trigger's evaluation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerResult {
    /// Whether `coordinator.exitTriggers.<name>` is on.
    pub enabled: bool,
    /// Whether its condition holds.
    pub met: bool,
    /// What was found, in words (`2 of 3 agents not completed: …`).
    pub detail: String,
}

/// The three triggers.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Triggers {
    /// Every worker of the current run is completed and the merge queue
    /// has nothing pending.
    pub all_agents_done: TriggerResult,
    /// The task tracker has no ready work.
    pub task_tracker_empty: TriggerResult,
    /// The coordinator was sent a mail whose subject says "shutdown".
    pub on_shutdown_signal: TriggerResult,
}

/// The `coordinator check-complete` JSON data.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckCompleteReport {
    /// At least one trigger is enabled and every enabled one is met.
    pub complete: bool,
    /// How each trigger evaluated, enabled or not.
    pub triggers: Triggers,
}

/// Evaluates the coordinator's exit triggers (`coordinator.exitTriggers`).
///
/// # Errors
/// Store failures.
pub fn check_complete(layout: &Layout, config: &Config) -> Result<CheckCompleteReport, FleetError> {
    let t = &config.coordinator.exit_triggers;
    let run = current_run_id(layout);
    let all_agents_done = evaluate(t.all_agents_done, || {
        all_agents_done(layout, run.as_deref())
    });
    let task_tracker_empty = evaluate(t.task_tracker_empty, || tracker_empty(layout, config));
    let on_shutdown_signal = evaluate(t.on_shutdown_signal, || {
        shutdown_signal(layout, run.as_deref())
    });
    let enabled = [&all_agents_done, &task_tracker_empty, &on_shutdown_signal];
    let complete =
        enabled.iter().any(|r| r.enabled) && enabled.iter().filter(|r| r.enabled).all(|r| r.met);
    Ok(CheckCompleteReport {
        complete,
        triggers: Triggers {
            all_agents_done,
            task_tracker_empty,
            on_shutdown_signal,
        },
    })
}

fn evaluate(enabled: bool, check: impl FnOnce() -> (bool, String)) -> TriggerResult {
    if !enabled {
        return TriggerResult {
            enabled,
            met: false,
            detail: "Disabled".to_owned(),
        };
    }
    let (met, detail) = check();
    TriggerResult {
        enabled,
        met,
        detail,
    }
}

fn all_agents_done(layout: &Layout, run: Option<&str>) -> (bool, String) {
    let Some(run) = run else {
        return (false, "No current run found".to_owned());
    };
    let Ok(sessions) = SessionStore::open(&layout.sessions_db()) else {
        return (false, "Cannot read sessions.db".to_owned());
    };
    let workers: Vec<Session> = sessions
        .by_run(run)
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.capability.is_task_scoped())
        .collect();
    if workers.is_empty() {
        return (false, format!("No agents in run {run} yet"));
    }
    let open: Vec<&str> = workers
        .iter()
        .filter(|s| s.state != AgentState::Completed)
        .map(|s| s.agent_name.as_str())
        .collect();
    if !open.is_empty() {
        return (
            false,
            format!(
                "{} of {} agents not completed: {}",
                open.len(),
                workers.len(),
                open.join(", ")
            ),
        );
    }
    let pending = ProjectSources::new(layout).merge_queue_pending();
    if pending > 0 {
        return (false, format!("{pending} merge-queue entries pending"));
    }
    (
        true,
        format!("All {} agents completed, merge queue empty", workers.len()),
    )
}

fn tracker_empty(layout: &Layout, config: &Config) -> (bool, String) {
    let cli = TrackerCli::for_project(layout.root(), &config.task_tracker.backend).program();
    let out = process::command(cli)
        .args(["ready", "--json"])
        .current_dir(layout.root())
        .stdin(std::process::Stdio::null())
        .output();
    let out = match out {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            return (
                false,
                format!(
                    "{cli} ready failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ),
            );
        }
        Err(e) => return (false, format!("Cannot run {cli}: {e}")),
    };
    let Ok(v) = serde_json::from_slice::<Value>(&out.stdout) else {
        return (false, format!("{cli} ready --json printed no JSON"));
    };
    // A bare array (beads) or an envelope holding one (seeds).
    let items = v.as_array().cloned().or_else(|| {
        v.as_object().and_then(|o| {
            ["issues", "ready", "data", "items"]
                .iter()
                .find_map(|k| o.get(*k).and_then(Value::as_array).cloned())
        })
    });
    match items {
        Some(list) if list.is_empty() => (true, "No ready work".to_owned()),
        Some(list) => (false, format!("{} ready issue(s)", list.len())),
        None => (false, format!("Unrecognised {cli} ready output")),
    }
}

fn shutdown_signal(layout: &Layout, run: Option<&str>) -> (bool, String) {
    let Ok(store) = MailStore::open(layout.mail_db()) else {
        return (false, "Cannot read mail.db".to_owned());
    };
    // A headless coordinator's host marks mail read when it delivers it, so
    // delivered mail of the current run counts too.
    let run_started = run.and_then(|id| {
        RunStore::open(&layout.sessions_db())
            .ok()?
            .get(id)
            .ok()?
            .map(|r| r.started_at)
    });
    let found = store
        .list(&overstory_mail::ListFilter {
            to: Some(COORDINATOR.agent_name.to_owned()),
            ..overstory_mail::ListFilter::default()
        })
        .unwrap_or_default()
        .into_iter()
        .find(|m| {
            m.subject.to_lowercase().contains("shutdown")
                && (!m.read
                    || run_started
                        .as_deref()
                        .is_some_and(|s| m.created_at.as_str() >= s))
        });
    match found {
        Some(m) => (
            true,
            format!("Shutdown requested by {}: \"{}\"", m.from, m.subject),
        ),
        None => (false, "No shutdown mail".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coordinator_beacon_names_its_role_and_startup() {
        let b = COORDINATOR.beacon("bd", "2026-01-01T00:00:00.000Z");
        assert!(b.starts_with("[OVERSTORY] coordinator (coordinator) 2026-01-01T00:00:00.000Z — Depth: 0 | Parent: none | Role: persistent orchestrator"));
        assert!(b.contains("HIERARCHY:") && b.contains("DELEGATION:"));
        assert!(b.ends_with("check bd ready, check ov group status, then begin work"));
        let o = ORCHESTRATOR.beacon("sd", "t");
        assert!(o.contains("ov coordinator start --project <path>"));
    }

    #[test]
    fn the_monitor_beacon_names_its_tier_and_patrol() {
        let b = MONITOR.beacon("bd", "2026-01-01T00:00:00.000Z");
        assert!(b.starts_with(
            "[OVERSTORY] monitor (monitor/tier-2) 2026-01-01T00:00:00.000Z — Depth: 0 | Parent: none"
        ));
        for part in [
            "mulch prime",
            "ov status --json",
            "ov mail check --agent monitor",
            "patrol",
        ] {
            assert!(b.contains(part), "{part}: {b}");
        }
        assert!(!MONITOR.owns_run() && MONITOR.needs_tier2());
        assert!(COORDINATOR.owns_run() && !ORCHESTRATOR.needs_tier2());
    }

    #[test]
    fn the_stream_renders_text_and_tool_calls() {
        let ndjson = r#"{"type":"system","subtype":"init"}
{"type":"assistant","message":{"content":[{"type":"text","text":"Planning\n"}]}}
{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Bash","input":{"command":"ov status"}}]}}
{"type":"result","result":"done"}"#;
        assert_eq!(render_stream(ndjson), "Planning\n→ Bash: ov status\n");
        let odd = r#"not json
{"type":"assistant","message":{"content":[{"type":"text","text":"a  "},{"type":"text","text":"b"}]}}
{"type":"assistant","message":{"content":[{"type":"tool_use","input":{"file_path":"src/x.rs"}},{"type":"tool_use","name":"Task","input":{}}]}}
{"type":"user","message":{"content":[{"type":"tool_result","content":"ok"}]}}"#;
        assert_eq!(render_stream(odd), "a\nb\n→ tool: src/x.rs\n→ Task: \n");
        assert_eq!(last_lines("a\nb\nc", 2), "b\nc");
    }
}
