//! One watchdog tick: reconcile, probe every session, apply the health
//! rules, escalate, and check whether the current run is complete.
//!
//! Each session is judged and acted on by itself: an error on one row is
//! recorded in [`TickReport::errors`] and the tick goes on. Every state
//! the watchdog writes goes through the sessions compare-and-swap and
//! records a `custom` event `{type:"state_change", from, to, reason}`.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use overstory_core::error::chain_text;
use overstory_core::events::{EventFilter, EventLevel, EventStore, NewEvent};
use overstory_core::{Config, Layout, clock, process};
use overstory_mail::protocol::TerminatedBy;
use overstory_mail::{ListFilter, MailStore, MessageType};
use overstory_sessions::{AgentState, RunMode, RunStore, Session, SessionStore, Transition};
use serde::Serialize;

use super::health::{HealthAction, HealthCheck, Probe, Thresholds, Topology, evaluate};
use crate::error::FleetError;
use crate::nudge::{NudgeOptions, nudge_agent};
use crate::reconcile::{ReconcileOptions, ReconcileReport, group_belongs_to, reconcile};
use crate::settle::Settle;
use crate::tmux::Tmux;

/// The nudge a stalled agent gets at escalation level 1.
pub fn stall_nudge_text(agent: &str) -> String {
    format!(
        "[WATCHDOG] Agent \"{agent}\" appears stalled. Please check your current task and report status."
    )
}

/// Choices for the watchdog; [`WatchdogOptions::from_config`] reads them
/// from `watchdog.*`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WatchdogOptions {
    /// Stale and zombie thresholds.
    pub thresholds: Thresholds,
    /// Time between escalation levels, ms.
    pub nudge_interval_ms: i64,
    /// The terminal escalation level (terminate), 1–5.
    pub max_escalation_level: u32,
    /// Send `worker_died` to the parent of an agent the watchdog kills.
    pub notify_parent_on_death: bool,
    /// Run Tier 1 triage at the escalation levels between nudge and
    /// terminate (`watchdog.tier1Enabled`).
    pub tier1_enabled: bool,
    /// How long one triage may take (`watchdog.triageTimeoutMs`).
    pub triage_timeout: Duration,
    /// At most this many triages per tick.
    pub max_triage_per_tick: usize,
    /// The `ov` executable: nudges and woken dispatchers run as it. Without
    /// one, nudges and stranded mail are reported, not delivered.
    pub ov_program: Option<PathBuf>,
    /// The tmux server of tmux agents.
    pub tmux: Tmux,
    /// Grace between SIGTERM and SIGKILL when killing an agent.
    pub kill_grace: Duration,
    /// How long a hosted agent's live host gets to settle it after SIGTERM
    /// before it is killed (`watchdog.rpcTimeoutMs`: the host is the one
    /// process the watchdog talks to; the original declared the key and
    /// used a hard-coded 5 s).
    pub host_stop_wait: Duration,
    /// Run the reconciler at the start of each tick.
    pub reconcile: bool,
    /// The time to judge at (epoch ms); `None` ⇒ now. For tests.
    pub now_ms: Option<i64>,
}

impl WatchdogOptions {
    /// Options from the project's `watchdog.*` configuration.
    pub fn from_config(config: &Config, ov_program: Option<PathBuf>) -> Self {
        let w = &config.watchdog;
        let ms = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        Self {
            thresholds: Thresholds {
                stale_ms: ms(w.stale_threshold_ms),
                zombie_ms: ms(w.zombie_threshold_ms),
            },
            nudge_interval_ms: ms(w.nudge_interval_ms).max(1),
            max_escalation_level: w.max_escalation_level.clamp(1, 5),
            notify_parent_on_death: w.notify_parent_on_death,
            tier1_enabled: w.tier1_enabled,
            triage_timeout: Duration::from_millis(w.triage_timeout_ms.max(1)),
            max_triage_per_tick: 3,
            ov_program,
            tmux: Tmux::default(),
            kill_grace: Duration::from_secs(2),
            host_stop_wait: Duration::from_millis(w.rpc_timeout_ms.max(1)),
            reconcile: true,
            now_ms: None,
        }
    }
}

