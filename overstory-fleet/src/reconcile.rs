//! The one reconciler: restores consistency from whatever a kill -9 left.
//!
//! [`reconcile`] is run by every watchdog tick, by `ov doctor --fix` (and,
//! with [`ReconcileOptions::dry_run`], by `ov doctor` without `--fix` to say
//! what it would do), and by embedders. Each step judges one agent or one
//! file on its own; a failure is recorded in the report and never stops the
//! other steps. The steps, in order:
//!
//! | # | Finding | Action ([`ActionKind`]) |
//! |---|---|---|
//! | 1 | a session whose sling died mid-way (its `sling.pid` marker names a dead process) | roll back: tmux session killed, queued turns and unread dispatch mail removed, worktree and branch removed unless the branch holds commits not on the canonical branch, the row deleted ([`ActionKind::SlingRolledBack`]) |
//! | 2 | a task-scoped headless agent, active, with no live turn and no dispatcher, and unread mail or queued turns | a dispatcher started through [`overstory_turn::dispatch::wake`] ([`ActionKind::DispatcherStarted`]) |
//! | 3 | `turn.pid` names a process group that is alive while its runner is gone (turn lock free) or its shim is gone, and one of its processes carries the agent's `OVERSTORY_AGENT_NAME` | the group terminated ([`ActionKind::OrphanKilled`]) |
//! | 3b | a hosted agent (coordinator, monitor…) still active whose agent host died (nobody holds `host.lock`, no start of it in progress, and a host once ran: the row has a pid or `host.pid` is there) | its process group killed if something of it still runs (verified to carry the agent's name and this project), `host.pid`, `host.sock` and `host.owner` removed, the row settled `zombie` as the watchdog's terminate does: a `state_change` event and `worker_died` to its parent once ([`ActionKind::HostDied`]) |
//! | 4 | `turn.pid`, `host.pid`, `host.sock`, `sling.pid` or `watchdog.pid` whose owner is gone | the file removed ([`ActionKind::StaleFileRemoved`]) |
//! | 5 | `current-run.txt` naming a run that is completed or failed | the file removed ([`ActionKind::CurrentRunCleared`]) |
//! | 6 | a worktree under `worktrees.baseDir` with no session | reported only ([`ActionKind::OrphanWorktree`]) |
//!
//! A sling records itself with [`SlingMarker::write`] before it reserves
//! the row and removes the marker when it returns, so a marker outliving its
//! process is the proof that the sling died. A reused pid is told apart by
//! the process start time kept beside it. Sling calls [`reclaim_dead_slings`]
//! itself before admission, so the next sling of the same name works at once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use overstory_core::error::chain_text;
use overstory_core::lockfile;
use overstory_core::worktree::{RemoveOptions, Worktrees};
use overstory_core::{AgentName, Config, FsError, Layout, env, process};
use overstory_mail::protocol::TerminatedBy;
use overstory_mail::{ListFilter, MailStore, MessageType};
use overstory_sessions::{RunMode, RunStatus, RunStore, Session, SessionStore};
use overstory_turn::dispatch::{Launcher, WakeOutcome, wake};
use overstory_turn::factory::TurnFactory;
use overstory_turn::queue::queued_turns;
use serde::Serialize;

use crate::error::FleetError;
use crate::tmux::Tmux;

/// Choices for one [`reconcile`] call.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReconcileOptions {
    /// Report what would be done without doing anything.
    pub dry_run: bool,
    /// The `ov` executable a started dispatcher runs as; without it,
    /// stranded mail is reported, not delivered.
    pub ov_program: Option<PathBuf>,
    /// How long a killed process group gets between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    /// The tmux server of tmux agents.
    pub tmux: Tmux,
}

impl Default for ReconcileOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            ov_program: None,
            kill_grace: Duration::from_secs(2),
            tmux: Tmux::default(),
        }
    }
}

impl ReconcileOptions {
    /// Options that act, starting dispatchers as `ov`.
    pub fn new(ov_program: impl Into<PathBuf>) -> Self {
        Self {
            ov_program: Some(ov_program.into()),
            ..Self::default()
        }
    }

