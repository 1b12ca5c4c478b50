//! Watchdog ticks over real session, mail and event stores, real process
//! groups, and the daemon lock.

use std::time::Duration;

use overstory_core::events::{EventFilter, EventStore};
use overstory_core::{AgentName, Capability, Config, Layout, clock, process};
use overstory_fleet::watchdog::{
    DaemonLock, HealthAction, TickReport, WatchdogMemory, WatchdogOptions, running_pid, tick,
};
use overstory_mail::{ListFilter, MailStore, MessageType};
use overstory_sessions::{AgentState, Session, SessionStore};
use overstory_testkit::{TempRepo, wait_until};

struct Project {
    _repo: TempRepo,
    layout: Layout,
    config: Config,
}

fn project() -> Project {
    let repo = TempRepo::new();
    let layout = Layout::new(repo.path());
    std::fs::create_dir_all(layout.agents_dir()).unwrap();
    std::fs::write(layout.config(), "project:\n  name: t\n").unwrap();
    let config = Config::defaults_for(repo.path());
    Project {
        _repo: repo,
        layout,
        config,
    }
}

fn put(p: &Project, name: &str, state: AgentState, idle_ms: i64) -> Session {
    let mut s = Session::new(name.parse().unwrap(), Capability::Builder);
    s.state = state;
    s.parent_agent = Some("lead-1".parse().unwrap());
    s.task_id = Some("task-w".parse().unwrap());
    s.last_activity = clock::format_millis(clock::now_millis() - idle_ms);
    SessionStore::open(&p.layout.sessions_db())
        .unwrap()
        .upsert(&s)
        .unwrap();
    s
}

fn get(p: &Project, name: &str) -> Session {
    SessionStore::open(&p.layout.sessions_db())
        .unwrap()
        .get(name)
        .unwrap()
        .unwrap()
}

fn opts() -> WatchdogOptions {
    let mut o = WatchdogOptions::from_config(&Config::defaults_for("/"), Some("/bin/true".into()));
    o.kill_grace = Duration::from_millis(300);
    o
}

fn run(p: &Project, o: &WatchdogOptions, m: &mut WatchdogMemory) -> TickReport {
    let r = tick(&p.layout, &p.config, o, m).unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    r
}

fn worker_died_mail(p: &Project) -> Vec<overstory_mail::MailMessage> {
    MailStore::open(p.layout.mail_db())
        .unwrap()
        .list(&ListFilter {
            to: Some("lead-1".into()),
            kind: Some(MessageType::WorkerDied),
            ..ListFilter::default()
        })
        .unwrap()
}

const MIN: i64 = 60_000;

#[test]
fn an_empty_project_ticks_to_nothing() {
    let p = project();
    let r = tick(
        &p.layout,
        &p.config,
        &opts(),
        &mut WatchdogMemory::default(),
    )
    .unwrap();
    assert!(r.checks.is_empty() && r.changes.is_empty());
}

#[test]
fn a_healthy_agent_is_left_as_it_is() {
    let p = project();
    put(&p, "builder-1", AgentState::Working, 1_000);
    let r = run(&p, &opts(), &mut WatchdogMemory::default());
    assert_eq!(r.checks.len(), 1);
    assert_eq!(r.checks[0].action, HealthAction::None);
    assert!(r.changes.is_empty());
    assert_eq!(get(&p, "builder-1").state, AgentState::Working);
}

