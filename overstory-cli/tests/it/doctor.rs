//! `ov doctor`: wiring of categories, exit codes, --category and --fix
//! (issue 12). The checks themselves are tested in their crates.

use std::path::Path;

use overstory_core::Layout;

use crate::support::{Run, TempRepo, initialized_repo, ov};

const CATEGORIES: [&str; 13] = [
    "dependencies",
    "structure",
    "config",
    "databases",
    "consistency",
    "agents",
    "merge",
    "logs",
    "version",
    "ecosystem",
    "providers",
    "watchdog",
    "serve",
];

fn doctor(repo: &TempRepo, extra: &[&str]) -> Run {
    let mut args = vec!["doctor", "--json"];
    args.extend_from_slice(extra);
    ov(repo.path(), &args)
}

fn checks(v: &serde_json::Value) -> &Vec<serde_json::Value> {
    v["checks"].as_array().expect("a checks array")
}

fn find<'a>(v: &'a serde_json::Value, category: &str, name: &str) -> &'a serde_json::Value {
    checks(v)
        .iter()
        .find(|c| c["category"] == category && c["name"] == name)
        .unwrap_or_else(|| panic!("no check {category}/{name}: {v:#}"))
}

/// A pid that named a process which has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn a_fresh_project_passes_with_every_category_listed() {
    let repo = initialized_repo();
    let out = doctor(&repo, &[]).ok().json();
    assert_eq!(out["success"], true);
    assert_eq!(out["command"], "doctor");
    for c in checks(&out) {
        assert_ne!(c["status"], "fail", "a fresh project fails {c}");
        for field in ["category", "name", "status", "message"] {
            assert!(c[field].is_string(), "{field} missing in {c}");
        }
        if c["status"] == "warn" {
            assert!(
                !c["message"].as_str().unwrap().is_empty(),
                "a warning says what to do: {c}"
            );
        }
    }
    for category in CATEGORIES {
        assert!(
            checks(&out).iter().any(|c| c["category"] == category),
            "category {category} is missing"
        );
    }
    assert_eq!(out["summary"]["fail"], 0);
    assert!(out.get("fixed").is_none());

    let text = ov(repo.path(), &["doctor"]).ok().stdout;
    assert!(text.contains("Summary: "), "{text}");
    assert!(text.contains("0 failures"), "{text}");
}

#[test]
fn a_corrupt_database_fails_naming_the_file() {
    let repo = initialized_repo();
    let layout = Layout::new(repo.path());
    for (file, path) in [
        ("mail.db", layout.mail_db()),
        ("sessions.db", layout.sessions_db()),
        ("events.db", layout.events_db()),
        ("metrics.db", layout.metrics_db()),
        ("merge-queue.db", layout.merge_queue_db()),
    ] {
        std::fs::write(
            &path,
            b"garbage bytes, not a database: garbage garbage garbage",
        )
        .unwrap();
        let out = doctor(&repo, &[]).fails().json();
        let failed: Vec<&serde_json::Value> = checks(&out)
            .iter()
            .filter(|c| c["status"] == "fail")
            .collect();
        assert_eq!(failed.len(), 1, "{file}: {failed:#?}");
        let message = failed[0]["message"].as_str().unwrap();
        assert!(message.contains(file), "{file}: {message}");
        assert!(
            message.contains("move it aside"),
            "says what to do: {message}"
        );
        assert_eq!(out["summary"]["fail"], 1);
        std::fs::remove_file(&path).unwrap();
    }
    std::fs::write(
        layout.mail_db(),
        b"garbage bytes, not a database: garbage garbage garbage",
    )
    .unwrap();
    let text = ov(repo.path(), &["doctor"]).fails();
    assert!(text.stdout.contains("x mail.db: "), "{text:?}");
    assert!(text.stdout.contains("1 failure"), "{text:?}");
}

#[test]
fn undecodable_session_rows_are_reported() {
    let repo = initialized_repo();
    let layout = Layout::new(repo.path());
    // A row another program wrote with a name our types reject.
    overstory_sessions::SessionStore::open(&layout.sessions_db()).unwrap();
    let conn = rusqlite::Connection::open(layout.sessions_db()).unwrap();
    conn.execute(
        "INSERT INTO sessions (id, agent_name, capability, worktree_path, branch_name, task_id, \
         tmux_session, state, started_at, last_activity) VALUES \
         ('s-1', 'bad name!', 'builder', '/nowhere', 'b', 't', '', 'working', \
         '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')",
        [],
    )
    .unwrap();
    drop(conn);
    let out = doctor(&repo, &["--category", "databases"]).ok().json();
    let rows = find(&out, "databases", "sessions.db rows");
    assert_eq!(rows["status"], "warn");
    assert!(
        rows["message"].as_str().unwrap().contains("\"bad name!\""),
        "{rows}"
    );
}

