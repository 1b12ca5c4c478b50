//! `ov nudge`: poke an agent with a short message.
//!
//! [`nudge_agent`] picks the first applicable path:
//!
//! 0. **debounce** — unless forced, a second nudge of the same agent within
//!    500 ms is dropped; the last-nudge times live in
//!    `.overstory/nudge-state.json`, read and written under a file lock;
//! 1. **spawn-per-turn** — a headless task-scoped agent gets the message
//!    queued as a user turn ([`enqueue_turn`]) and a dispatcher started
//!    ([`wake`]), the same path mail takes; nudge never waits for the turn;
//! 2. **tmux** — the message is typed into the agent's pane, but not while
//!    the pane shows `esc to interrupt` (the agent is mid-output), then a
//!    second Enter follows.
//!
//! A row with an empty `tmux_session` never reaches tmux (no empty targets).
//! An agent in a terminal state cannot be nudged; the reason says how to
//! re-dispatch it with `ov sling … --recover`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use overstory_core::events::{EventStore, NewEvent};
use overstory_core::{AgentName, Config, Layout, clock};
use overstory_mail::nudge::claim_debounce;
use overstory_sessions::{RunMode, SessionStore};
use serde::Serialize;

use crate::error::FleetError;
use crate::tmux::Tmux;
use overstory_turn::dispatch::{Launcher, WakeOutcome, is_spawn_per_turn, wake};
use overstory_turn::factory::TurnFactory;
use overstory_turn::queue::enqueue_turn;

/// The default nudge text.
pub const DEFAULT_MESSAGE: &str = "Check your mail inbox for new messages.";

/// The text `ov nudge` delivers: `[NUDGE from <from>] <words>`, with
/// [`DEFAULT_MESSAGE`] when `words` is blank.
pub fn nudge_text(from: &str, words: &str) -> String {
    let text = if words.trim().is_empty() {
        DEFAULT_MESSAGE
    } else {
        words
    };
    format!("[NUDGE from {}] {text}", from.trim())
}

/// Nudges of one agent closer together than this are dropped unless forced.
pub const DEBOUNCE_MS: u64 = 500;

/// Choices of [`nudge_agent`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NudgeOptions {
    /// Skip the debounce.
    pub force: bool,
    /// The tmux server of tmux agents.
    pub tmux: Tmux,
    /// How long a busy pane is waited for before the nudge is deferred.
    pub busy_wait: Duration,
    /// The running `ov` (starts dispatchers for headless agents).
    pub ov_program: PathBuf,
    /// Who the nudge is from (recorded in the `nudge` event).
    pub from: String,
    /// The debounce window, ms (default [`DEBOUNCE_MS`]).
    pub debounce_ms: u64,
}

impl NudgeOptions {
    /// Default options: not forced, default tmux server, 3 s busy wait.
    pub fn new(ov_program: PathBuf) -> Self {
        Self {
            force: false,
            tmux: Tmux::default(),
            busy_wait: Duration::from_secs(3),
            ov_program,
            from: "orchestrator".to_owned(),
            debounce_ms: DEBOUNCE_MS,
        }
    }
}

/// What [`nudge_agent`] did; serialises as the `nudge` JSON envelope data.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NudgeReport {
    /// The agent that was nudged.
    pub agent_name: AgentName,
    /// Whether the message reached the agent (or its turn queue).
    pub delivered: bool,
    /// Headless: the message waits for the agent's next turn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queued: Option<bool>,
    /// Why it was not delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl NudgeReport {
    fn failed(agent: &AgentName, reason: impl Into<String>) -> Self {
        Self {
            agent_name: agent.clone(),
            delivered: false,
            queued: None,
            reason: Some(reason.into()),
        }
    }
}

/// Nudges `agent` with `message`.
///
/// Not delivering is not an error: the report says why
/// (`delivered: false` and a `reason`). Every attempt that was not debounced
/// records a `custom` event `{type:"nudge", from, message, delivered}` in the
/// current run.
///
/// # Errors
/// [`FleetError::Validation`] for an invalid name; store, file and
/// dispatcher-launch failures.
pub fn nudge_agent(
    layout: &Layout,
    config: &Config,
    agent: &str,
    message: &str,
    opts: &NudgeOptions,
) -> Result<NudgeReport, FleetError> {
    let agent = AgentName::new(agent.trim())?;
    let name = agent.as_str();
    if !opts.force
        && !claim_debounce(
            &layout.nudge_state(),
            &agent,
            opts.debounce_ms,
            clock::now_millis(),
        )?
    {
        return Ok(NudgeReport::failed(
            &agent,
            "Debounced: nudge sent too recently",
        ));
    }
    let report = deliver(layout, config, &agent, message, opts)?;
    if let Ok(events) = EventStore::open(&layout.events_db()) {
        let e = NewEvent::custom(
            name,
            "nudge",
            serde_json::json!({"from": opts.from, "message": message, "delivered": report.delivered}),
        )
        .run(overstory_sessions::current_run_id(layout));
        let _ = events.insert(&e);
    }
    Ok(report)
}

