//! `MailStore` behaviours pinned by the original's store tests (1–14).

use overstory_mail::{
    InsertFailure, ListFilter, MailError, MessageType, NewMessage, Priority, PurgeFilter,
};

use crate::support::{Project, msg, next_millisecond};

#[test]
fn empty_id_generates_msg_id_unread_with_timestamp_and_null_thread() {
    let p = Project::new();
    let m = p.store().insert(&msg("a", "b", "s")).unwrap();
    assert!(m.id.starts_with("msg-"));
    assert_eq!(m.id.len(), 16);
    assert!(
        m.id[4..]
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    );
    assert!(!m.read);
    assert_eq!(m.created_at.len(), 24, "{}", m.created_at);
    assert!(m.created_at.ends_with('Z'));
    assert_eq!(m.thread_id, None);
    assert_eq!(p.store().get(&m.id).unwrap().unwrap().thread_id, None);
}

#[test]
fn given_id_is_used_verbatim_and_a_duplicate_is_a_mail_error_saying_why() {
    let p = Project::new();
    let s = p.store();
    let m = NewMessage {
        id: "custom-1".into(),
        ..msg("a", "b", "s")
    };
    assert_eq!(s.insert(&m).unwrap().id, "custom-1");
    let e = s.insert(&m).unwrap_err();
    assert!(
        matches!(
            e,
            MailError::Insert {
                reason: InsertFailure::DuplicateId,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.code(), "MAIL_ERROR");
    assert!(
        e.to_string()
            .starts_with("Failed to insert message: custom-1"),
        "{e}"
    );
    assert!(e.to_string().contains("already exists"), "{e}");
}

#[test]
fn get_returns_the_row_or_none() {
    let p = Project::new();
    let s = p.store();
    let m = s.insert(&msg("a", "b", "s")).unwrap();
    assert_eq!(s.get(&m.id).unwrap().unwrap(), m);
    assert_eq!(s.get("msg-nope").unwrap(), None);
}

#[test]
fn unread_is_the_recipients_unread_rows_oldest_first() {
    let p = Project::new();
    let s = p.store();
    assert!(s.unread("b").unwrap().is_empty());
    let first = s.insert(&msg("a", "b", "one")).unwrap();
    let second = s.insert(&msg("a", "b", "two")).unwrap();
    s.insert(&msg("a", "c", "other inbox")).unwrap();
    let third = s.insert(&msg("x", "b", "three")).unwrap();
    let ids: Vec<_> = s.unread("b").unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(ids, [first.id.clone(), second.id.clone(), third.id.clone()]);
    s.mark_read(&second.id).unwrap();
    let ids: Vec<_> = s.unread("b").unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(ids, [first.id, third.id]);
}

#[test]
fn mark_read_sets_the_flag_and_is_idempotent() {
    let p = Project::new();
    let s = p.store();
    let m = s.insert(&msg("a", "b", "s")).unwrap();
    assert_eq!(s.mark_read(&m.id).unwrap(), Some(false));
    assert!(s.get(&m.id).unwrap().unwrap().read);
    assert_eq!(s.mark_read(&m.id).unwrap(), Some(true));
    assert_eq!(s.mark_read("msg-unknown").unwrap(), None);
}

#[test]
fn list_filters_combine_with_and_and_limit_applies() {
    let p = Project::new();
    let s = p.store();
    s.insert(&msg("lead", "b1", "1")).unwrap();
    s.insert(&NewMessage {
        kind: MessageType::WorkerDone,
        ..msg("b1", "lead", "2")
    })
    .unwrap();
    let read = s.insert(&msg("lead", "b2", "3")).unwrap();
    s.mark_read(&read.id).unwrap();
    s.insert(&NewMessage {
        kind: MessageType::MergeReady,
        ..msg("lead", "merger", "4")
    })
    .unwrap();

    let count = |f: ListFilter| s.list(&f).unwrap().len();
    assert_eq!(count(ListFilter::default()), 4);
    assert_eq!(
        count(ListFilter {
            from: Some("lead".into()),
            ..Default::default()
        }),
        3
    );
    assert_eq!(
        count(ListFilter {
            to: Some("b1".into()),
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        count(ListFilter {
            unread: Some(true),
            ..Default::default()
        }),
        3
    );
    assert_eq!(
        count(ListFilter {
            unread: Some(false),
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        count(ListFilter {
            kind: Some(MessageType::WorkerDone),
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        count(ListFilter {
            kind: Some(MessageType::MergeReady),
            from: Some("lead".into()),
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        count(ListFilter {
            kind: Some(MessageType::MergeReady),
            from: Some("b1".into()),
            ..Default::default()
        }),
        0
    );
    assert_eq!(
        count(ListFilter {
            kind: Some(MessageType::Escalation),
            ..Default::default()
        }),
        0
    );
    assert_eq!(
        count(ListFilter {
            limit: Some(2),
            ..Default::default()
        }),
        2
    );
    assert_eq!(
        count(ListFilter {
            limit: Some(2),
            from: Some("lead".into()),
            ..Default::default()
        }),
        2
    );
    assert_eq!(
        s.count(&ListFilter {
            from: Some("lead".into()),
            limit: Some(1),
            ..Default::default()
        })
        .unwrap(),
        3
    );
}

#[test]
fn list_is_newest_first_with_insertion_order_breaking_ties() {
    let p = Project::new();
    let s = p.store();
    // Many rows land in the same millisecond; order must still be total.
    let ids: Vec<String> = (0..50)
        .map(|i| s.insert(&msg("a", "b", &i.to_string())).unwrap().id)
        .collect();
    let listed: Vec<String> = s
        .list(&ListFilter::default())
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    let mut rev = ids.clone();
    rev.reverse();
    assert_eq!(listed, rev);
    let unread: Vec<String> = s.unread("b").unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(unread, ids);
}

#[test]
fn thread_returns_root_then_replies_in_insertion_order() {
    let p = Project::new();
    let s = p.store();
    let root = s.insert(&msg("a", "b", "root")).unwrap();
    let r1 = s
        .insert(&NewMessage {
            thread_id: Some(root.id.clone()),
            ..msg("b", "a", "r1")
        })
        .unwrap();
    s.insert(&NewMessage {
        thread_id: Some("other".into()),
        ..msg("b", "a", "x")
    })
    .unwrap();
    let r2 = s
        .insert(&NewMessage {
            thread_id: Some(root.id.clone()),
            ..msg("a", "b", "r2")
        })
        .unwrap();
    let ids: Vec<_> = s
        .thread(&root.id)
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, [root.id, r1.id, r2.id]);
    assert!(s.thread("no-such-thread").unwrap().is_empty());
}

#[test]
fn second_connection_reads_a_row_the_first_committed() {
    let p = Project::new();
    let a = p.store();
    let b = p.store();
    let m = a.insert(&msg("a", "b", "s")).unwrap();
    assert_eq!(b.get(&m.id).unwrap().unwrap().subject, "s");
}

#[test]
fn database_rejects_invalid_type_and_priority_and_accepts_all_valid_ones() {
    let p = Project::new();
    let s = p.store();
    let conn = s.connection();
    let raw = |t: &str, pr: &str| {
        conn.execute(
            "INSERT INTO messages (id, from_agent, to_agent, subject, body, type, priority, created_at) VALUES (?1, 'a', 'b', 's', 'b', ?2, ?3, 'now')",
            rusqlite::params![overstory_core::ids::message_id(), t, pr],
        )
    };
    assert!(raw("bogus", "normal").is_err());
    assert!(raw("status", "critical").is_err());
    for t in MessageType::ALL {
        raw(t.as_str(), "normal").unwrap();
    }
    for pr in Priority::ALL {
        raw("status", pr.as_str()).unwrap();
    }
}

#[test]
fn reopening_is_safe_and_constraints_still_hold() {
    let p = Project::new();
    let m = p.store().insert(&msg("a", "b", "kept")).unwrap();
    let s = p.store();
    let s2 = p.store();
    assert_eq!(s2.get(&m.id).unwrap().unwrap().subject, "kept");
    let bad = s.connection().execute(
        "INSERT INTO messages (id, from_agent, to_agent, subject, body, type) VALUES ('x', 'a', 'b', 's', 'b', 'nope')",
        [],
    );
    assert!(bad.is_err());
}

#[test]
fn purge_all_returns_the_count_and_empties_the_table() {
    let p = Project::new();
    let s = p.store();
    assert_eq!(
        s.purge(&PurgeFilter {
            all: true,
            ..Default::default()
        })
        .unwrap(),
        0
    );
    for i in 0..3 {
        s.insert(&msg("a", "b", &i.to_string())).unwrap();
    }
    assert_eq!(
        s.purge(&PurgeFilter {
            all: true,
            agent: Some("zzz".into()),
            ..Default::default()
        })
        .unwrap(),
        3
    );
    assert!(s.list(&ListFilter::default()).unwrap().is_empty());
}

#[test]
fn purge_by_age_uses_the_cutoff() {
    let p = Project::new();
    let s = p.store();
    s.insert(&msg("a", "b", "1")).unwrap();
    s.insert(&msg("a", "b", "2")).unwrap();
    let year = 365 * 86_400_000;
    assert_eq!(
        s.purge(&PurgeFilter {
            older_than_ms: Some(year),
            ..Default::default()
        })
        .unwrap(),
        0
    );
    for _ in 0..5 {
        next_millisecond();
    }
    assert_eq!(
        s.purge(&PurgeFilter {
            older_than_ms: Some(0),
            ..Default::default()
        })
        .unwrap(),
        2
    );
}

#[test]
fn purge_by_agent_matches_sender_or_recipient_and_ands_with_age() {
    let p = Project::new();
    let s = p.store();
    s.insert(&msg("x", "b", "to x? no, from x")).unwrap();
    s.insert(&msg("b", "x", "to x")).unwrap();
    s.insert(&msg("b", "c", "unrelated")).unwrap();
    assert_eq!(s.purge(&PurgeFilter::default()).unwrap(), 0);
    let year = 365 * 86_400_000;
    assert_eq!(
        s.purge(&PurgeFilter {
            agent: Some("x".into()),
            older_than_ms: Some(year),
            ..Default::default()
        })
        .unwrap(),
        0
    );
    for _ in 0..2 {
        next_millisecond();
    }
    assert_eq!(
        s.purge(&PurgeFilter {
            agent: Some("c".into()),
            older_than_ms: Some(0),
            ..Default::default()
        })
        .unwrap(),
        1
    );
    assert_eq!(
        s.purge(&PurgeFilter {
            agent: Some("x".into()),
            ..Default::default()
        })
        .unwrap(),
        2
    );
    assert_eq!(s.list(&ListFilter::default()).unwrap().len(), 0);
}

#[test]
fn purge_addressed_only_keeps_mail_the_agent_sent() {
    let p = Project::new();
    let s = p.store();
    let sent = s
        .insert(&NewMessage {
            kind: MessageType::WorkerDone,
            ..msg("b1", "lead", "done")
        })
        .unwrap();
    s.insert(&msg("lead", "b1", "task")).unwrap();
    let n = s
        .purge(&PurgeFilter {
            agent: Some("b1".into()),
            addressed_only: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(n, 1);
    assert!(s.get(&sent.id).unwrap().is_some());
}

#[test]
fn purge_read_only_keeps_unread_mail() {
    let p = Project::new();
    let s = p.store();
    let unread = s.insert(&msg("a", "b", "unread")).unwrap();
    let read = s.insert(&msg("a", "b", "read")).unwrap();
    s.mark_read(&read.id).unwrap();
    let n = s
        .purge(&PurgeFilter {
            agent: Some("b".into()),
            read_only: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(n, 1);
    assert!(s.get(&unread.id).unwrap().is_some());
}

#[test]
fn payload_defaults_to_null_is_stored_verbatim_and_returned_everywhere() {
    let p = Project::new();
    let s = p.store();
    let plain = s.insert(&msg("a", "b", "plain")).unwrap();
    assert_eq!(plain.payload, None);
    let text = r#"{ "taskId" : "t",  "weird spacing": [1, 2] }"#;
    let with = s
        .insert(&NewMessage {
            payload: Some(text.into()),
            ..msg("a", "b", "p")
        })
        .unwrap();
    assert_eq!(
        s.get(&with.id).unwrap().unwrap().payload.as_deref(),
        Some(text)
    );
    let unread = s.unread("b").unwrap();
    assert_eq!(unread[1].payload.as_deref(), Some(text));
    assert_eq!(
        s.list(&ListFilter::default()).unwrap()[0]
            .payload
            .as_deref(),
        Some(text)
    );
}

#[test]
fn since_tails_by_sequence_without_skipping_same_millisecond_rows() {
    let p = Project::new();
    let s = p.store();
    let a = s.insert(&msg("a", "b", "1")).unwrap();
    let page = s.since(0, 10).unwrap();
    assert_eq!(page.len(), 1);
    let (seq, first) = &page[0];
    assert_eq!(first.id, a.id);
    let b = s.insert(&msg("a", "b", "2")).unwrap();
    let c = s.insert(&msg("a", "b", "3")).unwrap();
    let rest: Vec<_> = s
        .since(*seq, 10)
        .unwrap()
        .into_iter()
        .map(|(_, m)| m.id)
        .collect();
    assert_eq!(rest, [b.id, c.id]);
}

#[test]
fn delete_reports_whether_a_row_went() {
    let p = Project::new();
    let s = p.store();
    let m = s.insert(&msg("a", "b", "s")).unwrap();
    assert!(s.delete(&m.id).unwrap());
    assert!(!s.delete(&m.id).unwrap());
}

#[test]
fn claim_returns_read_true_and_limit_leaves_the_rest_unread() {
    let p = Project::new();
    let s = p.store();
    let ids: Vec<_> = (0..5)
        .map(|i| s.insert(&msg("a", "b", &i.to_string())).unwrap().id)
        .collect();
    let first = s.claim_unread("b", Some(2)).unwrap().messages;
    assert_eq!(
        first.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
        ids[..2]
    );
    assert!(first.iter().all(|m| m.read));
    let rest = s.claim_unread("b", None).unwrap().messages;
    assert_eq!(
        rest.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
        ids[2..]
    );
    assert!(s.claim_unread("b", None).unwrap().is_empty());
}

#[test]
fn missing_state_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let e = overstory_mail::MailStore::open(dir.path().join(".overstory/mail.db")).unwrap_err();
    assert!(matches!(e, MailError::MissingDirectory { .. }), "{e:?}");
    assert!(e.to_string().contains(".overstory"), "{e}");
}

#[test]
fn corrupt_database_error_names_the_file() {
    let p = Project::new();
    std::fs::write(p.layout.mail_db(), vec![b'x'; 4096]).unwrap();
    let e = overstory_mail::MailStore::open(p.layout.mail_db()).unwrap_err();
    assert_eq!(e.code(), "MAIL_ERROR");
    assert!(
        matches!(e, MailError::Db(overstory_core::DbError::Corrupt { .. })),
        "{e:?}"
    );
    assert!(e.to_string().contains("mail.db"), "{e}");
}

#[test]
fn locked_database_is_reported_as_busy_with_the_file() {
    let p = Project::new();
    let s = p.store();
    // Another connection holds the write lock longer than the busy timeout.
    let holder = rusqlite::Connection::open(p.layout.mail_db()).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    s.connection()
        .busy_timeout(std::time::Duration::from_millis(50))
        .unwrap();
    let e = s.insert(&msg("a", "b", "s")).unwrap_err();
    assert!(e.is_busy(), "{e:?}");
    assert!(e.to_string().contains("mail.db"), "{e}");
    holder.execute_batch("ROLLBACK").unwrap();
}

#[test]
fn closing_keeps_the_wal_small_without_checkpointing_every_call() {
    let p = Project::new();
    let wal = p.dir_path().join(".overstory/mail.db-wal");
    let mut sizes = Vec::new();
    for round in 0..30 {
        let mut s = p.store();
        let batch: Vec<NewMessage> = (0..40)
            .map(|i| NewMessage {
                body: "x".repeat(500),
                ..msg("a", "b", &format!("{round}-{i}"))
            })
            .collect();
        s.insert_all(&batch).unwrap();
        drop(s);
        sizes.push(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
    }
    assert!(
        sizes.iter().any(|&n| n > 0),
        "small writes leave the WAL in place: {sizes:?}"
    );
    assert!(
        sizes.iter().all(|&n| n <= 2 * 1024 * 1024),
        "the WAL is truncated once large: {sizes:?}"
    );
    assert_eq!(p.store().count(&ListFilter::default()).unwrap(), 1200);
}
