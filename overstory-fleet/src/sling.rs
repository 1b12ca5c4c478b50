//! `ov sling`: admit, set up and start one agent on one task.
//!
//! [`sling`] runs four steps in order:
//!
//! 1. validation that touches nothing: names ([`TaskId`], [`AgentName`]),
//!    the capability, flags, the spec file, root without `IS_SANDBOX`;
//! 2. **admission**, atomic across processes: under an exclusive lock of
//!    `.overstory/sling.lock` the depth (derived from the parent's row),
//!    hierarchy, run, concurrency, name, task-lock and per-parent limits are
//!    checked and the session row is *reserved* (state `booting`) before the
//!    lock is released, so two concurrent slings can never both pass a limit
//!    or take the same name;
//! 3. set-up: worktree and branch `overstory/<agent>/<task>`, the spec copy,
//!    overlay, hooks/guards, identity, the recorded [`RuntimeChoice`] and the
//!    dispatch mail;
//! 4. start: headless agents get their first prompt queued with
//!    [`enqueue_turn`] and a detached dispatcher started with [`wake`]; sling
//!    returns at once with the session id (it never waits for the turn).
//!    Tmux agents get a session running the runtime's interactive command,
//!    the pane pid in their row, and the beacon.
//!
//! Any failure after the row is reserved undoes everything this sling
//! created — queued turn, dispatch mail, runtime choice, identity, spec copy,
//! tmux session, worktree, branch and the row (a prior terminal row of the
//! same name is restored) — so a retry with the same name works.
//! [`SlingRequest::fail_after`] injects such a failure for tests.
//!
//! The crate documentation has a runnable example: sling a scripted
//! builder into a scratch repository, then stop it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use overstory_core::lockfile::FileLock;
use overstory_core::worktree::Worktrees;
use overstory_core::{
    AgentName, BranchName, Capability, Config, FsError, Layout, TaskId, clock, env,
};
use overstory_mail::{Address, MailClient, MessageType, SendRequest};
use overstory_sessions::{NewRun, RunStatus, RunStore, Session, SessionStore};
use serde::Serialize;

use crate::beacon::{BeaconTiming, deliver_beacon};
use crate::error::FleetError;
use crate::profile::ensure_identity;
use crate::reconcile::{ReconcileOptions, SlingMarker, reclaim_dead_slings};
use crate::tmux::{self, NewSession, Tmux};
use overstory_runtime::manifest::Manifest;
use overstory_runtime::model::{process_env, resolve_model};
use overstory_runtime::overlay::{OverlayConfig, render_overlay, write_overlay};
use overstory_runtime::prompt::Beacon;
use overstory_runtime::registry::{HeadlessFlag, Registry, resolve_use_headless};
use overstory_runtime::runtime::{AgentRuntime, HooksDef, SpawnOptions};
use overstory_turn::dispatch::{Launcher, WakeOutcome, wake};
use overstory_turn::factory::{RuntimeChoice, TurnFactory};
use overstory_turn::queue::enqueue_turn;

/// The steps of a sling after admission, in order; [`SlingRequest::fail_after`]
/// names one to inject a failure right after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SlingStep {
    /// The session row was reserved.
    Reserve,
    /// The worktree and branch exist.
    Worktree,
    /// The spec was copied, the overlay and hooks deployed, identity written.
    Deploy,
    /// The runtime choice was recorded.
    RuntimeChoice,
    /// The dispatch mail was sent.
    Mail,
    /// The first turn was queued (headless) or the tmux session created.
    Spawn,
}

impl SlingStep {
    /// Every step, in order.
    pub const ALL: [SlingStep; 6] = [
        Self::Reserve,
        Self::Worktree,
        Self::Deploy,
        Self::RuntimeChoice,
        Self::Mail,
        Self::Spawn,
    ];

    /// The step's name (`reserve`, `worktree`, `deploy`, `runtime-choice`,
    /// `mail`, `spawn`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserve => "reserve",
            Self::Worktree => "worktree",
            Self::Deploy => "deploy",
            Self::RuntimeChoice => "runtime-choice",
            Self::Mail => "mail",
            Self::Spawn => "spawn",
        }
    }
}

impl std::str::FromStr for SlingStep {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| format!("unknown sling step \"{s}\""))
    }
}

/// Everything `ov sling` was asked. Build with [`SlingRequest::new`] and set
/// what differs from the defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SlingRequest {
    /// The project the agent is slung into.
    pub layout: Layout,
    /// The project's configuration (limits, worktree base, routing).
    pub config: Config,
    /// The task the agent works on; also part of its branch name.
    pub task_id: TaskId,
    /// The capability (`builder` by default).
    pub capability: Capability,
    /// The agent name; `None` ⇒ `<capability>-<task>`, `-2`, ….
    pub name: Option<AgentName>,
    /// The spec file (absolute, or relative to the project root).
    pub spec: Option<PathBuf>,
    /// Files the agent may change (comma-separated entries are split), written into its overlay.
    pub files: Vec<String>,
    /// The agent that dispatches this one; its row sets the depth and the run.
    pub parent: Option<AgentName>,
    /// `--depth`: used only without a parent row (the depth is otherwise the
    /// parent's depth + 1).
    pub depth: Option<u32>,
    /// Leads only: skip the scout phase.
    pub skip_scout: bool,
    /// Leads only: skip review.
    pub skip_review: bool,
    /// Silence the "builder without a scout" warning.
    pub no_scout_check: bool,
    /// Spawn any capability without a parent.
    pub force_hierarchy: bool,
    /// Per-parent ceiling (`None` ⇒ `agents.maxAgentsPerLead`; 0 = unlimited).
    pub max_agents: Option<u32>,
    /// Written into the overlay only.
    pub dispatch_max_agents: Option<u32>,
    /// Runtime name (`None` ⇒ config routing ⇒ `claude`).
    pub runtime: Option<String>,
    /// The scripted runtime's script, recorded with the runtime choice.
    pub script: Option<PathBuf>,
    /// Branch to start from (`None` ⇒ the root's current branch, else canonical).
    pub base_branch: Option<String>,
    /// `--headless` / `--no-headless`.
    pub headless: HeadlessFlag,
    /// The running `ov` (guard hooks, dispatcher, scripted runtime).
    pub ov_program: PathBuf,
    /// The tmux server for tmux agents.
    pub tmux: Tmux,
    /// Timing of the tmux beacon delivery.
    pub beacon_timing: BeaconTiming,
    /// Test hook: fail right after this step (then roll back).
    pub fail_after: Option<SlingStep>,
}

