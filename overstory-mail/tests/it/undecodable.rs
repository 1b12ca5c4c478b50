//! Rows another program wrote badly never cost the good ones: they are
//! reported, left unread, and the rest of the inbox is delivered.

use overstory_mail::{CheckOptions, ListFilter, MailError, MailStore};

use crate::support::{Project, msg, name};

/// Writes raw SQL into the project's mail.db, as another program would.
fn raw(p: &Project, sql: &str) {
    let c = rusqlite::Connection::open(p.layout.mail_db()).unwrap();
    c.execute_batch(sql).unwrap();
}

/// Returns the `read` flag of the row with `id`, straight from SQLite.
fn read_flag(p: &Project, id: &str) -> i64 {
    let c = rusqlite::Connection::open(p.layout.mail_db()).unwrap();
    c.query_row("SELECT read FROM messages WHERE id = ?1", [id], |r| {
        r.get(0)
    })
    .unwrap()
}

const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

fn insert_blob_body(p: &Project, id: &str, to: &str) {
    raw(
        p,
        &format!(
            "INSERT INTO messages (id, from_agent, to_agent, subject, body, type, priority, read, created_at)
             VALUES ('{id}', 'other', '{to}', 'binary', X'FF00', 'status', 'normal', 0, {NOW})"
        ),
    );
}

#[test]
fn one_blob_body_among_good_rows_delivers_the_good_ones_and_leaves_it_unread() {
    let p = Project::new();
    let s = p.store();
    let a = s.insert(&msg("lead", "b1", "first")).unwrap();
    insert_blob_body(&p, "msg-bad", "b1");
    let c = s.insert(&msg("lead", "b1", "third")).unwrap();

    let batch = p.client().check(&name("b1")).unwrap();
    assert_eq!(
        batch.messages.iter().map(|m| &m.id).collect::<Vec<_>>(),
        [&a.id, &c.id]
    );
    assert!(batch.messages.iter().all(|m| m.read));
    assert_eq!(batch.undecodable.len(), 1);
    let bad = &batch.undecodable[0];
    assert_eq!(bad.id.as_deref(), Some("msg-bad"));
    assert!(
        bad.problem.contains("body") && bad.problem.contains("BLOB"),
        "{}",
        bad.problem
    );
    assert!(bad.to_string().contains("msg-bad"), "{bad}");

    assert_eq!(read_flag(&p, &a.id), 1);
    assert_eq!(read_flag(&p, &c.id), 1);
    assert_eq!(read_flag(&p, "msg-bad"), 0, "the bad row stays unread");

    // The next check delivers nothing twice and still reports the bad row.
    let again = p.client().check(&name("b1")).unwrap();
    assert!(again.messages.is_empty());
    assert_eq!(again.undecodable.len(), 1);
    // Marking it read by id (the way out for an operator) works.
    assert_eq!(s.mark_read("msg-bad").unwrap(), Some(false));
    assert!(p.client().check(&name("b1")).unwrap().is_empty());
}

#[test]
fn an_unknown_type_or_priority_is_reported_by_column() {
    let p = Project::new();
    let s = p.store();
    let good = s.insert(&msg("lead", "b1", "good")).unwrap();
    raw(
        &p,
        &format!(
            "PRAGMA ignore_check_constraints = ON;
             INSERT INTO messages (id, from_agent, to_agent, subject, body, type, priority, read, created_at)
             VALUES ('msg-newtype', 'other', 'b1', 's', 'b', 'telegram', 'normal', 0, {NOW});
             INSERT INTO messages (id, from_agent, to_agent, subject, body, type, priority, read, created_at)
             VALUES ('msg-newprio', 'other', 'b1', 's', 'b', 'status', 'whenever', 0, {NOW});"
        ),
    );
    let batch = s.claim_unread("b1", None).unwrap();
    assert_eq!(batch.ids(), [good.id]);
    let problems: Vec<(Option<&str>, &str)> = batch
        .undecodable
        .iter()
        .map(|u| (u.id.as_deref(), u.problem.as_str()))
        .collect();
    assert_eq!(
        problems,
        [
            (
                Some("msg-newtype"),
                "type \"telegram\" is not a known message type"
            ),
            (
                Some("msg-newprio"),
                "priority \"whenever\" is not a known priority"
            ),
        ]
    );
    assert_eq!(read_flag(&p, "msg-newtype"), 0);
    assert_eq!(read_flag(&p, "msg-newprio"), 0);
}

