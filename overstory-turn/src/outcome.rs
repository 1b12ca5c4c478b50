//! How a finished turn settles the agent's state: the decision table.
//!
//! Pure logic, no I/O, so every row of the table is unit-tested here. The
//! runner gathers [`TurnFacts`] and writes [`Settlement::final_state`]
//! through the sessions compare-and-swap, which may still reject it (a
//! `completed` agent stays `completed`).

use overstory_sessions::AgentState;

/// What the runner observed during a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TurnFacts {
    /// An operator abort fired.
    pub aborted: bool,
    /// The stall watchdog fired.
    pub stall_aborted: bool,
    /// The last `result` event was not an error.
    pub clean_result: bool,
    /// The agent sent one of its capability's terminal mail types this turn.
    pub terminal_mail_observed: bool,
    /// At least one event was parsed.
    pub observed_any_event: bool,
    /// The agent still waits on something: live children, unread mail or
    /// dispatched work nobody has picked up; such an agent ends a clean turn
    /// without terminal mail as `working`, not `completed`.
    pub outstanding_work: bool,
}

/// Why an agent that ended its turn is being reported to its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeathReason {
    /// The operator aborted the turn.
    Aborted,
    /// The parser saw no event within the stall timeout.
    Stalled,
    /// The turn ended cleanly, nothing is outstanding, and no terminal mail came.
    CleanWithoutTerminalMail,
}

/// What the runner does with a finished turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    /// The state to write.
    pub final_state: AgentState,
    /// Clean result, no terminal mail, not aborted (reported whether or not
    /// the agent is waiting).
    pub terminal_mail_missing: bool,
    /// The agent is idle between turns, waiting on outstanding work.
    pub waiting: bool,
    /// When set, the parent gets a `worker_died` mail for this reason.
    pub notify_parent: Option<DeathReason>,
}

/// Applies the decision table, first matching row wins:
///
/// | # | condition | final state |
/// |---|---|---|
/// | 1 | aborted or stalled | `zombie` |
/// | 2 | clean result and terminal mail | `completed` |
/// | 3 | clean, no terminal mail, work outstanding | `working` (waiting) |
/// | 4 | clean, no terminal mail, nothing outstanding | `completed` (contract violation) |
/// | 5 | any event observed | `working` |
/// | 6 | otherwise | `initial` (unchanged) |
pub fn settle(initial: AgentState, f: &TurnFacts) -> Settlement {
    let terminal_mail_missing =
        f.clean_result && !f.terminal_mail_observed && !f.aborted && !f.stall_aborted;
    let (final_state, waiting, notify_parent) = if f.aborted {
        (AgentState::Zombie, false, Some(DeathReason::Aborted))
    } else if f.stall_aborted {
        (AgentState::Zombie, false, Some(DeathReason::Stalled))
    } else if f.clean_result && f.terminal_mail_observed {
        (AgentState::Completed, false, None)
    } else if terminal_mail_missing && f.outstanding_work {
        (AgentState::Working, true, None)
    } else if terminal_mail_missing {
        (
            AgentState::Completed,
            false,
            Some(DeathReason::CleanWithoutTerminalMail),
        )
    } else if f.observed_any_event {
        (AgentState::Working, false, None)
    } else {
        (initial, false, None)
    };
    Settlement {
        final_state,
        terminal_mail_missing,
        waiting,
        notify_parent,
    }
}

/// Returns the `reason` text of a `worker_died` mail.
pub fn death_reason_text(reason: DeathReason, terminal_types: &[&str]) -> String {
    match reason {
        DeathReason::Aborted => "Aborted by operator (SIGTERM)".into(),
        DeathReason::Stalled => "Parser stalled (no events within timeout)".into(),
        DeathReason::CleanWithoutTerminalMail => format!(
            "Clean exit without terminal mail (expected {})",
            expected_types(terminal_types)
        ),
    }
}

/// Joins terminal types with `|`, or `<none>` when there are none.
pub fn expected_types(terminal_types: &[&str]) -> String {
    if terminal_types.is_empty() {
        "<none>".into()
    } else {
        terminal_types.join("|")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AgentState::*;

    fn facts() -> TurnFacts {
        TurnFacts::default()
    }

    #[test]
    fn abort_and_stall_make_a_zombie_whatever_else_happened() {
        for f in [
            TurnFacts {
                aborted: true,
                clean_result: true,
                terminal_mail_observed: true,
                ..facts()
            },
            TurnFacts {
                stall_aborted: true,
                observed_any_event: true,
                ..facts()
            },
        ] {
            let s = settle(Working, &f);
            assert_eq!(s.final_state, Zombie);
            assert!(!s.terminal_mail_missing);
            assert!(s.notify_parent.is_some());
        }
        let s = settle(
            Booting,
            &TurnFacts {
                aborted: true,
                stall_aborted: true,
                ..facts()
            },
        );
        assert_eq!(
            s.notify_parent,
            Some(DeathReason::Aborted),
            "abort wins over stall"
        );
    }

    #[test]
    fn clean_with_terminal_mail_completes_without_notifying() {
        let s = settle(
            Booting,
            &TurnFacts {
                clean_result: true,
                terminal_mail_observed: true,
                observed_any_event: true,
                ..facts()
            },
        );
        assert_eq!(s.final_state, Completed);
        assert_eq!(s.notify_parent, None);
        assert!(!s.terminal_mail_missing);
    }

    #[test]
    fn clean_without_terminal_mail_and_nothing_outstanding_is_a_contract_violation() {
        let s = settle(
            Working,
            &TurnFacts {
                clean_result: true,
                observed_any_event: true,
                ..facts()
            },
        );
        assert_eq!(s.final_state, Completed);
        assert!(s.terminal_mail_missing);
        assert!(!s.waiting);
        assert_eq!(s.notify_parent, Some(DeathReason::CleanWithoutTerminalMail));
    }

    #[test]
    fn waiting_is_not_finishing() {
        let s = settle(
            Working,
            &TurnFacts {
                clean_result: true,
                observed_any_event: true,
                outstanding_work: true,
                ..facts()
            },
        );
        assert_eq!(s.final_state, Working);
        assert!(s.waiting);
        assert!(s.terminal_mail_missing, "still reported as a diagnostic");
        assert_eq!(s.notify_parent, None);
    }

    #[test]
    fn unclean_turn_with_events_keeps_working() {
        let s = settle(
            Booting,
            &TurnFacts {
                observed_any_event: true,
                terminal_mail_observed: true,
                ..facts()
            },
        );
        assert_eq!(
            s.final_state, Working,
            "terminal mail needs a clean result to count"
        );
        assert_eq!(s.notify_parent, None);
    }

    #[test]
    fn no_events_leaves_the_state_alone() {
        for initial in [Booting, Working, Stalled, Zombie, Completed] {
            assert_eq!(settle(initial, &facts()).final_state, initial);
        }
    }

    #[test]
    fn reasons_read_as_the_original() {
        assert_eq!(
            death_reason_text(DeathReason::Aborted, &[]),
            "Aborted by operator (SIGTERM)"
        );
        assert!(death_reason_text(DeathReason::Stalled, &[]).contains("stalled"));
        assert_eq!(
            death_reason_text(
                DeathReason::CleanWithoutTerminalMail,
                &["worker_done", "result"]
            ),
            "Clean exit without terminal mail (expected worker_done|result)"
        );
        assert_eq!(expected_types(&[]), "<none>");
    }
}