impl SlingRequest {
    /// A request for `task_id` with every option at its default.
    pub fn new(layout: Layout, config: Config, task_id: TaskId, ov: PathBuf) -> Self {
        let beacon_timing = BeaconTiming::from_config(&config);
        Self {
            layout,
            config,
            task_id,
            capability: Capability::Builder,
            name: None,
            spec: None,
            files: Vec::new(),
            parent: None,
            depth: None,
            skip_scout: false,
            skip_review: false,
            no_scout_check: false,
            force_hierarchy: false,
            max_agents: None,
            dispatch_max_agents: None,
            runtime: None,
            script: None,
            base_branch: None,
            headless: HeadlessFlag::Unset,
            ov_program: ov,
            tmux: Tmux::default(),
            beacon_timing,
            fail_after: None,
        }
    }
}

/// What [`sling`] did; serialises as the `sling` JSON envelope data.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SlingReport {
    /// The name the agent was given (explicit, or `<capability>-<task>`).
    pub agent_name: AgentName,
    /// The capability it runs as (`builder`).
    pub capability: Capability,
    /// The task it works on.
    pub task_id: TaskId,
    /// The agent's branch.
    pub branch: String,
    /// The worktree path, `<worktrees.baseDir>/<agent>`.
    pub worktree: String,
    /// The tmux session (`""` when headless).
    pub tmux_session: String,
    /// The pane pid (tmux), `null` when headless.
    pub pid: Option<i64>,
    /// The id of the reserved session row.
    pub session_id: String,
    /// The run the agent belongs to.
    pub run_id: String,
    /// The agent that dispatched it, if any.
    pub parent_agent: Option<AgentName>,
    /// Its depth in the hierarchy (0 without a parent).
    pub depth: u32,
    /// The runtime its turns run on (`claude`, `scripted`).
    pub runtime: String,
    /// Headless (spawn-per-turn) or tmux.
    pub headless: bool,
    /// The spec copy under `.overstory/specs/`, if any.
    pub spec_path: Option<String>,
    /// The dispatch mail id.
    pub dispatch_mail_id: String,
    /// The detached dispatcher running the first turn (headless only).
    pub dispatcher_pid: Option<u32>,
    /// The first turn's final state: always `null`, sling does not wait.
    pub initial_turn_final_state: Option<String>,
    /// The Claude session id: `null` until the first turn reports it.
    pub claude_session_id: Option<String>,
    /// Non-fatal warnings (scout check, ignored flags).
    pub warnings: Vec<String>,
}

