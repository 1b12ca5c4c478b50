//! `ov watch --once` beside a running daemon, and the tick lock that keeps
//! every tick of a project — the daemon's and `--once`'s — from
//! overlapping another (issue 12).

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use overstory_core::lockfile::FileLock;
use overstory_core::{Capability, Layout, clock, process};
use overstory_sessions::{AgentState, Session, SessionStore};
use overstory_testkit::wait_until;

use crate::support::{TempRepo, command, initialized_repo, ov};

/// A project with one healthy working builder, so a tick has a check to
/// report.
fn project_with_a_builder() -> (TempRepo, Layout) {
    let repo = initialized_repo();
    let layout = Layout::new(repo.path());
    let mut s = Session::new("builder-w".parse().unwrap(), Capability::Builder);
    s.state = AgentState::Working;
    s.worktree_path = repo.path().to_string_lossy().into_owned();
    s.last_activity = clock::now_rfc3339();
    SessionStore::open(&layout.sessions_db())
        .unwrap()
        .upsert(&s)
        .unwrap();
    (repo, layout)
}

/// A foreground daemon whose stdout lines arrive on a channel; SIGTERMed
/// and reaped on drop.
struct Daemon {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Daemon {
    fn start(repo: &TempRepo) -> Self {
        let mut child = command(repo.path())
            .args(["watch", "--interval", "60000", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The next stdout line as JSON, within `secs`.
    fn next(&self, secs: u64) -> Option<serde_json::Value> {
        let line = self.lines.recv_timeout(Duration::from_secs(secs)).ok()?;
        Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")))
    }

    /// The next tick the daemon reports.
    fn next_tick(&self, secs: u64) -> Option<serde_json::Value> {
        loop {
            let v = self.next(secs)?;
            if v.get("tick").is_some() {
                return Some(v["tick"].clone());
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = process::signal_process(self.pid(), process::Sig::Term);
        let _ = self.child.wait();
    }
}

#[test]
fn once_runs_its_tick_while_a_daemon_runs() {
    let (repo, layout) = project_with_a_builder();
    let daemon = Daemon::start(&repo);
    let started = daemon.next(20).expect("the daemon says it runs");
    assert_eq!(started["mode"], "foreground", "{started}");
    daemon.next_tick(20).expect("the daemon's first tick");

    let out = ov(repo.path(), &["watch", "--once", "--json"]).ok().json();

    assert_eq!(out["success"], true, "{out}");
    assert_eq!(out["command"], "watch");
    assert!(out["timestamp"].is_string(), "{out}");
    let checks = out["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 1, "{out}");
    assert_eq!(checks[0]["agentName"], "builder-w");
    assert_eq!(checks[0]["state"], "working");
    // The daemon is still the project's one daemon.
    assert_eq!(
        process::read_pid_file(&layout.watchdog_pid()),
        Some(daemon.pid())
    );
    assert!(process::is_alive(daemon.pid()));
    // And a second daemon is still refused.
    let refused = ov(repo.path(), &["watch", "--interval", "60000", "--json"])
        .fails()
        .json();
    assert_eq!(refused["pid"], daemon.pid());
}

#[test]
fn once_waits_for_a_tick_in_progress_and_gives_up_with_a_clear_error() {
    let (repo, layout) = project_with_a_builder();
    // This test "is" a tick in progress.
    let held = FileLock::acquire(&layout.watchdog_tick_lock()).unwrap();
    held.record_pid();

    let refused = ov(repo.path(), &["watch", "--once", "--wait", "200", "--json"])
        .fails()
        .json();
    assert_eq!(refused["code"], "WATCHDOG_ERROR", "{refused}");
    assert_eq!(refused["pid"], std::process::id());
    let error = refused["error"].as_str().unwrap();
    assert!(error.contains("still running after 200ms"), "{refused}");

    let mut waiting = command(repo.path())
        .args(["watch", "--once", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(waiting.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("Waiting up to") {
        line.clear();
        assert_ne!(err.read_line(&mut line).unwrap(), 0, "stderr ended");
    }
    assert!(
        line.contains(&format!("(PID {})", std::process::id())),
        "{line}"
    );
    assert!(
        waiting.try_wait().unwrap().is_none(),
        "no tick while another holds the lock"
    );
    let released = clock::now_millis();
    drop(held);

    let out = waiting.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ticked = clock::parse_rfc3339(v["timestamp"].as_str().unwrap()).unwrap();
    assert!(
        ticked >= released,
        "the tick began only once the lock was free ({ticked} < {released})"
    );
    assert_eq!(v["checks"].as_array().unwrap().len(), 1, "{v}");
}

#[test]
fn the_daemon_does_not_tick_while_another_tick_holds_the_lock() {
    let (repo, layout) = project_with_a_builder();
    let held = FileLock::acquire(&layout.watchdog_tick_lock()).unwrap();
    let daemon = Daemon::start(&repo);
    daemon.next(20).expect("the daemon says it runs");
    assert!(
        daemon.next_tick(1).is_none(),
        "the daemon ticked while the tick lock was held"
    );
    let released = clock::now_millis();
    drop(held);
    let tick = daemon
        .next_tick(20)
        .expect("it ticks once the lock is free");
    let ticked = clock::parse_rfc3339(tick["timestamp"].as_str().unwrap()).unwrap();
    assert!(ticked >= released);
    wait_until(
        Duration::from_secs(5),
        "the tick lock is free again",
        || {
            FileLock::try_acquire(&layout.watchdog_tick_lock())
                .unwrap()
                .is_some()
        },
    );
}
