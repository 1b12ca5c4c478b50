//! The event store on a real events.db: inserts, queries, pruning,
//! batching and follow.

use overstory_core::events::{
    EventBatcher, EventFilter, EventLevel, EventPurge, EventStore, EventType, FollowFilter,
    NewEvent,
};

fn store() -> (tempfile::TempDir, EventStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = EventStore::open(&dir.path().join("events.db")).unwrap();
    (dir, s)
}

fn at(agent: &str, t: &str) -> NewEvent {
    NewEvent::new(agent, EventType::Progress).at(t)
}

#[test]
fn ids_increment_and_created_at_is_filled_with_utc() {
    let (_d, s) = store();
    let a = s.insert(&NewEvent::new("a", EventType::Spawn)).unwrap();
    let b = s.insert(&NewEvent::new("a", EventType::Spawn)).unwrap();
    assert!(b > a);
    let evs = s.by_agent("a", &EventFilter::default()).unwrap();
    assert_eq!(evs[0].created_at.len(), 24);
    assert!(evs[0].created_at.ends_with('Z'));
    assert_eq!(evs[0].level, "info");
}

#[test]
fn an_invalid_level_is_rejected_by_the_database() {
    let (d, _s) = store();
    let conn = rusqlite::Connection::open(d.path().join("events.db")).unwrap();
    let err = conn
        .execute(
            "INSERT INTO events (agent_name, event_type, level) VALUES ('a', 'custom', 'fatal')",
            [],
        )
        .unwrap_err();
    assert!(err.to_string().contains("CHECK"), "{err}");
}

