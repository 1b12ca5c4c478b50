//! `ov status` wiring.

use overstory_sessions::{AgentState, Session};

use crate::sessions_support::{Project, json, stderr, stdout};

#[test]
fn status_json_has_the_documented_fields() {
    let p = Project::new();
    let o = p.ov(&["status", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["success"], true);
    assert_eq!(v["command"], "status");
    assert!(v["currentRunId"].is_null());
    for key in [
        "agents",
        "worktrees",
        "tmuxSessions",
        "unreadMailCount",
        "unreadMailScope",
        "mergeQueueCount",
        "recentMetricsCount",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["unreadMailScope"], "orchestrator");
}

#[test]
fn all_flag_drops_current_run_and_verbose_adds_details() {
    let p = Project::new();
    let mut s = Session::new("builder-1".parse().unwrap(), "builder".parse().unwrap());
    s.state = AgentState::Completed;
    p.add(&s);
    let v = json(&p.ov(&["status", "--json", "--all", "--verbose"]));
    assert!(v.get("currentRunId").is_none());
    assert_eq!(v["agents"][0]["agentName"], "builder-1");
    assert_eq!(v["verboseDetails"]["builder-1"]["capability"], "builder");
}

#[test]
fn text_names_the_mail_scope_agent() {
    let p = Project::new();
    let o = p.ov(&["status", "--agent", "lead-1"]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(out.contains("Mail: 0 unread (to lead-1)"), "{out}");
    assert!(out.contains("Agents: 0 active"), "{out}");
}

#[test]
fn unread_mail_is_counted_from_mail_db() {
    let p = Project::new();
    let store = overstory_mail::MailStore::open(p.layout.mail_db()).unwrap();
    let mut ids = Vec::new();
    for to in ["orchestrator", "orchestrator", "x"] {
        let m = store
            .insert(&overstory_mail::NewMessage {
                from: "a".into(),
                to: to.into(),
                subject: "s".into(),
                body: "b".into(),
                ..Default::default()
            })
            .unwrap();
        ids.push(m.id);
    }
    store.mark_read(&ids[1]).unwrap();
    let v = json(&p.ov(&["status", "--json", "--verbose"]));
    assert_eq!(v["unreadMailCount"], 1);
}

#[test]
fn interval_below_500_is_rejected() {
    let p = Project::new();
    let o = p.ov(&["status", "--interval", "100", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json(&o)["success"], false);
}

#[test]
fn watch_is_deprecated_on_stderr_and_ends_when_stdout_closes() {
    use std::io::Read as _;
    let p = Project::new();
    let mut child = p
        .cmd()
        .args(["status", "--watch", "--interval", "500"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    let n = out.read(&mut first).unwrap();
    assert!(n > 0);
    drop(out);
    let status = child.wait().unwrap();
    assert!(status.success());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("deprecated"), "{err}");
}

/// Issue 11: a `mail.db` of garbage bytes read as "Mail: 0 unread" with exit
/// 0. It is an error now, in text and in JSON, and the file is left alone.
#[test]
fn a_corrupt_mail_db_fails_status_and_says_which_file() {
    let p = Project::new();
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(p.layout.mail_db(), &garbage).unwrap();
    let o = p.ov(&["status"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.starts_with(&format!(
            "Error [MAIL_ERROR]: Database \"{}\" is corrupt or not a SQLite database\n",
            p.layout.mail_db().display()
        )),
        "{err}"
    );
    assert!(err.contains("hint: Move the damaged file aside"), "{err}");
    assert!(!stdout(&o).contains("Mail: 0 unread"), "{}", stdout(&o));
    let o = p.ov(&["status", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    assert_eq!(v["success"], false);
    assert_eq!(v["code"], "MAIL_ERROR");
    assert_eq!(
        std::fs::read(p.layout.mail_db()).unwrap(),
        garbage,
        "untouched"
    );
}

/// Issue 11: one session row another program wrote (a capability we do not
/// know) no longer fails the whole command: the others are shown and the
/// row is named in a warning.
#[test]
fn an_undecodable_session_row_is_skipped_with_a_warning() {
    let p = Project::new();
    for name in ["builder-1", "odd-1"] {
        let mut s = Session::new(name.parse().unwrap(), "builder".parse().unwrap());
        s.state = AgentState::Working;
        s.worktree_path = p.path().display().to_string();
        p.add(&s);
    }
    let conn = rusqlite::Connection::open(p.layout.sessions_db()).unwrap();
    conn.execute(
        "UPDATE sessions SET capability = 'wizard' WHERE agent_name = 'odd-1'",
        [],
    )
    .unwrap();
    drop(conn);
    let o = p.ov(&["status", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    let names: Vec<&str> = v["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["agentName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["builder-1"]);
    let err = stderr(&o);
    assert!(
        err.starts_with("! Skipped 1 unreadable row(s) of sessions.db: \"odd-1\" ("),
        "{err}"
    );
    assert!(err.contains("wizard"), "{err}");
}

/// Issue 11: `--all` lists the finished agents too and counts every
/// recorded session (not the metrics rows).
#[test]
fn all_lists_finished_agents_and_counts_every_session() {
    let p = Project::new();
    for (name, state) in [
        ("builder-1", AgentState::Completed),
        ("builder-2", AgentState::Zombie),
        ("builder-3", AgentState::Booting),
    ] {
        let mut s = Session::new(name.parse().unwrap(), "builder".parse().unwrap());
        s.state = state;
        p.add(&s);
    }
    let out = stdout(&p.ov(&["status", "--all"]));
    assert!(out.contains("Agents: 1 active, 2 finished\n"), "{out}");
    for line in [
        "  > builder-3 [builder] booting",
        "  - builder-1 [builder] completed",
        "  - builder-2 [builder] zombie",
        "Sessions recorded: 3 (0 with metrics)\n",
    ] {
        assert!(out.contains(line), "missing {line:?}: {out}");
    }
    let out = stdout(&p.ov(&["status"]));
    assert!(out.contains("Agents: 1 active\n"), "{out}");
    assert!(!out.contains("builder-1"), "{out}");
}

#[test]
fn merge_queue_count_is_read_through_the_queue_and_never_creates_it() {
    let p = Project::new();
    let v = json(&p.ov(&["status", "--json"]));
    assert_eq!(v["mergeQueueCount"], 0);
    assert!(
        !p.layout.merge_queue_db().exists(),
        "status created merge-queue.db"
    );

    let mut q = overstory_merge::MergeQueue::open_in(&p.layout).unwrap();
    let mut ids = Vec::new();
    for b in ["overstory/a/t1", "overstory/b/t2", "overstory/c/t3"] {
        let e = q
            .enqueue(&overstory_merge::EnqueueRequest {
                branch_name: b.into(),
                task_id: "t".into(),
                agent_name: "a".into(),
                files_modified: vec![],
            })
            .unwrap();
        ids.push(e.entry.id);
    }
    q.mark(ids[0], overstory_merge::MergeStatus::Merged, None)
        .unwrap();
    let v = json(&p.ov(&["status", "--json"]));
    assert_eq!(v["mergeQueueCount"], 2, "{v}");
    let out = stdout(&p.ov(&["status"]));
    assert!(out.contains("Merge queue: 2 pending"), "{out}");
}