    /// Options that only report (`ov doctor` without `--fix`).
    pub fn dry_run() -> Self {
        Self {
            dry_run: true,
            ..Self::default()
        }
    }
}

/// What kind of inconsistency an [`Action`] repairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ActionKind {
    /// A session whose sling died was rolled back.
    SlingRolledBack,
    /// A dispatcher was started for stranded mail or queued turns.
    DispatcherStarted,
    /// The process group of a turn whose runner or shim died was killed.
    OrphanKilled,
    /// A pid, socket or marker file whose owner is gone was removed.
    StaleFileRemoved,
    /// `current-run.txt` named a finished run and was removed.
    CurrentRunCleared,
    /// A worktree has no session (reported only, never removed).
    OrphanWorktree,
    /// A hosted agent's host died: what it left was cleared and the agent
    /// settled `zombie`.
    HostDied,
}

/// One finding and what was done about it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// What kind of repair this is.
    pub kind: ActionKind,
    /// The agent concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The file or directory concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// What was found and done (or would be done), in words.
    pub detail: String,
    /// Whether the repair was carried out (`false` in a dry run, for
    /// report-only findings, and when it failed).
    pub applied: bool,
    /// Why the repair failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Things the repair deliberately left in place (a branch with
    /// unmerged commits).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<String>,
}

impl Action {
    fn new(kind: ActionKind, agent: Option<&str>, detail: impl Into<String>) -> Self {
        Self {
            kind,
            agent: agent.map(str::to_owned),
            path: None,
            detail: detail.into(),
            applied: false,
            error: None,
            kept: Vec::new(),
        }
    }

    fn path(mut self, p: &Path) -> Self {
        self.path = Some(p.to_string_lossy().into_owned());
        self
    }
}

/// What [`reconcile`] found and did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileReport {
    /// Whether this was a dry run (nothing changed).
    pub dry_run: bool,
    /// Every finding, in step order.
    pub actions: Vec<Action>,
}

impl ReconcileReport {
    /// Returns whether nothing was found.
    pub fn is_clean(&self) -> bool {
        self.actions.is_empty()
    }

    /// Returns the findings of one kind.
    pub fn of_kind(&self, kind: ActionKind) -> impl Iterator<Item = &Action> {
        self.actions.iter().filter(move |a| a.kind == kind)
    }
}

/// Restores consistency from whatever killed processes left behind; see
/// the [module docs](self) for the steps.
///
/// # Errors
/// [`FleetError::Db`] when `sessions.db` cannot be read. Everything after
/// that is judged per agent and per file: a failure is an [`Action`] with
/// an `error`, never an early return.
pub fn reconcile(
    layout: &Layout,
    config: &Config,
    opts: &ReconcileOptions,
) -> Result<ReconcileReport, FleetError> {
    let mut report = ReconcileReport {
        dry_run: opts.dry_run,
        actions: Vec::new(),
    };
    if !layout.sessions_db().is_file() {
        return Ok(report);
    }
    let store = SessionStore::open(&layout.sessions_db())?;
    let (sessions, _undecodable) = store.all_readable()?;
    drop(store);
    let mut rolled_back = Vec::new();
    for s in &sessions {
        if let Some(a) = reclaim_one(layout, config, s, opts) {
            if a.applied || opts.dry_run {
                rolled_back.push(s.agent_name.clone());
            }
            report.actions.push(a);
        }
    }
    let live: Vec<&Session> = sessions
        .iter()
        .filter(|s| !rolled_back.contains(&s.agent_name))
        .collect();
    for s in &live {
        if let Some(a) = kill_orphan_turn(layout, s, opts) {
            report.actions.push(a);
        }
    }
    kill_orphaned_groups(layout, &live, opts, &mut report.actions);
    let mut dead_hosts = Vec::new();
    for s in &live {
        if let Some(a) = settle_dead_host(layout, config, s, opts) {
            dead_hosts.push(s.agent_name.clone());
            report.actions.push(a);
        }
    }
    let unread = unread_by_recipient(layout);
    for s in &live {
        if let Some(a) = deliver_stranded(layout, config, s, &unread, opts) {
            report.actions.push(a);
        }
    }
    for s in &sessions {
        let host_files = !dead_hosts.contains(&s.agent_name);
        stale_agent_files(layout, s, host_files, opts, &mut report.actions);
    }
    stale_watchdog_pid(layout, opts, &mut report.actions);
    finished_current_run(layout, opts, &mut report.actions);
    orphan_worktrees(layout, config, &sessions, &mut report.actions);
    Ok(report)
}

