//! `stop_agent` on headless and tmux agents, in real git repositories with
//! real process groups.

use std::process::Child;
use std::time::Duration;

use overstory_core::worktree::Worktrees;
use overstory_core::{AgentName, Config, Layout, TaskId, process};
use overstory_fleet::tmux::{self, NewSession, Tmux};
use overstory_fleet::{FleetError, StopOptions, stop_agent};
use overstory_mail::nudge::NudgeMarker;
use overstory_sessions::{AgentState, Session, SessionStore};
use overstory_testkit::{TempRepo, holds_within};

struct Project {
    repo: TempRepo,
    layout: Layout,
    config: Config,
}

fn project() -> Project {
    let repo = TempRepo::new();
    let layout = Layout::new(repo.path());
    std::fs::create_dir_all(layout.agents_dir()).unwrap();
    let config = Config::defaults_for(repo.path());
    Project {
        repo,
        layout,
        config,
    }
}

fn put(p: &Project, s: &Session) {
    SessionStore::open(&p.layout.sessions_db())
        .unwrap()
        .upsert(s)
        .unwrap();
}

fn state(p: &Project, name: &str) -> AgentState {
    SessionStore::open(&p.layout.sessions_db())
        .unwrap()
        .get(name)
        .unwrap()
        .unwrap()
        .state
}