#[test]
fn a_stale_agent_is_stalled_then_nudged_once_with_a_queued_turn() {
    let p = project();
    put(&p, "builder-1", AgentState::Working, 6 * MIN);
    let o = opts();
    let mut m = WatchdogMemory::default();

    let first = run(&p, &o, &mut m);
    let row = get(&p, "builder-1");
    assert_eq!(row.state, AgentState::Stalled);
    assert_eq!(row.escalation_level, 0);
    assert!(row.stalled_since.is_some());
    assert_eq!(first.escalations[0].action, "warn");
    assert_eq!(first.changes.len(), 1, "one state change, recorded");

    // One nudge interval later: level 1, a nudge queued as the next turn.
    let mut later = o.clone();
    later.now_ms = Some(clock::now_millis() + 61_000);
    let second = run(&p, &later, &mut m);
    assert_eq!(get(&p, "builder-1").escalation_level, 1);
    let nudges = second
        .escalations
        .iter()
        .filter(|e| e.action == "nudge")
        .count();
    assert_eq!(nudges, 1);
    let agent = AgentName::new("builder-1").unwrap();
    let queued = overstory_turn::queue::queued_turns(&p.layout, &agent);
    assert_eq!(queued.len(), 1);
    assert!(queued[0].1.contains("WATCHDOG"), "{}", queued[0].1);

    // The same level again: no second nudge.
    let third = run(&p, &later, &mut m);
    assert!(third.escalations.is_empty());
    assert_eq!(
        overstory_turn::queue::queued_turns(&p.layout, &agent).len(),
        1
    );

    // The nudge's own event is not the agent's activity: still stalled at
    // level 2, and at the terminal level (3) it is terminated.
    let at = |ms: i64| {
        let mut o = o.clone();
        o.now_ms = Some(clock::now_millis() + ms);
        o
    };
    let fourth = run(&p, &at(121_000), &mut m);
    assert!(fourth.changes.is_empty(), "{:?}", fourth.changes);
    assert_eq!(get(&p, "builder-1").escalation_level, 2);
    let fifth = run(&p, &at(181_000), &mut m);
    assert_eq!(get(&p, "builder-1").state, AgentState::Zombie);
    assert_eq!(fifth.worker_died, vec!["builder-1".to_owned()]);
}

#[test]
fn a_recovered_agent_goes_back_to_working_with_its_escalation_reset() {
    let p = project();
    put(&p, "builder-1", AgentState::Working, 6 * MIN);
    let mut m = WatchdogMemory::default();
    run(&p, &opts(), &mut m);
    assert_eq!(get(&p, "builder-1").state, AgentState::Stalled);
    SessionStore::open(&p.layout.sessions_db())
        .unwrap()
        .touch("builder-1")
        .unwrap();

    let r = run(&p, &opts(), &mut m);

    let row = get(&p, "builder-1");
    assert_eq!(row.state, AgentState::Working);
    assert_eq!((row.escalation_level, row.stalled_since), (0, None));
    assert_eq!(r.changes[0].to, AgentState::Working);
}

#[test]
fn past_the_zombie_threshold_the_parent_hears_of_it_exactly_once() {
    let p = project();
    put(&p, "builder-1", AgentState::Working, 11 * MIN);
    let mut m = WatchdogMemory::default();

    let r = run(&p, &opts(), &mut m);
    assert_eq!(get(&p, "builder-1").state, AgentState::Zombie);
    assert_eq!(r.worker_died, vec!["builder-1".to_owned()]);
    let again = run(&p, &opts(), &mut m);
    assert!(again.worker_died.is_empty() && again.changes.is_empty());

    let mail = worker_died_mail(&p);
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].subject, "[WATCHDOG] worker_died: builder-1");
    assert_eq!(mail[0].priority, overstory_mail::Priority::High);
    let payload = mail[0].parse_payload().unwrap();
    assert_eq!(payload["agentName"], "builder-1");
    assert_eq!(payload["capability"], "builder");
    assert_eq!(payload["taskId"], "task-w");
    assert_eq!(payload["terminatedBy"], "tier0");
    assert!(payload["reason"].as_str().is_some() && payload["lastActivity"].as_str().is_some());
    // The state change is an event.
    let events = EventStore::open(&p.layout.events_db())
        .unwrap()
        .by_agent("builder-1", &EventFilter::default())
        .unwrap();
    assert!(events.iter().any(|e| {
        e.data
            .as_deref()
            .is_some_and(|d| d.contains("state_change"))
    }));
}

#[test]
fn no_worker_died_when_notify_parent_on_death_is_off() {
    let p = project();
    put(&p, "builder-1", AgentState::Working, 11 * MIN);
    let mut o = opts();
    o.notify_parent_on_death = false;
    run(&p, &o, &mut WatchdogMemory::default());
    assert_eq!(get(&p, "builder-1").state, AgentState::Zombie);
    assert!(worker_died_mail(&p).is_empty());
}