/// What the watchdog remembers between ticks (warnings said once).
#[derive(Debug, Default)]
pub struct WatchdogMemory {
    warned_missing_run: bool,
    warned_runs: HashSet<String>,
}

/// A state the watchdog wrote.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateChange {
    /// The agent.
    pub agent_name: String,
    /// Its state before.
    pub from: AgentState,
    /// Its state now.
    pub to: AgentState,
    /// Why.
    pub reason: String,
}

/// One step up the escalation ladder.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Escalation {
    /// The agent.
    pub agent_name: String,
    /// The level reached (0 warn, 1 nudge, …, max terminate).
    pub level: u32,
    /// What was done: `warn`, `nudge`, `triage`, `terminate`.
    pub action: String,
    /// For a nudge: whether it was queued for the agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered: Option<bool>,
}

/// A session the tick could not handle, and why.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionFailure {
    /// The agent.
    pub agent_name: String,
    /// The error, with its causes.
    pub error: String,
}

/// What one [`tick`] saw and did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TickReport {
    /// When the tick ran (RFC 3339).
    pub timestamp: String,
    /// One verdict per session that is not completed.
    pub checks: Vec<HealthCheck>,
    /// Every state written.
    pub changes: Vec<StateChange>,
    /// Escalation steps taken.
    pub escalations: Vec<Escalation>,
    /// Agents whose parent got `worker_died`.
    pub worker_died: Vec<String>,
    /// Agents killed (their process group or tmux session).
    pub killed: Vec<String>,
    /// Sessions that could not be handled.
    pub errors: Vec<SessionFailure>,
    /// Things worth saying once (a missing current run).
    pub warnings: Vec<String>,
    /// The run found complete this tick (its coordinator was told).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_complete: Option<String>,
    /// What the reconciler did first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconcile: Option<ReconcileReport>,
}

/// Everything a tick works with, opened once.
struct Ctx<'a> {
    layout: &'a Layout,
    config: &'a Config,
    opts: &'a WatchdogOptions,
    store: SessionStore,
    mail: Option<MailStore>,
    events: Option<EventStore>,
    run_id: Option<String>,
    now_ms: i64,
    stamp: String,
    triages: usize,
}

impl Ctx<'_> {
    /// The settler of this tick's state changes.
    fn settle(&mut self) -> Settle<'_> {
        Settle {
            layout: self.layout,
            config: self.config,
            store: &mut self.store,
            mail: self.mail.as_ref(),
            events: self.events.as_ref(),
            run_id: self.run_id.as_deref(),
            ov_program: self.opts.ov_program.as_deref(),
            notify_parent: self.opts.notify_parent_on_death,
            by: "watchdog",
        }
    }
}

/// Runs one tick over every session of the project.
///
/// It takes no lock itself: a caller that may run beside a daemon holds
/// the project's [`TickLock`](super::TickLock) around it, as
/// [`run_daemon`](super::run_daemon) and `ov watch --once` do.
///
/// # Errors
/// [`FleetError::Db`] when `sessions.db` cannot be opened or read. Errors
/// about one session are in [`TickReport::errors`].
pub fn tick(
    layout: &Layout,
    config: &Config,
    opts: &WatchdogOptions,
    memory: &mut WatchdogMemory,
) -> Result<TickReport, FleetError> {
    let now_ms = opts.now_ms.unwrap_or_else(clock::now_millis);
    let mut report = TickReport {
        timestamp: clock::format_millis(now_ms),
        ..TickReport::default()
    };
    if !layout.sessions_db().is_file() {
        return Ok(report);
    }
    if opts.reconcile {
        let mut r = ReconcileOptions::default();
        r.ov_program.clone_from(&opts.ov_program);
        r.kill_grace = opts.kill_grace;
        r.tmux = opts.tmux.clone();
        match reconcile(layout, config, &r) {
            Ok(done) => report.reconcile = Some(done),
            Err(e) => report
                .warnings
                .push(format!("Reconciler failed: {}", chain_text(&e))),
        }
    }
    let store = SessionStore::open(&layout.sessions_db())?;
    let (sessions, _undecodable) = store.all_readable()?;
    let mut cx = Ctx {
        layout,
        config,
        opts,
        store,
        mail: MailStore::open(layout.mail_db()).ok(),
        events: EventStore::open_if_exists(&layout.events_db())
            .ok()
            .flatten(),
        run_id: overstory_sessions::current_run_id(layout),
        now_ms,
        stamp: report.timestamp.clone(),
        triages: 0,
    };
    let recent = recent_activity(&cx, &sessions);
    let waiting = parents_of_active_children(&sessions);
    for s in sessions.iter().filter(|s| s.state != AgentState::Completed) {
        if let Err(e) = judge(&mut cx, s, &recent, &waiting, &mut report) {
            report.errors.push(SessionFailure {
                agent_name: s.agent_name.to_string(),
                error: chain_text(&e),
            });
        }
    }
    check_run_complete(&mut cx, memory, &mut report);
    Ok(report)
}