#[test]
fn category_filters_the_checks() {
    let repo = initialized_repo();
    let out = doctor(&repo, &["--category", "structure"]).ok().json();
    assert!(!checks(&out).is_empty());
    assert!(
        checks(&out).iter().all(|c| c["category"] == "structure"),
        "{out:#}"
    );
    let total = out["summary"]["pass"].as_u64().unwrap()
        + out["summary"]["warn"].as_u64().unwrap()
        + out["summary"]["fail"].as_u64().unwrap();
    assert_eq!(total, checks(&out).len() as u64);
}

#[test]
fn an_unknown_category_is_a_usage_error_listing_the_valid_ones() {
    let repo = initialized_repo();
    let run = ov(repo.path(), &["doctor", "--category", "bogus"]).fails();
    assert!(run.stderr.contains("Unknown category \"bogus\""), "{run:?}");
    for category in CATEGORIES {
        assert!(run.stderr.contains(category), "{category}: {run:?}");
    }
    let json = ov(repo.path(), &["doctor", "--category", "bogus", "--json"])
        .fails()
        .json();
    assert_eq!(json["success"], false);
}

#[test]
fn fix_creates_a_missing_dir_and_removes_a_stale_pid_file() {
    let repo = initialized_repo();
    let layout = Layout::new(repo.path());
    std::fs::remove_dir_all(layout.logs_dir()).unwrap();
    std::fs::write(layout.watchdog_pid(), format!("{}\n", dead_pid())).unwrap();
    let agent_dir = layout.agents_dir().join("builder-1");
    std::fs::create_dir_all(&agent_dir).unwrap();
    std::fs::write(agent_dir.join("turn.pid"), format!("{}\n", dead_pid())).unwrap();
    std::fs::write(layout.gitignore(), "*\n!.gitignore\n").unwrap();

    let before = doctor(&repo, &[]).ok().json();
    assert_eq!(find(&before, "structure", "directories")["status"], "warn");
    let stale = find(&before, "watchdog", "watchdog process");
    assert_eq!(stale["status"], "warn");
    assert!(
        stale["message"]
            .as_str()
            .unwrap()
            .contains("Stale watchdog.pid")
    );
    assert_eq!(
        find(&before, "consistency", "stale pid files")["status"],
        "warn"
    );
    assert!(
        layout.watchdog_pid().exists(),
        "doctor without --fix changes nothing"
    );
    assert!(!layout.logs_dir().exists());

    let after = doctor(&repo, &["--fix"]).ok().json();
    let dirs = find(&after, "structure", "directories");
    assert_eq!(dirs["status"], "pass", "{dirs}");
    assert_eq!(dirs["fixed"], true, "{dirs}");
    assert!(layout.logs_dir().is_dir());
    let watchdog = find(&after, "watchdog", "watchdog process");
    assert_eq!(watchdog["fixed"], true, "{watchdog}");
    assert!(!layout.watchdog_pid().exists());
    let pids = find(&after, "consistency", "stale pid files");
    assert_eq!(
        (&pids["status"], &pids["fixed"]),
        (&"pass".into(), &true.into())
    );
    assert!(!agent_dir.join("turn.pid").exists());
    let gitignore = find(&after, "structure", ".gitignore");
    assert_eq!(gitignore["fixed"], true);
    let text = std::fs::read_to_string(layout.gitignore()).unwrap();
    assert!(
        text.contains("!config.yaml") && text.contains("!agent-defs/**"),
        "{text}"
    );
    let fixed: Vec<&str> = after["fixed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(
        fixed
            .iter()
            .any(|f| f.starts_with("create directory") && f.ends_with("logs")),
        "{fixed:?}"
    );
    assert!(
        fixed.iter().any(|f| f.contains("watchdog.pid")),
        "{fixed:?}"
    );
    // The fleet-level repair ran and found nothing left to do.
    assert_eq!(
        find(&after, "consistency", "fleet repair")["status"],
        "pass"
    );

    let again = doctor(&repo, &["--fix"]).ok().json();
    assert!(
        checks(&again).iter().all(|c| c.get("fixed").is_none()),
        "nothing left to fix: {again:#}"
    );
}

