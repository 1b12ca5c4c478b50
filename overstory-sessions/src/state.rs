//! The agent state machine: the states, the one transition table, and the
//! request/outcome types of the one compare-and-swap that writes `state`.
//!
//! Every change of an existing session's state in the whole project goes
//! through [`crate::SessionStore::transition`], which runs
//! `UPDATE sessions SET state = ? … WHERE agent_name = ? AND state IN (<allowed
//! predecessors>)`. The allowed predecessors come from [`ALLOWED`] and
//! nowhere else, so two writers racing (turn runner, `ov stop`, watchdog)
//! can never leave a session in a state the table forbids.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use overstory_core::ValidationError;

/// The lifecycle state of an agent session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentState {
    /// The row exists; the agent has shown no activity yet.
    Booting,
    /// The agent is active (or idle between turns).
    Working,
    /// The agent has been idle beyond the stale threshold.
    Stalled,
    /// The agent finished. Sticky: nothing leaves `completed`.
    Completed,
    /// The agent died or was killed. Leaves only for `completed` (`ov stop`).
    Zombie,
}

/// The one transition table: `ALLOWED[from][to]`, indexed in declaration
/// order (booting, working, stalled, completed, zombie).
///
/// - nothing enters `booting` (only inserting a new row does);
/// - `completed` is terminal and sticky (self-transition allowed);
/// - `zombie` leaves only for `completed`;
/// - self-transitions of the other states are allowed (idempotent writes).
pub const ALLOWED: [[bool; 5]; 5] = [
    //  booting working stalled completed zombie     (to)
    [false, true, true, true, true],    // from booting
    [false, true, true, true, true],    // from working
    [false, true, true, true, true],    // from stalled
    [false, false, false, true, false], // from completed
    [false, false, false, true, true],  // from zombie
];

impl AgentState {
    /// Every state, in table order.
    pub const ALL: [AgentState; 5] = [
        Self::Booting,
        Self::Working,
        Self::Stalled,
        Self::Completed,
        Self::Zombie,
    ];

    /// Returns the stored name (`working`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Booting => "booting",
            Self::Working => "working",
            Self::Stalled => "stalled",
            Self::Completed => "completed",
            Self::Zombie => "zombie",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// Returns whether the table allows `self → to`.
    pub fn can_transition_to(self, to: AgentState) -> bool {
        ALLOWED[self.index()][to.index()]
    }

    /// Returns the states from which `target` may be entered.
    pub fn predecessors(target: AgentState) -> Vec<AgentState> {
        Self::ALL
            .into_iter()
            .filter(|from| from.can_transition_to(target))
            .collect()
    }

    /// Returns whether the state is terminal (`completed` or `zombie`):
    /// entering it clears the session's tmux name.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Zombie)
    }

    /// Returns whether the state counts as active (booting, working, stalled).
    pub fn is_active(self) -> bool {
        !self.is_terminal()
    }
}

impl fmt::Display for AgentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AgentState {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| ValidationError::NotOneOf {
                field: "state",
                value: s.to_owned(),
                expected: Self::ALL.map(Self::as_str).join(", "),
            })
    }
}

/// A request to move a session to `target`, optionally narrowed to fewer
/// predecessors than the table allows, and with side effects applied in the
/// same statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    target: AgentState,
    only_from: Option<Vec<AgentState>>,
    touch_activity: bool,
    reset_escalation: bool,
}

impl Transition {
    /// Requests `→ target` from any predecessor the table allows.
    pub fn to(target: AgentState) -> Self {
        Self {
            target,
            only_from: None,
            touch_activity: false,
            reset_escalation: false,
        }
    }

    /// Requests `→ zombie` for an agent whose process was found dead, only
    /// from an active state (booting, working, stalled): an agent that
    /// already finished keeps its terminal state.
    pub fn died() -> Self {
        Self::to(AgentState::Zombie).only_from_active()
    }

    /// Narrows the predecessors to the active states (booting, working,
    /// stalled): a finished agent keeps its terminal state.
    pub fn only_from_active(self) -> Self {
        let active: Vec<AgentState> = AgentState::ALL
            .into_iter()
            .filter(|s| s.is_active())
            .collect();
        self.only_from(&active)
    }

    /// Narrows the predecessors to `states` (intersected with the table; the
    /// table can never be widened). A hook that only promotes `booting` uses
    /// `Transition::to(Working).only_from(&[Booting])`.
    pub fn only_from(mut self, states: &[AgentState]) -> Self {
        self.only_from = Some(states.to_vec());
        self
    }

