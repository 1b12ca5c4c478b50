//! The reconciler against what killed processes really leave: real git
//! worktrees and branches, real process groups, real pid files.

use std::time::Duration;

use overstory_core::init::{InitOptions, init};
use overstory_core::{AgentName, Config, Layout, process};
use overstory_fleet::reconcile::{ActionKind, ReconcileOptions, SlingMarker, reconcile};
use overstory_fleet::{FleetError, SlingRequest, sling};
use overstory_mail::{MailStore, MessageType, NewMessage};
use overstory_sessions::{AgentState, RunMode, SessionStore};
use overstory_testkit::{TempRepo, wait_until};

struct Project {
    repo: TempRepo,
    layout: Layout,
    config: Config,
}

fn project() -> Project {
    let repo = TempRepo::new();
    let root = repo.path().canonicalize().unwrap();
    init(&root, &InitOptions::default()).unwrap();
    let layout = Layout::new(&root);
    let config = Config::load(&root).unwrap().config;
    Project {
        repo,
        layout,
        config,
    }
}

fn request(p: &Project, name: &str, ov: &str) -> SlingRequest {
    let mut req = SlingRequest::new(
        p.layout.clone(),
        p.config.clone(),
        "task-r".parse().unwrap(),
        ov.into(),
    );
    req.name = Some(name.parse().unwrap());
    req.runtime = Some("scripted".into());
    req.force_hierarchy = true;
    req
}

/// A marker for `session_id` naming a process that has exited.
fn dead_marker(session_id: &str) -> SlingMarker {
    let mut child = process::command("sleep").arg("30").spawn().unwrap();
    let pid = child.id() as i32;
    let start_time = process::start_time(pid).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    SlingMarker {
        pid,
        start_time,
        session_id: session_id.to_owned(),
    }
}

fn row(p: &Project, name: &str) -> Option<overstory_sessions::Session> {
    SessionStore::open(&p.layout.sessions_db())
        .unwrap()
        .get(name)
        .unwrap()
}

/// Leaves what a sling killed after set-up leaves: the `booting` row, the
/// worktree, the branch, queued turn, dispatch mail, and its marker.
fn killed_sling(p: &Project, name: &str) -> overstory_sessions::Session {
    let report = sling(&request(p, name, "/bin/true")).unwrap();
    let s = row(p, name).unwrap();
    assert_eq!(s.state, AgentState::Booting);
    dead_marker(&report.session_id)
        .write(&p.layout, &s.agent_name)
        .unwrap();
    s
}

#[test]
fn a_sling_that_died_does_not_block_the_next_sling_of_its_name() {
    let p = project();
    let first = killed_sling(&p, "builder-r");
    assert!(std::path::Path::new(&first.worktree_path).is_dir());

    let again = sling(&request(&p, "builder-r", "/bin/true")).unwrap();

    assert_ne!(again.session_id, first.id, "a new session took the name");
    assert_eq!(row(&p, "builder-r").unwrap().id, again.session_id);
    assert!(std::path::Path::new(&again.worktree).is_dir());
    assert!(
        SlingMarker::read(&p.layout, &first.agent_name).is_none(),
        "a finished sling leaves no marker"
    );
}

#[test]
fn a_booting_row_without_a_dead_sling_still_blocks_its_name() {
    let p = project();
    sling(&request(&p, "builder-r", "/bin/true")).unwrap();
    let err = sling(&request(&p, "builder-r", "/bin/true")).unwrap_err();
    assert!(
        matches!(err, FleetError::NameInUse { ref state, .. } if *state == AgentState::Booting),
        "{err}"
    );
}