/// Admits, sets up and starts one agent.
///
/// Blocks only for set-up (and, for tmux agents, until the beacon is
/// delivered); a headless agent's first turn runs in a detached dispatcher.
/// Starts no async runtime of its own, so it may be called from inside one
/// (it blocks the calling thread while it works).
///
/// # Errors
/// [`FleetError::Validation`] for invalid names, flags or a missing spec;
/// refusals, each its own variant: [`FleetError::DepthLimit`],
/// [`FleetError::RunSessionLimit`], [`FleetError::ConcurrencyLimit`],
/// [`FleetError::ParentLimit`], [`FleetError::NameInUse`],
/// [`FleetError::TaskLocked`], [`FleetError::ParentNotFound`],
/// [`FleetError::UnknownCapability`], [`FleetError::RootWithoutSandbox`];
/// [`FleetError::TurnNotStarted`] when the dispatcher refuses the first turn;
/// [`FleetError::Hierarchy`] (`HIERARCHY_VIOLATION`); runtime, worktree,
/// tmux, mail and store failures. After any failure nothing this sling
/// created is left behind.
pub fn sling(req: &SlingRequest) -> Result<SlingReport, FleetError> {
    let layout = &req.layout;
    let config = &req.config;
    let root = layout.root().to_path_buf();

    // 1. Validation that touches nothing.
    let task = req.task_id.clone();
    let capability = req.capability;
    let explicit_name = req.name.clone();
    let parent = req.parent.clone();
    let registry = Registry {
        script: req.script.clone(),
        ov_program: Some(req.ov_program.clone()),
    };
    let runtime = registry.get(req.runtime.as_deref(), Some(config), Some(capability))?;
    if overstory_runtime::sandbox::root_refusal(runtime.id(), "sling").is_some() {
        return Err(FleetError::root_without_sandbox("sling"));
    }
    // The agent's process must be able to start (its binary on PATH) before
    // any row, branch or worktree exists.
    runtime.preflight()?;
    let mut warnings = Vec::new();
    if req.skip_scout && capability != Capability::Lead {
        warnings.push("--skip-scout only applies to leads; ignored".to_owned());
    }
    let spec_src = match &req.spec {
        Some(p) => {
            let abs = if p.is_absolute() {
                p.clone()
            } else {
                root.join(p)
            };
            if !abs.is_file() {
                return Err(FleetError::invalid(
                    "spec",
                    format!("Spec file not found: {}", abs.display()),
                ));
            }
            Some(abs)
        }
        None => None,
    };
    let files: Vec<String> = req
        .files
        .iter()
        .flat_map(|f| f.split(','))
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect();

    // Hierarchy (before anything is opened).
    if parent.is_none() && !req.force_hierarchy && !capability.props().spawnable_without_parent {
        return Err(FleetError::Hierarchy {
            capability: capability.as_str().to_owned(),
        });
    }

    // Manifest.
    let manifest = Manifest::for_project(&root, config)?;
    let Some(def) = manifest.agent(capability.as_str()).cloned() else {
        return Err(FleetError::UnknownCapability {
            capability: capability.as_str().to_owned(),
            available: manifest.agents.keys().cloned().collect(),
        });
    };
    let headless = resolve_use_headless(runtime.as_ref(), req.headless, config)?;
    let base_branch = resolve_base_branch(&root, config, req.base_branch.as_deref());

    // 2. Admission under the sling lock.
    let admitted = {
        // Exclusive across processes; the kernel drops it if we die.
        let _lock = FileLock::acquire(&layout.sling_lock())?;
        admit(
            req,
            &task,
            capability,
            explicit_name.as_ref(),
            parent.as_ref(),
            &mut warnings,
        )?
    };
    let agent = admitted.agent.clone();
    let mut undo = Undo {
        agent: Some(agent.clone()),
        prior_row: admitted.prior.clone(),
        row_reserved: true,
        created_run: admitted.created_run.clone(),
        ..Undo::default()
    };

    let plan = SetUp {
        req,
        admitted: &admitted,
        task: &task,
        capability,
        def: &def,
        manifest: &manifest,
        runtime: runtime.as_ref(),
        headless,
        base_branch: &base_branch,
        spec_src: spec_src.as_deref(),
        files: &files,
    };
    let result = set_up_and_start(&plan, &mut undo);
    let result = match result {
        Ok(mut report) => {
            report.warnings.splice(0..0, warnings);
            Ok(report)
        }
        Err(e) => {
            undo.run(req);
            Err(e)
        }
    };
    // Finished either way: only a sling that dies leaves its marker.
    SlingMarker::remove(layout, &agent);
    result
}

struct Admitted {
    agent: AgentName,
    session: Session,
    prior: Option<Session>,
    depth: u32,
    run_id: String,
    /// The run this sling started (none existed), to fail on rollback.
    created_run: Option<String>,
}

/// Admission: derives the depth and run, checks every limit, picks the
/// name and reserves the session row. The caller holds the sling lock.
fn admit(
    req: &SlingRequest,
    task: &TaskId,
    capability: Capability,
    explicit_name: Option<&AgentName>,
    parent: Option<&AgentName>,
    warnings: &mut Vec<String>,
) -> Result<Admitted, FleetError> {
    let admission = Admission {
        req,
        task,
        capability,
        parent,
    };
    let layout = &req.layout;
    // A session whose sling died must not block this one: roll it back.
    let reclaim = ReconcileOptions {
        ov_program: Some(req.ov_program.clone()),
        tmux: req.tmux.clone(),
        ..ReconcileOptions::default()
    };
    for action in reclaim_dead_slings(layout, &req.config, &reclaim)? {
        tracing::info!(agent = ?action.agent, detail = %action.detail, "reclaimed a dead sling");
        for kept in action.kept {
            warnings.push(kept);
        }
    }
    let (store, _) = overstory_sessions::open_sessions(layout)?;
    let parent_row = match parent {
        Some(p) => store.get(p.as_str())?,
        None => None,
    };
    let depth = admitted_depth(&admission, parent_row.as_ref(), warnings)?;
    let (run_id, new_run) = run_for(layout, parent_row.as_ref());
    let all = store.all()?;
    let active: Vec<&Session> = all.iter().filter(|s| s.state.is_active()).collect();
    check_run_limit(&admission, &all, &run_id)?;
    check_run_budget(&admission, &run_id)?;
    check_concurrency(&admission, &active)?;
    let agent = pick_name(&admission, explicit_name, &all, &active)?;
    check_task_lock(&admission, &active)?;
    stagger(&admission, &active);
    check_parent_ceiling(&admission, &active)?;
    warn_without_scout(&admission, &all, warnings);
    reserve(&admission, &store, &all, agent, depth, run_id, new_run)
}

/// What every admission check looks at: the request and its parsed names.
struct Admission<'a> {
    req: &'a SlingRequest,
    task: &'a TaskId,
    capability: Capability,
    parent: Option<&'a AgentName>,
}