/// The newest event time of each agent whose row alone would make it
/// stale: an event can only make an agent fresher, so fresh rows need no
/// look (one indexed query per quiet agent, none for a healthy fleet).
fn recent_activity(cx: &Ctx<'_>, sessions: &[Session]) -> HashMap<String, i64> {
    let mut out = HashMap::new();
    let Some(events) = &cx.events else {
        return out;
    };
    let since = clock::format_millis(cx.now_ms - cx.opts.thresholds.stale_ms);
    let quiet = sessions.iter().filter(|s| {
        s.state.is_active()
            && clock::parse_rfc3339(&s.last_activity)
                .is_none_or(|a| cx.now_ms - a > cx.opts.thresholds.stale_ms)
    });
    for s in quiet {
        let filter = EventFilter {
            since: Some(since.clone()),
            limit: Some(20),
            newest: true,
            ..EventFilter::default()
        };
        let newest = events
            .by_agent(s.agent_name.as_str(), &filter)
            .unwrap_or_default()
            .into_iter()
            .filter(|e| !is_watchdog_event(e.data.as_deref()))
            .filter_map(|e| clock::parse_rfc3339(&e.created_at))
            .max();
        if let Some(ms) = newest {
            out.insert(s.agent_name.to_string(), ms);
        }
    }
    out
}

/// Returns whether an event is about the agent rather than by it: what
/// the watchdog records (state changes, escalations, triage) and nudges
/// sent to it. Such events must never count as the agent's activity, or a
/// nudge would make a stalled agent look recovered.
fn is_watchdog_event(data: Option<&str>) -> bool {
    let Some(v) = data.and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok()) else {
        return false;
    };
    let kind = v.get("type").and_then(|t| t.as_str()).unwrap_or_default();
    matches!(
        kind,
        "nudge" | "escalation" | "triage" | "state_change" | "run_complete"
    ) || v.get("by").and_then(|b| b.as_str()) == Some("watchdog")
}

/// Probes `s`'s processes.
fn probe(cx: &Ctx<'_>, s: &Session, recent: &HashMap<String, i64>) -> Probe {
    let row = clock::parse_rfc3339(&s.last_activity);
    let event = recent.get(s.agent_name.as_str()).copied();
    let last_activity_ms = match (row, event) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let tmux_alive = (!s.tmux_session.is_empty()).then(|| cx.opts.tmux.is_alive(&s.tmux_session));
    let pid_alive = s
        .pid
        .and_then(|p| i32::try_from(p).ok())
        .map(process::is_alive);
    // Only a zombie's verdict depends on a live turn (a kill looks again).
    let turn_alive = s.state == AgentState::Zombie && live_turn_group(cx.layout, s).is_some();
    Probe {
        tmux_alive,
        pid_alive,
        turn_alive,
        last_activity_ms,
    }
}

/// The process group of the agent's turn in flight, validated to be the
/// agent's (`turn.pid` names a live group one of whose processes carries
/// its name).
fn live_turn_group(layout: &Layout, s: &Session) -> Option<i32> {
    let pgid = process::read_pid_file(&layout.agent_turn_pid(&s.agent_name))?;
    (process::is_group_alive(pgid) && group_belongs_to(pgid, s.agent_name.as_str())).then_some(pgid)
}

