//! The read side of events.db for trace/feed/errors/replay
//! and retention.

use overstory_core::clock;
use overstory_core::events::{
    EventFilter, EventLevel, EventPurge, EventStore, EventType, FollowFilter, NewEvent,
};
use overstory_sessions::observe::{self, EventScope, Follower};
use overstory_sessions::write_current_run;

use crate::support::{Project, booting};

fn ev(agent: &str, at: &str, run: Option<&str>, level: EventLevel) -> NewEvent {
    NewEvent::new(agent, EventType::Progress)
        .run(run.map(Into::into))
        .level(level)
        .at(at)
}

fn seed(p: &Project) -> EventStore {
    let mut s = EventStore::open(&p.layout.events_db()).unwrap();
    let mut batch = Vec::new();
    for i in 0..10 {
        batch.push(ev(
            "a",
            &format!("2026-01-01T00:00:{i:02}.000Z"),
            Some("r1"),
            EventLevel::Info,
        ));
        batch.push(ev(
            "b",
            &format!("2026-01-01T00:00:{i:02}.500Z"),
            None,
            if i % 3 == 0 {
                EventLevel::Error
            } else {
                EventLevel::Info
            },
        ));
    }
    s.insert_many(&batch).unwrap();
    s
}

#[test]
fn missing_events_db_gives_none_and_is_not_created() {
    let p = Project::new();
    let f = EventFilter::default();
    assert!(observe::trace(&p.layout, "a", &f).unwrap().is_none());
    assert!(
        observe::errors(&p.layout, None, None, &f)
            .unwrap()
            .is_none()
    );
    assert!(
        observe::feed(&p.layout, &EventScope::All, &f)
            .unwrap()
            .is_none()
    );
    assert!(observe::replay(&p.layout, None, &[], &f).unwrap().is_none());
    assert!(!p.layout.events_db().exists());
}

#[test]
fn trace_takes_the_newest_n_and_shows_them_oldest_first() {
    let p = Project::new();
    seed(&p);
    let f = EventFilter {
        limit: Some(3),
        ..EventFilter::default()
    };
    let evs = observe::trace(&p.layout, "a", &f).unwrap().unwrap();
    let times: Vec<_> = evs.iter().map(|e| &e.created_at[17..19]).collect();
    assert_eq!(times, ["07", "08", "09"]);
}

#[test]
fn trace_resolves_a_task_id_to_its_agent() {
    let p = Project::new();
    let mut s = booting("builder-7", "2026-01-01T00:00:00.000Z");
    s.task_id = Some("proj-abc1".parse().unwrap());
    p.sessions().upsert(&s).unwrap();
    assert_eq!(
        observe::resolve_trace_target(&p.layout, "proj-abc1").unwrap(),
        "builder-7"
    );
    assert_eq!(
        observe::resolve_trace_target(&p.layout, "builder-1").unwrap(),
        "builder-1"
    );
}

#[test]
fn errors_of_everyone_are_newest_first_and_of_an_agent_oldest_first() {
    let p = Project::new();
    seed(&p);
    let f = EventFilter {
        limit: Some(2),
        ..EventFilter::default()
    };
    let all = observe::errors(&p.layout, None, None, &f).unwrap().unwrap();
    assert_eq!(
        all.iter()
            .map(|e| &e.created_at[17..19])
            .collect::<Vec<_>>(),
        ["09", "06"]
    );
    let b = observe::errors(&p.layout, Some("b"), Some("ignored"), &f)
        .unwrap()
        .unwrap();
    assert_eq!(
        b.iter().map(|e| &e.created_at[17..19]).collect::<Vec<_>>(),
        ["06", "09"]
    );
    assert!(b.iter().all(|e| e.level == "error"));
}

#[test]
fn feed_defaults_to_the_last_five_minutes() {
    let p = Project::new();
    let s = seed(&p);
    s.insert(&NewEvent::new("c", EventType::Spawn)).unwrap();
    let evs = observe::feed(&p.layout, &EventScope::All, &EventFilter::default())
        .unwrap()
        .unwrap();
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].agent_name, "c");
}