/// The new agent's depth: the parent's depth + 1 when the parent has a
/// row, else `--depth` (0 by default); at most `agents.maxDepth`.
fn admitted_depth(
    adm: &Admission<'_>,
    parent_row: Option<&Session>,
    warnings: &mut Vec<String>,
) -> Result<u32, FleetError> {
    let (req, parent) = (adm.req, adm.parent);
    let config = &req.config;
    let depth = match (parent, &parent_row) {
        (Some(_), Some(row)) => {
            let d = u32::try_from(row.depth.max(0)).unwrap_or(0) + 1;
            if let Some(given) = req.depth.filter(|g| *g != d) {
                warnings.push(format!(
                    "--depth {given} ignored: the depth is the parent's depth + 1 = {d}"
                ));
            }
            d
        }
        (Some(p), None) if p.as_str() == "orchestrator" => req.depth.unwrap_or(0),
        (Some(p), None) => {
            return Err(FleetError::ParentNotFound {
                parent: p.to_string(),
            });
        }
        (None, _) => req.depth.unwrap_or(0),
    };
    if depth > config.agents.max_depth {
        return Err(FleetError::DepthLimit {
            depth,
            max_depth: config.agents.max_depth,
        });
    }
    Ok(depth)
}

/// Refuses when the run already holds `agents.maxSessionsPerRun` sessions.
fn check_run_limit(adm: &Admission<'_>, all: &[Session], run_id: &str) -> Result<(), FleetError> {
    let req = adm.req;
    let per_run = req.config.agents.max_sessions_per_run;
    if per_run > 0 {
        let n = all
            .iter()
            .filter(|s| s.run_id.as_deref() == Some(run_id))
            .count();
        if n >= per_run as usize {
            return Err(FleetError::RunSessionLimit {
                run_id: run_id.to_owned(),
                sessions: n,
                limit: per_run,
            });
        }
    }
    Ok(())
}

/// Refuses when the run has reached a `budget.*` limit.
fn check_run_budget(adm: &Admission<'_>, run_id: &str) -> Result<(), FleetError> {
    let limits = &adm.req.config.budget;
    let path = adm.req.layout.metrics_db();
    if limits.is_unlimited() || !path.exists() {
        return Ok(());
    }
    let store = overstory_sessions::metrics::MetricsStore::open(&path)?;
    match overstory_sessions::budget::check_run(limits, &store, run_id)? {
        Some(over) => Err(FleetError::OverBudget(Box::new(over))),
        None => Ok(()),
    }
}

/// Refuses when `agents.maxConcurrent` workers are active; persistent
/// agents (coordinator, monitor) do not count.
fn check_concurrency(adm: &Admission<'_>, active: &[&Session]) -> Result<(), FleetError> {
    let req = adm.req;
    let max = req.config.agents.max_concurrent;
    let workers = active
        .iter()
        .filter(|s| !s.capability.is_persistent())
        .count();
    if max > 0 && workers >= max as usize {
        return Err(FleetError::ConcurrencyLimit {
            active: workers,
            limit: max,
        });
    }
    Ok(())
}

/// The explicit name, refused while an active session holds it, else the
/// first free automatic name (no active session, worktree or branch).
fn pick_name(
    adm: &Admission<'_>,
    explicit_name: Option<&AgentName>,
    all: &[Session],
    active: &[&Session],
) -> Result<AgentName, FleetError> {
    let (req, task, capability) = (adm.req, adm.task, adm.capability);
    let layout = &req.layout;
    let worktree_base = PathBuf::from(&req.config.worktrees.base_dir);
    let worktrees = Worktrees::new(layout.root());
    let taken = |name: &AgentName| {
        active.iter().any(|s| s.agent_name == name.as_str())
            || layout.agent_worktree_in(&worktree_base, name).exists()
            || worktrees.branch_exists(BranchName::for_agent(name, task).as_str())
    };
    match explicit_name {
        Some(n) => {
            if let Some(s) = all
                .iter()
                .find(|s| s.agent_name == n.as_str() && s.state.is_active())
            {
                return Err(FleetError::NameInUse {
                    agent: n.to_string(),
                    state: s.state,
                });
            }
            Ok(n.clone())
        }
        None => auto_name(capability, task, &taken),
    }
}

/// Refuses a task another active agent holds; the holder may delegate its
/// own task to a child.
fn check_task_lock(adm: &Admission<'_>, active: &[&Session]) -> Result<(), FleetError> {
    let (task, parent) = (adm.task, adm.parent);
    if let Some(holder) = active.iter().find(|s| s.task_id.as_ref() == Some(task))
        && parent.is_none_or(|p| p.as_str() != holder.agent_name)
    {
        return Err(FleetError::TaskLocked {
            task: task.to_string(),
            holder: holder.agent_name.to_string(),
            state: holder.state,
        });
    }
    Ok(())
}

/// Sleeps until `agents.staggerDelayMs` have passed since the newest
/// active agent started.
fn stagger(adm: &Admission<'_>, active: &[&Session]) {
    let req = adm.req;
    let stagger = i64::try_from(req.config.agents.stagger_delay_ms).unwrap_or(i64::MAX);
    if stagger > 0 {
        let newest = active
            .iter()
            .filter_map(|s| clock::parse_rfc3339(&s.started_at))
            .max();
        if let Some(newest) = newest {
            let wait = stagger - (clock::now_millis() - newest);
            if wait > 0 {
                std::thread::sleep(Duration::from_millis(wait.unsigned_abs()));
            }
        }
    }
}