// ---------------------------------------------------------------------------
// Step 1: slings that died.

/// `.overstory/agents/<name>/sling.pid`: which sling is setting the agent
/// up. Written before the row is reserved, removed when sling returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlingMarker {
    /// The sling's pid.
    pub pid: i32,
    /// The sling's start time (see [`process::start_time`]); 0 when unknown.
    pub start_time: u64,
    /// The id of the session row the sling reserves.
    pub session_id: String,
}

impl SlingMarker {
    /// Describes the calling process as the sling of `session_id`.
    pub fn this_process(session_id: &str) -> Self {
        let pid = i32::try_from(std::process::id()).unwrap_or(0);
        Self {
            pid,
            start_time: process::start_time(pid).unwrap_or(0),
            session_id: session_id.to_owned(),
        }
    }

    /// Writes the marker for `agent` (atomically).
    ///
    /// # Errors
    /// [`FsError`] naming the file.
    pub fn write(&self, layout: &Layout, agent: &AgentName) -> Result<(), FsError> {
        overstory_core::fsio::write_atomic(
            &layout.agent_sling_marker(agent),
            format!("{} {} {}\n", self.pid, self.start_time, self.session_id),
        )
    }

    /// Reads the marker of `agent`; `None` when missing or unreadable.
    pub fn read(layout: &Layout, agent: &AgentName) -> Option<Self> {
        let text = std::fs::read_to_string(layout.agent_sling_marker(agent)).ok()?;
        let mut parts = text.split_whitespace();
        Some(Self {
            pid: parts.next()?.parse().ok()?,
            start_time: parts.next()?.parse().ok()?,
            session_id: parts.next()?.to_owned(),
        })
    }

    /// Removes the marker of `agent`; a missing one is fine.
    pub fn remove(layout: &Layout, agent: &AgentName) {
        let _ = std::fs::remove_file(layout.agent_sling_marker(agent));
    }

    /// Returns whether the sling that wrote this marker still runs (same
    /// pid, same start time).
    pub fn is_alive(&self) -> bool {
        match process::start_time(self.pid) {
            Some(t) => self.start_time == 0 || t == self.start_time,
            None => false,
        }
    }
}

/// Rolls back every session whose sling died; what sling calls before
/// admission (under its lock) so a dead sling never blocks the next one.
///
/// # Errors
/// [`FleetError::Db`] when `sessions.db` cannot be read.
pub fn reclaim_dead_slings(
    layout: &Layout,
    config: &Config,
    opts: &ReconcileOptions,
) -> Result<Vec<Action>, FleetError> {
    if !layout.sessions_db().is_file() {
        return Ok(Vec::new());
    }
    let store = SessionStore::open(&layout.sessions_db())?;
    let (sessions, _) = store.all_readable()?;
    drop(store);
    Ok(sessions
        .iter()
        .filter_map(|s| reclaim_one(layout, config, s, opts))
        .collect())
}

