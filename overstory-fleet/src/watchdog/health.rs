//! The health rules: one session and what was probed about it in, a
//! proposed state and an action out. Pure: no clock, no I/O.
//!
//! [`evaluate`] is a decision table; the first matching row wins.
//! `E` = now − last activity, `S`/`Z` = the stale and zombie thresholds
//! (strict `>`), "active" = booting, working or stalled.
//!
//! | # | Session | Condition | → state | action |
//! |---|---|---|---|---|
//! | 1 | completed | — | completed | none |
//! | 2 | zombie | tmux, pid or turn alive | zombie | investigate (a spawn-per-turn zombie's orphaned turn is ended by the tick, nobody is told again) |
//! | 3 | zombie | nothing alive | zombie | none (never re-terminated) |
//! | 4 | tmux | tmux dead, E > S | completed | complete (missed session-end) |
//! | 5 | tmux | tmux dead | zombie | terminate |
//! | 6 | tmux | tmux alive, pid recorded and dead | zombie | terminate |
//! | 7 | hosted with a pid | pid dead, E > S | completed | complete |
//! | 8 | hosted with a pid | pid dead | zombie | terminate |
//! | 9 | any other | time rules below | | |
//!
//! Time rules:
//!
//! | # | Condition | → state | action |
//! |---|---|---|---|
//! | T1 | persistent capability | booting/stalled → working, else unchanged | none |
//! | T2 | E > Z | zombie | terminate |
//! | T3 | E > S | stalled | escalate |
//! | T4 | stalled (recovered) | working | none |
//! | T5 | otherwise | unchanged (booting stays booting: only the agent's own first turn promotes it) | none |
//!
//! The tick exempts one case from the time rules: a spawn-per-turn agent
//! with an active child is waiting, not stalled, so T2/T3 do not apply to
//! it (the child is judged on its own, and its end wakes the parent).
//!
//! An empty `tmux_session` means "no tmux": no rule ever probes or kills
//! an empty tmux target. A spawn-per-turn agent has no process between
//! turns and is judged by its activity alone (its turn's process group is
//! what [`super::tick`] kills on `terminate`).

use overstory_sessions::{AgentState, Session};
use serde::Serialize;

/// How an agent runs, as the watchdog sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Topology {
    /// In a tmux session.
    Tmux,
    /// A long-lived headless process (a row pid, no tmux).
    Headless,
    /// One process per turn; no pid in the row.
    SpawnPerTurn,
}

impl Topology {
    /// Returns the topology of `s`.
    pub fn of(s: &Session) -> Self {
        if !s.tmux_session.is_empty() {
            Self::Tmux
        } else if s.pid.is_some() {
            Self::Headless
        } else {
            Self::SpawnPerTurn
        }
    }
}

/// What was probed about one session's processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Probe {
    /// Whether its tmux session exists; `None` when it has none.
    pub tmux_alive: Option<bool>,
    /// Whether the row's pid is alive; `None` when the row has none.
    pub pid_alive: Option<bool>,
    /// Whether a turn of the agent is in flight (its validated `turn.pid`).
    pub turn_alive: bool,
    /// The newest activity known (the row's, or a newer event), epoch ms.
    pub last_activity_ms: Option<i64>,
}

/// The stale and zombie thresholds, ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Idle longer than this ⇒ stalled.
    pub stale_ms: i64,
    /// Idle longer than this ⇒ zombie.
    pub zombie_ms: i64,
}

/// What the watchdog does about one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthAction {
    /// Nothing (beyond writing a changed state).
    None,
    /// Stalled: climb the escalation ladder.
    Escalate,
    /// Dead or past the zombie threshold: kill, mark zombie, tell the parent.
    Terminate,
    /// Contradictory evidence: report, change nothing.
    Investigate,
    /// Gone after going quiet: it most likely finished; mark completed.
    Complete,
}

/// The verdict on one session (the original's `HealthCheck` shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// The agent.
    pub agent_name: String,
    /// When it was judged (RFC 3339).
    pub timestamp: String,
    /// Whether a process of the agent is believed alive.
    pub process_alive: bool,
    /// Whether its tmux session is alive (false without one).
    pub tmux_alive: bool,
    /// Whether its row pid is alive; `null` without one.
    pub pid_alive: Option<bool>,
    /// Its last activity (RFC 3339), as the row holds it.
    pub last_activity: String,
    /// The state it was in.
    #[serde(skip)]
    pub current: AgentState,
    /// The proposed state.
    pub state: AgentState,
    /// What to do.
    pub action: HealthAction,
    /// Why, in words, when there is something to say.
    pub reconciliation_note: Option<String>,
}