/// Refuses when the parent already has its ceiling of active children
/// (`--max-agents`, else `agents.maxAgentsPerLead`; 0 = unlimited).
fn check_parent_ceiling(adm: &Admission<'_>, active: &[&Session]) -> Result<(), FleetError> {
    let (req, parent) = (adm.req, adm.parent);
    if let Some(p) = parent {
        let ceiling = req
            .max_agents
            .unwrap_or(req.config.agents.max_agents_per_lead);
        if ceiling > 0 {
            let children = active
                .iter()
                .filter(|s| s.parent_agent.as_deref() == Some(p.as_str()))
                .count();
            if children >= ceiling as usize {
                return Err(FleetError::ParentLimit {
                    parent: p.to_string(),
                    children,
                    limit: ceiling,
                });
            }
        }
    }
    Ok(())
}

/// Warns (never blocks) when a parent dispatches a builder without having
/// run a scout.
fn warn_without_scout(adm: &Admission<'_>, all: &[Session], warnings: &mut Vec<String>) {
    let (req, capability, parent) = (adm.req, adm.capability, adm.parent);
    if capability == Capability::Builder
        && !req.skip_scout
        && !req.no_scout_check
        && let Some(p) = parent
    {
        {
            let had_scout = all
                .iter()
                .any(|s| s.parent_agent.as_deref() == Some(p.as_str()) && s.capability == "scout");
            if !had_scout {
                warnings.push(format!(
                    "\"{p}\" is dispatching a builder without having run a scout; pass --skip-scout or --no-scout-check to silence this"
                ));
            }
        }
    }
}

/// Records a new run (when the agent starts one) and reserves the row in
/// state `booting`; a prior row of the same name is kept for rollback.
fn reserve(
    adm: &Admission<'_>,
    store: &SessionStore,
    all: &[Session],
    agent: AgentName,
    depth: u32,
    run_id: String,
    new_run: bool,
) -> Result<Admitted, FleetError> {
    let (req, task, capability, parent) = (adm.req, adm.task, adm.capability, adm.parent);
    let layout = &req.layout;
    let worktree_base = PathBuf::from(&req.config.worktrees.base_dir);
    let prior = all.iter().find(|s| s.agent_name == agent.as_str()).cloned();
    let mut session = Session::new(agent.clone(), capability);
    session.worktree_path = layout
        .agent_worktree_in(&worktree_base, &agent)
        .to_string_lossy()
        .into_owned();
    session.branch_name = BranchName::for_agent(&agent, task).into_string();
    session.task_id = Some(task.clone());
    session.parent_agent = parent.cloned();
    session.depth = i64::from(depth);
    session.run_id = Some(run_id.clone());
    session.claude_session_id = prior.as_ref().and_then(|p| p.claude_session_id.clone());
    if new_run {
        RunStore::open(&layout.sessions_db())?.create(&NewRun {
            id: run_id.clone(),
            started_at: clock::now_rfc3339(),
            coordinator_session_id: None,
            coordinator_name: None,
            status: RunStatus::Active,
        })?;
        overstory_sessions::write_current_run(layout, &run_id)?;
    }
    let created_run = new_run.then(|| run_id.clone());
    // Recorded before the row, so a row whose sling dies always has one.
    let marker = SlingMarker::this_process(&session.id).write(layout, &agent);
    if let Err(e) = marker
        .map_err(FleetError::from)
        .and_then(|()| Ok(store.upsert(&session)?))
    {
        SlingMarker::remove(layout, &agent);
        if let Some(id) = &created_run {
            overstory_sessions::close_run(layout, id, RunStatus::Failed);
        }
        return Err(e);
    }
    Ok(Admitted {
        agent,
        session,
        prior,
        depth,
        run_id,
        created_run,
    })
}

/// The run the agent joins (the parent's, else the current one) and
/// whether it is new. A new run is only recorded once the sling is
/// admitted ([`reserve`]), so a refusal leaves no run behind.
fn run_for(layout: &Layout, parent_row: Option<&Session>) -> (String, bool) {
    match parent_row.and_then(|r| r.run_id.clone()) {
        Some(id) => (id, false),
        None => match overstory_sessions::current_run_id(layout) {
            Some(id) => (id, false),
            None => (overstory_core::ids::run_id(), true),
        },
    }
}

/// `<cap>-<task>`, then `-2` … `-100`, then `-<epoch ms>`.
fn auto_name(
    capability: Capability,
    task: &TaskId,
    taken: &dyn Fn(&AgentName) -> bool,
) -> Result<AgentName, FleetError> {
    let base = format!("{}-{}", capability.as_str(), task);
    let first = AgentName::new(&base)?;
    if !taken(&first) {
        return Ok(first);
    }
    for n in 2..=100 {
        let name = AgentName::new(&format!("{base}-{n}"))?;
        if !taken(&name) {
            return Ok(name);
        }
    }
    Ok(AgentName::new(&format!("{base}-{}", clock::now_millis()))?)
}

fn resolve_base_branch(root: &Path, config: &Config, given: Option<&str>) -> String {
    if let Some(b) = given.map(str::trim).filter(|b| !b.is_empty()) {
        return b.to_owned();
    }
    overstory_core::git::Git::new(root)
        .run(&["symbolic-ref", "--quiet", "--short", "HEAD"])
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| config.project.canonical_branch.clone())
}