/// Step 1 for one row: `None` unless its sling marker names a dead sling.
fn reclaim_one(
    layout: &Layout,
    config: &Config,
    s: &Session,
    opts: &ReconcileOptions,
) -> Option<Action> {
    let agent = &s.agent_name;
    let marker = SlingMarker::read(layout, agent)?;
    if marker.is_alive() {
        return None;
    }
    let name = agent.as_str();
    if marker.session_id != s.id {
        // Left by a sling that died before it reserved this row.
        return Some(remove_marker(
            layout,
            agent,
            format!(
                "Sling marker of a dead sling (pid {}) for another session",
                marker.pid
            ),
            opts,
        ));
    }
    // The sling got as far as starting the agent (its turn runs, or it has
    // taken one: only a sling that died mid-way leaves a booting row):
    // only the marker is left.
    if s.state != overstory_sessions::AgentState::Booting
        || is_locked(&layout.agent_dispatch_lock(agent))
        || turn_lock_held(layout, agent)
    {
        return Some(remove_marker(
            layout,
            agent,
            format!(
                "Sling (pid {}) died after starting the agent; its marker is removed",
                marker.pid
            ),
            opts,
        ));
    }
    let mut a = Action::new(
        ActionKind::SlingRolledBack,
        Some(name),
        format!(
            "Sling (pid {}) died while setting up \"{name}\" (state: {}); rolling back its session",
            marker.pid, s.state
        ),
    );
    if opts.dry_run {
        return Some(a);
    }
    let mut errors = Vec::new();
    if !s.tmux_session.is_empty()
        && let Err(e) = opts.tmux.kill_session(&s.tmux_session, opts.kill_grace)
    {
        errors.push(chain_text(&e));
    }
    for (path, _) in queued_turns(layout, agent) {
        let _ = std::fs::remove_file(path);
    }
    let _ = std::fs::remove_file(layout.agent_runtime_choice(agent));
    if let Ok(mail) = MailStore::open(layout.mail_db()) {
        let filter = ListFilter {
            to: Some(name.to_owned()),
            unread: Some(true),
            kind: Some(MessageType::Dispatch),
            ..ListFilter::default()
        };
        for m in mail.list(&filter).unwrap_or_default() {
            if m.created_at >= s.started_at {
                let _ = mail.delete(&m.id);
            }
        }
    }
    remove_sling_worktree(layout, config, s, &mut a, &mut errors);
    match SessionStore::open(&layout.sessions_db()).and_then(|st| st.remove(name)) {
        Ok(_) => {}
        Err(e) => errors.push(chain_text(&e)),
    }
    SlingMarker::remove(layout, agent);
    if errors.is_empty() {
        a.applied = true;
    } else {
        a.error = Some(errors.join("; "));
    }
    Some(a)
}

/// Removes the worktree and branch a dead sling created, keeping a branch
/// that holds commits not on the canonical branch (and its worktree).
/// Removes the dead sling's marker of `agent` (unless a dry run) and says so.
fn remove_marker(
    layout: &Layout,
    agent: &AgentName,
    detail: String,
    opts: &ReconcileOptions,
) -> Action {
    let mut a = Action::new(ActionKind::StaleFileRemoved, Some(agent.as_str()), detail)
        .path(&layout.agent_sling_marker(agent));
    if !opts.dry_run {
        SlingMarker::remove(layout, agent);
        a.applied = true;
    }
    a
}

fn remove_sling_worktree(
    layout: &Layout,
    config: &Config,
    s: &Session,
    a: &mut Action,
    errors: &mut Vec<String>,
) {
    let wt = Worktrees::new(layout.root());
    let target = config.project.canonical_branch.clone();
    let path = Path::new(&s.worktree_path);
    let branch = s.branch_name.as_str();
    if !s.worktree_path.is_empty() && path.exists() {
        let remove = RemoveOptions {
            // Only what sling deployed is uncommitted there.
            force_worktree: true,
            force_unmerged: false,
            target: Some(target.clone()),
            keep_branch: false,
        };
        match wt.remove(path, &remove) {
            Ok(_) => {}
            Err(e @ overstory_core::WorktreeError::Unmerged { .. }) => {
                a.kept.push(e.to_string());
            }
            Err(e) => errors.push(chain_text(&e)),
        }
    }
    if !branch.is_empty() && !path.exists() && wt.branch_exists(branch) {
        match wt.unmerged_commits(branch, &target) {
            Ok(0) => {
                if let Err(e) = wt.delete_branch(branch, &target, false) {
                    errors.push(chain_text(&e));
                }
            }
            Ok(n) => a.kept.push(format!(
                "Branch \"{branch}\" kept: {n} commit(s) not on \"{target}\""
            )),
            Err(e) => errors.push(chain_text(&e)),
        }
    }
}

