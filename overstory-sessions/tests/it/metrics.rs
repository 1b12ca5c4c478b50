//! metrics.db rows and snapshots.

use overstory_sessions::metrics::{MetricsPurge, MetricsStore, SessionMetrics, TokenSnapshot};

use crate::support::Project;

fn row(agent: &str, task: &str, started: &str, completed: bool, dur: i64) -> SessionMetrics {
    SessionMetrics {
        agent_name: agent.into(),
        task_id: task.into(),
        capability: "builder".into(),
        started_at: started.into(),
        completed_at: completed.then(|| "2026-01-02T00:00:00.000Z".into()),
        duration_ms: dur,
        exit_code: None,
        merge_result: None,
        parent_agent: None,
        input_tokens: 0,
        output_tokens: 0,
        cache_read_tokens: 0,
        cache_creation_tokens: 0,
        estimated_cost_usd: None,
        model_used: None,
        run_id: None,
    }
}

fn snap(agent: &str, at: &str, input: i64, run: Option<&str>) -> TokenSnapshot {
    TokenSnapshot {
        agent_name: agent.parse().unwrap(),
        input_tokens: input,
        output_tokens: 0,
        cache_read_tokens: 0,
        cache_creation_tokens: 0,
        estimated_cost_usd: None,
        model_used: None,
        created_at: at.into(),
        run_id: run.map(Into::into),
    }
}

#[test]
fn record_replaces_on_agent_and_task() {
    let p = Project::new();
    let m = MetricsStore::open(&p.layout.metrics_db()).unwrap();
    m.record_session(&row("a", "t", "2026-01-01T00:00:00.000Z", true, 1))
        .unwrap();
    m.record_session(&row("a", "t", "2026-01-01T00:00:00.000Z", true, 2))
        .unwrap();
    m.record_session(&row("a", "t2", "2026-01-01T00:00:00.000Z", true, 3))
        .unwrap();
    assert_eq!(m.count().unwrap(), 2);
    assert_eq!(m.by_task("t").unwrap()[0].duration_ms, 2);
}

#[test]
fn queries_are_newest_first_and_null_run_never_matches() {
    let p = Project::new();
    let m = MetricsStore::open(&p.layout.metrics_db()).unwrap();
    for (i, day) in ["01", "03", "02"].iter().enumerate() {
        let mut r = row(
            "a",
            &format!("t{i}"),
            &format!("2026-01-{day}T00:00:00.000Z"),
            true,
            0,
        );
        if i == 0 {
            r.run_id = Some("r1".into());
        }
        m.record_session(&r).unwrap();
    }
    let recent: Vec<_> = m
        .recent(20)
        .unwrap()
        .into_iter()
        .map(|r| r.task_id)
        .collect();
    assert_eq!(recent, ["t1", "t2", "t0"]);
    assert_eq!(m.recent(1).unwrap().len(), 1);
    assert_eq!(m.by_agent("a").unwrap()[0].task_id, "t1");
    assert_eq!(m.by_run("r1").unwrap().len(), 1);
    assert!(m.by_run("").unwrap().is_empty());
}

#[test]
fn average_duration_counts_completed_rows_only() {
    let p = Project::new();
    let m = MetricsStore::open(&p.layout.metrics_db()).unwrap();
    assert_eq!(m.average_duration(None).unwrap(), 0.0);
    m.record_session(&row("a", "1", "2026-01-01T00:00:00.000Z", true, 100))
        .unwrap();
    m.record_session(&row("b", "2", "2026-01-01T00:00:00.000Z", true, 300))
        .unwrap();
    m.record_session(&row("c", "3", "2026-01-01T00:00:00.000Z", false, 9999))
        .unwrap();
    assert_eq!(m.average_duration(None).unwrap(), 200.0);
    assert_eq!(m.average_duration(Some("scout")).unwrap(), 0.0);
    assert_eq!(m.purge(&MetricsPurge::default()).unwrap(), 0);
    assert_eq!(
        m.purge(&MetricsPurge {
            agent: Some("a".into()),
            ..MetricsPurge::default()
        })
        .unwrap(),
        1
    );
}

#[test]
fn latest_snapshots_per_agent_and_per_run() {
    let p = Project::new();
    let m = MetricsStore::open(&p.layout.metrics_db()).unwrap();
    m.record_snapshot(&snap("a", "2026-01-01T00:00:01.000Z", 1, Some("r1")))
        .unwrap();
    m.record_snapshot(&snap("a", "2026-01-01T00:00:02.000Z", 2, Some("r1")))
        .unwrap();
    m.record_snapshot(&snap("a", "2026-01-01T00:00:03.000Z", 3, None))
        .unwrap();
    m.record_snapshot(&snap("b", "2026-01-01T00:00:01.000Z", 10, None))
        .unwrap();
    // A tie on created_at returns one row (the later id).
    m.record_snapshot(&snap("b", "2026-01-01T00:00:01.000Z", 11, None))
        .unwrap();
    let all = m.latest_snapshots(None).unwrap();
    let got: Vec<_> = all
        .iter()
        .map(|s| (s.agent_name.as_str(), s.input_tokens))
        .collect();
    assert_eq!(got, [("a", 3), ("b", 11)]);
    let run = m.latest_snapshots(Some("r1")).unwrap();
    let got: Vec<_> = run
        .iter()
        .map(|s| (s.agent_name.as_str(), s.input_tokens))
        .collect();
    assert_eq!(got, [("a", 2)]);
    assert_eq!(
        m.latest_snapshot_time("a").unwrap().as_deref(),
        Some("2026-01-01T00:00:03.000Z")
    );
    assert_eq!(m.latest_snapshot_time("zzz").unwrap(), None);
}

#[test]
fn purge_snapshots_applies_the_first_set_option() {
    let p = Project::new();
    let m = MetricsStore::open(&p.layout.metrics_db()).unwrap();
    m.record_snapshot(&snap("a", "2020-01-01T00:00:00.000Z", 1, None))
        .unwrap();
    m.record_snapshot(&snap("b", "2099-01-01T00:00:00.000Z", 1, None))
        .unwrap();
    assert_eq!(m.purge_snapshots(&MetricsPurge::default()).unwrap(), 0);
    let old = MetricsPurge {
        older_than_ms: Some(1000),
        ..MetricsPurge::default()
    };
    assert_eq!(m.purge_snapshots(&old).unwrap(), 1);
    let agent_wins = MetricsPurge {
        agent: Some("zzz".into()),
        older_than_ms: Some(0),
        ..MetricsPurge::default()
    };
    assert_eq!(m.purge_snapshots(&agent_wins).unwrap(), 0);
    assert_eq!(
        m.purge_snapshots(&MetricsPurge {
            all: true,
            ..MetricsPurge::default()
        })
        .unwrap(),
        1
    );
}
