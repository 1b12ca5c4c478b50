//! The tmux manager against the real tmux binary, each test on its own
//! server socket, killed at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use overstory_core::process;
use overstory_fleet::tmux::{self, NewSession, SessionState, Tmux, TmuxError};
use overstory_runtime::{DialogAction, ReadyState};
use overstory_testkit::wait_until;

/// A private tmux server that is killed when dropped.
struct Server(Tmux);

impl Server {
    fn new(tag: &str) -> Option<Self> {
        if !Tmux::is_available() {
            eprintln!("tmux not installed; skipping");
            return None;
        }
        Some(Self(Tmux::new(format!(
            "ov-test-{tag}-{}",
            std::process::id()
        ))))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.0.kill_server();
    }
}

fn session(name: &str, cwd: &std::path::Path, command: &str) -> NewSession {
    NewSession {
        name: name.into(),
        cwd: cwd.to_owned(),
        command: command.into(),
        env: BTreeMap::new(),
        path_prepend: None,
    }
}

#[test]
fn create_send_capture_and_kill_a_session() {
    let Some(server) = Server::new("cycle") else {
        return;
    };
    let t = &server.0;
    let dir = tempfile::tempdir().unwrap();
    let name = tmux::session_name("my.proj", "builder-1");
    assert_eq!(name, "overstory-my_proj-builder-1");
    let pid = t
        .create_session(&session(&name, dir.path(), "cat"))
        .unwrap();
    assert!(process::is_alive(pid));
    assert!(t.is_alive(&name));
    assert_eq!(t.check_state(&name), SessionState::Alive);
    let listed = t.list_sessions().unwrap();
    assert!(listed.iter().any(|s| s.name == name), "{listed:?}");

    t.send_keys(&name, "hello\nworld", 3).unwrap();
    wait_until(Duration::from_secs(10), "echoed text", || {
        t.capture_pane(&name, 50)
            .is_some_and(|p| p.contains("hello world"))
    });

    assert!(t.kill_session(&name, Duration::from_millis(500)).unwrap());
    assert!(!t.is_alive(&name));
    wait_until(Duration::from_secs(10), "pane process to exit", || {
        !process::is_alive(pid) || is_zombie(pid)
    });
    // Killing again is tolerated.
    assert!(!t.kill_session(&name, Duration::ZERO).unwrap());
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
fn exported_values_are_quoted_not_executed() {
    let Some(server) = Server::new("quote") else {
        return;
    };
    let t = &server.0;
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let mut spec = session(
        "overstory-q-a",
        dir.path(),
        "sh -c 'printf \"%s\" \"$OVERSTORY_TASK_ID\" > out.txt; sleep 30'",
    );
    spec.env.insert(
        "OVERSTORY_TASK_ID".into(),
        format!("x\"$(touch {})\"'`y`", marker.display()),
    );
    t.create_session(&spec).unwrap();
    let out = dir.path().join("out.txt");
    wait_until(Duration::from_secs(10), "out.txt", || {
        std::fs::read_to_string(&out).is_ok_and(|s| !s.is_empty())
    });
    let got = std::fs::read_to_string(&out).unwrap();
    assert_eq!(got, format!("x\"$(touch {})\"'`y`", marker.display()));
    assert!(!marker.exists(), "a value was executed");
}

#[test]
fn exact_targets_do_not_match_prefixes() {
    let Some(server) = Server::new("exact") else {
        return;
    };
    let t = &server.0;
    let dir = tempfile::tempdir().unwrap();
    t.create_session(&session("overstory-p-builder-10", dir.path(), "cat"))
        .unwrap();
    assert!(!t.is_alive("overstory-p-builder-1"));
    assert_eq!(t.check_state("overstory-p-builder-1"), SessionState::Dead);
    assert!(matches!(
        t.send_keys("overstory-p-builder-1", "x", 3),
        Err(TmuxError::SessionNotFound { .. } | TmuxError::Failed { .. })
    ));
}

#[test]
fn missing_server_is_reported_specifically() {
    let t = Tmux::new(format!("ov-test-none-{}", std::process::id()));
    if !Tmux::is_available() {
        return;
    }
    assert_eq!(t.check_state("overstory-x-a"), SessionState::NoServer);
    assert!(t.list_sessions().unwrap().is_empty());
    assert!(matches!(
        t.send_keys("overstory-x-a", "hi", 3),
        Err(TmuxError::NoServer { .. })
    ));
    assert!(matches!(
        t.pane_pid("overstory-x-a"),
        Err(TmuxError::NoPanePid { .. })
    ));
}

#[test]
fn readiness_answers_a_dialog_then_sees_the_prompt() {
    let Some(server) = Server::new("ready") else {
        return;
    };
    let t = &server.0;
    let dir = tempfile::tempdir().unwrap();
    // A fake TUI: shows a dialog, waits for a line, then shows the prompt.
    let script =
        "printf 'Do you trust this folder?\\n'; read answer; printf 'READY-PROMPT\\n'; sleep 30";
    let spec = session("overstory-r-a", dir.path(), &format!("sh -c \"{script}\""));
    t.create_session(&spec).unwrap();
    let mut dialogs = 0;
    let ready = t.wait_for_tui_ready(
        "overstory-r-a",
        |pane| {
            if pane.contains("READY-PROMPT") {
                ReadyState::Ready
            } else if pane.contains("trust this folder") {
                dialogs += 1;
                ReadyState::Dialog(DialogAction::Enter)
            } else {
                ReadyState::Loading
            }
        },
        Duration::from_secs(10),
        Duration::from_millis(100),
    );
    assert!(ready);
    assert!(dialogs >= 1);
}

#[test]
fn readiness_is_false_when_the_session_dies() {
    let Some(server) = Server::new("dies") else {
        return;
    };
    let t = &server.0;
    let dir = tempfile::tempdir().unwrap();
    t.create_session(&session("overstory-d-a", dir.path(), "true"))
        .unwrap_or_default();
    let ready = t.wait_for_tui_ready(
        "overstory-d-a",
        |_| ReadyState::Loading,
        Duration::from_secs(5),
        Duration::from_millis(100),
    );
    assert!(!ready);
}

#[test]
fn process_tree_kill_escalates_without_descendants() {
    // A lone process that ignores SIGTERM must still die.
    let mut child = process::command("sh")
        .args([
            "-c",
            "trap '' TERM; echo ready; while :; do sleep 0.05; done",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let pid = child.id() as i32;
    let reaper = std::thread::spawn(move || child.wait().unwrap());
    let killed = tmux::kill_process_tree(pid, Duration::from_millis(200));
    let status = reaper.join().unwrap();
    assert!(killed >= 1);
    assert!(!status.success());
}

#[test]
fn descendants_are_listed_deepest_first() {
    let mut child = process::command("sh")
        .args(["-c", "sh -c 'sleep 30 & wait' & wait"])
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    wait_until(Duration::from_secs(10), "grandchild", || {
        tmux::descendants(pid).len() >= 2
    });
    let d = tmux::descendants(pid);
    // The sleep (grandchild) comes before its parent shell.
    let sleep_pos = d
        .iter()
        .position(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sleep")
        })
        .unwrap();
    assert_eq!(sleep_pos, 0, "{d:?}");
    tmux::kill_process_tree(pid, Duration::from_millis(500));
    child.wait().unwrap();
    wait_until(Duration::from_secs(10), "descendants gone", || {
        d.iter().all(|p| !process::is_alive(*p) || is_zombie(*p))
    });
}

/// A fake TUI: an idle prompt until a line containing the beacon arrives,
/// then a busy screen.
const FAKE_TUI: &str = "sh -c 'printf \"PROMPT>\\n\"; while read l; do case \"$l\" in *OVERSTORY*) printf \"BUSY working\\n\"; sleep 30;; esac; done'";

fn fake_detect(pane: &str) -> ReadyState {
    if pane.contains("BUSY") {
        ReadyState::Busy
    } else if pane.contains("PROMPT>") {
        ReadyState::Ready
    } else {
        ReadyState::Loading
    }
}

fn fast() -> overstory_fleet::beacon::BeaconTiming {
    overstory_fleet::beacon::BeaconTiming {
        shell_init_delay: Duration::ZERO,
        ready_timeout: Duration::from_secs(5),
        poll: Duration::from_millis(50),
        settle: Duration::from_millis(50),
        follow_up_enters: vec![Duration::from_millis(20); 2],
        verify_attempts: 5,
        verify_wait: Duration::from_millis(200),
    }
}

#[test]
fn beacon_is_delivered_once_the_tui_is_ready() {
    let Some(server) = Server::new("beacon") else {
        return;
    };
    let t = &server.0;
    let dir = tempfile::tempdir().unwrap();
    t.create_session(&session("overstory-b-a", dir.path(), FAKE_TUI))
        .unwrap();
    let beacon = "[OVERSTORY] a (builder) task:t-1 — Depth: 1 | Parent: lead";
    overstory_fleet::beacon::deliver_beacon(t, "overstory-b-a", beacon, fake_detect, &fast())
        .unwrap();
    let pane = t.capture_pane("overstory-b-a", 50).unwrap();
    assert!(pane.contains("BUSY working"), "{pane}");
    assert!(pane.contains("[OVERSTORY] a (builder)"), "{pane}");
}

#[test]
fn a_tui_that_never_gets_ready_is_killed_and_reported() {
    let Some(server) = Server::new("notready") else {
        return;
    };
    let t = &server.0;
    let dir = tempfile::tempdir().unwrap();
    t.create_session(&session("overstory-n-a", dir.path(), "sleep 30"))
        .unwrap();
    let mut timing = fast();
    timing.ready_timeout = Duration::from_millis(300);
    let err =
        overstory_fleet::beacon::deliver_beacon(t, "overstory-n-a", "x", fake_detect, &timing)
            .unwrap_err();
    assert!(matches!(err, TmuxError::NotReady { .. }), "{err:?}");
    assert!(err.to_string().contains("did not become ready"));
    assert!(!t.is_alive("overstory-n-a"));

    t.create_session(&session("overstory-n-b", dir.path(), "sleep 30"))
        .unwrap();
    t.create_session(&session("overstory-n-c", dir.path(), "true"))
        .unwrap_or_default();
    let err =
        overstory_fleet::beacon::deliver_beacon(t, "overstory-n-c", "x", fake_detect, &timing)
            .unwrap_err();
    assert!(
        matches!(
            err,
            TmuxError::DiedDuringStartup {
                no_server: false,
                ..
            }
        ),
        "{err:?}"
    );
}
