//! `ov monitor`: the tier-2 monitor, hosted like the coordinator, and
//! `ov coordinator start --monitor` / `coordinator stop` starting and
//! stopping it (issue 12), driven with the scripted runtime.

use overstory_core::process;
use overstory_core::{AgentName, Layout};
use overstory_sessions::{AgentState, SessionStore};

use crate::support::{Run, TempRepo, initialized_repo, live_group_members, ov};

struct Project {
    repo: TempRepo,
    layout: Layout,
}

impl Project {
    /// A project whose coordinator and monitor each play one quiet turn.
    fn new(tier2: bool) -> Self {
        let repo = initialized_repo();
        let layout = Layout::new(repo.path());
        std::fs::create_dir_all(layout.scripts_dir()).unwrap();
        for agent in ["coordinator", "monitor"] {
            let turns =
                serde_json::json!({"turns": [{"steps": [{"say": format!("{agent} ready")}]}]});
            std::fs::write(
                layout.scripts_dir().join(format!("{agent}.json")),
                turns.to_string(),
            )
            .unwrap();
        }
        if tier2 {
            let path = layout.config();
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(text.contains("tier2Enabled: false"), "{text}");
            std::fs::write(
                &path,
                text.replace("tier2Enabled: false", "tier2Enabled: true"),
            )
            .unwrap();
        }
        Self { repo, layout }
    }

    fn ov(&self, args: &[&str]) -> Run {
        ov(self.repo.path(), args)
    }

    fn row(&self, agent: &str) -> Option<overstory_sessions::Session> {
        SessionStore::open(&self.layout.sessions_db())
            .unwrap()
            .get(agent)
            .unwrap()
    }
}

/// Stops whatever a failed assertion left running.
struct StopOnDrop<'a>(&'a Project);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.ov(&["monitor", "stop"]);
        let _ = self.0.ov(&["coordinator", "stop"]);
    }
}

fn pid_of(v: &serde_json::Value) -> i32 {
    i32::try_from(v["pid"].as_i64().expect("a pid")).unwrap()
}

#[test]
fn monitor_start_is_refused_while_tier2_is_disabled() {
    let p = Project::new(false);
    let err = p
        .ov(&["monitor", "start", "--runtime", "scripted", "--json"])
        .fails()
        .json();
    assert_eq!(err["success"], false);
    assert_eq!(err["command"], "monitor start");
    assert_eq!(
        err["error"],
        "Monitor agent (Tier 2) is disabled. Set watchdog.tier2Enabled: true in .overstory/config.yaml to enable."
    );
    assert!(p.row("monitor").is_none(), "nothing was recorded");
}

#[test]
fn monitor_starts_headless_without_a_run_and_stops() {
    let p = Project::new(true);
    let _guard = StopOnDrop(&p);
    let started = p
        .ov(&["monitor", "start", "--runtime", "scripted", "--json"])
        .ok()
        .json();
    assert_eq!(started["command"], "monitor start");
    assert_eq!(started["agentName"], "monitor");
    assert_eq!(started["capability"], "monitor");
    assert_eq!(started["headless"], true);
    assert!(started.get("runId").is_none(), "{started}");
    assert!(
        !p.layout.current_run().exists(),
        "the monitor owns no run: current-run.txt untouched"
    );
    let pid = pid_of(&started);
    let row = p.row("monitor").unwrap();
    assert_eq!(row.run_id, None);
    assert_eq!(row.depth, 0);

    let status = p.ov(&["monitor", "status", "--json"]).ok().json();
    assert_eq!(status["command"], "monitor status");
    assert_eq!(status["running"], true);
    assert_eq!(status["pid"].as_i64(), Some(i64::from(pid)));

    let again = p.ov(&["monitor", "start", "--runtime", "scripted"]).fails();
    assert!(
        again.stderr.contains("Monitor is already running"),
        "{again:?}"
    );

    let stopped = p.ov(&["monitor", "stop", "--json"]).ok().json();
    assert_eq!(stopped["stopped"], true);
    assert_eq!(stopped["monitorStopped"], false, "it stops nothing else");
    assert_eq!(p.row("monitor").unwrap().state, AgentState::Completed);
    assert!(!process::is_alive(pid));
    assert!(live_group_members(pid).is_empty());
    let status = p.ov(&["monitor", "status", "--json"]).ok().json();
    assert_eq!(status["running"], false);
    let again = p.ov(&["monitor", "stop"]).fails();
    assert!(
        again.stderr.contains("No active monitor session found"),
        "{again:?}"
    );
}