    /// Also sets `last_activity` to now when the transition applies.
    pub fn touch_activity(mut self) -> Self {
        self.touch_activity = true;
        self
    }

    /// Also resets `escalation_level` to 0 and `stalled_since` to NULL when
    /// the transition applies (recovery from `stalled`).
    pub fn reset_escalation(mut self) -> Self {
        self.reset_escalation = true;
        self
    }

    /// Returns the target state.
    pub fn target(&self) -> AgentState {
        self.target
    }

    /// Returns whether `last_activity` is refreshed.
    pub fn touches_activity(&self) -> bool {
        self.touch_activity
    }

    /// Returns whether escalation is reset.
    pub fn resets_escalation(&self) -> bool {
        self.reset_escalation
    }

    /// Returns the states the guarded `UPDATE` accepts.
    pub fn allowed_predecessors(&self) -> Vec<AgentState> {
        AgentState::predecessors(self.target)
            .into_iter()
            .filter(|s| self.only_from.as_ref().is_none_or(|o| o.contains(s)))
            .collect()
    }
}

/// What a compare-and-swap did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionOutcome {
    /// The state was written (`prev == next` for idempotent self-transitions).
    Applied {
        /// The state the row held before the write.
        prev: AgentState,
        /// The state the row holds now (the requested target).
        next: AgentState,
    },
    /// The row is in a state from which the target is not allowed; nothing
    /// was written. `prev` is the state that blocked it.
    Rejected {
        /// The state that blocked the write.
        prev: AgentState,
        /// The state the caller asked for, which was not written.
        attempted: AgentState,
    },
    /// No session has this agent name.
    NotFound {
        /// The state the caller asked for; nothing was written.
        attempted: AgentState,
    },
}

impl TransitionOutcome {
    /// Returns whether the state was written.
    pub fn applied(&self) -> bool {
        matches!(self, Self::Applied { .. })
    }

    /// Returns the state the row is in afterwards (`None` when not found).
    pub fn current(&self) -> Option<AgentState> {
        match *self {
            Self::Applied { next, .. } => Some(next),
            Self::Rejected { prev, .. } => Some(prev),
            Self::NotFound { .. } => None,
        }
    }

    /// Returns the outcome in the original's JSON shape:
    /// `{ok:true, prev, next}`, `{ok:false, reason:"illegal_transition", prev, attempted}`
    /// or `{ok:false, reason:"not_found", attempted}`.
    pub fn to_json(&self) -> serde_json::Value {
        match *self {
            Self::Applied { prev, next } => {
                serde_json::json!({"ok": true, "prev": prev, "next": next})
            }
            Self::Rejected { prev, attempted } => serde_json::json!({
                "ok": false, "reason": "illegal_transition", "prev": prev, "attempted": attempted
            }),
            Self::NotFound { attempted } => {
                serde_json::json!({"ok": false, "reason": "not_found", "attempted": attempted})
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AgentState::*;

    #[test]
    fn matrix_matches_the_spec_table() {
        let ok = |a: AgentState, b: AgentState| a.can_transition_to(b);
        for s in AgentState::ALL {
            assert!(!ok(s, Booting), "nothing enters booting ({s})");
        }
        assert!(ok(Booting, Working) && ok(Working, Working) && ok(Stalled, Working));
        assert!(!ok(Zombie, Working) && !ok(Completed, Working));
        assert!(ok(Zombie, Completed) && ok(Zombie, Zombie));
        assert!(!ok(Completed, Zombie) && !ok(Completed, Stalled) && ok(Completed, Completed));
        assert!(!ok(Zombie, Stalled));
    }

    #[test]
    fn predecessors_of_targets() {
        assert_eq!(
            AgentState::predecessors(Working),
            [Booting, Working, Stalled]
        );
        assert_eq!(
            AgentState::predecessors(Completed),
            [Booting, Working, Stalled, Completed, Zombie]
        );
        assert_eq!(
            AgentState::predecessors(Zombie),
            [Booting, Working, Stalled, Zombie]
        );
        assert!(AgentState::predecessors(Booting).is_empty());
        // A dead process never turns a finished agent into a zombie.
        assert_eq!(
            Transition::died().allowed_predecessors(),
            [Booting, Working, Stalled]
        );
    }

    #[test]
    fn narrowing_never_widens_the_table() {
        let t = Transition::to(Working).only_from(&[Booting, Completed]);
        assert_eq!(t.allowed_predecessors(), [Booting]);
    }
}