/// Judges `s` from `probe` at `now_ms`; see the [module docs](self).
pub fn evaluate(
    s: &Session,
    probe: &Probe,
    t: &Thresholds,
    now_ms: i64,
    stamp: &str,
) -> HealthCheck {
    let idle = probe
        .last_activity_ms
        .map_or(i64::MAX, |a| now_ms.saturating_sub(a));
    let alive_any =
        probe.tmux_alive == Some(true) || probe.pid_alive == Some(true) || probe.turn_alive;
    let verdict = |state, action, note: Option<String>, process_alive| HealthCheck {
        agent_name: s.agent_name.to_string(),
        timestamp: stamp.to_owned(),
        process_alive,
        tmux_alive: probe.tmux_alive == Some(true),
        pid_alive: probe.pid_alive,
        last_activity: s.last_activity.clone(),
        current: s.state,
        state,
        action,
        reconciliation_note: note,
    };
    let stale = idle > t.stale_ms;
    let active = s.state.is_active();
    match s.state {
        AgentState::Completed => {
            return verdict(AgentState::Completed, HealthAction::None, None, alive_any);
        }
        AgentState::Zombie if alive_any => {
            return verdict(
                AgentState::Zombie,
                HealthAction::Investigate,
                Some(
                    "Recorded zombie, but a process of it is alive: investigate (not killed)"
                        .into(),
                ),
                true,
            );
        }
        AgentState::Zombie => {
            return verdict(AgentState::Zombie, HealthAction::None, None, false);
        }
        _ => {}
    }
    let secs = idle / 1000;
    match Topology::of(s) {
        Topology::Tmux => {
            if probe.tmux_alive != Some(true) {
                if stale && active {
                    return verdict(
                        AgentState::Completed,
                        HealthAction::Complete,
                        Some(format!(
                            "tmux session \"{}\" is gone and the agent was quiet for {secs}s: assumed completed (missed session-end signal)",
                            s.tmux_session
                        )),
                        false,
                    );
                }
                return verdict(
                    AgentState::Zombie,
                    HealthAction::Terminate,
                    Some(format!(
                        "tmux session \"{}\" is gone while the agent was {}",
                        s.tmux_session, s.state
                    )),
                    false,
                );
            }
            if probe.pid_alive == Some(false) {
                return verdict(
                    AgentState::Zombie,
                    HealthAction::Terminate,
                    Some(format!(
                        "pid {} is dead but tmux is alive: the agent process exited, its shell survived",
                        s.pid.unwrap_or_default()
                    )),
                    false,
                );
            }
        }
        Topology::Headless => {
            if probe.pid_alive != Some(true) {
                let pid = s.pid.unwrap_or_default();
                if stale && active {
                    return verdict(
                        AgentState::Completed,
                        HealthAction::Complete,
                        Some(format!(
                            "headless pid {pid} is dead and the agent was quiet for {secs}s: assumed completed (missed session-end signal)"
                        )),
                        false,
                    );
                }
                return verdict(
                    AgentState::Zombie,
                    HealthAction::Terminate,
                    Some(format!("headless pid {pid} is dead")),
                    false,
                );
            }
        }
        Topology::SpawnPerTurn => {}
    }
    let process_alive = Topology::of(s) != Topology::SpawnPerTurn || probe.turn_alive;
    if s.capability.is_persistent() {
        let state = match s.state {
            AgentState::Booting | AgentState::Stalled => AgentState::Working,
            other => other,
        };
        let note = (state != s.state).then(|| {
            format!(
                "{} is persistent and exempt from stale detection: resetting to working",
                s.capability
            )
        });
        return verdict(state, HealthAction::None, note, process_alive);
    }
    if idle > t.zombie_ms {
        return verdict(
            AgentState::Zombie,
            HealthAction::Terminate,
            Some(format!(
                "No activity for {secs}s (zombie threshold {}s)",
                t.zombie_ms / 1000
            )),
            process_alive,
        );
    }
    if stale {
        return verdict(
            AgentState::Stalled,
            HealthAction::Escalate,
            Some(format!(
                "No activity for {secs}s (stale threshold {}s)",
                t.stale_ms / 1000
            )),
            process_alive,
        );
    }
    let state = if s.state == AgentState::Stalled {
        AgentState::Working
    } else {
        s.state
    };
    let note = (state != s.state).then(|| "Activity resumed: stalled → working".to_owned());
    verdict(state, HealthAction::None, note, process_alive)
}

#[cfg(test)]
mod tests {
    use super::*;
    use overstory_core::Capability;

    const T: Thresholds = Thresholds {
        stale_ms: 300_000,
        zombie_ms: 600_000,
    };
    const NOW: i64 = 10_000_000;

    fn session(cap: Capability, state: AgentState, tmux: &str, pid: Option<i64>) -> Session {
        let mut s = Session::new("a-1".parse().unwrap_or_else(|_| unreachable!()), cap);
        s.state = state;
        s.tmux_session = tmux.into();
        s.pid = pid;
        s
    }