#[test]
fn rolling_back_a_dead_sling_removes_what_it_made_but_never_commits() {
    let p = project();
    let s = killed_sling(&p, "builder-r");
    // The agent had committed work on its branch before its sling died.
    let wt = std::path::Path::new(&s.worktree_path);
    std::fs::write(wt.join("work.txt"), "work\n").unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(wt)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    git(&["add", "work.txt"]);
    git(&[
        "-c",
        "user.email=a@b.c",
        "-c",
        "user.name=A",
        "commit",
        "-q",
        "-m",
        "work",
    ]);

    let report = reconcile(&p.layout, &p.config, &ReconcileOptions::default()).unwrap();

    let a = report
        .of_kind(ActionKind::SlingRolledBack)
        .next()
        .expect("the dead sling is rolled back");
    assert!(a.applied, "{a:?}");
    assert!(!a.kept.is_empty(), "what was kept is said: {a:?}");
    assert!(row(&p, "builder-r").is_none(), "the row is gone");
    let branches = p.repo.git(&["branch", "--list", &s.branch_name]);
    assert!(!branches.is_empty(), "the branch with a commit is kept");
    assert!(wt.join("work.txt").is_file(), "its worktree too");
}

#[test]
fn rolling_back_a_dead_sling_removes_its_clean_worktree_branch_and_mail() {
    let p = project();
    let s = killed_sling(&p, "builder-r");
    let dry = reconcile(&p.layout, &p.config, &ReconcileOptions::dry_run()).unwrap();
    assert!(dry.dry_run);
    assert_eq!(dry.of_kind(ActionKind::SlingRolledBack).count(), 1);
    assert!(row(&p, "builder-r").is_some(), "a dry run changes nothing");

    let report = reconcile(&p.layout, &p.config, &ReconcileOptions::default()).unwrap();

    assert!(
        report
            .of_kind(ActionKind::SlingRolledBack)
            .all(|a| a.applied)
    );
    assert!(!std::path::Path::new(&s.worktree_path).exists());
    assert!(p.repo.git(&["branch", "--list", &s.branch_name]).is_empty());
    let mail = MailStore::open(p.layout.mail_db()).unwrap();
    assert_eq!(
        mail.unread_count("builder-r").unwrap(),
        0,
        "dispatch mail removed"
    );
    let again = reconcile(&p.layout, &p.config, &ReconcileOptions::default()).unwrap();
    assert_eq!(again.of_kind(ActionKind::SlingRolledBack).count(), 0);
}

/// Writes a fake `ov` that records each dispatcher it is started as.
fn recording_ov(p: &Project) -> std::path::PathBuf {
    let log = p.layout.dir().join("ov-calls.log");
    let script = p.layout.dir().join("fake-ov");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\n", log.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[test]
fn stranded_mail_of_a_working_headless_agent_gets_a_dispatcher() {
    let p = project();
    sling(&request(&p, "builder-r", "/bin/true")).unwrap();
    let mut store = SessionStore::open(&p.layout.sessions_db()).unwrap();
    store
        .transition(
            "builder-r",
            &overstory_sessions::Transition::to(AgentState::Working),
        )
        .unwrap();
    assert_eq!(row(&p, "builder-r").unwrap().mode(), RunMode::SpawnPerTurn);
    // Another writer (the original `ov`, a script) stores mail and wakes nobody.
    MailStore::open(p.layout.mail_db())
        .unwrap()
        .insert(&NewMessage {
            from: "lead-1".into(),
            to: "builder-r".into(),
            subject: "Rebase".into(),
            body: "main moved".into(),
            kind: MessageType::Status,
            ..NewMessage::default()
        })
        .unwrap();
    let ov = recording_ov(&p);

    let report = reconcile(&p.layout, &p.config, &ReconcileOptions::new(&ov)).unwrap();

    let a = report
        .of_kind(ActionKind::DispatcherStarted)
        .next()
        .expect("a dispatcher is started");
    assert!(a.applied, "{a:?}");
    let log = p.layout.dir().join("ov-calls.log");
    wait_until(Duration::from_secs(10), "the dispatcher runs", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("dispatch --agent builder-r"))
    });
}

