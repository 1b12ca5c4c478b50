//! Mail actions: send, groups, threads, reply, read, delete.

use overstory_core::Capability;
use overstory_mail::MailStore;
use overstory_sessions::AgentState;
use serde_json::{Value, json};

use crate::support::Fixture;

#[tokio::test]
async fn send_stores_with_defaults_and_validates() {
    let f = Fixture::start().await;
    f.add_agent(
        "builder-1",
        Capability::Builder,
        AgentState::Completed,
        None,
        "2026-01-01T00:00:00.000Z",
    );
    f.add_agent(
        "lead-1",
        Capability::Lead,
        AgentState::Working,
        None,
        "2026-01-01T00:00:01.000Z",
    );
    let (s, b) = f
        .post(
            "/api/mail",
            &json!({"to": "lead-1", "subject": "Hi", "body": "there", "payload": "{\"k\":1}"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let id = b["data"]["messageId"].as_str().unwrap().to_owned();
    assert!(id.starts_with("msg-"));
    let stored = MailStore::open(f.layout.mail_db())
        .unwrap()
        .get(&id)
        .unwrap()
        .unwrap();
    assert_eq!(stored.from, "operator");
    assert_eq!(stored.kind.as_str(), "status");
    assert_eq!(stored.priority.as_str(), "normal");
    assert_eq!(stored.payload.as_deref(), Some("{\"k\":1}"));
    assert!(!stored.read);

    let cases = [
        json!({"to": "lead-1", "subject": "s", "body": "b", "type": "nope"}),
        json!({"to": "lead-1", "subject": "s", "body": "b", "priority": "nope"}),
        json!({"to": "ghost-1", "subject": "s", "body": "b"}),
        json!({"to": "lead-1", "subject": "s", "body": ""}),
        json!({"subject": "s", "body": "b"}),
        json!({"to": "@nobodies", "subject": "s", "body": "b"}),
        json!({"to": "@scouts", "subject": "s", "body": "b"}),
        json!({"to": "builder-1", "subject": "s", "body": "b"}),
        json!([1, 2]),
    ];
    for c in cases {
        let (s, b) = f.post("/api/mail", &c).await;
        assert_eq!(s, 400, "{c} -> {b}");
        assert_eq!(b["success"], false);
    }
    let r = crate::support::client()
        .post(f.url("/api/mail"))
        .bearer_auth(&f.info.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert!(
        b["error"]
            .as_str()
            .unwrap()
            .starts_with("Invalid JSON body")
    );
    assert_eq!(
        MailStore::open(f.layout.mail_db())
            .unwrap()
            .list(&Default::default())
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn groups_fan_out_to_active_members_except_the_sender() {
    let f = Fixture::start().await;
    f.add_agent(
        "builder-1",
        Capability::Builder,
        AgentState::Working,
        None,
        "2026-01-01T00:00:00.000Z",
    );
    f.add_agent(
        "builder-2",
        Capability::Builder,
        AgentState::Booting,
        None,
        "2026-01-01T00:00:01.000Z",
    );
    let (s, b) = f
        .post(
            "/api/mail",
            &json!({"to": "@builders", "subject": "s", "body": "b"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["messageIds"].as_array().unwrap().len(), 2);
    let (s, b) = f
        .post(
            "/api/mail",
            &json!({"to": "@builders", "subject": "s", "body": "b", "from": "builder-1"}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(b["data"]["messageIds"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn threads_replies_read_and_delete() {
    let f = Fixture::start().await;
    f.add_agent(
        "lead-1",
        Capability::Lead,
        AgentState::Working,
        None,
        "2026-01-01T00:00:00.000Z",
    );
    let (_, b) = f
        .post(
            "/api/mail",
            &json!({"to": "lead-1", "subject": "Plan", "body": "go"}),
        )
        .await;
    let root = b["data"]["messageId"].as_str().unwrap().to_owned();
    // The lead answers; the answer threads under the root.
    let (s, r) = f
        .post(
            &format!("/api/mail/{root}/reply"),
            &json!({"body": "ok", "from": "lead-1"}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let reply = r["data"]["messageId"].as_str().unwrap().to_owned();
    let stored = MailStore::open(f.layout.mail_db())
        .unwrap()
        .get(&reply)
        .unwrap()
        .unwrap();
    assert_eq!(stored.to, "operator");
    assert_eq!(stored.subject, "Re: Plan");
    assert_eq!(stored.thread_id.as_deref(), Some(root.as_str()));

    // Opening either end shows the whole thread, root first.
    for id in [&root, &reply] {
        let (_, t) = f.get(&format!("/api/mail/{id}")).await;
        let thread: Vec<&str> = t["data"]["thread"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert_eq!(thread, [root.as_str(), reply.as_str()]);
        assert_eq!(t["data"]["message"]["id"], id.as_str());
    }
    let (s, _) = f
        .post("/api/mail/msg-nope/reply", &json!({"body": "x"}))
        .await;
    assert_eq!(s, 404);
    let (s, _) = f
        .post(&format!("/api/mail/{root}/reply"), &json!({"body": ""}))
        .await;
    assert_eq!(s, 400);

    let (_, unread) = f.get("/api/mail?unread=true&to=lead-1").await;
    assert_eq!(unread["data"].as_array().unwrap().len(), 1);
    let (s, b) = f.post(&format!("/api/mail/{root}/read"), &json!({})).await;
    assert_eq!((s, &b["data"]), (200, &json!({"id": root, "read": true})));
    let (s, _) = f.post(&format!("/api/mail/{root}/read"), &json!({})).await;
    assert_eq!(s, 200, "idempotent");
    let (_, unread) = f.get("/api/mail?unread=true&to=lead-1").await;
    assert_eq!(unread["data"], json!([]));
    let (s, _) = f.post("/api/mail/msg-nope/read", &json!({})).await;
    assert_eq!(s, 404);

    let (_, from) = f.get("/api/mail?from=lead-1").await;
    assert_eq!(from["data"].as_array().unwrap().len(), 1);

    let (s, b) = f.delete(&format!("/api/mail/{reply}")).await;
    assert_eq!(
        (s, &b["data"]),
        (200, &json!({"id": reply, "deleted": true}))
    );
    let (s, _) = f.delete(&format!("/api/mail/{reply}")).await;
    assert_eq!(s, 404);
    assert!(
        MailStore::open(f.layout.mail_db())
            .unwrap()
            .get(&root)
            .unwrap()
            .is_some(),
        "only that row"
    );
}

#[tokio::test]
async fn mail_pages_newest_first_without_duplicates() {
    let f = Fixture::start().await;
    f.add_agent(
        "lead-1",
        Capability::Lead,
        AgentState::Working,
        None,
        "2026-01-01T00:00:00.000Z",
    );
    for i in 0..3 {
        f.post(
            "/api/mail",
            &json!({"to": "lead-1", "subject": format!("m{i}"), "body": "b"}),
        )
        .await;
    }
    let (_, p1) = f.get("/api/mail?limit=2").await;
    let c = p1["nextCursor"].as_str().unwrap();
    let (_, p2) = f.get(&format!("/api/mail?limit=2&cursor={c}")).await;
    let mut all: Vec<String> = [p1, p2]
        .iter()
        .flat_map(|p| {
            p["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(all.len(), 3);
    all.dedup();
    assert_eq!(all.len(), 3);
}