#[test]
fn a_zombie_turn_is_killed_by_its_process_group() {
    let p = project();
    put(&p, "builder-1", AgentState::Working, 11 * MIN);
    let agent = AgentName::new("builder-1").unwrap();
    let mut group = process::command("sh")
        .args(["-c", "sleep 300 & sleep 300 & wait"])
        .env("OVERSTORY_AGENT_NAME", "builder-1")
        .spawn()
        .unwrap();
    let pgid = group.id() as i32;
    process::write_pid_file(&p.layout.agent_turn_pid(&agent), group.id()).unwrap();
    wait_until(Duration::from_secs(5), "the group runs", || {
        process::group_members(pgid).len() >= 3
    });
    // A turn lock held by this test stands for a live runner.
    let _runner = overstory_turn::lock::try_acquire(&p.layout, &agent)
        .unwrap()
        .unwrap();

    let r = run(&p, &opts(), &mut WatchdogMemory::default());

    assert_eq!(r.killed, vec!["builder-1".to_owned()]);
    group.wait().unwrap();
    wait_until(Duration::from_secs(5), "the group is gone", || {
        !process::is_group_alive(pgid)
    });
    assert_eq!(get(&p, "builder-1").state, AgentState::Zombie);
}

/// Found by the soak: a dispatcher that read the row before the watchdog
/// made it zombie starts a turn after; the next tick ends that turn
/// (and says nothing more to the parent).
#[test]
fn a_turn_running_for_a_zombie_is_ended_without_a_second_worker_died() {
    let p = project();
    put(&p, "builder-1", AgentState::Zombie, 11 * MIN);
    let agent = AgentName::new("builder-1").unwrap();
    let mut group = process::command("sh")
        .args(["-c", "sleep 300 & wait"])
        .env("OVERSTORY_AGENT_NAME", "builder-1")
        .spawn()
        .unwrap();
    let pgid = group.id() as i32;
    process::write_pid_file(&p.layout.agent_turn_pid(&agent), group.id()).unwrap();
    wait_until(Duration::from_secs(5), "the group runs", || {
        process::group_members(pgid).len() >= 2
    });
    let _runner = overstory_turn::lock::try_acquire(&p.layout, &agent)
        .unwrap()
        .unwrap();

    let r = run(&p, &opts(), &mut WatchdogMemory::default());

    assert_eq!(r.killed, vec!["builder-1".to_owned()]);
    group.wait().unwrap();
    wait_until(Duration::from_secs(5), "the group is gone", || {
        !process::is_group_alive(pgid)
    });
    assert_eq!(get(&p, "builder-1").state, AgentState::Zombie);
    assert!(r.worker_died.is_empty());
    assert!(worker_died_mail(&p).is_empty());
}

#[test]
fn a_headless_agent_whose_pid_died_is_zombie_or_completed_by_age() {
    let p = project();
    let mut dead = process::command("true").spawn().unwrap();
    let pid = i64::from(dead.id());
    dead.wait().unwrap();
    for (name, idle) in [("builder-fresh", 1_000), ("builder-quiet", 6 * MIN)] {
        let mut s = put(&p, name, AgentState::Working, idle);
        s.pid = Some(pid);
        SessionStore::open(&p.layout.sessions_db())
            .unwrap()
            .upsert(&s)
            .unwrap();
    }
    run(&p, &opts(), &mut WatchdogMemory::default());
    assert_eq!(get(&p, "builder-fresh").state, AgentState::Zombie);
    assert_eq!(get(&p, "builder-quiet").state, AgentState::Completed);
}

#[test]
fn a_missing_current_run_is_said_once() {
    let p = project();
    put(&p, "builder-1", AgentState::Completed, 0);
    let mut m = WatchdogMemory::default();
    let first = run(&p, &opts(), &mut m);
    let second = run(&p, &opts(), &mut m);
    assert_eq!(first.warnings.len(), 1, "{:?}", first.warnings);
    assert!(second.warnings.is_empty());
}