/// What this sling created, to undo on failure.
#[derive(Default)]
struct Undo {
    agent: Option<AgentName>,
    prior_row: Option<Session>,
    row_reserved: bool,
    worktree: Option<(PathBuf, String)>,
    spec_copy: Option<PathBuf>,
    identity: Option<PathBuf>,
    runtime_choice: bool,
    mail_id: Option<String>,
    queued_turn: Option<PathBuf>,
    tmux_session: Option<String>,
    created_run: Option<String>,
}

impl Undo {
    fn run(&mut self, req: &SlingRequest) {
        let layout = &req.layout;
        if let Some(name) = self.tmux_session.take() {
            let _ = req.tmux.kill_session(&name, Duration::from_secs(1));
        }
        if let Some(p) = self.queued_turn.take() {
            let _ = std::fs::remove_file(p);
        }
        if let Some(id) = self.mail_id.take()
            && let Ok(client) = MailClient::open(layout)
        {
            let _ = client.store().delete(&id);
        }
        if let Some(agent) = &self.agent
            && std::mem::take(&mut self.runtime_choice)
        {
            let _ = std::fs::remove_file(layout.agent_runtime_choice(agent));
        }
        if let Some(p) = self.identity.take() {
            let _ = std::fs::remove_file(p);
        }
        if let Some(p) = self.spec_copy.take() {
            let _ = std::fs::remove_file(p);
        }
        if let Some((path, branch)) = self.worktree.take() {
            Worktrees::new(layout.root()).rollback(&path, &branch);
        }
        if std::mem::take(&mut self.row_reserved)
            && let (Some(agent), Ok(store)) =
                (&self.agent, SessionStore::open(&layout.sessions_db()))
        {
            let _ = match self.prior_row.take() {
                Some(prior) => store.upsert(&prior),
                None => store.remove(agent.as_str()).map(|_| ()),
            };
        }
        if let Some(id) = self.created_run.take() {
            overstory_sessions::close_run(layout, &id, RunStatus::Failed);
        }
    }
}

fn check_step(req: &SlingRequest, step: SlingStep) -> Result<(), FleetError> {
    if req.fail_after == Some(step) {
        return Err(FleetError::Injected {
            step: step.as_str().to_owned(),
        });
    }
    Ok(())
}

/// What set-up and start work from: the request, the admitted row and
/// everything resolved before admission.
#[derive(Clone, Copy)]
struct SetUp<'a> {
    req: &'a SlingRequest,
    admitted: &'a Admitted,
    task: &'a TaskId,
    capability: Capability,
    def: &'a overstory_runtime::manifest::AgentDef,
    manifest: &'a Manifest,
    runtime: &'a dyn AgentRuntime,
    headless: bool,
    base_branch: &'a str,
    spec_src: Option<&'a Path>,
    files: &'a [String],
}

/// Runs the steps after admission in order (worktree, spec copy, overlay,
/// hooks and identity, runtime choice, dispatch mail, start), recording in
/// `undo` what each one created.
fn set_up_and_start(plan: &SetUp<'_>, undo: &mut Undo) -> Result<SlingReport, FleetError> {
    let SetUp {
        req,
        admitted,
        task,
        capability,
        runtime,
        headless,
        ..
    } = *plan;
    let agent = &admitted.agent;
    check_step(req, SlingStep::Reserve)?;
    let (worktree, branch) = create_worktree(plan, undo)?;
    check_step(req, SlingStep::Worktree)?;
    let spec_path = copy_spec(plan, undo)?;
    write_agent_overlay(plan, &worktree, &branch, spec_path.as_ref())?;
    deploy_hooks_and_identity(plan, &worktree, undo)?;
    check_step(req, SlingStep::Deploy)?;
    record_runtime_choice(plan, undo)?;
    check_step(req, SlingStep::RuntimeChoice)?;
    let dispatch_mail_id = send_dispatch(plan, spec_path.as_ref(), undo)?;
    check_step(req, SlingStep::Mail)?;

    let instruction_path = runtime.instruction_path();
    let beacon = Beacon {
        agent: agent.as_str(),
        capability: capability.as_str(),
        task_id: task.as_str(),
        depth: admitted.depth,
        parent: admitted.session.parent_agent.as_deref(),
        instruction_path,
    }
    .render(&clock::now_rfc3339());

    let mut report = SlingReport {
        agent_name: agent.clone(),
        capability,
        task_id: task.clone(),
        branch: branch.clone(),
        worktree: worktree.to_string_lossy().into_owned(),
        tmux_session: String::new(),
        pid: None,
        session_id: admitted.session.id.clone(),
        run_id: admitted.run_id.clone(),
        parent_agent: admitted.session.parent_agent.clone(),
        depth: admitted.depth,
        runtime: runtime.id().to_owned(),
        headless,
        spec_path,
        dispatch_mail_id,
        dispatcher_pid: None,
        initial_turn_final_state: None,
        claude_session_id: admitted.session.claude_session_id.clone(),
        warnings: Vec::new(),
    };

    if headless {
        report.dispatcher_pid = start_headless(plan, &beacon, undo)?;
    } else {
        let (session_name, pid) = start_tmux(plan, &worktree, &beacon, undo)?;
        report.tmux_session = session_name;
        report.pid = Some(i64::from(pid));
    }
    Ok(report)
}