/// Starts a process group of two `sleep`s under a shell; returns the child.
fn sleeping_group() -> Child {
    let mut child = process::command("sh")
        .args(["-c", "sleep 300 & sleep 300 & echo ready; wait"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    child
}

fn opts() -> StopOptions {
    StopOptions {
        grace: Duration::from_millis(500),
        ..StopOptions::default()
    }
}

#[test]
fn headless_stop_kills_the_whole_turn_group_and_completes() {
    let p = project();
    let agent = AgentName::new("builder-1").unwrap();
    let mut s = Session::new("builder-1".parse().unwrap(), "builder".parse().unwrap());
    s.state = AgentState::Working;
    put(&p, &s);
    let mut child = sleeping_group();
    let pgid = child.id() as i32;
    process::write_pid_file(&p.layout.agent_turn_pid(&agent), child.id()).unwrap();
    assert!(process::is_group_alive(pgid));

    let reaper = std::thread::spawn(move || child.wait().unwrap());
    let report = stop_agent(&p.layout, &p.config, "builder-1", &opts()).unwrap();
    reaper.join().unwrap();

    assert!(report.pid_killed);
    assert!(!report.tmux_killed);
    // The sleeps were reparented; once killed they are gone (or unreaped zombies).
    let _ = holds_within(Duration::from_secs(5), || {
        !process::is_group_alive(pgid) || group_members(pgid).iter().all(|p| is_zombie(*p))
    });
    assert!(
        group_members(pgid).iter().all(|p| is_zombie(*p)),
        "group survived"
    );
    assert!(!p.layout.agent_turn_pid(&agent).exists());
    assert_eq!(state(&p, "builder-1"), AgentState::Completed);
    let json = serde_json::to_value(&report).unwrap();
    for key in [
        "stopped",
        "agentName",
        "sessionId",
        "capability",
        "tmuxKilled",
        "pidKilled",
        "worktreeRemoved",
        "branchDeleted",
        "force",
        "wasZombie",
        "wasCompleted",
    ] {
        assert!(json.get(key).is_some(), "missing {key}: {json}");
    }
}

fn group_members(pgid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let rest = stat.rsplit_once(')').unwrap().1;
        if rest
            .split_whitespace()
            .nth(3)
            .and_then(|s| s.parse::<i32>().ok())
            == Some(pgid)
        {
            out.push(pid);
        }
    }
    out
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

#[test]
fn zombie_stops_succeed_and_completed_needs_clean_worktree() {
    let p = project();
    let mut s = Session::new("builder-2".parse().unwrap(), "builder".parse().unwrap());
    s.state = AgentState::Zombie;
    put(&p, &s);
    let r = stop_agent(&p.layout, &p.config, "builder-2", &opts()).unwrap();
    assert!(r.was_zombie);
    assert_eq!(state(&p, "builder-2"), AgentState::Completed);

    let err = stop_agent(&p.layout, &p.config, "builder-2", &opts()).unwrap_err();
    assert!(
        matches!(err, FleetError::AlreadyCompleted { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("--clean-worktree"));
}

#[test]
fn unknown_and_empty_names_are_refused() {
    let p = project();
    let e = stop_agent(&p.layout, &p.config, "ghost", &opts()).unwrap_err();
    assert_eq!(e.to_string(), "Agent \"ghost\" not found");
    assert_eq!(e.code(), "AGENT_ERROR");
    let e = stop_agent(&p.layout, &p.config, "  ", &opts()).unwrap_err();
    assert_eq!(e.code(), "VALIDATION_ERROR");
    let e = stop_agent(&p.layout, &p.config, "../x", &opts()).unwrap_err();
    assert_eq!(e.code(), "VALIDATION_ERROR");
}

fn agent_with_worktree(p: &Project, name: &str, capability: &str, commit: bool) -> Session {
    let wt = Worktrees::new(p.repo.path());
    let a = AgentName::new(name).unwrap();
    let c = wt
        .create(
            std::path::Path::new(".overstory/worktrees"),
            &a,
            &TaskId::new("t-1").unwrap(),
            "main",
        )
        .unwrap();
    if commit {
        std::fs::write(c.path.join("work.txt"), "x\n").unwrap();
        let g = overstory_core::git::Git::new(&c.path);
        g.run(&["add", "work.txt"]).unwrap();
        g.run(&["commit", "-q", "-m", "work"]).unwrap();
    }
    let mut s = Session::new(name.parse().unwrap(), capability.parse().unwrap());
    s.state = AgentState::Working;
    s.worktree_path = c.path.to_string_lossy().into_owned();
    s.branch_name = c.branch.to_string();
    s.task_id = Some("t-1".parse().unwrap());
    put(p, &s);
    s
}

#[test]
fn clean_worktree_keeps_unmerged_branch_unless_forced() {
    let p = project();
    let s = agent_with_worktree(&p, "builder-3", "builder", true);
    let o = StopOptions {
        clean_worktree: true,
        ..opts()
    };
    let r = stop_agent(&p.layout, &p.config, "builder-3", &o).unwrap();
    assert!(!r.worktree_removed);
    assert!(!r.branch_deleted);
    assert!(
        r.warnings.iter().any(|w| w.contains("not merged")),
        "{:?}",
        r.warnings
    );
    assert!(std::path::Path::new(&s.worktree_path).exists());
    assert_eq!(state(&p, "builder-3"), AgentState::Completed);

    // Completed + --clean-worktree --force: now it goes.
    let forced = StopOptions {
        clean_worktree: true,
        force: true,
        ..opts()
    };
    let r = stop_agent(&p.layout, &p.config, "builder-3", &forced).unwrap();
    assert!(r.was_completed);
    assert!(r.worktree_removed);
    assert!(r.branch_deleted);
    assert!(!std::path::Path::new(&s.worktree_path).exists());
}

#[test]
fn clean_worktree_removes_merged_work() {
    let p = project();
    let s = agent_with_worktree(&p, "builder-4", "builder", false);
    let o = StopOptions {
        clean_worktree: true,
        ..opts()
    };
    let r = stop_agent(&p.layout, &p.config, "builder-4", &o).unwrap();
    assert!(r.worktree_removed && r.branch_deleted, "{r:?}");
    assert!(!std::path::Path::new(&s.worktree_path).exists());
}

#[test]
fn stopping_a_lead_leaves_a_per_lead_note_for_the_coordinator() {
    let p = project();
    for name in ["lead-a", "lead-b"] {
        let mut s = Session::new(name.parse().unwrap(), "lead".parse().unwrap());
        s.state = AgentState::Working;
        put(&p, &s);
        stop_agent(&p.layout, &p.config, name, &opts()).unwrap();
    }
    let coordinator = AgentName::new("coordinator").unwrap();
    for name in ["lead-a", "lead-b"] {
        let path = p
            .layout
            .pending_nudge_from(&coordinator, &AgentName::new(name).unwrap());
        let m: NudgeMarker =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(m.reason, "lead_completed");
        assert_eq!(m.from, name);
        assert!(m.subject.contains("no merge_ready sent"), "{}", m.subject);
        assert!(m.message_id.starts_with(&format!("auto-nudge-{name}-")));
    }
    // Non-leads leave nothing.
    let mut s = Session::new("builder-9".parse().unwrap(), "builder".parse().unwrap());
    s.state = AgentState::Working;
    put(&p, &s);
    stop_agent(&p.layout, &p.config, "builder-9", &opts()).unwrap();
    let n = std::fs::read_dir(p.layout.pending_nudges_dir())
        .unwrap()
        .count();
    assert_eq!(n, 2);
}

#[test]
fn tmux_stop_kills_the_session() {
    if !Tmux::is_available() {
        return;
    }
    let p = project();
    let server = Tmux::new(format!("ov-test-stop-{}", std::process::id()));
    let name = tmux::session_name("proj", "builder-5");
    let pid = server
        .create_session(&NewSession {
            name: name.clone(),
            cwd: p.repo.path().to_owned(),
            command: "sleep 300".into(),
            ..NewSession::default()
        })
        .unwrap();
    let mut s = Session::new("builder-5".parse().unwrap(), "builder".parse().unwrap());
    s.state = AgentState::Working;
    s.tmux_session = name.clone();
    s.pid = Some(i64::from(pid));
    put(&p, &s);
    let o = StopOptions {
        tmux: server.clone(),
        ..opts()
    };
    let r = stop_agent(&p.layout, &p.config, "builder-5", &o).unwrap();
    let alive_after = server.is_alive(&name);
    server.kill_server();
    assert!(r.tmux_killed);
    assert!(!r.pid_killed);
    assert!(!alive_after);
    assert_eq!(state(&p, "builder-5"), AgentState::Completed);
}

#[test]
fn lead_note_names_the_branch_of_its_merge_ready_mail() {
    let p = project();
    let client = overstory_mail::MailClient::open(&p.layout).unwrap();
    let payload = serde_json::json!({
        "branch": "overstory/lead-c/t-1",
        "taskId": "t-1",
        "agentName": "lead-c",
        "filesModified": ["a.rs"],
    });
    client
        .send(
            &overstory_mail::SendRequest::new(
                AgentName::new("lead-c").unwrap(),
                overstory_mail::Address::Agent(AgentName::new("coordinator").unwrap()),
                "Merge ready",
                "done",
            )
            .kind(overstory_mail::MessageType::MergeReady)
            .payload(payload.to_string()),
        )
        .unwrap();
    let mut s = Session::new("lead-c".parse().unwrap(), "lead".parse().unwrap());
    s.state = AgentState::Working;
    put(&p, &s);
    stop_agent(&p.layout, &p.config, "lead-c", &opts()).unwrap();
    let notes =
        overstory_fleet::take_sender_notes(&p.layout, &AgentName::new("coordinator").unwrap());
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0].subject.contains("overstory/lead-c/t-1"),
        "{}",
        notes[0].subject
    );
}

#[test]
fn tmux_agent_whose_session_vanished_has_its_process_killed() {
    let p = project();
    let mut child = process::command("sleep").arg("300").spawn().unwrap();
    let mut s = Session::new("builder-6".parse().unwrap(), "builder".parse().unwrap());
    s.state = AgentState::Working;
    s.tmux_session = "overstory-proj-builder-6".into();
    s.pid = Some(i64::from(child.id()));
    put(&p, &s);
    let o = StopOptions {
        tmux: Tmux::new(format!("ov-test-gone-{}", std::process::id())),
        ..opts()
    };
    let r = stop_agent(&p.layout, &p.config, "builder-6", &o).unwrap();
    assert!(r.pid_killed);
    assert!(!r.tmux_killed);
    assert!(!child.wait().unwrap().success());
}