#[test]
fn one_daemon_per_project_and_a_killed_ones_pid_file_does_not_block() {
    let p = project();
    let lock = DaemonLock::try_acquire(&p.layout).unwrap().unwrap();
    let me = std::process::id() as i32;
    assert_eq!(process::read_pid_file(&p.layout.watchdog_pid()), Some(me));
    assert_eq!(running_pid(&p.layout), Some(me));
    assert_eq!(
        DaemonLock::try_acquire(&p.layout).unwrap().unwrap_err(),
        Some(me)
    );
    drop(lock);
    assert!(
        !p.layout.watchdog_pid().exists(),
        "the pid file goes with it"
    );
    assert_eq!(running_pid(&p.layout), None);
    // A daemon killed -9 leaves its pid file; the next start takes over.
    process::write_pid_file(&p.layout.watchdog_pid(), 999_999).unwrap();
    let again = DaemonLock::try_acquire(&p.layout).unwrap().unwrap();
    assert_eq!(process::read_pid_file(&p.layout.watchdog_pid()), Some(me));
    drop(again);
}

/// A stalled agent due for escalation level 2, with some history, and an
/// `ov` whose print mode (the scripted runtime's) runs `body`.
fn due_for_triage(p: &mut Project, body: &str) -> WatchdogOptions {
    let mut s = put(p, "builder-1", AgentState::Stalled, 9 * MIN);
    s.escalation_level = 1;
    s.stalled_since = Some(clock::format_millis(clock::now_millis() - 150_000));
    SessionStore::open(&p.layout.sessions_db())
        .unwrap()
        .upsert(&s)
        .unwrap();
    let old = clock::format_millis(clock::now_millis() - 9 * MIN);
    EventStore::open(&p.layout.events_db())
        .unwrap()
        .insert(
            &overstory_core::events::NewEvent::new(
                "builder-1",
                overstory_core::events::EventType::ToolStart,
            )
            .at(old),
        )
        .unwrap();
    let fake = p.layout.dir().join("fake-ov");
    std::fs::write(&fake, format!("#!/bin/sh\n{body}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.config.runtime.print_command = Some("scripted".into());
    let mut o = opts();
    o.ov_program = Some(fake);
    o.tier1_enabled = true;
    o.triage_timeout = Duration::from_millis(500);
    o.reconcile = false;
    o
}

#[test]
fn triage_terminate_kills_and_reports_tier1() {
    let mut p = project();
    let o = due_for_triage(&mut p, "echo terminate");
    let r = run(&p, &o, &mut WatchdogMemory::default());
    assert_eq!(r.escalations[0].action, "triage:terminate", "{r:?}");
    assert_eq!(get(&p, "builder-1").state, AgentState::Zombie);
    let mail = worker_died_mail(&p);
    assert_eq!(mail[0].parse_payload().unwrap()["terminatedBy"], "tier1");
}

#[test]
fn a_triage_that_times_out_extends_and_leaves_no_process() {
    let mut p = project();
    let marker = p.layout.dir().join("triage.pid");
    let o = due_for_triage(
        &mut p,
        &format!("echo $$ > '{}'; exec sleep 30", marker.display()),
    );
    let r = run(&p, &o, &mut WatchdogMemory::default());
    assert_eq!(r.escalations[0].action, "triage:extend", "{r:?}");
    let row = get(&p, "builder-1");
    assert_eq!(row.state, AgentState::Stalled);
    assert_eq!(
        row.escalation_level, 1,
        "extend moves the stall clock back a level"
    );
    let pid = process::read_pid_file(&marker).unwrap();
    assert!(!process::is_alive(pid), "the timed-out triage is killed");
}

#[test]
fn an_answer_that_is_not_one_exact_word_is_no_verdict() {
    let mut p = project();
    let o = due_for_triage(&mut p, "echo unrecoverable");
    let r = run(&p, &o, &mut WatchdogMemory::default());
    assert_eq!(r.escalations[0].action, "triage:extend");
    assert_eq!(get(&p, "builder-1").state, AgentState::Stalled);
}

fn mail_now(p: &Project, from: &str, to: &str, kind: MessageType) {
    MailStore::open(p.layout.mail_db())
        .unwrap()
        .insert(&overstory_mail::NewMessage {
            from: from.into(),
            to: to.into(),
            subject: "s".into(),
            body: "b".into(),
            kind,
            ..overstory_mail::NewMessage::default()
        })
        .unwrap();
}

#[test]
fn an_unanswered_decision_gate_exempts_a_quiet_agent_until_it_is_answered() {
    let p = project();
    put(&p, "builder-1", AgentState::Working, 6 * MIN);
    mail_now(&p, "builder-1", "lead-1", MessageType::DecisionGate);
    let mut m = WatchdogMemory::default();

    run(&p, &opts(), &mut m);
    assert_eq!(
        get(&p, "builder-1").state,
        AgentState::Working,
        "waiting on a decision"
    );

    // Answered: the exemption ends.
    mail_now(&p, "lead-1", "builder-1", MessageType::Status);
    run(&p, &opts(), &mut m);
    assert_eq!(get(&p, "builder-1").state, AgentState::Stalled);
}

#[test]
fn a_finished_run_is_marked_notified_only_once_the_coordinator_was_told() {
    let p = project();
    let mut s = put(&p, "builder-1", AgentState::Completed, 0);
    let run_id = "run-2026-01-01T00-00-00-000Z";
    s.run_id = Some(run_id.into());
    SessionStore::open(&p.layout.sessions_db())
        .unwrap()
        .upsert(&s)
        .unwrap();
    overstory_sessions::RunStore::open(&p.layout.sessions_db())
        .unwrap()
        .create(&overstory_sessions::NewRun {
            id: run_id.into(),
            started_at: clock::now_rfc3339(),
            coordinator_session_id: None,
            coordinator_name: None,
            status: overstory_sessions::RunStatus::Active,
        })
        .unwrap();
    overstory_sessions::write_current_run(&p.layout, run_id).unwrap();

    // No coordinator to tell: the event is recorded, the marker is not.
    let r = run(&p, &opts(), &mut WatchdogMemory::default());

    assert!(r.run_complete.is_none());
    assert!(!p.layout.run_complete_notified().exists());
    let events = EventStore::open(&p.layout.events_db())
        .unwrap()
        .by_agent("watchdog", &EventFilter::default())
        .unwrap();
    let data = events[0].data.clone().unwrap();
    assert!(
        data.contains("\"run_complete\"") && data.contains("\"phase\":\"builder\""),
        "{data}"
    );
}

/// A headless lead between turns with a child still at work is waiting, not
/// dead: it is neither stalled nor terminated however long it has been
/// quiet; once its children are done, the usual rules apply again. (The
/// 100-agent soak found leads declared dead while their builders ran.)
#[test]
fn a_headless_parent_waiting_on_an_active_child_is_not_stalled_or_killed() {
    let p = project();
    // lead-1 idle past the zombie threshold; its child working (and fresh).
    let mut lead = Session::new("lead-1".parse().unwrap(), Capability::Lead);
    lead.state = AgentState::Working;
    lead.task_id = Some("task-l".parse().unwrap());
    lead.last_activity = clock::format_millis(clock::now_millis() - 11 * MIN);
    SessionStore::open(&p.layout.sessions_db())
        .unwrap()
        .upsert(&lead)
        .unwrap();
    put(&p, "builder-1", AgentState::Working, 0);
    let mut m = WatchdogMemory::default();
    let r = run(&p, &opts(), &mut m);
    assert_eq!(get(&p, "lead-1").state, AgentState::Working, "{r:?}");
    assert!(r.worker_died.is_empty());

    // The child finishes: now the quiet lead is judged by the time rules.
    SessionStore::open(&p.layout.sessions_db())
        .unwrap()
        .transition(
            "builder-1",
            &overstory_sessions::Transition::to(AgentState::Completed),
        )
        .unwrap();
    run(&p, &opts(), &mut m);
    assert_eq!(get(&p, "lead-1").state, AgentState::Zombie);
}
