//! `mail_sent` events in events.db (39, 46, improvement 8).

use overstory_core::events::{EventFilter, EventStore, StoredEvent};
use overstory_mail::{Priority, ReplyRequest, Roster, RosterEntry};

use crate::support::{Project, name, req};

fn events(p: &Project) -> Vec<StoredEvent> {
    match EventStore::open_if_exists(&p.layout.events_db()).unwrap() {
        Some(s) => s.timeline(&EventFilter::default()).unwrap(),
        None => Vec::new(),
    }
}

fn data(e: &StoredEvent) -> serde_json::Value {
    serde_json::from_str(e.data.as_deref().unwrap()).unwrap()
}

#[test]
fn a_send_records_mail_sent_by_the_sender_with_the_run_from_current_run_txt() {
    let p = Project::new();
    let mut c = p.client();
    let d = c
        .deliver(
            &req("lead-1", "builder-1", "Go").priority(Priority::High),
            &Roster::default(),
        )
        .unwrap();
    let ev = events(&p);
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(
        (
            e.agent_name.as_str(),
            e.event_type.as_str(),
            e.level.as_str()
        ),
        ("lead-1", "mail_sent", "info")
    );
    assert_eq!(
        (e.run_id.clone(), e.session_id.clone(), e.tool_name.clone()),
        (None, None, None)
    );
    assert_eq!(
        data(e),
        serde_json::json!({"to": "builder-1", "subject": "Go", "type": "status", "priority": "high", "messageId": d.sent[0].message.id})
    );
    std::fs::write(p.layout.current_run(), "run-2026-01-01T00-00-00-000Z\n").unwrap();
    c.deliver(&req("lead-1", "builder-1", "Again"), &Roster::default())
        .unwrap();
    assert_eq!(
        events(&p)[1].run_id.as_deref(),
        Some("run-2026-01-01T00-00-00-000Z")
    );
    std::fs::write(p.layout.current_run(), "  \n").unwrap();
    c.deliver(&req("lead-1", "builder-1", "Blank run"), &Roster::default())
        .unwrap();
    assert_eq!(events(&p)[2].run_id, None);
}

#[test]
fn a_broadcast_records_one_event_per_recipient_marked_broadcast() {
    let p = Project::new();
    let mut c = p.client();
    let roster = Roster::new(vec![
        RosterEntry::new("b1", "builder", "working"),
        RosterEntry::new("b2", "builder", "working"),
    ]);
    c.deliver(&req("lead-1", "@builders", "All"), &roster)
        .unwrap();
    let ev = events(&p);
    assert_eq!(ev.len(), 2);
    for (e, to) in ev.iter().zip(["b1", "b2"]) {
        assert_eq!(data(e)["to"], to);
        assert_eq!(data(e)["broadcast"], true);
    }
}

#[test]
fn replies_record_an_event_and_plain_sends_and_opted_out_clients_do_not() {
    let p = Project::new();
    let c = p.client();
    let m = c.send(&req("lead-1", "b1", "plain")).unwrap();
    assert!(
        events(&p).is_empty(),
        "MailClient::send is the bare store write"
    );
    c.reply(
        &ReplyRequest {
            id: m.id,
            body: "ok".into(),
            from: name("b1"),
            kind: None,
        },
        &Roster::default(),
    )
    .unwrap();
    let ev = events(&p);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].agent_name, "b1");
    let mut quiet = p.client().record_events(false);
    quiet
        .deliver(&req("lead-1", "b1", "quiet"), &Roster::default())
        .unwrap();
    assert_eq!(events(&p).len(), 1);
}