/// Creates the worktree and branch `overstory/<agent>/<task>`; returns
/// both.
fn create_worktree(plan: &SetUp<'_>, undo: &mut Undo) -> Result<(PathBuf, String), FleetError> {
    let SetUp {
        req,
        admitted,
        task,
        base_branch,
        ..
    } = *plan;
    let config = &req.config;
    let agent = &admitted.agent;
    let worktrees = Worktrees::new(req.layout.root());
    let created = worktrees.create(
        Path::new(&config.worktrees.base_dir),
        agent,
        task,
        base_branch,
    )?;
    undo.worktree = Some((created.path.clone(), created.branch.as_str().to_owned()));
    let worktree = created.path.clone();
    let branch = created.branch.as_str().to_owned();
    Ok((worktree, branch))
}

/// Copies the spec file to `.overstory/specs/<task>.md` (unless it is that
/// file); returns the copy's path.
fn copy_spec(plan: &SetUp<'_>, undo: &mut Undo) -> Result<Option<String>, FleetError> {
    let SetUp {
        req,
        task,
        spec_src,
        ..
    } = *plan;
    let layout = &req.layout;
    let spec_path = match spec_src {
        Some(src) => {
            let dest = layout.task_spec(task);
            let same = match (src.canonicalize(), dest.canonicalize()) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            };
            if !same {
                let existed = dest.exists();
                if let Some(dir) = dest.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| FsError::new("create directory", dir, e))?;
                }
                std::fs::copy(src, &dest).map_err(|e| FsError::new("copy", &dest, e))?;
                if !existed {
                    undo.spec_copy = Some(dest.clone());
                }
            }
            Some(dest.to_string_lossy().into_owned())
        }
        None => None,
    };
    Ok(spec_path)
}

/// Renders the agent's overlay and writes it to the runtime's instruction
/// file in the worktree.
fn write_agent_overlay(
    plan: &SetUp<'_>,
    worktree: &Path,
    branch: &str,
    spec_path: Option<&String>,
) -> Result<(), FleetError> {
    let SetUp {
        req,
        admitted,
        task,
        capability,
        def,
        manifest,
        runtime,
        files,
        ..
    } = *plan;
    let config = &req.config;
    let root = req.layout.root();
    let agent = &admitted.agent;
    let base_dir = Manifest::base_dir(root, config);
    let base_definition = manifest
        .definition_path(&base_dir, capability.as_str())
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let mut overlay = OverlayConfig::new(
        agent.as_str(),
        capability,
        task.as_str(),
        branch.to_owned(),
        worktree.to_path_buf(),
    );
    overlay.spec_path = spec_path.cloned();
    overlay.parent_agent = admitted
        .session
        .parent_agent
        .as_ref()
        .map(ToString::to_string);
    overlay.depth = admitted.depth;
    overlay.file_scope = files.to_vec();
    overlay.mulch_domains = if config.mulch.enabled {
        config.mulch.domains.clone()
    } else {
        Vec::new()
    };
    overlay.can_spawn = def.can_spawn || capability.props().can_spawn;
    overlay.base_definition = base_definition;
    if !config.project.quality_gates.is_empty() {
        overlay.quality_gates = Some(config.project.quality_gates.clone());
    }
    if capability == Capability::Lead {
        overlay.skip_scout = req.skip_scout;
        overlay.skip_review = req.skip_review;
    }
    overlay.max_agents = req.dispatch_max_agents;
    overlay.instruction_path = runtime.instruction_path().to_owned();
    let content = render_overlay(&overlay)?;
    write_overlay(
        worktree,
        &content,
        root,
        runtime.instruction_path(),
        agent.as_str(),
    )?;
    Ok(())
}

/// Deploys the runtime's hooks and guards into the worktree, and writes the
/// agent's identity if it has none yet.
fn deploy_hooks_and_identity(
    plan: &SetUp<'_>,
    worktree: &Path,
    undo: &mut Undo,
) -> Result<(), FleetError> {
    let SetUp {
        req,
        admitted,
        capability,
        runtime,
        headless,
        ..
    } = *plan;
    let layout = &req.layout;
    let config = &req.config;
    let agent = &admitted.agent;
    let worktree = worktree.to_path_buf();
    // Hooks / guards.
    let mut hooks = HooksDef::new(agent.as_str(), Some(capability), worktree.clone())
        .headless(headless)
        .guard_program(req.ov_program.clone());
    if !config.project.quality_gates.is_empty() {
        hooks = hooks.quality_gates(config.project.quality_gates.clone());
    }
    runtime.deploy_config(&worktree, None, &hooks)?;

    // Identity, if absent.
    if let Some(created) = ensure_identity(layout, config, agent, capability)? {
        undo.identity = Some(created);
    }
    Ok(())
}

/// Records which runtime (and script) the agent's turns use.
fn record_runtime_choice(plan: &SetUp<'_>, undo: &mut Undo) -> Result<(), FleetError> {
    let SetUp {
        req,
        admitted,
        runtime,
        ..
    } = *plan;
    let layout = &req.layout;
    let agent = &admitted.agent;
    RuntimeChoice {
        runtime: runtime.id().to_owned(),
        script: req.script.clone(),
    }
    .save(layout, agent)?;
    undo.runtime_choice = true;
    Ok(())
}

