//! `ov stop` wiring: a real headless turn group, unmerged-branch protection,
//! JSON shape and errors.

use std::time::Duration;

use overstory_core::{AgentName, Layout, process};
use overstory_sessions::{AgentState, Session, SessionStore};
use overstory_testkit::holds_within;

use crate::support::{initialized_repo, ov};

fn put(layout: &Layout, s: &Session) {
    SessionStore::open(&layout.sessions_db())
        .unwrap()
        .upsert(s)
        .unwrap();
}

fn state(layout: &Layout, name: &str) -> AgentState {
    SessionStore::open(&layout.sessions_db())
        .unwrap()
        .get(name)
        .unwrap()
        .unwrap()
        .state
}

#[test]
fn stop_kills_a_headless_turn_group_recorded_in_turn_pid() {
    let repo = initialized_repo();
    let layout = Layout::new(repo.path());
    let mut s = Session::new("builder-1".parse().unwrap(), "builder".parse().unwrap());
    s.state = AgentState::Working;
    put(&layout, &s);
    // A turn child that leads its own group, with a grandchild sleep.
    let mut child = process::command("sh")
        .args(["-c", "sleep 300 & echo ready; wait"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let pgid = child.id() as i32;
    let agent = AgentName::new("builder-1").unwrap();
    process::write_pid_file(&layout.agent_turn_pid(&agent), child.id()).unwrap();
    let reaper = std::thread::spawn(move || child.wait().unwrap());

    let run = ov(repo.path(), &["stop", "builder-1", "--json"]).ok();
    let status = reaper.join().unwrap();
    assert!(!status.success(), "the turn was signalled");
    let v = run.json();
    assert_eq!(v["command"], "stop");
    assert_eq!(v["stopped"], true);
    assert_eq!(v["pidKilled"], true);
    assert_eq!(v["tmuxKilled"], false);
    assert_eq!(v["wasCompleted"], false);
    assert!(!layout.agent_turn_pid(&agent).exists());
    assert_eq!(state(&layout, "builder-1"), AgentState::Completed);
    // The grandchild got the group signal too (it may linger as a zombie of init).
    let alive = || -> Vec<String> {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
            .filter(|st| {
                let rest = st.rsplit_once(')').unwrap().1;
                let f: Vec<&str> = rest.split_whitespace().collect();
                f[3].parse::<i32>().ok() == Some(pgid) && f[0] != "Z"
            })
            .collect()
    };
    assert!(
        holds_within(Duration::from_secs(5), || alive().is_empty()),
        "group survived: {:?}",
        alive()
    );
}

#[test]
fn stop_errors_for_unknown_completed_and_empty_names() {
    let repo = initialized_repo();
    let r = ov(repo.path(), &["stop", "ghost"]).fails();
    assert!(
        r.stderr
            .contains("Error [AGENT_ERROR]: Agent \"ghost\" not found"),
        "{r:?}"
    );
    let v = ov(repo.path(), &["stop", "", "--json"]).fails().json();
    assert_eq!(v["command"], "stop");
    assert_eq!(v["code"], "VALIDATION_ERROR");

    let layout = Layout::new(repo.path());
    let mut s = Session::new("done-1".parse().unwrap(), "builder".parse().unwrap());
    s.state = AgentState::Completed;
    put(&layout, &s);
    let r = ov(repo.path(), &["stop", "done-1"]).fails();
    assert!(r.stderr.contains("already completed"), "{r:?}");
    assert!(r.stderr.contains("--clean-worktree"), "{r:?}");
}

#[test]
fn stop_clean_worktree_keeps_unmerged_branch_without_force() {
    let repo = initialized_repo();
    let layout = Layout::new(repo.path());
    let wt = repo.path().join(".overstory/worktrees/builder-2");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "overstory/builder-2/t-1",
        wt.to_str().unwrap(),
        "main",
    ]);
    std::fs::write(wt.join("work.txt"), "x\n").unwrap();
    let g = overstory_core::git::Git::new(&wt);
    g.run(&["add", "work.txt"]).unwrap();
    g.run(&["commit", "-q", "-m", "work"]).unwrap();
    let mut s = Session::new("builder-2".parse().unwrap(), "builder".parse().unwrap());
    s.state = AgentState::Working;
    s.worktree_path = wt.to_string_lossy().into_owned();
    s.branch_name = "overstory/builder-2/t-1".into();
    put(&layout, &s);

    let r = ov(repo.path(), &["stop", "builder-2", "--clean-worktree"]).ok();
    assert!(r.stdout.contains("not merged into \"main\""), "{r:?}");
    assert!(wt.exists());
    assert_eq!(
        repo.git(&[
            "branch",
            "--list",
            "--format=%(refname:short)",
            "overstory/builder-2/t-1"
        ]),
        "overstory/builder-2/t-1"
    );

    let v = ov(
        repo.path(),
        &["stop", "builder-2", "--clean-worktree", "--force", "--json"],
    )
    .ok()
    .json();
    assert_eq!(v["worktreeRemoved"], true);
    assert_eq!(v["branchDeleted"], true);
    assert_eq!(v["wasCompleted"], true);
    assert_eq!(v["force"], true);
    assert!(!wt.exists());
}

#[test]
fn stop_tmux_agent_kills_its_session() {
    // The CLI talks to the default `overstory` server; use a unique session name
    // and remove it whatever happens.
    if !overstory_fleet::Tmux::is_available() {
        return;
    }
    let repo = initialized_repo();
    let layout = Layout::new(repo.path());
    let tmux = overstory_fleet::Tmux::default();
    let name = format!("overstory-clitest-{}-a", std::process::id());
    let pid = tmux
        .create_session(&overstory_fleet::NewSession {
            name: name.clone(),
            cwd: repo.path().to_owned(),
            command: "sleep 300".into(),
            ..Default::default()
        })
        .unwrap();
    let mut s = Session::new("builder-3".parse().unwrap(), "builder".parse().unwrap());
    s.state = AgentState::Working;
    s.tmux_session = name.clone();
    s.pid = Some(i64::from(pid));
    put(&layout, &s);
    let run = ov(repo.path(), &["stop", "builder-3", "--json"]);
    let alive = tmux.is_alive(&name);
    let _ = tmux.kill_session(&name, Duration::ZERO);
    let v = run.ok().json();
    assert_eq!(v["tmuxKilled"], true);
    assert!(!alive);
}
