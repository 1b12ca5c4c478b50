//! `clean`, `clean_agent` and `clean_worktrees` in real git repositories.

use std::path::{Path, PathBuf};

use overstory_core::events::{EventFilter, EventStore};
use overstory_core::{Config, Layout};
use overstory_fleet::Tmux;
use overstory_fleet::clean::{CleanOptions, clean, clean_agent};
use overstory_fleet::worktrees::{WorktreeCleanOptions, clean_worktrees};
use overstory_sessions::{AgentState, Session, SessionStore};
use overstory_testkit::TempRepo;

struct Project {
    repo: TempRepo,
    layout: Layout,
    config: Config,
}

fn project() -> Project {
    let repo = TempRepo::new();
    let layout = Layout::new(repo.path());
    for d in layout.init_dirs() {
        std::fs::create_dir_all(d).unwrap();
    }
    let config = Config::defaults_for(repo.path());
    Project {
        repo,
        layout,
        config,
    }
}

fn tmux() -> Tmux {
    Tmux::new(format!("ov-test-clean-{}", std::process::id()))
}

fn commit(dir: &Path, file: &str) {
    std::fs::create_dir_all(dir.join(file).parent().unwrap()).unwrap();
    std::fs::write(dir.join(file), "x\n").unwrap();
    let g = overstory_core::git::Git::new(dir);
    g.run(&["add", file]).unwrap();
    g.run(&["commit", "-q", "-m", file]).unwrap();
}

fn agent(p: &Project, name: &str, cap: &str, state: AgentState) -> PathBuf {
    let wt = p.repo.path().join(".overstory/worktrees").join(name);
    let branch = format!("overstory/{name}/t-1");
    p.repo.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        &branch,
        wt.to_str().unwrap(),
        "main",
    ]);
    let mut s = Session::new(name.parse().unwrap(), cap.parse().unwrap());
    s.state = state;
    s.worktree_path = wt.to_string_lossy().into_owned();
    s.branch_name = branch;
    s.task_id = Some("t-1".parse().unwrap());
    s.run_id = Some("run-1".into());
    SessionStore::open(&p.layout.sessions_db())
        .unwrap()
        .upsert(&s)
        .unwrap();
    wt
}

#[test]
fn no_flags_is_a_validation_error_naming_the_options() {
    let p = project();
    let err = clean(&p.layout, &p.config, &CleanOptions::default(), &tmux()).unwrap_err();
    assert_eq!(err.code(), "VALIDATION_ERROR");
    assert!(err.to_string().contains("--worktrees"));
}

#[test]
fn worktrees_alone_logs_session_end_for_active_agents_and_removes_merged_ones() {
    let p = project();
    let busy = agent(&p, "busy", "builder", AgentState::Working);
    let done = agent(&p, "done", "builder", AgentState::Completed);
    let opts = CleanOptions {
        worktrees: true,
        ..CleanOptions::default()
    };
    let r = clean(&p.layout, &p.config, &opts, &tmux()).unwrap();
    assert_eq!(r.session_end_events_logged, 1);
    assert_eq!(r.worktrees_cleaned, 2);
    assert_eq!(r.branches_deleted, 2);
    assert!(!busy.exists() && !done.exists());
    assert!(!r.sessions_cleared, "only the chosen target");
    assert!(p.layout.sessions_db().exists());
    let events = EventStore::open(&p.layout.events_db())
        .unwrap()
        .by_agent("busy", &EventFilter::default())
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "session_end");
    assert_eq!(events[0].run_id.as_deref(), Some("run-1"));
    let data = events[0].data_json().unwrap();
    assert_eq!(data["reason"], "clean");
    assert_eq!(data["capability"], "builder");
}

#[test]
fn all_wipes_databases_and_dirs_and_is_repeatable() {
    let p = project();
    SessionStore::open(&p.layout.sessions_db()).unwrap();
    overstory_mail::MailClient::open(&p.layout).unwrap();
    std::fs::write(p.layout.current_run(), "run-1\n").unwrap();
    std::fs::write(p.layout.nudge_state(), "{}").unwrap();
    std::fs::write(p.layout.specs_dir().join("t.md"), "x").unwrap();
    let opts = CleanOptions {
        all: true,
        ..CleanOptions::default()
    };
    let r = clean(&p.layout, &p.config, &opts, &tmux()).unwrap();
    assert!(r.mail_wiped && r.sessions_cleared && r.specs_cleared);
    assert!(r.current_run_cleared && r.nudge_state_cleared);
    assert!(!p.layout.mail_db().exists());
    assert!(p.layout.specs_dir().is_dir(), "directories are kept");
    let again = clean(&p.layout, &p.config, &opts, &tmux()).unwrap();
    assert!(again.is_noop());
}