// ---------------------------------------------------------------------------
// Step 2: mail nobody will deliver.

/// Returns whether the lock file at `path` is held by someone; a missing
/// file is free (and is not created).
fn is_locked(path: &Path) -> bool {
    path.is_file() && matches!(lockfile::FileLock::try_acquire(path), Ok(None))
}

/// Returns whether a turn runner holds the agent's turn lock.
pub(crate) fn turn_lock_held(layout: &Layout, agent: &AgentName) -> bool {
    is_locked(&layout.agent_turn_lock(agent))
}

/// Unread messages per recipient, in one query.
fn unread_by_recipient(layout: &Layout) -> std::collections::HashMap<String, usize> {
    let mut out = std::collections::HashMap::new();
    let Ok(mail) = MailStore::open(layout.mail_db()) else {
        return out;
    };
    let filter = ListFilter {
        unread: Some(true),
        ..ListFilter::default()
    };
    for m in mail.list(&filter).unwrap_or_default() {
        *out.entry(m.to).or_insert(0) += 1;
    }
    out
}

/// Step 2 for one row.
fn deliver_stranded(
    layout: &Layout,
    config: &Config,
    s: &Session,
    unread: &std::collections::HashMap<String, usize>,
    opts: &ReconcileOptions,
) -> Option<Action> {
    if s.mode() != RunMode::SpawnPerTurn || !s.state.is_active() {
        return None;
    }
    let agent = &s.agent_name;
    if SlingMarker::read(layout, agent).is_some_and(|m| m.is_alive()) {
        return None; // Its sling is still setting it up.
    }
    let queued = queued_turns(layout, agent).len();
    let unread = unread.get(agent.as_str()).copied().unwrap_or(0);
    if queued == 0 && unread == 0 {
        return None;
    }
    if is_locked(&layout.agent_dispatch_lock(agent)) || turn_lock_held(layout, agent) {
        return None;
    }
    let name = agent.as_str();
    let mut a = Action::new(
        ActionKind::DispatcherStarted,
        Some(name),
        format!(
            "\"{name}\" ({}) has {unread} unread message(s) and {queued} queued turn(s) but no dispatcher",
            s.state
        ),
    );
    if opts.dry_run {
        return Some(a);
    }
    let Some(ov) = &opts.ov_program else {
        a.error = Some("no ov executable to start a dispatcher with".into());
        return Some(a);
    };
    let factory = TurnFactory::new(layout.clone(), config.clone(), Some(ov.clone()));
    let launcher = Launcher { ov: ov.clone() };
    match wake(&factory, &launcher, agent) {
        Ok(WakeOutcome::Started { pid }) => {
            a.detail
                .push_str(&format!("; started dispatcher pid {pid}"));
            a.applied = true;
        }
        Ok(WakeOutcome::AlreadyRunning) => {
            a.detail.push_str("; a dispatcher started meanwhile");
            a.applied = true;
        }
        Ok(other) => a.error = Some(format!("not woken: {}", outcome_text(&other))),
        Err(e) => a.error = Some(chain_text(&e)),
    }
    Some(a)
}

fn outcome_text(o: &WakeOutcome) -> String {
    match o {
        WakeOutcome::NotEligible { reason } | WakeOutcome::Failed { reason } => reason.clone(),
        WakeOutcome::Poked { host_pid } => format!("host {host_pid} poked"),
        WakeOutcome::Started { pid } => format!("started {pid}"),
        WakeOutcome::AlreadyRunning => "already running".into(),
    }
}

// ---------------------------------------------------------------------------
// Step 3: turns whose runner or shim died.