fn deliver(
    layout: &Layout,
    config: &Config,
    agent: &AgentName,
    message: &str,
    opts: &NudgeOptions,
) -> Result<NudgeReport, FleetError> {
    let name = agent.as_str();
    let store = SessionStore::open(&layout.sessions_db())?;
    let session = store.get(name)?;
    let tmux_target = match &session {
        Some(s) if s.state.is_terminal() => {
            return Ok(NudgeReport::failed(
                agent,
                format!(
                    "No active session for agent \"{name}\" (state: {}). The agent has exited; re-dispatch with 'ov sling {} --capability {} --recover'.",
                    s.state,
                    s.task_str(),
                    s.capability
                ),
            ));
        }
        Some(s) if s.mode() != RunMode::Tmux => {
            let factory = TurnFactory::new(
                layout.clone(),
                config.clone(),
                Some(opts.ov_program.clone()),
            );
            if overstory_turn::host::is_hosted_session(s) {
                // A persistent agent: its host writes the nudge to its stdin.
                if overstory_turn::host::live_host(layout, agent).is_none() {
                    return Ok(NudgeReport::failed(
                        agent,
                        format!("Agent \"{name}\" has no running agent host"),
                    ));
                }
                enqueue_turn(layout, agent, message)?;
                overstory_turn::host::poke(layout, agent);
                return Ok(NudgeReport {
                    agent_name: agent.clone(),
                    delivered: true,
                    queued: Some(true),
                    reason: None,
                });
            }
            let runtime = factory.runtime_for(s)?;
            if !is_spawn_per_turn(s, runtime.as_ref()) {
                return Ok(NudgeReport::failed(
                    agent,
                    format!(
                        "Agent \"{name}\" has no tmux session and does not take headless turns ({} via {})",
                        s.capability,
                        runtime.id()
                    ),
                ));
            }
            enqueue_turn(layout, agent, message)?;
            let launcher = Launcher {
                ov: opts.ov_program.clone(),
            };
            return Ok(match wake(&factory, &launcher, agent)? {
                WakeOutcome::Started { .. }
                | WakeOutcome::AlreadyRunning
                | WakeOutcome::Poked { .. } => NudgeReport {
                    agent_name: agent.clone(),
                    delivered: true,
                    queued: Some(true),
                    reason: None,
                },
                WakeOutcome::NotEligible { reason } | WakeOutcome::Failed { reason } => {
                    NudgeReport::failed(agent, format!("Spawn-per-turn dispatch failed: {reason}"))
                }
            });
        }
        Some(s) => s.tmux_session.clone(),
        None if name == "orchestrator" => orchestrator_tmux(layout).unwrap_or_default(),
        None => String::new(),
    };
    if tmux_target.trim().is_empty() {
        return Ok(NudgeReport::failed(
            agent,
            format!("No active session for agent \"{name}\""),
        ));
    }
    let tmux = &opts.tmux;
    if !tmux.is_alive(&tmux_target) {
        return Ok(NudgeReport::failed(
            agent,
            format!("Tmux session \"{tmux_target}\" is not alive"),
        ));
    }
    if !wait_until_idle(tmux, &tmux_target, opts.busy_wait) {
        return Ok(NudgeReport::failed(
            agent,
            "Agent is mid-think (esc-to-interrupt visible) — nudge deferred",
        ));
    }
    let mut sent = false;
    for attempt in 0..3 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(500));
        }
        if tmux.send_keys(&tmux_target, message, 3).is_ok() {
            std::thread::sleep(Duration::from_millis(500));
            let _ = tmux.send_keys(&tmux_target, "", 3);
            sent = true;
            break;
        }
    }
    if !sent {
        return Ok(NudgeReport::failed(
            agent,
            "Failed to send after 3 attempts",
        ));
    }
    Ok(NudgeReport {
        agent_name: agent.clone(),
        delivered: true,
        queued: None,
        reason: None,
    })
}

/// Returns whether the pane stops looking busy within `wait`. A pane that
/// cannot be captured counts as busy.
fn wait_until_idle(tmux: &Tmux, target: &str, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        let busy = tmux
            .capture_pane(target, 20)
            .is_none_or(|p| p.contains("esc to interrupt"));
        if !busy {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn orchestrator_tmux(layout: &Layout) -> Option<String> {
    let text = std::fs::read_to_string(layout.orchestrator_tmux()).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("tmuxSession")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::{DEFAULT_MESSAGE, nudge_text};

    #[test]
    fn blank_words_nudge_with_the_default_message() {
        assert_eq!(
            nudge_text(" lead-1 ", "  "),
            format!("[NUDGE from lead-1] {DEFAULT_MESSAGE}")
        );
        assert_eq!(nudge_text("op", "rebase now"), "[NUDGE from op] rebase now");
    }
}
