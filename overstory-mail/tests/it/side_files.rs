//! Pending-nudge markers and the debounce state file (35–37, 40–43).

use overstory_mail::nudge::{NudgeMarker, claim_debounce, take_marker, write_marker};
use overstory_mail::{CheckOptions, CheckOutcome, MessageType, Priority, Roster};

use crate::support::{Project, name, req};

#[test]
fn urgent_send_writes_a_tab_indented_marker_with_the_originals_keys() {
    let p = Project::new();
    let mut c = p.client();
    let d = c
        .deliver(
            &req("lead", "b1", "Stop now").priority(Priority::Urgent),
            &Roster::default(),
        )
        .unwrap();
    let m = &d.sent[0].message;
    let text = std::fs::read_to_string(p.layout.pending_nudge(&name("b1"))).unwrap();
    let expected = format!(
        "{{\n\t\"from\": \"lead\",\n\t\"reason\": \"urgent priority\",\n\t\"subject\": \"Stop now\",\n\t\"messageId\": \"{}\",\n\t\"createdAt\": \"{}\"\n}}\n",
        m.id, m.created_at
    );
    assert_eq!(text, expected);
}

#[test]
fn marker_reasons_by_priority_and_type_and_none_for_normal_status() {
    let p = Project::new();
    let mut c = p.client();
    let r = Roster::default();
    let reason = |d: overstory_mail::Delivery| d.sent[0].nudge.clone().map(|n| n.reason);
    assert_eq!(
        reason(
            c.deliver(&req("a", "b1", "s").priority(Priority::High), &r)
                .unwrap()
        )
        .as_deref(),
        Some("high priority")
    );
    let done = r#"{"taskId":"t","branch":"b","exitCode":0,"filesModified":[]}"#;
    let d = c
        .deliver(
            &req("builder-7", "b2", "s")
                .kind(MessageType::WorkerDone)
                .payload(done),
            &r,
        )
        .unwrap();
    assert_eq!(d.sent[0].nudge.as_ref().unwrap().from, "builder-7");
    assert_eq!(reason(d).as_deref(), Some("worker_done"));
    assert_eq!(reason(c.deliver(&req("a", "b3", "s"), &r).unwrap()), None);
    assert!(!p.layout.pending_nudge(&name("b3")).exists());
}

#[test]
fn inject_check_consumes_the_marker_and_shows_the_banner_once() {
    let p = Project::new();
    let mut c = p.client();
    c.deliver(
        &req("lead", "b1", "Fire").priority(Priority::Urgent),
        &Roster::default(),
    )
    .unwrap();
    let text = c.check_inject(&name("b1")).unwrap();
    assert!(
        text.starts_with(
            "PRIORITY: urgent priority message from lead — \"Fire\"\n\nYou have 1 new message:"
        ),
        "{text}"
    );
    assert!(text.contains("body of Fire"));
    assert!(!p.layout.pending_nudge(&name("b1")).exists());
    c.deliver(&req("lead", "b1", "Calm"), &Roster::default())
        .unwrap();
    assert!(!c.check_inject(&name("b1")).unwrap().contains("PRIORITY"));
}

#[test]
fn plain_check_leaves_the_marker_alone() {
    let p = Project::new();
    let mut c = p.client();
    c.deliver(
        &req("lead", "b1", "Fire").priority(Priority::High),
        &Roster::default(),
    )
    .unwrap();
    c.check(&name("b1")).unwrap();
    assert!(p.layout.pending_nudge(&name("b1")).exists());
}

#[test]
fn debounced_check_leaves_the_marker_alone() {
    let p = Project::new();
    let mut c = p.client();
    let opts = CheckOptions {
        debounce_ms: Some(60_000),
        take_marker: true,
        limit: None,
    };
    c.check_with(&name("b1"), opts).unwrap();
    c.deliver(
        &req("lead", "b1", "Fire").priority(Priority::High),
        &Roster::default(),
    )
    .unwrap();
    assert_eq!(
        c.check_with(&name("b1"), opts).unwrap(),
        CheckOutcome::Debounced
    );
    assert!(p.layout.pending_nudge(&name("b1")).exists());
}

#[test]
fn corrupt_marker_is_deleted_and_ignored() {
    let p = Project::new();
    std::fs::create_dir_all(p.layout.pending_nudges_dir()).unwrap();
    std::fs::write(p.layout.pending_nudge(&name("b1")), "{broken").unwrap();
    assert_eq!(take_marker(&p.layout, &name("b1")).unwrap(), None);
    assert!(!p.layout.pending_nudge(&name("b1")).exists());
}

#[test]
fn the_latest_marker_replaces_the_previous_one() {
    let p = Project::new();
    let mk = |s: &str| NudgeMarker {
        from: "a".into(),
        reason: "r".into(),
        subject: s.into(),
        message_id: "m".into(),
        created_at: "t".into(),
    };
    write_marker(&p.layout, &name("b1"), &mk("first")).unwrap();
    write_marker(&p.layout, &name("b1"), &mk("second")).unwrap();
    assert_eq!(
        take_marker(&p.layout, &name("b1"))
            .unwrap()
            .unwrap()
            .subject,
        "second"
    );
    let leftovers = std::fs::read_dir(p.layout.pending_nudges_dir())
        .unwrap()
        .count();
    assert_eq!(leftovers, 0, "no temporary files left behind");
}

#[test]
fn debounce_file_holds_ms_per_agent_and_is_tab_indented() {
    let p = Project::new();
    let path = p.layout.mail_check_state();
    assert!(claim_debounce(&path, &name("b1"), 500, 1_000).unwrap());
    assert!(claim_debounce(&path, &name("b2"), 500, 1_100).unwrap());
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\n\t\"b1\": 1000,\n\t\"b2\": 1100\n}\n"
    );
    assert!(!claim_debounce(&path, &name("b1"), 500, 1_499).unwrap());
    assert!(
        claim_debounce(&path, &name("b1"), 500, 1_500).unwrap(),
        "the window has passed"
    );
}

#[test]
fn corrupt_debounce_file_counts_as_empty_and_is_rewritten() {
    let p = Project::new();
    let path = p.layout.mail_check_state();
    std::fs::write(&path, "not json at all, and long enough to need truncating").unwrap();
    assert!(claim_debounce(&path, &name("b1"), 500, 42).unwrap());
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\n\t\"b1\": 42\n}\n"
    );
}

#[test]
fn debounce_file_is_written_only_when_debouncing() {
    let p = Project::new();
    let c = p.client();
    c.check_with(&name("b1"), CheckOptions::default()).unwrap();
    assert!(!p.layout.mail_check_state().exists());
    c.check_with(
        &name("b1"),
        CheckOptions {
            debounce_ms: Some(0),
            ..CheckOptions::default()
        },
    )
    .unwrap();
    assert!(p.layout.mail_check_state().exists());
}

#[test]
fn parallel_debounced_checks_never_lose_an_agents_timestamp() {
    let p = Project::new();
    let path = p.layout.mail_check_state();
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let path = path.clone();
            std::thread::spawn(move || {
                claim_debounce(&path, &name(&format!("agent-{i}")), 10_000, 5_000).unwrap()
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap());
    }
    let state: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(state.len(), 16);
}