#[test]
fn by_agent_run_and_timeline_are_ascending_with_filters() {
    let (_d, mut s) = store();
    s.insert_many(&[
        at("a", "2026-01-01T00:00:03.000Z").run(Some("r".into())),
        at("a", "2026-01-01T00:00:01.000Z").run(Some("r".into())),
        at("b", "2026-01-01T00:00:02.000Z").level(EventLevel::Warn),
        at("a", "2026-01-01T00:00:05.000Z"),
    ])
    .unwrap();
    let t = |v: Vec<overstory_core::events::StoredEvent>| {
        v.into_iter()
            .map(|e| e.created_at[18..19].to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        t(s.by_agent("a", &EventFilter::default()).unwrap()),
        ["1", "3", "5"]
    );
    assert_eq!(
        t(s.by_run("r", &EventFilter::default()).unwrap()),
        ["1", "3"]
    );
    assert_eq!(
        t(s.timeline(&EventFilter::default()).unwrap()),
        ["1", "2", "3", "5"]
    );
    let window = EventFilter {
        since: Some("2026-01-01T00:00:02.000Z".into()),
        until: Some("2026-01-01T00:00:03.000Z".into()),
        ..EventFilter::default()
    };
    assert_eq!(t(s.timeline(&window).unwrap()), ["2", "3"]);
    let warn = EventFilter {
        level: Some(EventLevel::Warn),
        ..EventFilter::default()
    };
    assert_eq!(t(s.timeline(&warn).unwrap()), ["2"]);
    let oldest2 = EventFilter {
        limit: Some(2),
        ..EventFilter::default()
    };
    assert_eq!(t(s.by_agent("a", &oldest2).unwrap()), ["1", "3"]);
    let newest2 = EventFilter {
        limit: Some(2),
        newest: true,
        ..EventFilter::default()
    };
    assert_eq!(t(s.by_agent("a", &newest2).unwrap()), ["3", "5"]);
}

#[test]
fn errors_are_newest_first() {
    let (_d, mut s) = store();
    s.insert_many(&[
        at("a", "2026-01-01T00:00:01.000Z").level(EventLevel::Error),
        at("a", "2026-01-01T00:00:02.000Z"),
        at("b", "2026-01-01T00:00:03.000Z").level(EventLevel::Error),
    ])
    .unwrap();
    let e = s.errors(&EventFilter::default()).unwrap();
    assert_eq!(
        e.iter().map(|e| e.agent_name.as_str()).collect::<Vec<_>>(),
        ["b", "a"]
    );
    let one = s
        .errors(&EventFilter {
            limit: Some(1),
            ..EventFilter::default()
        })
        .unwrap();
    assert_eq!(one[0].agent_name, "b");
}

#[test]
fn correlate_matches_the_latest_untimed_start_of_the_same_agent_and_tool() {
    let (_d, mut s) = store();
    let start = |agent: &str, tool: &str, t: &str| {
        NewEvent::new(agent, EventType::ToolStart)
            .tool(tool, None)
            .at(t)
    };
    let old = s
        .insert(&start("a", "Bash", "2026-01-01T00:00:01.000Z"))
        .unwrap();
    let newest = s
        .insert(&start("a", "Bash", "2026-01-01T00:00:02.000Z"))
        .unwrap();
    s.insert(&start("a", "Read", "2026-01-01T00:00:03.000Z"))
        .unwrap();
    s.insert(&start("b", "Bash", "2026-01-01T00:00:04.000Z"))
        .unwrap();
    let c = s
        .correlate_tool_end("a", "Bash", None, None)
        .unwrap()
        .unwrap();
    assert_eq!(c.start_id, newest);
    assert!(c.duration_ms > 0);
    // The timed start is skipped next time; the older one is matched.
    let c2 = s
        .correlate_tool_end("a", "Bash", None, None)
        .unwrap()
        .unwrap();
    assert_eq!(c2.start_id, old);
    assert!(
        s.correlate_tool_end("a", "Bash", None, None)
            .unwrap()
            .is_none()
    );
    assert!(
        s.correlate_tool_end("a", "Grep", None, None)
            .unwrap()
            .is_none()
    );
    let evs = s.by_agent("a", &EventFilter::default()).unwrap();
    let timed: Vec<_> = evs
        .iter()
        .filter(|e| e.tool_duration_ms.is_some())
        .collect();
    assert_eq!(timed.len(), 2, "the duration lands on the start rows");
}

#[test]
fn tool_stats_count_starts_and_average_only_timed_calls() {
    let (_d, mut s) = store();
    let mut evs = Vec::new();
    for d in [Some(10), Some(30), None] {
        let mut e = NewEvent::new("a", EventType::ToolStart).tool("Bash", None);
        e.tool_duration_ms = d;
        evs.push(e);
    }
    evs.push(NewEvent::new("a", EventType::ToolStart).tool("Read", None));
    evs.push(NewEvent::new("a", EventType::ToolEnd).tool("Read", None));
    evs.push(NewEvent::new("a", EventType::ToolEnd).tool("Read", None));
    s.insert_many(&evs).unwrap();
    let stats = s.tool_stats(None, None).unwrap();
    assert_eq!(stats[0].tool_name, "Bash");
    assert_eq!(stats[0].count, 3);
    assert_eq!(stats[0].avg_duration_ms, 20.0);
    assert_eq!(stats[0].max_duration_ms, 30);
    assert_eq!((stats[1].tool_name.as_str(), stats[1].count), ("Read", 1));
    assert_eq!(stats[1].avg_duration_ms, 0.0);
    assert!(s.tool_stats(Some("zzz"), None).unwrap().is_empty());
}

#[test]
fn purge_combines_filters_and_deletes_nothing_without_one() {
    let (_d, mut s) = store();
    s.insert_many(&[
        at("a", "2020-01-01T00:00:00.000Z"),
        at("b", "2020-01-01T00:00:00.000Z"),
        NewEvent::new("a", EventType::Spawn),
    ])
    .unwrap();
    assert_eq!(s.purge(&EventPurge::default()).unwrap(), 0);
    let old_a = EventPurge {
        older_than_ms: Some(60_000),
        agent_name: Some("a".into()),
        ..EventPurge::default()
    };
    assert_eq!(s.purge(&old_a).unwrap(), 1);
    let agent_b = EventPurge {
        agent_name: Some("b".into()),
        ..EventPurge::default()
    };
    assert_eq!(s.purge(&agent_b).unwrap(), 1);
    let all = EventPurge {
        all: true,
        ..EventPurge::default()
    };
    assert_eq!(s.purge(&all).unwrap(), 1);
    assert_eq!(s.count().unwrap(), 0);
}

#[test]
fn a_batch_is_all_or_nothing() {
    let (d, mut s) = store();
    // A trigger makes the third insert fail.
    rusqlite::Connection::open(d.path().join("events.db"))
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER boom BEFORE INSERT ON events WHEN NEW.agent_name = 'bad' \
             BEGIN SELECT RAISE(ABORT, 'boom'); END;",
        )
        .unwrap();
    let batch = [at("a", "t1"), at("a", "t2"), at("bad", "t3")];
    assert!(s.insert_many(&batch).is_err());
    assert_eq!(s.count().unwrap(), 0);
}

#[test]
fn large_batches_keep_every_field_and_order_across_statements() {
    let (_d, mut s) = store();
    // 150 rows span several multi-row statements plus a remainder.
    let evs: Vec<_> = (0..150)
        .map(|i| {
            let mut e = NewEvent::new(format!("agent-{}", i % 7), EventType::ToolEnd)
                .run(Some(format!("run-{i}")))
                .session(Some(format!("sid-{i}")))
                .tool(
                    "Bash",
                    Some(&serde_json::json!({ "command": format!("echo {i}") })),
                )
                .data(&serde_json::json!({ "n": i }))
                .level(if i % 10 == 0 {
                    EventLevel::Error
                } else {
                    EventLevel::Info
                });
            e.tool_duration_ms = Some(i);
            if i % 3 == 0 {
                e = e.at(format!("2020-01-01T00:00:{:02}.000Z", i % 60));
            }
            e
        })
        .collect();
    assert_eq!(s.insert_many(&evs).unwrap(), 150);
    let stored = s.after_id(0, &FollowFilter::default(), 1000).unwrap();
    assert_eq!(stored.len(), 150);
    for (i, e) in stored.iter().enumerate() {
        assert_eq!(e.agent_name, format!("agent-{}", i % 7));
        assert_eq!(e.run_id.as_deref(), Some(format!("run-{i}").as_str()));
        assert_eq!(e.session_id.as_deref(), Some(format!("sid-{i}").as_str()));
        assert_eq!(e.event_type, "tool_end");
        assert_eq!(e.tool_name.as_deref(), Some("Bash"));
        assert!(
            e.tool_args
                .as_deref()
                .unwrap()
                .contains(&format!("echo {i}"))
        );
        assert_eq!(e.tool_duration_ms, Some(i64::try_from(i).unwrap()));
        assert_eq!(e.level, if i % 10 == 0 { "error" } else { "info" });
        assert_eq!(e.data_json().unwrap()["n"], i);
        if i % 3 == 0 {
            assert_eq!(e.created_at, format!("2020-01-01T00:00:{:02}.000Z", i % 60));
        } else {
            assert!(e.created_at.starts_with("20") && e.created_at.ends_with('Z'));
            assert!(!e.created_at.starts_with("2020-01-01"));
        }
    }
}