#[test]
fn an_orphaned_turn_group_is_killed_once_its_shim_is_gone() {
    let p = project();
    sling(&request(&p, "builder-r", "/bin/true")).unwrap();
    let agent = AgentName::new("builder-r").unwrap();
    // A "shim" leading its own group, with an agent under it; then the
    // shim is killed -9 and the agent keeps running in the group.
    let mut shim = process::command("sh")
        .args(["-c", "sleep 300 & echo ready; wait"])
        .env("OVERSTORY_AGENT_NAME", "builder-r")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(shim.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let pgid = shim.id() as i32;
    process::write_pid_file(&p.layout.agent_turn_pid(&agent), shim.id()).unwrap();
    process::signal_process(pgid, process::Sig::Kill).unwrap();
    shim.wait().unwrap();
    assert!(process::is_group_alive(pgid), "the agent outlived its shim");

    let mut opts = ReconcileOptions::default();
    opts.kill_grace = Duration::from_millis(300);
    let report = reconcile(&p.layout, &p.config, &opts).unwrap();

    assert!(
        report.of_kind(ActionKind::OrphanKilled).any(|a| a.applied),
        "{report:?}"
    );
    wait_until(Duration::from_secs(5), "the group is gone", || {
        !process::is_group_alive(pgid)
    });
    assert!(
        !p.layout.agent_turn_pid(&agent).exists(),
        "turn.pid removed"
    );
}

#[test]
fn a_group_that_is_not_the_agents_is_never_signalled() {
    let p = project();
    sling(&request(&p, "builder-r", "/bin/true")).unwrap();
    let agent = AgentName::new("builder-r").unwrap();
    // turn.pid names a live group of someone else (a reused pid).
    let mut other = process::command("sleep").arg("300").spawn().unwrap();
    process::write_pid_file(&p.layout.agent_turn_pid(&agent), other.id()).unwrap();

    let report = reconcile(&p.layout, &p.config, &ReconcileOptions::default()).unwrap();

    assert_eq!(report.of_kind(ActionKind::OrphanKilled).count(), 0);
    assert!(process::is_alive(other.id() as i32));
    other.kill().unwrap();
    other.wait().unwrap();
}

#[test]
fn stale_pid_files_and_a_finished_current_run_are_cleared() {
    let p = project();
    sling(&request(&p, "builder-r", "/bin/true")).unwrap();
    let agent = AgentName::new("builder-r").unwrap();
    let dead = dead_marker("x").pid as u32;
    process::write_pid_file(&p.layout.agent_turn_pid(&agent), dead).unwrap();
    process::write_pid_file(&p.layout.watchdog_pid(), dead).unwrap();
    let run = overstory_sessions::current_run_id(&p.layout).unwrap();
    overstory_sessions::close_run(&p.layout, &run, overstory_sessions::RunStatus::Completed);
    overstory_sessions::write_current_run(&p.layout, &run).unwrap();

    let report = reconcile(&p.layout, &p.config, &ReconcileOptions::default()).unwrap();

    assert!(!p.layout.agent_turn_pid(&agent).exists());
    assert!(!p.layout.watchdog_pid().exists());
    assert!(!p.layout.current_run().exists());
    assert!(
        report
            .of_kind(ActionKind::CurrentRunCleared)
            .all(|a| a.applied)
    );
    assert_eq!(
        report.of_kind(ActionKind::StaleFileRemoved).count(),
        2,
        "{report:?}"
    );
}

#[test]
fn a_worktree_without_a_session_is_reported_and_kept() {
    let p = project();
    let report = sling(&request(&p, "builder-r", "/bin/true")).unwrap();
    SessionStore::open(&p.layout.sessions_db())
        .unwrap()
        .remove("builder-r")
        .unwrap();

    let r = reconcile(&p.layout, &p.config, &ReconcileOptions::default()).unwrap();

    let a = r
        .of_kind(ActionKind::OrphanWorktree)
        .next()
        .expect("reported");
    assert!(!a.applied);
    assert!(std::path::Path::new(&report.worktree).is_dir());
}

#[test]
fn an_orphaned_group_is_found_without_its_turn_pid_and_only_for_this_project() {
    let p = project();
    sling(&request(&p, "builder-r", "/bin/true")).unwrap();
    let spawn = |root: &std::path::Path| {
        let mut shim = process::command("sh")
            .args(["-c", "sleep 300 & echo ready; wait"])
            .env("OVERSTORY_AGENT_NAME", "builder-r")
            .env("OVERSTORY_PROJECT_ROOT", root)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(shim.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let pgid = shim.id() as i32;
        process::signal_process(pgid, process::Sig::Kill).unwrap();
        shim.wait().unwrap();
        pgid
    };
    let ours = spawn(p.layout.root());
    let elsewhere = tempfile::tempdir().unwrap();
    let theirs = spawn(elsewhere.path());
    assert!(process::is_group_alive(ours) && process::is_group_alive(theirs));

    let mut opts = ReconcileOptions::default();
    opts.kill_grace = Duration::from_millis(300);
    let report = reconcile(&p.layout, &p.config, &opts).unwrap();

    assert!(
        report.of_kind(ActionKind::OrphanKilled).any(|a| a.applied),
        "{report:?}"
    );
    wait_until(Duration::from_secs(5), "our orphan is gone", || {
        !process::is_group_alive(ours)
    });
    assert!(
        process::is_group_alive(theirs),
        "another project's is not ours to kill"
    );
    process::signal_group(theirs, process::Sig::Kill).unwrap();
}

#[test]
fn a_dead_slings_marker_on_an_agent_that_already_took_a_turn_is_only_cleared() {
    let p = project();
    let s = killed_sling(&p, "builder-r");
    SessionStore::open(&p.layout.sessions_db())
        .unwrap()
        .transition(
            "builder-r",
            &overstory_sessions::Transition::to(AgentState::Working),
        )
        .unwrap();

    let report = reconcile(&p.layout, &p.config, &ReconcileOptions::default()).unwrap();

    assert_eq!(report.of_kind(ActionKind::SlingRolledBack).count(), 0);
    assert!(SlingMarker::read(&p.layout, &s.agent_name).is_none());
    assert!(row(&p, "builder-r").is_some());
    assert!(std::path::Path::new(&s.worktree_path).is_dir());
}

/// What an agent host killed -9 leaves: an active hosted row naming the
/// agent's process group, `host.pid` naming the dead host, its socket and
/// owner file, and a free host lock. With `orphan`, something of the
/// agent's group still runs (its shim was killed with the host).
struct DeadHost {
    agent: AgentName,
    pgid: i32,
}

fn dead_host(p: &Project, parent: Option<&str>, orphan: bool) -> DeadHost {
    let agent = AgentName::new("coordinator").unwrap();
    let mut group = process::command("sh")
        .args(["-c", "sleep 300 & echo ready; wait"])
        .env("OVERSTORY_AGENT_NAME", "coordinator")
        .env("OVERSTORY_PROJECT_ROOT", p.layout.root())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(group.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let pgid = group.id() as i32;
    if orphan {
        process::signal_process(pgid, process::Sig::Kill).unwrap();
    } else {
        process::signal_group(pgid, process::Sig::Kill).unwrap();
    }
    group.wait().unwrap();
    if orphan {
        assert!(process::is_group_alive(pgid));
    } else {
        wait_until(Duration::from_secs(5), "the group to die", || {
            process::group_members(pgid).is_empty()
        });
    }

    let mut s =
        overstory_sessions::Session::new(agent.clone(), overstory_core::Capability::Coordinator);
    s.state = AgentState::Working;
    s.pid = Some(i64::from(pgid));
    s.parent_agent = parent.map(|p| p.parse().unwrap());
    SessionStore::open(&p.layout.sessions_db())
        .unwrap()
        .upsert(&s)
        .unwrap();
    assert_eq!(s.mode(), RunMode::Hosted);
    let dir = p.layout.agent_dir(&agent);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(p.layout.agent_host_lock(&agent), "").unwrap();
    process::write_pid_file(
        &p.layout.agent_host_pid(&agent),
        dead_marker("x").pid as u32,
    )
    .unwrap();
    process::write_pid_file(&p.layout.agent_host_owner(&agent), std::process::id()).unwrap();
    drop(std::os::unix::net::UnixDatagram::bind(p.layout.agent_host_socket(&agent)).unwrap());
    DeadHost { agent, pgid }
}

fn host_files(p: &Project, agent: &AgentName) -> Vec<std::path::PathBuf> {
    [
        p.layout.agent_host_pid(agent),
        p.layout.agent_host_socket(agent),
        p.layout.agent_host_owner(agent),
    ]
    .into_iter()
    .filter(|f| f.symlink_metadata().is_ok())
    .collect()
}

fn worker_died_to(p: &Project, parent: &str) -> usize {
    MailStore::open(p.layout.mail_db())
        .unwrap()
        .list(&overstory_mail::ListFilter {
            to: Some(parent.into()),
            kind: Some(MessageType::WorkerDied),
            ..overstory_mail::ListFilter::default()
        })
        .unwrap()
        .len()
}

#[test]
fn a_hosted_agent_whose_host_died_is_cleared_and_settled_once() {
    let p = project();
    let d = dead_host(&p, Some("orchestrator"), true);
    let mut opts = ReconcileOptions::dry_run();
    opts.kill_grace = Duration::from_millis(300);

    // A dry run says what it would do and does nothing.
    let seen = reconcile(&p.layout, &p.config, &opts).unwrap();
    let a = seen.of_kind(ActionKind::HostDied).next().expect("{seen:?}");
    assert!(!a.applied);
    assert!(a.detail.contains("still runs"), "{a:?}");
    assert_eq!(
        seen.of_kind(ActionKind::StaleFileRemoved).count(),
        0,
        "the host's files are part of the one finding: {seen:?}"
    );
    assert!(process::is_group_alive(d.pgid));
    assert_eq!(host_files(&p, &d.agent).len(), 3);
    assert_eq!(row(&p, "coordinator").unwrap().state, AgentState::Working);

    opts.dry_run = false;
    let done = reconcile(&p.layout, &p.config, &opts).unwrap();
    let a = done.of_kind(ActionKind::HostDied).next().expect("{done:?}");
    assert!(a.applied, "{a:?}");
    assert!(
        process::group_members(d.pgid).is_empty(),
        "the orphaned group is gone"
    );
    assert_eq!(host_files(&p, &d.agent), Vec::<std::path::PathBuf>::new());
    assert!(
        p.layout.agent_host_lock(&d.agent).exists(),
        "a lock file is never stale"
    );
    let settled = row(&p, "coordinator").unwrap();
    assert_eq!(settled.state, AgentState::Zombie);
    assert_eq!(worker_died_to(&p, "orchestrator"), 1);
    let events = overstory_core::events::EventStore::open(&p.layout.events_db())
        .unwrap()
        .by_agent(
            "coordinator",
            &overstory_core::events::EventFilter::default(),
        )
        .unwrap();
    assert!(
        events.iter().any(|e| e
            .data
            .as_deref()
            .is_some_and(|d| d.contains("state_change") && d.contains("zombie"))),
        "{events:?}"
    );

    // Nothing is left to do, and the parent is not told twice.
    let again = reconcile(&p.layout, &p.config, &opts).unwrap();
    assert!(again.is_clean(), "{again:?}");
    assert_eq!(worker_died_to(&p, "orchestrator"), 1);
}

#[test]
fn a_dead_host_whose_group_is_gone_still_settles_its_agent() {
    let p = project();
    let d = dead_host(&p, None, false);
    let done = reconcile(&p.layout, &p.config, &ReconcileOptions::default()).unwrap();
    let a = done.of_kind(ActionKind::HostDied).next().expect("{done:?}");
    assert!(a.applied && !a.detail.contains("still runs"), "{a:?}");
    assert_eq!(row(&p, "coordinator").unwrap().state, AgentState::Zombie);
    assert!(host_files(&p, &d.agent).is_empty());
}

#[test]
fn a_live_host_or_a_start_in_progress_is_left_alone() {
    let p = project();
    let d = dead_host(&p, None, false);
    // A start holds the start lock while it launches the host.
    let start =
        overstory_core::lockfile::FileLock::acquire(&p.layout.agent_start_lock(&d.agent)).unwrap();
    let r = reconcile(&p.layout, &p.config, &ReconcileOptions::default()).unwrap();
    assert_eq!(r.of_kind(ActionKind::HostDied).count(), 0, "{r:?}");
    drop(start);
    // A host holding its lock is alive, whatever its files say.
    let host =
        overstory_core::lockfile::FileLock::acquire(&p.layout.agent_host_lock(&d.agent)).unwrap();
    let r = reconcile(&p.layout, &p.config, &ReconcileOptions::default()).unwrap();
    assert_eq!(r.of_kind(ActionKind::HostDied).count(), 0, "{r:?}");
    assert_eq!(row(&p, "coordinator").unwrap().state, AgentState::Working);
    drop(host);
}

#[test]
fn a_dead_hosts_pid_reused_by_a_stranger_is_never_signalled() {
    let p = project();
    let d = dead_host(&p, None, false);
    // The row's pid now leads someone else's group.
    let mut other = process::command("sleep").arg("300").spawn().unwrap();
    let mut s = row(&p, "coordinator").unwrap();
    s.pid = Some(i64::from(other.id()));
    SessionStore::open(&p.layout.sessions_db())
        .unwrap()
        .upsert(&s)
        .unwrap();

    let done = reconcile(&p.layout, &p.config, &ReconcileOptions::default()).unwrap();

    assert!(
        done.of_kind(ActionKind::HostDied).any(|a| a.applied),
        "{done:?}"
    );
    assert!(
        process::is_alive(other.id() as i32),
        "not the agent's: untouched"
    );
    assert_eq!(row(&p, "coordinator").unwrap().state, AgentState::Zombie);
    other.kill().unwrap();
    other.wait().unwrap();
    let _ = d;
}

/// The watchdog tick settles a dead host's agent the same way, whether its
/// reconciler does it first or (reconciler off) the health rules do, and
/// tells the parent once either way.
#[test]
fn a_tick_settles_a_dead_hosts_agent_once_with_or_without_its_reconciler() {
    use overstory_fleet::watchdog::{WatchdogMemory, WatchdogOptions, tick};
    for reconcile_first in [true, false] {
        let p = project();
        let d = dead_host(&p, Some("orchestrator"), true);
        let mut o = WatchdogOptions::from_config(&p.config, None);
        o.kill_grace = Duration::from_millis(300);
        o.reconcile = reconcile_first;
        let mut memory = WatchdogMemory::default();

        let first = tick(&p.layout, &p.config, &o, &mut memory).unwrap();
        assert!(first.errors.is_empty(), "{:?}", first.errors);
        let settled_by_reconciler = first
            .reconcile
            .as_ref()
            .is_some_and(|r| r.of_kind(ActionKind::HostDied).any(|a| a.applied));
        assert_eq!(settled_by_reconciler, reconcile_first, "{first:?}");
        assert_eq!(row(&p, "coordinator").unwrap().state, AgentState::Zombie);
        assert!(process::group_members(d.pgid).is_empty(), "{first:?}");
        assert!(host_files(&p, &d.agent).is_empty());
        assert_eq!(worker_died_to(&p, "orchestrator"), 1);

        let second = tick(&p.layout, &p.config, &o, &mut memory).unwrap();
        assert!(
            second.changes.is_empty() && second.killed.is_empty(),
            "{second:?}"
        );
        assert_eq!(worker_died_to(&p, "orchestrator"), 1, "told once");
    }
}
