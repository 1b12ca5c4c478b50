//! The CAS matrix, races and tmux clearing .

use AgentState::*;
use overstory_sessions::{AgentState, SessionStore, Transition, TransitionOutcome};

use crate::support::{Project, booting, with_state};

fn at(store: &mut SessionStore, state: AgentState) {
    store
        .upsert(&with_state(booting("a", "2026-01-01T00:00:00.000Z"), state))
        .unwrap();
}

fn go(store: &mut SessionStore, to: AgentState) -> TransitionOutcome {
    store.transition("a", &Transition::to(to)).unwrap()
}

#[test]
fn every_cell_of_the_matrix_is_enforced_by_the_database() {
    let p = Project::new();
    let mut store = p.sessions();
    for from in AgentState::ALL {
        for to in AgentState::ALL {
            at(&mut store, from);
            let o = go(&mut store, to);
            let after = store.get("a").unwrap().unwrap().state;
            if from.can_transition_to(to) {
                assert_eq!(
                    o,
                    TransitionOutcome::Applied {
                        prev: from,
                        next: to
                    },
                    "{from}->{to}"
                );
                assert_eq!(after, to);
            } else {
                assert_eq!(
                    o,
                    TransitionOutcome::Rejected {
                        prev: from,
                        attempted: to
                    },
                    "{from}->{to}"
                );
                assert_eq!(after, from);
            }
        }
    }
}

#[test]
fn booting_to_working_applies() {
    let p = Project::new();
    let mut store = p.sessions();
    at(&mut store, Booting);
    assert_eq!(
        go(&mut store, Working),
        TransitionOutcome::Applied {
            prev: Booting,
            next: Working
        }
    );
}

#[test]
fn completed_rejects_zombie_and_working_reporting_completed() {
    let p = Project::new();
    let mut store = p.sessions();
    at(&mut store, Completed);
    for to in [Zombie, Working] {
        assert_eq!(
            go(&mut store, to),
            TransitionOutcome::Rejected {
                prev: Completed,
                attempted: to
            }
        );
    }
    assert_eq!(
        go(&mut store, Completed).to_json(),
        serde_json::json!({"ok": true, "prev": "completed", "next": "completed"})
    );
}

#[test]
fn zombie_rejects_working_but_promotes_to_completed() {
    let p = Project::new();
    let mut store = p.sessions();
    at(&mut store, Zombie);
    assert!(!go(&mut store, Working).applied());
    assert!(go(&mut store, Completed).applied());
}

#[test]
fn nothing_enters_booting() {
    let p = Project::new();
    let mut store = p.sessions();
    for from in AgentState::ALL {
        at(&mut store, from);
        assert_eq!(
            go(&mut store, Booting).to_json()["reason"],
            "illegal_transition",
            "from {from}"
        );
    }
}

#[test]
fn unknown_agent_is_not_found() {
    let p = Project::new();
    let mut store = p.sessions();
    let o = store.transition("ghost", &Transition::to(Working)).unwrap();
    assert_eq!(o, TransitionOutcome::NotFound { attempted: Working });
    assert_eq!(o.to_json()["reason"], "not_found");
}

#[test]
fn stop_completed_survives_a_later_watchdog_zombie() {
    let p = Project::new();
    let mut stop = p.sessions();
    let mut watchdog = p.sessions();
    at(&mut stop, Working);
    assert!(
        stop.transition("a", &Transition::to(Completed))
            .unwrap()
            .applied()
    );
    let o = watchdog.transition("a", &Transition::to(Zombie)).unwrap();
    assert_eq!(
        o,
        TransitionOutcome::Rejected {
            prev: Completed,
            attempted: Zombie
        }
    );
    assert_eq!(stop.get("a").unwrap().unwrap().state, Completed);
}

#[test]
fn watchdog_zombie_survives_a_later_turn_runner_working() {
    let p = Project::new();
    let mut watchdog = p.sessions();
    let mut runner = p.sessions();
    at(&mut watchdog, Working);
    assert!(
        watchdog
            .transition("a", &Transition::to(Zombie))
            .unwrap()
            .applied()
    );
    assert!(
        !runner
            .transition("a", &Transition::to(Working))
            .unwrap()
            .applied()
    );
    assert_eq!(runner.get("a").unwrap().unwrap().state, Zombie);
}

#[test]
fn terminal_writes_clear_tmux_and_others_keep_it() {
    let p = Project::new();
    let mut store = p.sessions();
    for (from, to, cleared) in [
        (Booting, Working, false),
        (Working, Stalled, false),
        (Working, Completed, true),
        (Stalled, Zombie, true),
        (Completed, Zombie, false), // rejected: left as is
    ] {
        let mut s = with_state(booting("a", "2026-01-01T00:00:00.000Z"), from);
        s.tmux_session = "overstory-a".into();
        store.upsert(&s).unwrap();
        go(&mut store, to);
        let tmux = store.get("a").unwrap().unwrap().tmux_session;
        assert_eq!(tmux.is_empty(), cleared, "{from}->{to}");
    }
}

#[test]
fn narrowed_transition_only_promotes_listed_states() {
    let p = Project::new();
    let mut store = p.sessions();
    at(&mut store, Working);
    let t = Transition::to(Working).only_from(&[Booting]);
    assert_eq!(
        store.transition("a", &t).unwrap(),
        TransitionOutcome::Rejected {
            prev: Working,
            attempted: Working
        }
    );
}

/// The turn runner writes its final state only when it differs from the
/// initial one; the CAS then yields the runner's combined table of final
/// states.
#[test]
fn turn_runner_final_state_table_holds() {
    let p = Project::new();
    let mut store = p.sessions();
    // Outcome targets: abort/stall, clean(+/-terminal), unclean with events, no events.
    let outcomes = [Some(Zombie), Some(Completed), Some(Working), None];
    let expected = [
        (Booting, [Zombie, Completed, Working, Booting]),
        (Working, [Zombie, Completed, Working, Working]),
        (Stalled, [Zombie, Completed, Working, Stalled]),
        (Zombie, [Zombie, Completed, Zombie, Zombie]),
        (Completed, [Completed, Completed, Completed, Completed]),
    ];
    for (initial, finals) in expected {
        for (outcome, want) in outcomes.iter().zip(finals) {
            at(&mut store, initial);
            if let Some(target) = outcome
                && *target != initial
            {
                store.transition("a", &Transition::to(*target)).unwrap();
            }
            let got = store.get("a").unwrap().unwrap().state;
            assert_eq!(got, want, "initial {initial}, outcome {outcome:?}");
        }
    }
}