    fn probe(tmux: Option<bool>, pid: Option<bool>, idle_ms: i64) -> Probe {
        Probe {
            tmux_alive: tmux,
            pid_alive: pid,
            turn_alive: false,
            last_activity_ms: Some(NOW - idle_ms),
        }
    }

    fn judge(s: &Session, p: &Probe) -> (AgentState, HealthAction) {
        let c = evaluate(s, p, &T, NOW, "t");
        (c.state, c.action)
    }

    use AgentState::{Booting, Completed, Stalled, Working, Zombie};
    use Capability::{Builder, Coordinator};
    use HealthAction as A;

    #[test]
    fn row_1_completed_is_left_alone() {
        let s = session(Builder, Completed, "", None);
        assert_eq!(
            judge(&s, &probe(None, None, 10_000_000)),
            (Completed, A::None)
        );
    }

    #[test]
    fn rows_2_3_zombies_are_never_re_terminated() {
        let s = session(Builder, Zombie, "", Some(1));
        assert_eq!(
            judge(&s, &probe(None, Some(false), 10_000_000)),
            (Zombie, A::None)
        );
        assert_eq!(
            judge(&s, &probe(None, Some(true), 0)),
            (Zombie, A::Investigate)
        );
        let t = session(Builder, Zombie, "ov-a", None);
        assert_eq!(
            judge(&t, &probe(Some(true), None, 0)),
            (Zombie, A::Investigate)
        );
    }

    #[test]
    fn rows_4_5_dead_tmux() {
        let s = session(Builder, Working, "ov-a", None);
        assert_eq!(
            judge(&s, &probe(Some(false), None, 400_000)),
            (Completed, A::Complete)
        );
        let c = evaluate(&s, &probe(Some(false), None, 1_000), &T, NOW, "t");
        assert_eq!((c.state, c.action), (Zombie, A::Terminate));
        assert!(
            c.reconciliation_note
                .unwrap_or_default()
                .contains("working")
        );
    }

    #[test]
    fn row_6_tmux_alive_pid_dead() {
        let s = session(Builder, Working, "ov-a", Some(5));
        assert_eq!(
            judge(&s, &probe(Some(true), Some(false), 0)),
            (Zombie, A::Terminate)
        );
        // pid null never triggers pid-based death.
        let s = session(Builder, Working, "ov-a", None);
        assert_eq!(judge(&s, &probe(Some(true), None, 0)), (Working, A::None));
    }

    #[test]
    fn rows_7_8_headless_pid_dead() {
        let s = session(Builder, Working, "", Some(5));
        assert_eq!(
            judge(&s, &probe(None, Some(false), 400_000)),
            (Completed, A::Complete)
        );
        assert_eq!(
            judge(&s, &probe(None, Some(false), 0)),
            (Zombie, A::Terminate)
        );
        assert_eq!(judge(&s, &probe(None, Some(true), 0)), (Working, A::None));
    }

    #[test]
    fn time_rules_by_age() {
        let s = session(Builder, Working, "", None);
        assert_eq!(
            judge(&s, &probe(None, None, 700_000)),
            (Zombie, A::Terminate)
        );
        assert_eq!(
            judge(&s, &probe(None, None, 400_000)),
            (Stalled, A::Escalate)
        );
        assert_eq!(
            judge(&s, &probe(None, None, 300_000)),
            (Working, A::None),
            "strict >"
        );
        let b = session(Builder, Booting, "", None);
        assert_eq!(
            judge(&b, &probe(None, None, 0)),
            (Booting, A::None),
            "booting stays"
        );
        assert_eq!(
            judge(&b, &probe(None, None, 400_000)),
            (Stalled, A::Escalate)
        );
    }

    #[test]
    fn a_recovered_stalled_agent_goes_back_to_working() {
        let s = session(Builder, Stalled, "", None);
        let c = evaluate(&s, &probe(None, None, 1_000), &T, NOW, "t");
        assert_eq!((c.state, c.action), (Working, A::None));
        assert!(c.reconciliation_note.is_some());
    }

    #[test]
    fn persistent_agents_never_go_stale_by_age_but_die_with_their_pid() {
        let s = session(Coordinator, Stalled, "", Some(5));
        assert_eq!(
            judge(&s, &probe(None, Some(true), 10_000_000)),
            (Working, A::None)
        );
        assert_eq!(
            judge(&s, &probe(None, Some(false), 0)),
            (Zombie, A::Terminate)
        );
        let t = session(Coordinator, Working, "ov-c", None);
        assert_eq!(
            judge(&t, &probe(Some(false), None, 0)),
            (Zombie, A::Terminate)
        );
    }

    #[test]
    fn unknown_activity_counts_as_idle_forever() {
        let s = session(Builder, Working, "", None);
        let p = Probe::default();
        assert_eq!(judge(&s, &p), (Zombie, A::Terminate));
    }
}