#[test]
fn a_failure_in_a_later_statement_rolls_back_the_whole_batch() {
    let (d, mut s) = store();
    rusqlite::Connection::open(d.path().join("events.db"))
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER boom BEFORE INSERT ON events WHEN NEW.agent_name = 'bad' \
             BEGIN SELECT RAISE(ABORT, 'boom'); END;",
        )
        .unwrap();
    let mut batch: Vec<_> = (0..140).map(|i| at("a", &format!("t{i}"))).collect();
    batch.push(at("bad", "t-bad"));
    assert!(s.insert_many(&batch).is_err());
    assert_eq!(s.count().unwrap(), 0);
}

#[test]
fn batcher_writes_full_batches_and_flushes_on_drop() {
    let (d, s) = store();
    let mut b = EventBatcher::new(s, 3);
    for i in 0..7 {
        b.push(NewEvent::new(format!("a{i}"), EventType::Progress))
            .unwrap();
    }
    assert_eq!(b.pending(), 1);
    assert_eq!(b.store().count().unwrap(), 6);
    drop(b);
    let s = EventStore::open(&d.path().join("events.db")).unwrap();
    assert_eq!(s.count().unwrap(), 7);
}

#[test]
fn follow_cursor_returns_every_event_after_it_in_order() {
    let (_d, mut s) = store();
    let evs: Vec<_> = (0..25)
        .map(|i| NewEvent::new(if i % 2 == 0 { "a" } else { "b" }, EventType::Progress))
        .collect();
    s.insert_many(&evs).unwrap();
    let mut cursor = 0;
    let mut seen = 0;
    loop {
        let batch = s.after_id(cursor, &FollowFilter::default(), 10).unwrap();
        if batch.is_empty() {
            break;
        }
        assert!(batch.iter().all(|e| e.id > cursor));
        cursor = batch.last().unwrap().id;
        seen += batch.len();
    }
    assert_eq!(seen, 25);
    assert_eq!(cursor, s.latest_id().unwrap());
    let only_a = FollowFilter {
        agents: vec!["a".into()],
        run_id: None,
    };
    assert_eq!(s.after_id(0, &only_a, 100).unwrap().len(), 13);
}

#[test]
fn resume_mismatch_is_a_custom_event_with_a_type() {
    let (_d, s) = store();
    let e = NewEvent::custom(
        "b1",
        "resume_mismatch",
        serde_json::json!({"requestedSessionId": "old", "observedSessionId": "new"}),
    )
    .level(EventLevel::Warn)
    .session(Some("new".into()));
    s.insert(&e).unwrap();
    let got = &s.by_agent("b1", &EventFilter::default()).unwrap()[0];
    assert_eq!(got.event_type, "custom");
    assert_eq!(got.custom_type().as_deref(), Some("resume_mismatch"));
    assert_eq!(got.level, "warn");
    let json = serde_json::to_value(got).unwrap();
    for k in [
        "id",
        "runId",
        "agentName",
        "sessionId",
        "eventType",
        "toolName",
        "toolArgs",
        "toolDurationMs",
        "level",
        "data",
        "createdAt",
    ] {
        assert!(json.get(k).is_some(), "missing {k}");
    }
}

#[test]
fn new_event_stores_use_large_pages_and_existing_files_keep_theirs() {
    let page_size = |p: &std::path::Path| -> i64 {
        rusqlite::Connection::open(p)
            .unwrap()
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("events.db");
    EventStore::open(&fresh).unwrap();
    assert_eq!(page_size(&fresh), 16384);
    // A file another program created (4 KiB pages) opens unchanged.
    let old = dir.path().join("old-events.db");
    rusqlite::Connection::open(&old)
        .unwrap()
        .execute_batch("PRAGMA page_size=4096; CREATE TABLE t(x);")
        .unwrap();
    let mut s = EventStore::open(&old).unwrap();
    s.insert_many(&[at("a", "t1")]).unwrap();
    assert_eq!(page_size(&old), 4096);
    assert_eq!(s.count().unwrap(), 1);
}
