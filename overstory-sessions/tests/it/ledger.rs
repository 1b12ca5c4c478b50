//! Per-turn usage of headless agents and the budgets checked against it.

use overstory_core::config::BudgetConfig;
use overstory_sessions::budget::{self, BudgetKind};
use overstory_sessions::metrics::{MetricsStore, TokenUsage, TurnUsage, usage_from_json};
use serde_json::json;

fn turn(agent: &str, run: &str, input: i64, output: i64, cost: Option<f64>) -> TurnUsage {
    let mut t = TurnUsage::new(agent, "builder");
    t.task_id = format!("task-{agent}");
    t.run_id = Some(run.into());
    t.parent_agent = Some("lead-1".into());
    t.usage = TokenUsage {
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: 10,
        cache_creation_tokens: 5,
        model_used: Some("claude-sonnet-4-5".into()),
    };
    t.reported_cost_usd = cost;
    t
}

#[test]
fn turns_add_up_in_one_row_with_a_snapshot_each() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.db");
    let mut store = MetricsStore::open(&path).unwrap();
    store
        .add_turn_usage(&turn("builder-1", "run-1", 100, 20, Some(0.5)))
        .unwrap();
    let row = store
        .add_turn_usage(&turn("builder-1", "run-1", 300, 40, Some(0.25)))
        .unwrap();
    assert_eq!((row.input_tokens, row.output_tokens), (400, 60));
    assert_eq!((row.cache_read_tokens, row.cache_creation_tokens), (20, 10));
    assert_eq!(row.estimated_cost_usd, Some(0.75));
    assert_eq!(row.parent_agent.as_deref(), Some("lead-1"));
    assert_eq!(row.model_used.as_deref(), Some("claude-sonnet-4-5"));

    // Another process sees the same, and the latest snapshot is the running total.
    let other = MetricsStore::open(&path).unwrap();
    assert_eq!(other.by_agent("builder-1").unwrap(), vec![row]);
    let snaps = other.latest_snapshots(Some("run-1")).unwrap();
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0].input_tokens, 400);
    let spend = other.run_spend("run-1").unwrap();
    assert_eq!(spend.tokens, 400 + 60 + 20 + 10);
    assert!((spend.cost_usd - 0.75).abs() < 1e-9);
}

#[test]
fn without_a_reported_cost_the_price_table_estimates_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = MetricsStore::open(&dir.path().join("metrics.db")).unwrap();
    let row = store
        .add_turn_usage(&turn("builder-1", "run-1", 1_000_000, 0, None))
        .unwrap();
    // Sonnet input is $3 per million; the cache tokens add a little.
    let cost = row.estimated_cost_usd.unwrap();
    assert!((3.0..3.01).contains(&cost), "{cost}");
}

#[test]
fn usage_json_uses_anthropic_field_names() {
    let u = usage_from_json(
        &json!({"input_tokens": 7, "output_tokens": 3, "cache_read_input_tokens": 2,
                "cache_creation_input_tokens": 1, "service_tier": "standard"}),
        Some("m"),
    );
    assert_eq!(
        (
            u.input_tokens,
            u.output_tokens,
            u.cache_read_tokens,
            u.cache_creation_tokens
        ),
        (7, 3, 2, 1)
    );
    assert_eq!(
        usage_from_json(&json!({"input_tokens": "x"}), None).input_tokens,
        0
    );
}

#[test]
fn budgets_trip_at_their_limit_and_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = MetricsStore::open(&dir.path().join("metrics.db")).unwrap();
    store
        .add_turn_usage(&turn("builder-1", "run-1", 500, 100, Some(0.4)))
        .unwrap();
    store
        .add_turn_usage(&turn("builder-2", "run-1", 300, 0, Some(0.4)))
        .unwrap();
    store
        .add_turn_usage(&turn("builder-3", "run-2", 5000, 0, Some(9.0)))
        .unwrap();

    let unlimited = BudgetConfig::default();
    assert_eq!(
        budget::check_run(&unlimited, &store, "run-1").unwrap(),
        None
    );
    assert_eq!(
        budget::check_agent(&unlimited, &store, "builder-3", Some("run-2")).unwrap(),
        None
    );

    let mut limits = BudgetConfig::default();
    limits.max_tokens_per_run = 10_000;
    assert_eq!(budget::check_run(&limits, &store, "run-1").unwrap(), None);
    limits.max_tokens_per_run = 930; // run-1 used 615 + 315
    let over = budget::check_run(&limits, &store, "run-1")
        .unwrap()
        .unwrap();
    assert_eq!(over.kind, BudgetKind::TokensPerRun);
    assert_eq!(over.used, 930.0);
    let text = over.to_string();
    assert!(
        text.contains("run run-1 has used 930 tokens of its budget of 930 tokens"),
        "{text}"
    );
    assert!(text.contains("budget.maxTokensPerRun"), "{text}");

    let mut limits = BudgetConfig::default();
    limits.max_cost_usd_per_run = 1.0;
    assert_eq!(budget::check_run(&limits, &store, "run-1").unwrap(), None);
    let over = budget::check_run(&limits, &store, "run-2")
        .unwrap()
        .unwrap();
    assert_eq!(over.kind, BudgetKind::CostUsdPerRun);
    assert!(
        over.to_string().contains("$9.00 of its budget of $1.00"),
        "{over}"
    );

    let mut limits = BudgetConfig::default();
    limits.max_tokens_per_agent = 600;
    assert_eq!(
        budget::check_agent(&limits, &store, "builder-2", None).unwrap(),
        None
    );
    let over = budget::check_agent(&limits, &store, "builder-1", None)
        .unwrap()
        .unwrap();
    assert_eq!(
        (over.kind, over.scope.as_str()),
        (BudgetKind::TokensPerAgent, "builder-1")
    );
    // An agent under its own limit is still stopped by its run's.
    limits.max_cost_usd_per_run = 5.0;
    let over = budget::check_agent(&limits, &store, "builder-2", Some("run-2")).unwrap();
    assert_eq!(over.unwrap().kind, BudgetKind::CostUsdPerRun);
}

#[test]
fn thousands_groups_digits() {
    assert_eq!(overstory_sessions::observe::text::thousands(0), "0");
    assert_eq!(overstory_sessions::observe::text::thousands(999), "999");
    assert_eq!(overstory_sessions::observe::text::thousands(1000), "1,000");
    assert_eq!(
        overstory_sessions::observe::text::thousands(-1_234_567),
        "-1,234,567"
    );
}