/// Returns whether some live process of group `pgid` runs as `agent` (its
/// environment names the agent), so a reused pid is never signalled.
pub(crate) fn group_belongs_to(pgid: i32, agent: &str) -> bool {
    process::group_members(pgid)
        .into_iter()
        .any(|p| process::environ_has(p, env::AGENT_NAME, agent))
}

/// Step 3 for one row.
fn kill_orphan_turn(layout: &Layout, s: &Session, opts: &ReconcileOptions) -> Option<Action> {
    if s.mode() != RunMode::SpawnPerTurn {
        return None;
    }
    let agent = &s.agent_name;
    let pid_file = layout.agent_turn_pid(agent);
    let pgid = process::read_pid_file(&pid_file)?;
    if !process::is_group_alive(pgid) {
        return None; // Step 4 removes the file once the runner is gone.
    }
    let runner_alive = turn_lock_held(layout, agent);
    let shim_alive = process::start_time(pgid).is_some();
    if runner_alive && shim_alive {
        return None;
    }
    let name = agent.as_str();
    if !group_belongs_to(pgid, name) {
        return None;
    }
    let why = if runner_alive {
        "its turn shim is gone"
    } else {
        "its turn runner is gone"
    };
    let mut a = Action::new(
        ActionKind::OrphanKilled,
        Some(name),
        format!("Process group {pgid} of \"{name}\" is still running but {why}"),
    )
    .path(&pid_file);
    if opts.dry_run {
        return Some(a);
    }
    match process::terminate_group(pgid, opts.kill_grace) {
        Ok(_) => a.applied = true,
        Err(e) => a.error = Some(chain_text(&e)),
    }
    if !runner_alive {
        let _ = process::remove_pid_file(&pid_file);
    }
    Some(a)
}

/// Step 3, second half: process groups whose leader (a turn's shim) is
/// gone, found by scanning the process table, whose processes name one of
/// this project's spawn-per-turn agents in `OVERSTORY_AGENT_NAME` *and*
/// this project in `OVERSTORY_PROJECT_ROOT`. Catches turns whose
/// `turn.pid` was already removed by a runner that outlived its shim.
fn kill_orphaned_groups(
    layout: &Layout,
    sessions: &[&Session],
    opts: &ReconcileOptions,
    actions: &mut Vec<Action>,
) {
    let agents: Vec<&str> = sessions
        .iter()
        .filter(|s| s.mode() == RunMode::SpawnPerTurn)
        .map(|s| s.agent_name.as_str())
        .collect();
    if agents.is_empty() {
        return;
    }
    let root = layout
        .root()
        .canonicalize()
        .unwrap_or_else(|_| layout.root().to_path_buf());
    let same_root = |p: i32| {
        process::environ_value(p, env::PROJECT_ROOT).is_some_and(|r| {
            let r = PathBuf::from(r);
            r.canonicalize().unwrap_or(r) == root
        })
    };
    for (pgid, members) in process::orphaned_groups() {
        let owner = members.iter().find_map(|p| {
            let name = process::environ_value(*p, env::AGENT_NAME)?;
            (agents.contains(&name.as_str()) && same_root(*p)).then_some(name)
        });
        let Some(name) = owner else { continue };
        if actions.iter().any(|a| {
            a.kind == ActionKind::OrphanKilled && a.detail.contains(&format!("group {pgid} "))
        }) {
            continue;
        }
        let mut a = Action::new(
            ActionKind::OrphanKilled,
            Some(&name),
            format!("Process group {pgid} of \"{name}\" outlived the turn shim that led it"),
        );
        if !opts.dry_run {
            match process::terminate_group(pgid, opts.kill_grace) {
                Ok(_) => a.applied = true,
                Err(e) => a.error = Some(chain_text(&e)),
            }
        }
        actions.push(a);
    }
}

// ---------------------------------------------------------------------------
// Step 3b: hosted agents whose host died.

