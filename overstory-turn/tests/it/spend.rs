//! Headless turns charge their usage to `metrics.db`, and a turn is refused
//! once a budget is reached. The stores are real SQLite files; the child is
//! the scriptable fake (the real `claude` case is in the CLI's tests).

use std::sync::Arc;

use overstory_core::events::{EventFilter, EventStore};
use overstory_core::{AgentName, Layout};
use overstory_mail::{ListFilter, MailStore, MessageType};
use overstory_runtime::{ClaudeRuntime, ResolvedModel};
use overstory_sessions::metrics::MetricsStore;
use overstory_sessions::{AgentState, Session, SessionStore};
use overstory_turn::{RunTurnOptions, TurnError, run_turn};

use crate::fake_child::{Fake, FakeSpawner};

struct Ctx {
    _dir: tempfile::TempDir,
    layout: Layout,
}

impl Ctx {
    fn new(agent: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.dir()).unwrap();
        let mut s = Session::new(agent.parse().unwrap(), "builder".parse().unwrap());
        s.worktree_path = dir.path().display().to_string();
        s.task_id = Some("task-spend".parse().unwrap());
        s.parent_agent = Some("lead-1".parse().unwrap());
        s.run_id = Some("run-1".into());
        s.state = AgentState::Working;
        SessionStore::open(&layout.sessions_db())
            .unwrap()
            .upsert(&s)
            .unwrap();
        Self { _dir: dir, layout }
    }

    fn opts(&self, agent: &str, fake: &Fake) -> RunTurnOptions {
        let mut o = RunTurnOptions::new(
            AgentName::new(agent).unwrap(),
            "builder",
            self.layout.clone(),
            self.layout.root(),
            "task-spend",
            overstory_runtime::encode_user_turn("hello"),
            Arc::new(ClaudeRuntime::new()),
            ResolvedModel::default(),
        );
        o.run_id = Some("run-1".into());
        o.spawner = FakeSpawner::one(fake);
        o
    }

    fn metrics(&self) -> MetricsStore {
        MetricsStore::open(&self.layout.metrics_db()).unwrap()
    }
}

/// A turn that reports `input`/`output` tokens and `cost` in its result.
async fn turn_reporting(input: i64, output: i64, cost: f64) -> Fake {
    let fake = Fake::new();
    fake.line(
        r#"{"type":"system","subtype":"init","session_id":"s-1","model":"claude-sonnet-4-5"}"#,
    )
    .await;
    fake.line(
        &serde_json::json!({
            "type": "result", "subtype": "success", "session_id": "s-1", "result": "ok",
            "is_error": false, "total_cost_usd": cost,
            "usage": {"input_tokens": input, "output_tokens": output,
                      "cache_read_input_tokens": 2, "cache_creation_input_tokens": 1}
        })
        .to_string(),
    )
    .await;
    fake.exit_with(Some(0)).await;
    fake
}

#[tokio::test]
async fn each_turn_adds_its_usage_to_the_agents_metrics_row() {
    let ctx = Ctx::new("b1");
    let fake = turn_reporting(100, 20, 0.01).await;
    run_turn(ctx.opts("b1", &fake)).await.unwrap();
    let fake = turn_reporting(50, 5, 0.02).await;
    run_turn(ctx.opts("b1", &fake)).await.unwrap();

    let rows = ctx.metrics().by_agent("b1").unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!((r.input_tokens, r.output_tokens), (150, 25));
    assert_eq!((r.cache_read_tokens, r.cache_creation_tokens), (4, 2));
    assert!((r.estimated_cost_usd.unwrap() - 0.03).abs() < 1e-9);
    assert_eq!(r.model_used.as_deref(), Some("claude-sonnet-4-5"));
    assert_eq!(r.task_id, "task-spend");
    assert_eq!(r.run_id.as_deref(), Some("run-1"));
    assert_eq!(r.parent_agent.as_deref(), Some("lead-1"));
    assert_eq!(r.capability, "builder");
    assert_eq!(
        ctx.metrics().latest_snapshots(Some("run-1")).unwrap()[0].input_tokens,
        150
    );
}

