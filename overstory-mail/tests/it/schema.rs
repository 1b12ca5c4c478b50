//! Schema compatibility with the TypeScript original, and its migrations.

use overstory_mail::{COLUMNS, ListFilter, MailStore, MessageType, NewMessage};
use rusqlite::Connection;

use crate::support::{Project, msg};

const ALL_TYPES: &str = "'status','question','result','error','worker_done','worker_died','merge_ready','merged','merge_failed','escalation','health_check','dispatch','assign','decision_gate'";

/// The original's DDL for `mail.db`, written out by hand.
fn original_ddl(types: &str, with_payload: bool) -> String {
    let payload = if with_payload { "payload TEXT,\n" } else { "" };
    format!(
        "CREATE TABLE messages (
          id TEXT PRIMARY KEY,
          from_agent TEXT NOT NULL,
          to_agent TEXT NOT NULL,
          subject TEXT NOT NULL,
          body TEXT NOT NULL,
          type TEXT NOT NULL DEFAULT 'status' CHECK(type IN ({types})),
          priority TEXT NOT NULL DEFAULT 'normal' CHECK(priority IN ('low','normal','high','urgent')),
          thread_id TEXT,
          {payload}read INTEGER NOT NULL DEFAULT 0,
          created_at TEXT NOT NULL DEFAULT (datetime('now'))
        );
        CREATE INDEX idx_inbox ON messages(to_agent, read);
        CREATE INDEX idx_thread ON messages(thread_id);"
    )
}

