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
    let mut s = Session::new("builder-1", "builder");
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
    let conn = rusqlite::Connection::open(p.layout.mail_db()).unwrap();
    conn.execute_batch(
        "CREATE TABLE messages (id TEXT PRIMARY KEY, from_agent TEXT, to_agent TEXT, read INTEGER, created_at TEXT);
         INSERT INTO messages VALUES ('m1','a','orchestrator',0,'t'),('m2','a','orchestrator',1,'t'),('m3','a','x',0,'t');",
    )
    .unwrap();
    let v = json(&p.ov(&["status", "--json"]));
    assert_eq!(v["unreadMailCount"], 1);
}

#[test]
fn interval_below_500_is_rejected() {
    let p = Project::new();
    let o = p.ov(&["status", "--interval", "100", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json(&o)["success"], false);
}