#[test]
fn clean_agent_completes_and_empties_its_dirs_but_keeps_unmerged_work() {
    let p = project();
    let wt = agent(&p, "b1", "builder", AgentState::Working);
    commit(&wt, "w.txt");
    let a = overstory_core::AgentName::new("b1").unwrap();
    std::fs::create_dir_all(p.layout.agent_dir(&a)).unwrap();
    std::fs::write(p.layout.agent_dir(&a).join("identity.yaml"), "name: b1\n").unwrap();
    let r = clean_agent(&p.layout, &p.config, "b1", false, &tmux()).unwrap();
    assert!(r.marked_completed);
    assert!(r.session_end_event_logged);
    assert!(r.agent_dir_cleared);
    assert!(!r.worktree_removed);
    assert!(!r.warnings.is_empty());
    assert!(wt.exists());
    let r = clean_agent(&p.layout, &p.config, "b1", true, &tmux()).unwrap();
    assert!(r.worktree_removed && r.branch_deleted);
}

#[test]
fn worktree_clean_prunes_zombies_and_purges_mail() {
    let p = project();
    let wt = agent(&p, "b2", "builder", AgentState::Completed);
    let client = overstory_mail::MailClient::open(&p.layout).unwrap();
    client
        .send(&overstory_mail::SendRequest::new(
            overstory_core::AgentName::new("lead-1").unwrap(),
            overstory_mail::Address::Agent(overstory_core::AgentName::new("b2").unwrap()),
            "hi",
            "body",
        ))
        .unwrap();
    // A zombie whose worktree vanished long ago.
    let mut gone = Session::new("ghost".parse().unwrap(), "builder".parse().unwrap());
    gone.state = AgentState::Zombie;
    gone.worktree_path = "/nonexistent/wt".into();
    SessionStore::open(&p.layout.sessions_db())
        .unwrap()
        .upsert(&gone)
        .unwrap();

    let r = clean_worktrees(&p.layout, &p.config, &WorktreeCleanOptions::default()).unwrap();
    assert_eq!(r.cleaned, vec!["overstory/b2/t-1".to_owned()]);
    assert_eq!(r.mail_purged, 1);
    // The zombie whose worktree is gone is pruned; completed is sticky, so
    // b2's row stays as history.
    assert_eq!(r.pruned, 1);
    assert!(!wt.exists());
    let store = SessionStore::open(&p.layout.sessions_db()).unwrap();
    assert!(store.get("ghost").unwrap().is_none());
    assert_eq!(
        store.get("b2").unwrap().unwrap().state,
        AgentState::Completed
    );
}

#[test]
fn lead_worktree_preserves_seeds_and_keeps_other_unmerged_work() {
    let p = project();
    let wt = agent(&p, "lead-1", "lead", AgentState::Completed);
    commit(&wt, ".seeds/issues.jsonl");
    let r = clean_worktrees(&p.layout, &p.config, &WorktreeCleanOptions::default()).unwrap();
    assert_eq!(r.seeds_preserved, vec!["overstory/lead-1/t-1".to_owned()]);
    assert_eq!(r.cleaned, vec!["overstory/lead-1/t-1".to_owned()]);
    assert!(p.repo.path().join(".seeds/issues.jsonl").is_file());

    let wt2 = agent(&p, "lead-2", "lead", AgentState::Completed);
    commit(&wt2, "src.txt");
    let r = clean_worktrees(&p.layout, &p.config, &WorktreeCleanOptions::default()).unwrap();
    assert_eq!(r.skipped, vec!["overstory/lead-2/t-1".to_owned()]);
    assert!(
        wt2.exists(),
        "a lead's non-seeds commits are not thrown away"
    );
}

fn sleeper() -> std::process::Child {
    overstory_core::process::command("sleep")
        .arg("300")
        .spawn()
        .unwrap()
}