#[tokio::test]
async fn an_agent_over_its_budget_gets_no_turn_and_its_parent_is_told() {
    let ctx = Ctx::new("b2");
    let fake = turn_reporting(900, 100, 0.5).await;
    let mut o = ctx.opts("b2", &fake);
    o.budget.max_tokens_per_agent = 1000;
    run_turn(o).await.unwrap();

    // The next turn is refused before any child starts.
    let fake = turn_reporting(1, 1, 0.0).await;
    let mut o = ctx.opts("b2", &fake);
    o.budget.max_tokens_per_agent = 1000;
    let err = run_turn(o).await.unwrap_err();
    let TurnError::OverBudget(over) = &err else {
        panic!("not a budget refusal: {err:?}");
    };
    assert_eq!(over.kind.key(), "budget.maxTokensPerAgent");
    assert_eq!(err.code(), "BUDGET_EXCEEDED");
    assert!(err.to_string().contains("1,003 tokens"), "{err}");
    assert!(
        fake.writes().is_empty(),
        "no user turn was written to a child"
    );
    assert_eq!(ctx.metrics().by_agent("b2").unwrap()[0].input_tokens, 900);

    let events = EventStore::open(&ctx.layout.events_db())
        .unwrap()
        .by_agent("b2", &EventFilter::default())
        .unwrap();
    let refusal = events
        .iter()
        .filter_map(|e| e.data_json())
        .find(|d| d["reason"] == "budget_exceeded")
        .expect("a budget_exceeded event");
    assert_eq!(refusal["budget"], "budget.maxTokensPerAgent");

    let to_parent = MailStore::open(ctx.layout.mail_db())
        .unwrap()
        .list(&ListFilter {
            to: Some("lead-1".into()),
            ..ListFilter::default()
        })
        .unwrap();
    let escalations: Vec<_> = to_parent
        .iter()
        .filter(|m| m.kind == MessageType::Escalation)
        .collect();
    assert_eq!(escalations.len(), 1, "{to_parent:?}");
    assert!(escalations[0].subject.contains("budget.maxTokensPerAgent"));
    let state = SessionStore::open(&ctx.layout.sessions_db())
        .unwrap()
        .get("b2")
        .unwrap()
        .unwrap()
        .state;
    assert_ne!(
        state,
        AgentState::Zombie,
        "a refused turn does not kill the agent"
    );
}

#[tokio::test]
async fn a_run_over_its_cost_budget_stops_every_agent_in_it() {
    let ctx = Ctx::new("b3");
    let fake = turn_reporting(10, 10, 2.0).await;
    run_turn(ctx.opts("b3", &fake)).await.unwrap();
    let fake = turn_reporting(1, 1, 0.0).await;
    let mut o = ctx.opts("b3", &fake);
    o.budget.max_cost_usd_per_run = 1.5;
    let err = run_turn(o).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("run run-1 has used $2.00 of its budget of $1.50"),
        "{err}"
    );
}

#[tokio::test]
async fn claude_is_capped_at_what_is_left_of_the_runs_dollar_budget() {
    let ctx = Ctx::new("b4");
    let fake = turn_reporting(10, 10, 2.0).await;
    run_turn(ctx.opts("b4", &fake)).await.unwrap();
    let fake = turn_reporting(1, 1, 0.0).await;
    let spawner = FakeSpawner::one(&fake);
    let mut o = ctx.opts("b4", &fake);
    o.spawner = spawner.clone();
    o.budget.max_cost_usd_per_run = 5.0;
    run_turn(o).await.unwrap();
    let argv = spawner.specs.lock().unwrap()[0].argv_strings();
    let at = argv
        .iter()
        .position(|a| a == "--max-budget-usd")
        .expect("the cap flag");
    assert_eq!(argv[at + 1], "3.0000");
}