#[test]
fn fix_migrates_a_database_missing_a_column_and_keeps_its_rows() {
    let repo = initialized_repo();
    let layout = Layout::new(repo.path());
    let path = layout.merge_queue_db();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE merge_queue (id INTEGER PRIMARY KEY AUTOINCREMENT, branch_name TEXT NOT NULL, \
         task_id TEXT NOT NULL, agent_name TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending'); \
         INSERT INTO merge_queue (branch_name, task_id, agent_name) VALUES ('b', 't', 'a');",
    )
    .unwrap();
    drop(conn);
    let out = doctor(&repo, &["--category", "merge"]).fails().json();
    let schema = find(&out, "merge", "merge-queue.db schema");
    assert!(
        schema["message"]
            .as_str()
            .unwrap()
            .contains("column merge_queue.files_modified"),
        "{schema}"
    );
    let fixed = doctor(&repo, &["--category", "merge", "--fix"]).ok().json();
    assert_eq!(
        find(&fixed, "merge", "merge-queue.db schema")["fixed"],
        true
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM merge_queue", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1, "the row is kept");
    assert!(Path::new(&path).exists());
}

/// Issue 12: doctor reports what a kill -9 left (here a sling that died
/// after reserving its row and worktree), and `--fix` repairs it through the
/// reconciler, so the next sling of that name works.
#[test]
fn fix_rolls_back_a_dead_sling_through_the_reconciler() {
    use overstory_fleet::reconcile::SlingMarker;
    use overstory_fleet::{SlingRequest, sling};

    let repo = initialized_repo();
    let root = repo.path().canonicalize().unwrap();
    let layout = Layout::new(&root);
    let config = overstory_core::Config::load(&root).unwrap().config;
    let mut req = SlingRequest::new(
        layout.clone(),
        config,
        "task-d".parse().unwrap(),
        "/bin/true".into(),
    );
    req.name = Some("builder-d".parse().unwrap());
    req.runtime = Some("scripted".into());
    req.force_hierarchy = true;
    let report = sling(&req).unwrap();
    // The sling "died": its marker names a process that has exited.
    let mut marker = SlingMarker::this_process(&report.session_id);
    marker.pid = i32::try_from(dead_pid()).unwrap();
    let agent = overstory_core::AgentName::new("builder-d").unwrap();
    marker.write(&layout, &agent).unwrap();
    assert!(layout.agent_worktree(&agent).exists());

    let before = doctor(&repo, &[]).json();
    let dead = find(&before, "consistency", "fleet repair: dead sling");
    assert_eq!(dead["status"], "warn", "{before:#}");
    assert!(
        dead["message"]
            .as_str()
            .unwrap()
            .contains("ov doctor --fix"),
        "{dead}"
    );
    assert!(
        layout.agent_worktree(&agent).exists(),
        "doctor without --fix changed nothing"
    );

    let after = doctor(&repo, &["--fix"]).json();
    let dead = find(&after, "consistency", "fleet repair: dead sling");
    assert_eq!(dead["status"], "pass", "{after:#}");
    assert_eq!(dead["fixed"], true);
    assert!(
        !layout.agent_worktree(&agent).exists(),
        "the worktree was rolled back"
    );
    let row = overstory_sessions::SessionStore::open(&layout.sessions_db())
        .unwrap()
        .get("builder-d")
        .unwrap();
    assert!(row.is_none(), "the booting row was rolled back: {row:?}");
    // And the name is free again.
    sling(&req).unwrap();
}

#[test]
fn merge_category_reports_a_held_lock_and_a_killed_merges_worktree() {
    let repo = initialized_repo();
    let layout = Layout::new(repo.path());
    let out = doctor(&repo, &["--category", "merge"]).ok().json();
    assert_eq!(
        find(&out, "merge", "merge locks")["message"],
        "No merge is running"
    );
    assert_eq!(find(&out, "merge", "merge worktrees")["status"], "pass");
    assert!(
        !layout.merge_queue_db().exists(),
        "doctor never creates the queue"
    );

    // This test process holds the lock; ov doctor is another process.
    let lock =
        overstory_merge::MergeLock::acquire(&layout, "main", overstory_merge::LockWait::NoWait)
            .unwrap();
    let root = overstory_merge::scratch_root(&layout);
    std::fs::create_dir_all(root.join("merge-killed")).unwrap();
    std::fs::write(root.join("merge-killed.owner"), format!("{}\n", dead_pid())).unwrap();
    let out = doctor(&repo, &["--category", "merge"]).json();
    let locks = find(&out, "merge", "merge locks")["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        locks.starts_with(&format!(
            "A merge is running into main (pid {}",
            std::process::id()
        )),
        "{locks}"
    );
    let wt = find(&out, "merge", "merge worktrees");
    assert_eq!(wt["status"], "warn", "{wt}");
    assert!(
        wt["message"].as_str().unwrap().contains("merge-killed"),
        "{wt}"
    );
    lock.release();
}