/// Judges one session and acts on the verdict.
fn judge(
    cx: &mut Ctx<'_>,
    s: &Session,
    recent: &HashMap<String, i64>,
    waiting: &HashSet<String>,
    report: &mut TickReport,
) -> Result<(), FleetError> {
    let p = probe(cx, s, recent);
    let mut check = evaluate(s, &p, &cx.opts.thresholds, cx.now_ms, &cx.stamp);
    // A headless parent between turns is judged by its activity alone; while
    // a child of its is still active it is waiting, not stalled (the child
    // is judged on its own, and its end wakes the parent).
    if s.mode() == RunMode::SpawnPerTurn
        && waiting.contains(s.agent_name.as_str())
        && matches!(
            check.action,
            HealthAction::Escalate | HealthAction::Terminate
        )
        && s.state.is_active()
    {
        check.action = HealthAction::None;
        check.state = if s.state == AgentState::Stalled {
            AgentState::Working
        } else {
            s.state
        };
    }
    let note = check.reconciliation_note.clone().unwrap_or_default();
    match check.action {
        HealthAction::None => {
            if check.state != s.state {
                let t = Transition::to(check.state)
                    .only_from(&[s.state])
                    .reset_escalation();
                change(cx, s, &t, &note, report)?;
            } else if s.stalled_since.is_some() || s.escalation_level != 0 {
                cx.store.update_escalation(s.agent_name.as_str(), 0, None)?;
            }
        }
        HealthAction::Investigate => end_orphaned_turn(cx, s, report),
        HealthAction::Complete => {
            let t = Transition::to(AgentState::Completed)
                .only_from_active()
                .reset_escalation();
            change(cx, s, &t, &note, report)?;
        }
        HealthAction::Terminate => terminate(cx, s, &note, TerminatedBy::Tier0, report)?,
        HealthAction::Escalate => escalate(cx, s, &note, report)?,
    }
    report.checks.push(check);
    Ok(())
}

/// The agents with at least one active child (booting, working, stalled).
fn parents_of_active_children(sessions: &[Session]) -> HashSet<String> {
    sessions
        .iter()
        .filter(|s| s.state.is_active())
        .filter_map(|s| s.parent_agent.as_ref().map(|p| p.as_str().to_owned()))
        .collect()
}

/// A spawn-per-turn zombie has no business running a turn: one alive is
/// an orphan (a dispatcher that read the row before it went zombie started
/// it after). Its validated process group is ended; the state stays and
/// the parent is not told again.
fn end_orphaned_turn(cx: &Ctx<'_>, s: &Session, report: &mut TickReport) {
    if s.state != AgentState::Zombie || Topology::of(s) != Topology::SpawnPerTurn {
        return;
    }
    if let Some(pgid) = live_turn_group(cx.layout, s) {
        let _ = process::terminate_group(pgid, cx.opts.kill_grace);
        report.killed.push(s.agent_name.to_string());
    }
}

/// Writes a state through the compare-and-swap and records the event;
/// returns whether it applied and the state before.
fn change(
    cx: &mut Ctx<'_>,
    s: &Session,
    t: &Transition,
    reason: &str,
    report: &mut TickReport,
) -> Result<Option<AgentState>, FleetError> {
    let Some(c) = cx.settle().transition(s.agent_name.as_str(), t, reason)? else {
        return Ok(None);
    };
    if c.prev != c.next {
        report.changes.push(StateChange {
            agent_name: s.agent_name.to_string(),
            from: c.prev,
            to: c.next,
            reason: reason.to_owned(),
        });
    }
    Ok(Some(c.prev))
}

fn record(cx: &Ctx<'_>, e: NewEvent) {
    crate::settle::record(cx.layout, cx.events.as_ref(), cx.run_id.as_deref(), e);
}

/// Kills the agent's processes by its topology; returns whether something
/// was killed, and the agent's dead host when that is what it found (kept
/// by the caller until the agent is settled: it holds the start lock).
/// Never uses an empty tmux target.
fn kill(cx: &Ctx<'_>, s: &Session) -> (bool, Option<crate::dead_host::DeadHost>) {
    let grace = cx.opts.kill_grace;
    match Topology::of(s) {
        Topology::Tmux => (
            cx.opts
                .tmux
                .kill_session(&s.tmux_session, grace)
                .unwrap_or(false),
            None,
        ),
        Topology::Headless => match crate::dead_host::find(cx.layout, s) {
            // Its host died: only a group verified to be the agent's is hit.
            Some(dead) => (dead.clear(cx.layout, s, grace).unwrap_or(false), Some(dead)),
            None => (
                crate::stop::kill_headless_within(
                    cx.layout,
                    &s.agent_name,
                    s,
                    grace,
                    cx.opts.host_stop_wait,
                ),
                None,
            ),
        },
        Topology::SpawnPerTurn => match live_turn_group(cx.layout, s) {
            Some(pgid) => {
                let _ = process::terminate_group(pgid, grace);
                (true, None)
            }
            None => (false, None),
        },
    }
}