#[test]
fn a_null_id_and_bad_utf8_are_named_by_rowid_and_column() {
    let p = Project::new();
    let s = p.store();
    raw(
        &p,
        &format!(
            "INSERT INTO messages (id, from_agent, to_agent, subject, body, type, priority, read, created_at)
             VALUES (NULL, 'other', 'b1', CAST(X'C328' AS TEXT), 'b', 'status', 'normal', 0, {NOW});"
        ),
    );
    let batch = s.claim_unread("b1", None).unwrap();
    assert!(batch.messages.is_empty());
    let bad = &batch.undecodable[0];
    assert_eq!(bad.id, None);
    assert_eq!(bad.label(), format!("rowid {}", bad.seq));
    assert_eq!(
        bad.problem,
        "id holds NULL, not text; subject holds text that is not valid UTF-8"
    );
}

#[test]
fn a_limited_claim_counts_only_good_rows() {
    let p = Project::new();
    let s = p.store();
    insert_blob_body(&p, "msg-bad", "b1");
    let ids: Vec<String> = (0..3)
        .map(|i| s.insert(&msg("a", "b1", &i.to_string())).unwrap().id)
        .collect();
    let batch = s.claim_unread("b1", Some(2)).unwrap();
    assert_eq!(batch.ids(), ids[..2]);
    assert_eq!(batch.undecodable.len(), 1);
    let outcome = p
        .client()
        .check_with(
            &name("b1"),
            CheckOptions {
                limit: Some(5),
                ..CheckOptions::default()
            },
        )
        .unwrap();
    assert_eq!(outcome.ids(), ids[2..]);
    assert_eq!(outcome.undecodable().len(), 1);
}

#[test]
fn list_returns_the_good_rows_and_the_problems() {
    let p = Project::new();
    let s = p.store();
    let a = s.insert(&msg("lead", "b1", "first")).unwrap();
    insert_blob_body(&p, "msg-bad", "b2");
    let batch = s.list_batch(&ListFilter::default()).unwrap();
    assert_eq!(batch.ids(), std::slice::from_ref(&a.id));
    assert_eq!(batch.undecodable[0].id.as_deref(), Some("msg-bad"));
    // The plain list and the unread view skip the bad row instead of failing.
    assert_eq!(s.list(&ListFilter::default()).unwrap().len(), 1);
    assert!(s.unread("b2").unwrap().is_empty());
    assert_eq!(s.unread_batch("b2").unwrap().undecodable.len(), 1);
    assert_eq!(s.since(0, 10).unwrap().len(), 1, "a tail skips it");
    // Asking for the bad row itself says what is wrong with it.
    match s.get("msg-bad") {
        Err(MailError::Undecodable(u)) => assert!(u.problem.contains("body"), "{u}"),
        other => panic!("expected Undecodable, got {other:?}"),
    }
    assert_eq!(s.get(&a.id).unwrap().unwrap().id, a.id);
}

#[test]
fn unclaim_puts_mail_back_for_exactly_one_later_delivery() {
    let p = Project::new();
    let s = p.store();
    let a = s.insert(&msg("lead", "b1", "first")).unwrap();
    let claimed = s.claim_unread("b1", None).unwrap();
    assert_eq!(claimed.ids(), std::slice::from_ref(&a.id));
    assert_eq!(s.unclaim(&claimed.ids()).unwrap(), 1);
    assert_eq!(s.unclaim(&claimed.ids()).unwrap(), 0, "already unread");
    assert_eq!(s.claim_unread("b1", None).unwrap().ids(), [a.id]);
    assert!(s.claim_unread("b1", None).unwrap().is_empty());
}

#[test]
fn an_empty_inbox_is_checked_without_a_write_lock() {
    let p = Project::new();
    let s = p.store();
    s.insert(&msg("lead", "someone-else", "x")).unwrap();
    let other = MailStore::open(p.layout.mail_db()).unwrap();
    // Another process holds the write lock for the whole check.
    let holder = rusqlite::Connection::open(p.layout.mail_db()).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let batch = other.claim_unread("b1", None).unwrap();
    assert!(batch.is_empty());
    holder.execute_batch("ROLLBACK").unwrap();
}