/// Kills what a failed assertion of the dead-host test left: the wedged
/// agent group and any coordinator started after it.
struct Cleanup<'a>(&'a TempRepo, i32);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = overstory_core::process::signal_group(self.1, overstory_core::process::Sig::Kill);
        let _ = ov(self.0.path(), &["coordinator", "stop"]);
    }
}

/// Issue 12: a real hosted coordinator whose agent host and shim are killed
/// -9 together, leaving a tool of the agent running in its group. Without
/// any watchdog, `ov doctor` reports it, `--fix` kills the orphaned group,
/// removes the host's files and settles the row, a second `--fix` finds
/// nothing, and the coordinator starts again.
#[test]
fn fix_settles_a_coordinator_whose_host_was_killed_and_kills_what_it_left() {
    use crate::support::live_group_members;
    use overstory_core::{AgentName, process};
    use overstory_sessions::{AgentState, SessionStore};

    let repo = initialized_repo();
    let layout = Layout::new(repo.path());
    std::fs::create_dir_all(layout.scripts_dir()).unwrap();
    std::fs::write(
        layout.scripts_dir().join("coordinator.json"),
        // A tool the agent started: it outlives the agent in its group.
        serde_json::json!({"turns": [{"steps": [
            {"run": "sleep 300 >/dev/null 2>&1 & echo $! > tool.pid"},
            {"say": "hi"}
        ]}]})
        .to_string(),
    )
    .unwrap();
    let start = || {
        ov(
            repo.path(),
            &["coordinator", "start", "--runtime", "scripted", "--json"],
        )
        .ok()
        .json()
    };
    let first = start();
    let host = i32::try_from(first["hostPid"].as_i64().unwrap()).unwrap();
    let pgid = i32::try_from(first["pid"].as_i64().unwrap()).unwrap();
    let _cleanup = Cleanup(&repo, pgid);
    let agent = AgentName::new("coordinator").unwrap();
    let state = || {
        SessionStore::open(&layout.sessions_db())
            .unwrap()
            .get("coordinator")
            .unwrap()
            .unwrap()
            .state
    };

    let tool = repo.path().join("tool.pid");
    overstory_testkit::wait_until(
        std::time::Duration::from_secs(10),
        "the agent's tool to start",
        || process::read_pid_file(&tool).is_some_and(process::is_alive),
    );
    // The host and its shim die together (the host stopped first, so it
    // cannot react to the shim's death): nothing is left to take the
    // agent's group down.
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &host.to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    process::signal_process(pgid, process::Sig::Kill).unwrap();
    process::signal_process(host, process::Sig::Kill).unwrap();
    overstory_testkit::wait_until(
        std::time::Duration::from_secs(10),
        "the host lock to be free",
        || overstory_turn::host::live_host(&layout, &agent).is_none(),
    );
    assert!(
        !live_group_members(pgid).is_empty(),
        "the agent group runs on"
    );
    assert!(layout.agent_host_socket(&agent).exists());

    let before = doctor(&repo, &[]).json();
    let dead = find(&before, "consistency", "fleet repair: dead agent host");
    assert_eq!(dead["status"], "warn", "{before:#}");
    let message = dead["message"].as_str().unwrap();
    assert!(
        message.contains("still runs") && message.contains("ov doctor --fix"),
        "{dead}"
    );
    assert!(
        !live_group_members(pgid).is_empty(),
        "a report changes nothing"
    );
    assert_eq!(state(), AgentState::Working);

    let after = doctor(&repo, &["--fix"]).json();
    let dead = find(&after, "consistency", "fleet repair: dead agent host");
    assert_eq!(
        (&dead["status"], &dead["fixed"]),
        (&"pass".into(), &true.into()),
        "{after:#}"
    );
    assert!(
        live_group_members(pgid).is_empty(),
        "no process left in the agent's group"
    );
    assert_eq!(state(), AgentState::Zombie);
    for f in [
        layout.agent_host_pid(&agent),
        layout.agent_host_socket(&agent),
        layout.agent_host_owner(&agent),
    ] {
        assert!(f.symlink_metadata().is_err(), "{} is left", f.display());
    }
    assert_eq!(
        find(&after, "consistency", "dead processes")["status"],
        "pass",
        "the checks are taken after the repair"
    );

    let again = doctor(&repo, &["--fix"]).json();
    assert!(
        checks(&again).iter().all(|c| c.get("fixed").is_none()),
        "nothing left to fix: {again:#}"
    );
    assert_eq!(
        find(&again, "consistency", "fleet repair")["status"],
        "pass"
    );

    let second = start();
    assert_ne!(second["pid"], first["pid"]);
    let status = ov(repo.path(), &["coordinator", "status", "--json"])
        .ok()
        .json();
    assert_eq!(status["running"], true, "{status}");
    ov(repo.path(), &["coordinator", "stop"]).ok();
}