/// Kills the agent, marks it zombie and tells its parent (once: only when
/// this tick moved it to zombie), through [`crate::settle`].
fn terminate(
    cx: &mut Ctx<'_>,
    s: &Session,
    reason: &str,
    by: TerminatedBy,
    report: &mut TickReport,
) -> Result<(), FleetError> {
    let (killed, _dead_host) = kill(cx, s);
    if killed {
        report.killed.push(s.agent_name.to_string());
    }
    let died = cx.settle().died(s, reason, by)?;
    if let Some(c) = died.changed {
        report.changes.push(StateChange {
            agent_name: s.agent_name.to_string(),
            from: c.prev,
            to: c.next,
            reason: reason.to_owned(),
        });
    }
    if died.worker_died {
        report.worker_died.push(s.agent_name.to_string());
    }
    Ok(())
}

/// Returns whether the agent waits on a decision gate nobody answered: its
/// newest `decision_gate` mail is newer than the newest mail to it.
fn awaits_decision(cx: &Ctx<'_>, agent: &str) -> bool {
    let Some(mail) = &cx.mail else { return false };
    let newest = |f: ListFilter| {
        mail.list(&ListFilter {
            limit: Some(1),
            ..f
        })
        .ok()
        .and_then(|v| v.into_iter().next())
        .map(|m| m.created_at)
    };
    let Some(gate) = newest(ListFilter {
        from: Some(agent.to_owned()),
        kind: Some(MessageType::DecisionGate),
        ..ListFilter::default()
    }) else {
        return false;
    };
    newest(ListFilter {
        to: Some(agent.to_owned()),
        ..ListFilter::default()
    })
    .is_none_or(|answer| answer < gate)
}

/// The escalation ladder for a stalled agent: level 0 warns, level 1
/// queues a nudge (a turn, never run inline), levels between wait (or
/// triage), the last level terminates. Each level acts once, when reached.
fn escalate(
    cx: &mut Ctx<'_>,
    s: &Session,
    note: &str,
    report: &mut TickReport,
) -> Result<(), FleetError> {
    let agent = s.agent_name.as_str();
    if awaits_decision(cx, agent) {
        if s.stalled_since.is_some() {
            cx.store.update_escalation(agent, 0, None)?;
        }
        return Ok(());
    }
    if s.state != AgentState::Stalled {
        let t = Transition::to(AgentState::Stalled).only_from(&[s.state]);
        change(cx, s, &t, note, report)?;
    }
    let since = s.stalled_since.as_deref().and_then(clock::parse_rfc3339);
    let Some(since) = since else {
        cx.store.update_escalation(agent, 0, Some(&cx.stamp))?;
        escalation_event(cx, agent, 0, "warn", None, report);
        return Ok(());
    };
    let max = cx.opts.max_escalation_level;
    let steps = (cx.now_ms - since).max(0) / cx.opts.nudge_interval_ms;
    let expected = u32::try_from(steps).unwrap_or(u32::MAX).min(max);
    let current = u32::try_from(s.escalation_level.max(0)).unwrap_or(0);
    if expected <= current {
        return Ok(());
    }
    let since_text = clock::format_millis(since);
    cx.store
        .update_escalation(agent, i64::from(expected), Some(&since_text))?;
    if expected >= max {
        escalation_event(cx, agent, expected, "terminate", None, report);
        let reason = "Progressive escalation reached terminal level";
        return terminate(cx, s, reason, TerminatedBy::Tier0, report);
    }
    if expected == 1 {
        let delivered = nudge(cx, agent, &stall_nudge_text(agent));
        escalation_event(cx, agent, 1, "nudge", Some(delivered), report);
    } else if cx.opts.tier1_enabled && cx.triages < cx.opts.max_triage_per_tick {
        cx.triages += 1;
        return run_triage(cx, s, expected, since, report);
    } else {
        escalation_event(cx, agent, expected, "wait", None, report);
    }
    Ok(())
}