/// Step 3b for one row: `None` unless it is a hosted agent whose host died
/// ([`crate::dead_host`]).
fn settle_dead_host(
    layout: &Layout,
    config: &Config,
    s: &Session,
    opts: &ReconcileOptions,
) -> Option<Action> {
    let dead = crate::dead_host::find(layout, s)?;
    let name = s.agent_name.as_str();
    let mut detail = format!(
        "The agent host{} of \"{name}\" died and left it {}",
        dead.host_pid
            .map(|p| format!(" (pid {p})"))
            .unwrap_or_default(),
        s.state
    );
    if let Some(g) = dead.group {
        detail.push_str(&format!("; its process group {g} still runs"));
    }
    if !dead.files.is_empty() {
        let names: Vec<String> = dead
            .files
            .iter()
            .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        detail.push_str(&format!("; it left {}", names.join(", ")));
    }
    let mut a = Action::new(ActionKind::HostDied, Some(name), detail)
        .path(&layout.agent_dir(&s.agent_name));
    if opts.dry_run {
        return Some(a);
    }
    let mut errors = Vec::new();
    match dead.clear(layout, s, opts.kill_grace) {
        Ok(true) => a.detail.push_str("; group killed"),
        Ok(false) => {}
        Err(e) => errors.push(e),
    }
    match SessionStore::open(&layout.sessions_db()) {
        Ok(mut store) => {
            let mail = MailStore::open(layout.mail_db()).ok();
            let events = overstory_core::events::EventStore::open_if_exists(&layout.events_db())
                .ok()
                .flatten();
            let run_id = overstory_sessions::current_run_id(layout);
            let mut settle = crate::settle::Settle {
                layout,
                config,
                store: &mut store,
                mail: mail.as_ref(),
                events: events.as_ref(),
                run_id: run_id.as_deref(),
                ov_program: opts.ov_program.as_deref(),
                notify_parent: config.watchdog.notify_parent_on_death,
                by: "reconciler",
            };
            match settle.died(s, &dead.reason(s), TerminatedBy::Tier0) {
                Ok(died) => {
                    if died.changed.is_some() {
                        a.detail.push_str("; marked zombie");
                    }
                    if died.worker_died {
                        a.detail.push_str("; its parent was sent worker_died");
                    }
                }
                Err(e) => errors.push(chain_text(&e)),
            }
        }
        Err(e) => errors.push(chain_text(&e)),
    }
    if errors.is_empty() {
        a.applied = true;
    } else {
        a.error = Some(errors.join("; "));
    }
    Some(a)
}

// ---------------------------------------------------------------------------
// Step 4: files whose owner is gone.

fn stale_file(
    actions: &mut Vec<Action>,
    opts: &ReconcileOptions,
    agent: Option<&str>,
    path: &Path,
    detail: String,
) {
    let mut a = Action::new(ActionKind::StaleFileRemoved, agent, detail).path(path);
    if !opts.dry_run {
        match std::fs::remove_file(path) {
            Ok(()) => a.applied = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => a.applied = true,
            Err(e) => a.error = Some(e.to_string()),
        }
    }
    actions.push(a);
}

/// Step 4 for one agent's directory.
fn stale_agent_files(
    layout: &Layout,
    s: &Session,
    host_files: bool,
    opts: &ReconcileOptions,
    actions: &mut Vec<Action>,
) {
    let agent = &s.agent_name;
    let name = Some(agent.as_str());
    let turn_pid = layout.agent_turn_pid(agent);
    if let Some(pid) = process::read_pid_file(&turn_pid)
        && !process::is_group_alive(pid)
        && !turn_lock_held(layout, agent)
    {
        stale_file(
            actions,
            opts,
            name,
            &turn_pid,
            format!("turn.pid names pid {pid}, which is gone, and no turn holds the lock"),
        );
    }
    let host_alive = is_locked(&layout.agent_host_lock(agent));
    if host_files && !host_alive {
        let host_pid = layout.agent_host_pid(agent);
        if let Some(pid) = process::read_pid_file(&host_pid)
            && !process::is_alive(pid)
        {
            stale_file(
                actions,
                opts,
                name,
                &host_pid,
                format!("host.pid names pid {pid}, which is gone"),
            );
        }
        let sock = layout.agent_host_socket(agent);
        if sock.exists() {
            stale_file(
                actions,
                opts,
                name,
                &sock,
                "host.sock has no agent host behind it".into(),
            );
        }
    }
}

