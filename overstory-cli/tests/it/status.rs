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