/// Queues `message` as the agent's next turn (or types it into its tmux
/// pane); returns whether it was delivered.
fn nudge(cx: &Ctx<'_>, agent: &str, message: &str) -> bool {
    let Some(ov) = &cx.opts.ov_program else {
        return false;
    };
    let mut n = NudgeOptions::new(ov.clone());
    n.force = true;
    n.from = "watchdog".into();
    n.tmux = cx.opts.tmux.clone();
    nudge_agent(cx.layout, cx.config, agent, message, &n).is_ok_and(|r| r.delivered)
}

/// Tier 1 at `level`: terminate, nudge to retry, or extend (the stall
/// clock moves one nudge interval forward, so the level drops back).
fn run_triage(
    cx: &mut Ctx<'_>,
    s: &Session,
    level: u32,
    since: i64,
    report: &mut TickReport,
) -> Result<(), FleetError> {
    let agent = s.agent_name.as_str();
    let result = super::triage::triage(
        cx.layout,
        cx.config,
        cx.opts.ov_program.clone(),
        agent,
        &s.last_activity,
        cx.opts.triage_timeout,
    );
    let data = serde_json::json!({
        "escalationLevel": level,
        "verdict": result.verdict,
        "triageFailed": result.fallback,
        "reason": result.reason,
        "by": "watchdog",
    });
    record(
        cx,
        NewEvent::custom(agent, "triage", data).level(EventLevel::Warn),
    );
    report.escalations.push(Escalation {
        agent_name: agent.to_owned(),
        level,
        action: format!("triage:{}", verdict_name(result.verdict)),
        delivered: None,
    });
    match result.verdict {
        super::triage::Verdict::Terminate => terminate(
            cx,
            s,
            "AI triage classified as terminal failure",
            TerminatedBy::Tier1,
            report,
        ),
        super::triage::Verdict::Retry => {
            nudge(
                cx,
                agent,
                "[WATCHDOG] Triage suggests recovery is possible. Please retry your current operation or check for errors.",
            );
            Ok(())
        }
        super::triage::Verdict::Extend => {
            let pushed = clock::format_millis(since + cx.opts.nudge_interval_ms);
            cx.store
                .update_escalation(agent, i64::from(level.saturating_sub(1)), Some(&pushed))?;
            Ok(())
        }
    }
}

fn verdict_name(v: super::triage::Verdict) -> &'static str {
    match v {
        super::triage::Verdict::Retry => "retry",
        super::triage::Verdict::Terminate => "terminate",
        super::triage::Verdict::Extend => "extend",
    }
}

fn escalation_event(
    cx: &Ctx<'_>,
    agent: &str,
    level: u32,
    action: &str,
    delivered: Option<bool>,
    report: &mut TickReport,
) {
    let (kind, lvl) = match action {
        "nudge" => ("nudge", EventLevel::Warn),
        "terminate" => ("escalation", EventLevel::Error),
        _ => ("escalation", EventLevel::Warn),
    };
    let mut data =
        serde_json::json!({"escalationLevel": level, "action": action, "by": "watchdog"});
    if let (Some(d), Some(map)) = (delivered, data.as_object_mut()) {
        map.insert("delivered".into(), serde_json::Value::Bool(d));
    }
    record(cx, NewEvent::custom(agent, kind, data).level(lvl));
    report.escalations.push(Escalation {
        agent_name: agent.to_owned(),
        level,
        action: action.to_owned(),
        delivered,
    });
}