fn columns(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_table_info('messages') ORDER BY cid")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn indexes(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='messages' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn ddl(conn: &Connection) -> String {
    conn.query_row(
        "SELECT sql FROM sqlite_master WHERE name='messages'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn messages_has_exactly_the_original_eleven_columns_in_order() {
    let p = Project::new();
    let s = p.store();
    assert_eq!(columns(s.connection()), COLUMNS);
    assert_eq!(COLUMNS.len(), 11);
}

#[test]
fn original_indexes_exist_alongside_ours() {
    let p = Project::new();
    let s = p.store();
    let idx = indexes(s.connection());
    for name in [
        "idx_inbox",
        "idx_thread",
        "idx_inbox_time",
        "idx_from_type_time",
        "idx_created_at",
    ] {
        assert!(idx.iter().any(|i| i == name), "{name} missing from {idx:?}");
    }
}

#[test]
fn our_ddl_passes_the_originals_current_schema_sniff() {
    // The original treats a table as current iff its DDL contains these five
    // substrings; otherwise it would rebuild our table.
    let p = Project::new();
    let s = p.store();
    let sql = ddl(s.connection());
    for needle in [
        "CHECK",
        "payload",
        "worker_done",
        "decision_gate",
        "worker_died",
    ] {
        assert!(sql.contains(needle), "{needle} missing from {sql}");
    }
}

#[test]
fn database_written_by_the_original_is_read_and_written() {
    let p = Project::new();
    {
        let c = Connection::open(p.layout.mail_db()).unwrap();
        c.execute_batch("PRAGMA journal_mode=WAL;").unwrap();
        c.execute_batch(&original_ddl(ALL_TYPES, true)).unwrap();
        c.execute(
            "INSERT INTO messages (id, from_agent, to_agent, subject, body, type, priority, thread_id, payload, read, created_at)
             VALUES ('msg-abcdefghijkl', 'builder-1', 'lead-1', 'Done', 'All green', 'worker_done', 'high', NULL,
                     '{\"taskId\":\"t-1\",\"branch\":\"b\",\"exitCode\":0,\"filesModified\":[]}', 0, '2026-03-05T14:52:26.089Z')",
            [],
        )
        .unwrap();
        // A fixture-style raw insert relying on the SQL defaults.
        c.execute("INSERT INTO messages (id, from_agent, to_agent, subject, body) VALUES ('msg-default00000', 'a', 'lead-1', 's', 'b')", [])
            .unwrap();
    }
    let s = MailStore::open(p.layout.mail_db()).unwrap();
    let m = s.get("msg-abcdefghijkl").unwrap().unwrap();
    assert_eq!(m.kind, MessageType::WorkerDone);
    assert_eq!(m.from, "builder-1");
    assert_eq!(m.created_at, "2026-03-05T14:52:26.089Z");
    assert!(m.parse_payload().is_some());
    let d = s.get("msg-default00000").unwrap().unwrap();
    assert_eq!(d.kind, MessageType::Status);
    assert!(!d.read);
    let ours = s.insert(&msg("lead-1", "builder-1", "Next")).unwrap();
    assert_eq!(s.unread("lead-1").unwrap().len(), 2);
    // The schema is untouched: same columns, the original's DDL text kept.
    assert_eq!(columns(s.connection()), COLUMNS);
    drop(s);
    // And the original (plain SQL) reads our row.
    let c = Connection::open(p.layout.mail_db()).unwrap();
    let (to, read, created): (String, i64, String) = c
        .query_row(
            "SELECT to_agent, read, created_at FROM messages WHERE id = ?1",
            [&ours.id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((to.as_str(), read), ("builder-1", 0));
    assert_eq!(created, ours.created_at);
}

#[test]
fn table_without_payload_gains_the_column_and_keeps_rows() {
    let p = Project::new();
    {
        let c = Connection::open(p.layout.mail_db()).unwrap();
        c.execute_batch(&original_ddl(ALL_TYPES, false)).unwrap();
        c.execute("INSERT INTO messages (id, from_agent, to_agent, subject, body, type) VALUES ('old-1', 'a', 'b', 's', 'b', 'merged')", [])
            .unwrap();
    }
    let s = MailStore::open(p.layout.mail_db()).unwrap();
    assert_eq!(
        columns(s.connection()).last().unwrap(),
        "payload",
        "ALTER TABLE appends the column"
    );
    let old = s.get("old-1").unwrap().unwrap();
    assert_eq!((old.kind, old.payload), (MessageType::Merged, None));
    s.insert(&NewMessage {
        payload: Some("{}".into()),
        ..msg("a", "b", "new")
    })
    .unwrap();
    assert_eq!(s.list(&ListFilter::default()).unwrap().len(), 2);
}

#[test]
fn table_without_checks_is_rebuilt_mapping_unknown_values() {
    let p = Project::new();
    {
        let c = Connection::open(p.layout.mail_db()).unwrap();
        c.execute_batch(
            "CREATE TABLE messages (id TEXT PRIMARY KEY, from_agent TEXT NOT NULL, to_agent TEXT NOT NULL,
               subject TEXT NOT NULL, body TEXT NOT NULL, type TEXT NOT NULL DEFAULT 'status',
               priority TEXT NOT NULL DEFAULT 'normal', thread_id TEXT, read INTEGER NOT NULL DEFAULT 0,
               created_at TEXT NOT NULL DEFAULT (datetime('now')));
             CREATE INDEX idx_inbox ON messages(to_agent, read);
             INSERT INTO messages (id, from_agent, to_agent, subject, body, type, priority, read, created_at)
               VALUES ('m1', 'a', 'b', 's1', 'b1', 'ancient', 'critical', 1, '2025-01-01T00:00:00.000Z'),
                      ('m2', 'a', 'b', 's2', 'b2', 'question', 'high', 0, '2025-01-02T00:00:00.000Z');",
        )
        .unwrap();
    }
    let s = MailStore::open(p.layout.mail_db()).unwrap();
    let m1 = s.get("m1").unwrap().unwrap();
    assert_eq!(
        (m1.kind, m1.priority.as_str(), m1.read),
        (MessageType::Status, "normal", true)
    );
    let m2 = s.get("m2").unwrap().unwrap();
    assert_eq!(
        (m2.kind, m2.priority.as_str(), m2.payload),
        (MessageType::Question, "high", None)
    );
    assert_eq!(columns(s.connection()), COLUMNS);
    assert!(ddl(s.connection()).contains("decision_gate"));
    assert!(indexes(s.connection()).contains(&"idx_inbox".to_owned()));
    let old_gone: bool = s
        .connection()
        .query_row(
            "SELECT COUNT(*) = 0 FROM sqlite_master WHERE name = 'messages_old'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(old_gone);
}

#[test]
fn table_with_an_outdated_type_list_is_rebuilt_keeping_payloads() {
    // The 0.9.x generation: 8 protocol types plus payload, no decision_gate/worker_died.
    let p = Project::new();
    let old_types = "'status','question','result','error','worker_done','merge_ready','merged','merge_failed','escalation','health_check','dispatch','assign'";
    {
        let c = Connection::open(p.layout.mail_db()).unwrap();
        c.execute_batch(&original_ddl(old_types, true)).unwrap();
        c.execute("INSERT INTO messages (id, from_agent, to_agent, subject, body, type, payload) VALUES ('m1', 'a', 'b', 's', 'b', 'dispatch', '{\"correlationId\":\"c\"}')", [])
            .unwrap();
    }
    let s = MailStore::open(p.layout.mail_db()).unwrap();
    assert_eq!(
        s.get("m1").unwrap().unwrap().payload.as_deref(),
        Some("{\"correlationId\":\"c\"}")
    );
    s.insert(&NewMessage {
        kind: MessageType::WorkerDied,
        ..msg("a", "b", "now allowed")
    })
    .unwrap();
    s.insert(&NewMessage {
        kind: MessageType::DecisionGate,
        ..msg("a", "b", "now allowed")
    })
    .unwrap();
}

#[test]
fn semantic_only_checks_generation_is_rebuilt() {
    let p = Project::new();
    {
        let c = Connection::open(p.layout.mail_db()).unwrap();
        c.execute_batch(&original_ddl("'status','question','result','error'", false))
            .unwrap();
        c.execute("INSERT INTO messages (id, from_agent, to_agent, subject, body, type) VALUES ('m1', 'a', 'b', 's', 'b', 'result')", [])
            .unwrap();
    }
    let s = MailStore::open(p.layout.mail_db()).unwrap();
    assert_eq!(s.get("m1").unwrap().unwrap().kind, MessageType::Result);
    s.insert(&NewMessage {
        kind: MessageType::WorkerDone,
        payload: Some("{}".into()),
        ..msg("a", "b", "ok")
    })
    .unwrap();
}

#[test]
fn table_rebuilt_by_an_older_program_after_us_is_upgraded_again() {
    let p = Project::new();
    drop(p.store());
    {
        // An older ov replaces the table with its own generation.
        let c = Connection::open(p.layout.mail_db()).unwrap();
        c.execute_batch("DROP TABLE messages;").unwrap();
        c.execute_batch(&original_ddl("'status','question','result','error','worker_done','merge_ready','merged','merge_failed','escalation','health_check','dispatch','assign'", true))
            .unwrap();
    }
    let s = p.store();
    s.insert(&NewMessage {
        kind: MessageType::WorkerDied,
        ..msg("a", "b", "s")
    })
    .unwrap();
}

#[test]
fn schema_version_is_recorded() {
    let p = Project::new();
    let s = p.store();
    assert_eq!(overstory_core::db::user_version(s.connection()).unwrap(), 1);
}

#[test]
fn concurrent_first_opens_of_a_legacy_table_migrate_once() {
    let p = Project::new();
    {
        let c = Connection::open(p.layout.mail_db()).unwrap();
        c.execute_batch(&original_ddl("'status','question','result','error'", false))
            .unwrap();
        for i in 0..100 {
            c.execute("INSERT INTO messages (id, from_agent, to_agent, subject, body) VALUES (?1, 'a', 'b', 's', 'b')", [format!("m{i}")])
                .unwrap();
        }
    }
    let path = p.layout.mail_db();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || {
                MailStore::open(&path).map(|s| s.list(&ListFilter::default()).unwrap().len())
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().unwrap(), 100);
    }
}

#[test]
fn many_processes_creating_the_database_at_once_all_succeed() {
    for _ in 0..5 {
        let p = Project::new();
        let path = p.layout.mail_db();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(12));
        let handles: Vec<_> = (0..12)
            .map(|i| {
                let (path, barrier) = (path.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let s = MailStore::open(&path)?;
                    s.insert(&msg("a", "b", &i.to_string()))
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
        assert_eq!(p.store().list(&ListFilter::default()).unwrap().len(), 12);
    }
}