/// Sends the dispatch mail (from the parent, else `orchestrator`) before
/// the start, so the first turn finds it; returns its id.
fn send_dispatch(
    plan: &SetUp<'_>,
    spec_path: Option<&String>,
    undo: &mut Undo,
) -> Result<String, FleetError> {
    let SetUp {
        req,
        admitted,
        task,
        capability,
        runtime,
        ..
    } = *plan;
    let layout = &req.layout;
    let agent = &admitted.agent;
    let from = admitted
        .session
        .parent_agent
        .as_ref()
        .map_or_else(|| "orchestrator".to_owned(), ToString::to_string);
    let spec_line = match spec_path {
        Some(p) => format!("Spec file: {p}."),
        None => {
            "No spec file was provided; the task id and your overlay describe the work.".to_owned()
        }
    };
    let body = format!(
        "You have been assigned task {task} as a {capability} agent. {spec_line} Read your overlay at {} before starting.",
        runtime.instruction_path()
    );
    let client = MailClient::open(layout)?;
    let sent = client.send(
        &SendRequest::new(
            AgentName::new(&from)?,
            Address::Agent(agent.clone()),
            format!("Dispatch: {task}"),
            body,
        )
        .kind(MessageType::Dispatch),
    )?;
    undo.mail_id = Some(sent.id.clone());
    Ok(sent.id)
}

/// Queues the first turn (the beacon; the dispatcher adds all unread mail,
/// the dispatch mail included) and wakes a detached dispatcher for it;
/// returns the dispatcher's pid when this call started one.
fn start_headless(
    plan: &SetUp<'_>,
    beacon: &str,
    undo: &mut Undo,
) -> Result<Option<u32>, FleetError> {
    let SetUp { req, admitted, .. } = *plan;
    let layout = &req.layout;
    let config = &req.config;
    let agent = &admitted.agent;
    let queued = enqueue_turn(layout, agent, beacon)?;
    undo.queued_turn = Some(queued);
    check_step(req, SlingStep::Spawn)?;
    let factory = TurnFactory::new(layout.clone(), config.clone(), Some(req.ov_program.clone()));
    let launcher = Launcher {
        ov: req.ov_program.clone(),
    };
    match wake(&factory, &launcher, agent)? {
        WakeOutcome::Started { pid } => Ok(Some(pid)),
        WakeOutcome::AlreadyRunning | WakeOutcome::Poked { .. } => Ok(None),
        WakeOutcome::NotEligible { reason } | WakeOutcome::Failed { reason } => {
            Err(FleetError::TurnNotStarted {
                agent: agent.to_string(),
                reason,
            })
        }
    }
}

/// Starts a tmux session running the runtime's interactive command,
/// records the pane pid in the row and delivers the beacon; returns the
/// session name and the pane pid.
fn start_tmux(
    plan: &SetUp<'_>,
    worktree: &Path,
    beacon: &str,
    undo: &mut Undo,
) -> Result<(String, i32), FleetError> {
    let SetUp {
        req,
        admitted,
        task,
        capability,
        def,
        runtime,
        ..
    } = *plan;
    let layout = &req.layout;
    let config = &req.config;
    let root = layout.root();
    let agent = &admitted.agent;
    let worktree = worktree.to_path_buf();
    Tmux::ensure_available()?;
    let manifest_model = Some(def.model.as_str()).filter(|m| !m.is_empty());
    let model = resolve_model(config, manifest_model, capability, &process_env);
    let mut env_vars = runtime.build_env(&model);
    env_vars.insert(env::AGENT_NAME.to_owned(), agent.as_str().to_owned());
    env_vars.insert(
        env::WORKTREE_PATH.to_owned(),
        worktree.to_string_lossy().into_owned(),
    );
    env_vars.insert(env::TASK_ID.to_owned(), task.as_str().to_owned());
    env_vars.insert(
        env::PROJECT_ROOT.to_owned(),
        root.to_string_lossy().into_owned(),
    );
    let mut spawn = SpawnOptions::new(model.spawn_model().unwrap_or_default());
    spawn.cwd.clone_from(&worktree);
    spawn.shared_writable_dirs = vec![layout.dir().to_path_buf()];
    if capability == Capability::Lead {
        spawn.shared_writable_dirs.push(root.join(".git"));
    }
    spawn.env.clone_from(&env_vars);
    let command = runtime.spawn_command(&spawn)?;
    let session_name = tmux::session_name(&config.project.name, agent.as_str());
    let pid = req.tmux.create_session(&NewSession {
        name: session_name.clone(),
        cwd: worktree.clone(),
        command,
        env: env_vars,
        path_prepend: req.ov_program.parent().map(Path::to_path_buf),
    })?;
    undo.tmux_session = Some(session_name.clone());
    // The row knows the pane before any keystroke.
    let mut row = admitted.session.clone();
    row.tmux_session.clone_from(&session_name);
    row.pid = Some(i64::from(pid));
    SessionStore::open(&layout.sessions_db())?.upsert(&row)?;
    check_step(req, SlingStep::Spawn)?;
    deliver_beacon(
        &req.tmux,
        &session_name,
        beacon,
        |pane| runtime.detect_ready(pane),
        &req.beacon_timing,
    )?;
    Ok((session_name, pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_round_trip_through_their_names() {
        for s in SlingStep::ALL {
            assert_eq!(s.as_str().parse::<SlingStep>(), Ok(s));
        }
        assert!("nope".parse::<SlingStep>().is_err());
    }

    #[test]
    fn auto_names_skip_taken_ones() {
        let task = TaskId::new("task-1").unwrap_or_else(|_| unreachable!());
        let taken =
            |n: &AgentName| n.as_str() == "builder-task-1" || n.as_str() == "builder-task-1-2";
        let name = auto_name(Capability::Builder, &task, &taken).unwrap_or_else(|_| unreachable!());
        assert_eq!(name.as_str(), "builder-task-1-3");
    }
}