/// §5: when every worker of the current run is terminal, tell the
/// coordinator once (the marker is written only after the nudge went out).
fn check_run_complete(cx: &mut Ctx<'_>, memory: &mut WatchdogMemory, report: &mut TickReport) {
    let Some(run_id) = cx.run_id.clone() else {
        if !memory.warned_missing_run {
            memory.warned_missing_run = true;
            report
                .warnings
                .push("[WATCHDOG] current-run.txt missing — run-completion checks skipped".into());
        }
        return;
    };
    match RunStore::open(&cx.layout.sessions_db()).and_then(|r| r.get(&run_id)) {
        Ok(Some(_)) => {}
        _ => {
            if memory.warned_runs.insert(run_id.clone()) {
                report.warnings.push(format!(
                    "[WATCHDOG] current-run.txt points to unknown run \"{run_id}\" — run-completion checks skipped"
                ));
            }
            return;
        }
    }
    let Ok(rows) = cx.store.by_run(&run_id) else {
        return;
    };
    let workers: Vec<&Session> = rows
        .iter()
        .filter(|s| !s.capability.is_persistent())
        .collect();
    if workers.is_empty() || workers.iter().any(|s| !s.state.is_terminal()) {
        return;
    }
    let marker = cx.layout.run_complete_notified();
    if std::fs::read_to_string(&marker).is_ok_and(|t| t.trim() == run_id) {
        return;
    }
    let zombies: Vec<&str> = workers
        .iter()
        .filter(|s| s.state == AgentState::Zombie)
        .map(|s| s.agent_name.as_str())
        .collect();
    let completed: Vec<&str> = workers
        .iter()
        .filter(|s| s.state == AgentState::Completed)
        .map(|s| s.agent_name.as_str())
        .collect();
    let mut caps: Vec<&str> = workers.iter().map(|s| s.capability.as_str()).collect();
    caps.sort_unstable();
    caps.dedup();
    let message = completion_message(
        &run_id,
        workers.len(),
        completed.len(),
        zombies.len(),
        &caps,
    );
    let delivered = nudge(cx, "coordinator", &message);
    let phase = if caps.len() == 1 { caps[0] } else { "mixed" };
    record(
        cx,
        NewEvent::custom(
            "watchdog",
            "run_complete",
            serde_json::json!({
                "workerCount": workers.len(),
                "completedAgents": completed,
                "zombieAgents": zombies,
                "capabilities": caps,
                "phase": phase,
                "delivered": delivered,
            }),
        )
        .level(if zombies.is_empty() {
            EventLevel::Info
        } else {
            EventLevel::Warn
        })
        .run(Some(run_id.clone())),
    );
    if delivered {
        let _ = overstory_core::fsio::write_atomic(&marker, format!("{run_id}\n"));
        report.run_complete = Some(run_id);
    }
}

/// The coordinator's run-completion message.
pub fn completion_message(
    run_id: &str,
    n: usize,
    completed: usize,
    zombies: usize,
    caps: &[&str],
) -> String {
    let (verb, qual) = if zombies > 0 {
        (
            "have terminated",
            format!(" ({completed} completed, {zombies} zombie)"),
        )
    } else {
        ("have completed", String::new())
    };
    if let [cap] = caps {
        let tail = match *cap {
            "scout" => "Ready for next phase.",
            "builder" => "Awaiting lead verification.",
            "reviewer" => "Reviews done.",
            "lead" => "Ready for merge/cleanup.",
            "merger" => "Merges done.",
            _ => "Ready for next steps.",
        };
        format!("[WATCHDOG] All {n} {cap}(s) in run {run_id} {verb}{qual}. {tail}")
    } else {
        format!(
            "[WATCHDOG] All {n} worker(s) in run {run_id} {verb}{qual} ({}). Ready for next steps.",
            caps.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_honour_the_keys_the_original_ignores() {
        let mut config = Config::defaults_for("/");
        config.watchdog.rpc_timeout_ms = 1500;
        config.watchdog.triage_timeout_ms = 7000;
        config.watchdog.max_escalation_level = 9;
        let o = WatchdogOptions::from_config(&config, None);
        assert_eq!(o.host_stop_wait, Duration::from_millis(1500));
        assert_eq!(o.triage_timeout, Duration::from_millis(7000));
        assert_eq!(o.max_escalation_level, 5, "clamped to the documented range");
    }

    #[test]
    fn completion_messages_name_the_phase() {
        assert_eq!(
            completion_message("run-1", 2, 2, 0, &["builder"]),
            "[WATCHDOG] All 2 builder(s) in run run-1 have completed. Awaiting lead verification."
        );
        assert_eq!(
            completion_message("run-1", 3, 2, 1, &["builder", "scout"]),
            "[WATCHDOG] All 3 worker(s) in run run-1 have terminated (2 completed, 1 zombie) (builder, scout). Ready for next steps."
        );
    }
}