#[test]
fn coordinator_start_monitor_starts_it_and_coordinator_stop_stops_it() {
    let p = Project::new(true);
    let _guard = StopOnDrop(&p);
    let started = p
        .ov(&[
            "coordinator",
            "start",
            "--monitor",
            "--runtime",
            "scripted",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(started["monitor"], true, "{started}");
    assert!(started.get("warnings").is_none(), "{started}");
    let monitor = p.row("monitor").expect("the monitor's row");
    assert!(!monitor.state.is_terminal(), "{:?}", monitor.state);
    let monitor_pid = i32::try_from(monitor.pid.unwrap()).unwrap();
    assert!(process::is_alive(monitor_pid));
    let run_id = started["runId"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(p.layout.current_run()).unwrap(),
        run_id,
        "the coordinator's run stays current"
    );
    let status = p.ov(&["coordinator", "status", "--json"]).ok().json();
    assert_eq!(status["monitorRunning"], true);

    let stopped = p.ov(&["coordinator", "stop", "--json"]).ok().json();
    assert_eq!(stopped["monitorStopped"], true, "{stopped}");
    assert_eq!(p.row("monitor").unwrap().state, AgentState::Completed);
    assert_eq!(p.row("coordinator").unwrap().state, AgentState::Completed);
    assert!(!process::is_alive(monitor_pid));
    assert!(live_group_members(monitor_pid).is_empty());
    let agent = AgentName::new("monitor").unwrap();
    assert!(!p.layout.agent_host_pid(&agent).exists());
}

#[test]
fn coordinator_start_monitor_only_warns_while_tier2_is_disabled() {
    let p = Project::new(false);
    let _guard = StopOnDrop(&p);
    let started = p
        .ov(&[
            "coordinator",
            "start",
            "--monitor",
            "--runtime",
            "scripted",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(started["monitor"], false);
    assert_eq!(
        started["warnings"][0],
        "Monitor skipped: watchdog.tier2Enabled is false"
    );
    assert!(p.row("monitor").is_none());
}

#[test]
fn a_monitor_killed_outright_is_reported_and_restarted() {
    let p = Project::new(true);
    let _guard = StopOnDrop(&p);
    let first = p
        .ov(&["monitor", "start", "--runtime", "scripted", "--json"])
        .ok()
        .json();
    let host = i32::try_from(first["hostPid"].as_i64().unwrap()).unwrap();
    let pid = pid_of(&first);
    process::signal_process(host, process::Sig::Kill).unwrap();
    overstory_testkit::wait_until(
        std::time::Duration::from_secs(10),
        "the monitor to die with its host",
        || live_group_members(pid).is_empty(),
    );
    let check = |p: &Project| {
        let doctor = p
            .ov(&["doctor", "--category", "watchdog", "--json"])
            .ok()
            .json();
        doctor["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "tier2 monitor")
            .unwrap()
            .clone()
    };
    let before = check(&p);
    assert_eq!(
        before["status"], "warn",
        "the dead monitor is noticed: {before}"
    );
    assert!(
        before["message"]
            .as_str()
            .unwrap()
            .contains("process is gone"),
        "{before}"
    );
    let status = p.ov(&["monitor", "status", "--json"]).ok().json();
    assert_eq!(status["running"], false);
    assert_eq!(status["state"], "zombie", "a dead host is reconciled");

    assert_eq!(check(&p)["status"], "warn");

    let second = p
        .ov(&["monitor", "start", "--runtime", "scripted", "--json"])
        .ok()
        .json();
    assert_ne!(second["pid"], first["pid"]);
    assert_eq!(check(&p)["status"], "pass");
    p.ov(&["monitor", "stop"]).ok();
    assert!(live_group_members(pid_of(&second)).is_empty());
}