/// Step 4 for `watchdog.pid`.
fn stale_watchdog_pid(layout: &Layout, opts: &ReconcileOptions, actions: &mut Vec<Action>) {
    let path = layout.watchdog_pid();
    let Some(pid) = process::read_pid_file(&path) else {
        return;
    };
    let locked = is_locked(&layout.watchdog_lock());
    if !locked && !process::is_alive(pid) {
        stale_file(
            actions,
            opts,
            None,
            &path,
            format!("watchdog.pid names pid {pid}, which is gone"),
        );
    }
}

// ---------------------------------------------------------------------------
// Step 5: current-run.txt naming a finished run.

fn finished_current_run(layout: &Layout, opts: &ReconcileOptions, actions: &mut Vec<Action>) {
    let Some(id) = overstory_sessions::current_run_id(layout) else {
        return;
    };
    let Ok(runs) = RunStore::open(&layout.sessions_db()) else {
        return;
    };
    let Ok(Some(run)) = runs.get(&id) else {
        return;
    };
    if run.status == RunStatus::Active {
        return;
    }
    let path = layout.current_run();
    let mut a = Action::new(
        ActionKind::CurrentRunCleared,
        None,
        format!(
            "current-run.txt names run \"{id}\", which is {}",
            run.status.as_str()
        ),
    )
    .path(&path);
    if !opts.dry_run {
        match std::fs::remove_file(&path) {
            Ok(()) => a.applied = true,
            Err(e) => a.error = Some(e.to_string()),
        }
    }
    actions.push(a);
}

// ---------------------------------------------------------------------------
// Step 6: worktrees without a session.

fn orphan_worktrees(layout: &Layout, config: &Config, sessions: &[Session], out: &mut Vec<Action>) {
    let base = layout.root().join(&config.worktrees.base_dir);
    let Ok(dir) = std::fs::read_dir(&base) else {
        return;
    };
    let wt = Worktrees::new(layout.root());
    for entry in dir.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let known = sessions.iter().any(|s| {
            s.agent_name.as_str() == name
                || Path::new(&s.worktree_path) == path
                || (!s.worktree_path.is_empty() && path.ends_with(&s.worktree_path))
        });
        if known {
            continue;
        }
        let branch = wt
            .find(&path)
            .ok()
            .flatten()
            .map(|w| w.branch)
            .unwrap_or_default();
        let unmerged = if branch.is_empty() {
            0
        } else {
            wt.unmerged_commits(&branch, &config.project.canonical_branch)
                .unwrap_or(0)
        };
        let detail = if unmerged > 0 {
            format!(
                "Worktree of \"{name}\" has no session; branch \"{branch}\" holds {unmerged} unmerged commit(s). Merge it or remove it yourself"
            )
        } else {
            format!("Worktree of \"{name}\" has no session; 'clean' can remove it")
        };
        out.push(Action::new(ActionKind::OrphanWorktree, Some(&name), detail).path(&path));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sling_markers_round_trip_and_know_their_process() {
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let layout = Layout::new(dir.path());
        let agent = AgentName::new("builder-1").unwrap_or_else(|_| unreachable!());
        let me = SlingMarker::this_process("session-1-builder-1");
        me.write(&layout, &agent).unwrap_or_else(|_| unreachable!());
        let back = SlingMarker::read(&layout, &agent).unwrap_or_else(|| unreachable!());
        assert_eq!(back, me);
        assert!(back.is_alive());
        // Same pid, another start time: a reused pid is not our sling.
        let reused = SlingMarker {
            start_time: me.start_time + 1,
            ..me.clone()
        };
        assert!(!reused.is_alive());
        let gone = SlingMarker {
            pid: i32::MAX,
            ..me
        };
        assert!(!gone.is_alive());
        SlingMarker::remove(&layout, &agent);
        assert!(SlingMarker::read(&layout, &agent).is_none());
    }
}