#[test]
fn live_children_block_worktree_clean_unless_forced() {
    let p = project();
    let wt = agent(&p, "lead-9", "builder", AgentState::Completed);
    // The agent's own sub-project store lists a live child.
    let mut child = sleeper();
    let inner = Layout::new(&wt);
    std::fs::create_dir_all(inner.dir()).unwrap();
    let mut s = Session::new("kid".parse().unwrap(), "builder".parse().unwrap());
    s.state = AgentState::Working;
    s.pid = Some(i64::from(child.id()));
    SessionStore::open(&inner.sessions_db())
        .unwrap()
        .upsert(&s)
        .unwrap();

    let r = clean_worktrees(&p.layout, &p.config, &WorktreeCleanOptions::default()).unwrap();
    assert_eq!(
        r.blocked_by_children,
        vec!["overstory/lead-9/t-1".to_owned()]
    );
    assert!(wt.exists());

    let forced = WorktreeCleanOptions {
        force: true,
        ..WorktreeCleanOptions::default()
    };
    let r = clean_worktrees(&p.layout, &p.config, &forced).unwrap();
    assert_eq!(r.cleaned, vec!["overstory/lead-9/t-1".to_owned()]);
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was signalled");
}

#[test]
fn clean_worktrees_kills_live_agent_processes() {
    let p = project();
    agent(&p, "b5", "builder", AgentState::Working);
    let mut child = sleeper();
    let a = overstory_core::AgentName::new("b5").unwrap();
    overstory_core::process::write_pid_file(&p.layout.agent_turn_pid(&a), child.id()).unwrap();
    let reaper = std::thread::spawn(move || child.wait().unwrap());
    let opts = CleanOptions {
        worktrees: true,
        ..CleanOptions::default()
    };
    let r = clean(&p.layout, &p.config, &opts, &tmux()).unwrap();
    assert_eq!(r.orphan_pids_reaped, 1);
    assert!(!reaper.join().unwrap().success());
    assert!(!p.layout.agent_turn_pid(&a).exists());
}

#[test]
fn clearing_sessions_or_agents_stops_live_agents_first() {
    for flags in [
        CleanOptions {
            sessions: true,
            ..CleanOptions::default()
        },
        CleanOptions {
            agents: true,
            ..CleanOptions::default()
        },
    ] {
        let p = project();
        let wt = agent(&p, "b6", "builder", AgentState::Working);
        let mut child = sleeper();
        let a = overstory_core::AgentName::new("b6").unwrap();
        overstory_core::process::write_pid_file(&p.layout.agent_turn_pid(&a), child.id()).unwrap();
        let reaper = std::thread::spawn(move || child.wait().unwrap());
        let r = clean(&p.layout, &p.config, &flags, &tmux()).unwrap();
        assert_eq!(r.orphan_pids_reaped, 1, "{flags:?}");
        assert!(!reaper.join().unwrap().success(), "{flags:?}");
        // Only --worktrees removes worktrees.
        assert!(wt.exists(), "{flags:?}");
    }
}

#[test]
fn prime_compact_shows_session_recovery_from_the_checkpoint() {
    use overstory_fleet::prime::{PrimeOptions, prime};
    let p = project();
    let a = overstory_core::AgentName::new("b6").unwrap();
    std::fs::create_dir_all(p.layout.agent_dir(&a)).unwrap();
    std::fs::write(
        p.layout.agent_checkpoint(&a),
        serde_json::json!({
            "agentName": "b6", "taskId": "t-6", "sessionId": "s", "timestamp": "2026-01-01T00:00:00.000Z",
            "progressSummary": "half done", "filesModified": ["a.rs"], "currentBranch": "overstory/b6/t-6",
            "pendingWork": "tests", "mulchDomains": []
        })
        .to_string(),
    )
    .unwrap();
    let opts = PrimeOptions {
        agent: Some("b6".into()),
        compact: true,
    };
    let out = prime(&p.layout, &p.config, &opts).unwrap();
    assert!(
        out.context.contains("## Session Recovery"),
        "{}",
        out.context
    );
    assert!(out.context.contains("half done"));
    assert!(!out.context.contains("## Expertise"));
    let full = prime(
        &p.layout,
        &p.config,
        &PrimeOptions {
            compact: false,
            ..opts
        },
    )
    .unwrap();
    assert!(!full.context.contains("## Session Recovery"));
    assert!(full.context.contains("## Expertise"));
}