#[test]
fn feed_merges_agents_and_keeps_the_newest() {
    let p = Project::new();
    seed(&p);
    let f = EventFilter {
        since: Some("2026-01-01T00:00:00.000Z".into()),
        limit: Some(4),
        ..EventFilter::default()
    };
    let evs = observe::feed(
        &p.layout,
        &EventScope::Agents(vec!["a".into(), "b".into()]),
        &f,
    )
    .unwrap()
    .unwrap();
    let got: Vec<_> = evs
        .iter()
        .map(|e| format!("{}{}", e.agent_name, &e.created_at[17..19]))
        .collect();
    assert_eq!(got, ["a08", "b08", "a09", "b09"]);
}

#[test]
fn replay_defaults_to_the_current_run_then_the_last_day() {
    let p = Project::new();
    let s = seed(&p);
    s.insert(&NewEvent::new("now", EventType::Spawn)).unwrap();
    let f = EventFilter {
        limit: Some(200),
        ..EventFilter::default()
    };
    let evs = observe::replay(&p.layout, None, &[], &f).unwrap().unwrap();
    assert_eq!(evs.len(), 1, "no current run: the last 24 hours");
    write_current_run(&p.layout, "r1").unwrap();
    let evs = observe::replay(&p.layout, None, &[], &f).unwrap().unwrap();
    assert_eq!(evs.len(), 10);
    assert!(evs.iter().all(|e| e.run_id.as_deref() == Some("r1")));
    assert!(evs.windows(2).all(|w| w[0].created_at <= w[1].created_at));
}

#[test]
fn prune_deletes_old_events_and_snapshots() {
    let p = Project::new();
    let s = seed(&p);
    s.insert(&NewEvent::new("now", EventType::Spawn)).unwrap();
    let r = observe::prune(
        &p.layout,
        &EventPurge {
            older_than_ms: Some(60_000),
            ..EventPurge::default()
        },
    )
    .unwrap();
    assert_eq!(r.events, 20);
    assert_eq!(s.count().unwrap(), 1);
    assert_eq!(
        observe::parse_age("older-than", "7d").unwrap(),
        7 * 86_400_000
    );
    assert!(observe::parse_age("older-than", "soon").is_err());
    let _ = clock::now_millis();
}

#[test]
fn follower_waits_for_the_store_then_returns_each_new_event_once_in_order() {
    let p = Project::new();
    let all = FollowFilter::default();
    let mut f = Follower::from_now(&p.layout, all).unwrap();
    assert!(f.poll().unwrap().is_empty());
    assert!(
        !p.layout.events_db().exists(),
        "following never creates events.db"
    );
    let mut store = EventStore::open(&p.layout.events_db()).unwrap();
    // More than one batch, so draining must continue past the first.
    let burst: Vec<NewEvent> = (0..Follower::BATCH + 5)
        .map(|i| NewEvent::new(if i % 2 == 0 { "a" } else { "b" }, EventType::Progress))
        .collect();
    store.insert_many(&burst).unwrap();
    let got = f.poll().unwrap();
    assert_eq!(got.len(), Follower::BATCH + 5);
    assert!(got.windows(2).all(|w| w[0].id < w[1].id));
    assert!(f.poll().unwrap().is_empty(), "nothing is returned twice");
    store.insert(&NewEvent::new("a", EventType::Error)).unwrap();
    assert_eq!(f.poll().unwrap().len(), 1);
}

#[test]
fn follower_starts_after_existing_events_and_keeps_to_its_filter() {
    let p = Project::new();
    let store = EventStore::open(&p.layout.events_db()).unwrap();
    store
        .insert(&NewEvent::new("a", EventType::Progress))
        .unwrap();
    let only_b = FollowFilter {
        agents: vec!["b".into()],
        ..FollowFilter::default()
    };
    let mut f = Follower::from_now(&p.layout, only_b).unwrap();
    store
        .insert(&NewEvent::new("a", EventType::Progress))
        .unwrap();
    store
        .insert(&NewEvent::new("b", EventType::Progress))
        .unwrap();
    let got = f.poll().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].agent_name, "b");
}
