//! `ov costs`, `ov metrics` and enforced budgets, on real SQLite files, the
//! real `ov` binary and (where the `claude` binary is installed) the real
//! Claude Code against the mock Messages API, so counted tokens are real.

use std::path::Path;
use std::time::Duration;

use overstory_core::{AgentName, Layout};
use overstory_mail::{ListFilter, MailStore, MessageType};
use overstory_sessions::metrics::{MetricsStore, TokenUsage, TurnUsage};
use overstory_sessions::{AgentState, SessionStore};
use overstory_testkit::mock_api::{MockApi, Reply};
use overstory_testkit::{TempRepo, wait_until};

use crate::support::{command, initialized_repo, ov, run};

struct Project {
    repo: TempRepo,
    layout: Layout,
}

impl Project {
    fn new() -> Self {
        let repo = initialized_repo();
        let layout = Layout::new(repo.path());
        Self { repo, layout }
    }

    fn path(&self) -> &Path {
        self.repo.path()
    }

    fn budget(&self, yaml: &str) {
        let path = self.layout.dir().join("config.yaml");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&format!("budget:\n{yaml}"));
        std::fs::write(path, text).unwrap();
    }

    fn agent(&self, name: &str, parent: Option<&str>, state: AgentState, runtime: &str) {
        crate::support::register_headless(
            &self.layout,
            self.path(),
            name,
            "builder",
            parent,
            state,
            runtime,
        );
    }

    fn charge(&self, agent: &str, capability: &str, run: &str, input: i64, cost: f64) {
        let mut t = TurnUsage::new(agent, capability);
        t.task_id = format!("task-{agent}");
        t.run_id = Some(run.into());
        t.usage = TokenUsage {
            input_tokens: input,
            output_tokens: input / 10,
            cache_read_tokens: 0,
            cache_creation_tokens: 0,
            model_used: Some("claude-sonnet-4-5".into()),
        };
        t.reported_cost_usd = Some(cost);
        MetricsStore::open(&self.layout.metrics_db())
            .unwrap()
            .add_turn_usage(&t)
            .unwrap();
    }

    fn mail(&self, to: &str, kind: MessageType) -> Vec<overstory_mail::MailMessage> {
        MailStore::open(self.layout.mail_db())
            .unwrap()
            .list(&ListFilter {
                to: Some(to.into()),
                kind: Some(kind),
                ..ListFilter::default()
            })
            .unwrap()
    }
}

#[test]
fn without_metrics_costs_and_metrics_say_so_and_create_nothing() {
    let p = Project::new();
    let j = ov(p.path(), &["costs", "--json"]).ok().json();
    assert_eq!(j["sessions"], serde_json::json!([]));
    let out = ov(p.path(), &["metrics"]).ok();
    assert!(out.stdout.contains("No session metrics"), "{out:?}");
    assert!(!p.layout.metrics_db().exists(), "a read created metrics.db");
    let bad = ov(p.path(), &["costs", "--last", "0"]);
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("--last must be at least 1"), "{bad:?}");
}

#[test]
fn costs_lists_sessions_groups_by_capability_and_shows_budget_use() {
    let p = Project::new();
    p.charge("builder-1", "builder", "run-1", 1_500, 0.25);
    p.charge("builder-2", "builder", "run-1", 500, 0.25);
    p.charge("scout-1", "scout", "run-1", 20_000, 1.0);
    p.budget("  maxTokensPerRun: 100000\n");

    let out = ov(p.path(), &["costs"]).ok();
    assert!(out.stdout.contains("Agent"), "{out:?}");
    assert!(
        out.stdout.contains("20,000"),
        "thousands separators: {out:?}"
    );
    assert!(out.stdout.contains("$1.50"), "total cost: {out:?}");
    assert!(
        out.stdout.contains("budget.maxTokensPerRun") && out.stdout.contains("of 100,000"),
        "{out:?}"
    );

    let j = ov(p.path(), &["costs", "--json"]).ok().json();
    assert_eq!(j["sessions"].as_array().unwrap().len(), 3);
    assert!(j["sessions"][0]["agentName"].as_str().is_some());
    let use_ = &j["budget"][0];
    assert_eq!(use_["key"], "budget.maxTokensPerRun");
    assert_eq!(use_["scope"], "run-1");
    assert_eq!(use_["used"], 24_200.0);

    let j = ov(p.path(), &["costs", "--by-capability", "--json"])
        .ok()
        .json();
    let grouped = j["grouped"].as_object().unwrap();
    let names: Vec<&String> = grouped.keys().collect();
    assert_eq!(names, ["scout", "builder"], "most expensive first");
    assert_eq!(grouped["builder"]["totals"]["inputTokens"], 2_000);
    assert_eq!(grouped["builder"]["totals"]["costUsd"], 0.5);
    assert_eq!(grouped["builder"]["sessions"].as_array().unwrap().len(), 2);

    let j = ov(p.path(), &["costs", "--agent", "scout-1", "--json"])
        .ok()
        .json();
    assert_eq!(j["sessions"].as_array().unwrap().len(), 1);
    let j = ov(p.path(), &["costs", "--bead", "task-builder-2", "--json"])
        .ok()
        .json();
    assert_eq!(j["sessions"][0]["agentName"], "builder-2");

    let out = ov(p.path(), &["metrics"]).ok();
    assert!(out.stdout.contains("Sessions: 3 of 3"), "{out:?}");
    assert!(
        out.stdout
            .contains("scout-1 [scout] task-scout-1 | running"),
        "{out:?}"
    );
}

#[test]
fn live_costs_show_only_active_agents() {
    let p = Project::new();
    p.agent("builder-1", None, AgentState::Working, "scripted");
    p.agent("builder-2", None, AgentState::Completed, "scripted");
    p.charge("builder-1", "builder", "run-1", 600, 0.3);
    p.charge("builder-2", "builder", "run-1", 900, 0.9);
    let j = ov(p.path(), &["costs", "--live", "--json"]).ok().json();
    let agents = j["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 1, "{j}");
    assert_eq!(agents[0]["agentName"], "builder-1");
    assert_eq!(agents[0]["inputTokens"], 600);
    assert_eq!(j["totals"]["costUsd"], 0.3);
}

#[test]
fn self_cost_reads_the_newest_transcript_and_fails_clearly_without_one() {
    let p = Project::new();
    let home = tempfile::tempdir().unwrap();
    let out = run(command(p.path())
        .env("HOME", home.path())
        .args(["costs", "--self"]));
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("No transcript found"), "{out:?}");

    let key = overstory_sessions::metrics::project_key(p.path());
    let dir = home.path().join(".claude/projects").join(key);
    std::fs::create_dir_all(&dir).unwrap();
    let line = serde_json::json!({"type": "assistant", "message": {"model": "claude-opus-4",
        "usage": {"input_tokens": 1000, "output_tokens": 100}}});
    std::fs::write(dir.join("s1.jsonl"), format!("{line}\n")).unwrap();
    let out = run(command(p.path())
        .env("HOME", home.path())
        .args(["costs", "--self", "--json"]));
    assert_eq!(out.code, 0, "{out:?}");
    let j = out.json();
    assert_eq!(j["source"], "self");
    assert_eq!(j["inputTokens"], 1000);
    assert_eq!(j["model"], "claude-opus-4");
}

#[test]
fn sling_into_a_run_over_its_budget_creates_nothing_and_says_which_budget() {
    let p = Project::new();
    overstory_sessions::write_current_run(&p.layout, "run-full").unwrap();
    p.charge("builder-0", "builder", "run-full", 5_000, 0.1);
    p.budget("  maxTokensPerRun: 4000\n");
    let out = ov(
        p.path(),
        &[
            "sling",
            "task-9",
            "--capability",
            "builder",
            "--runtime",
            "scripted",
            "--name",
            "builder-9",
            "--json",
        ],
    );
    assert_eq!(out.code, 1, "{out:?}");
    let j = out.json();
    let err = j["error"].as_str().unwrap();
    assert!(err.contains("budget.maxTokensPerRun"), "{err}");
    assert!(err.contains("5,500 tokens of its budget of 4,000"), "{err}");
    let row = SessionStore::open(&p.layout.sessions_db())
        .unwrap()
        .get("builder-9")
        .unwrap();
    assert!(row.is_none(), "a refused sling left a session row");
    assert!(
        !p.layout
            .agent_worktree(&AgentName::new("builder-9").unwrap())
            .exists()
    );
}

#[test]
fn real_claude_turns_are_charged_and_a_spent_agent_gets_no_more_turns() {
    let Some(claude) = overstory_testkit::require_claude("real_claude_turns_are_charged") else {
        return;
    };
    let p = Project::new();
    p.agent("builder-c", Some("lead-c"), AgentState::Booting, "claude");
    // A live child keeps the builder waiting (working) between its turns,
    // so the second mail finds it still active.
    p.agent("scout-c", Some("builder-c"), AgentState::Working, "claude");
    let mock = MockApi::start();
    mock.push([Reply::text("Looked at it; nothing to change yet.")]);
    let home = tempfile::tempdir().unwrap();
    let mut env = mock.claude_env(home.path());
    let path = format!(
        "{}:{}",
        claude.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    env.push(("PATH".into(), path));
    let send = |subject: &str| {
        let mut cmd = command(p.path());
        cmd.args([
            "mail",
            "send",
            "--to",
            "builder-c",
            "--subject",
            subject,
            "--body",
            "please",
            "--from",
            "lead-c",
        ]);
        for (k, v) in &env {
            cmd.env(k, v);
        }
        run(&mut cmd).ok();
    };
    let dispatching = || {
        overstory_turn::dispatch::is_dispatching(&p.layout, &AgentName::new("builder-c").unwrap())
    };
    send("first");
    wait_until(
        Duration::from_secs(120),
        "the first turn to be charged",
        || {
            MetricsStore::open(&p.layout.metrics_db())
                .ok()
                .and_then(|m| m.by_agent("builder-c").ok())
                .is_some_and(|rows| !rows.is_empty())
                && !dispatching()
        },
    );
    let row = MetricsStore::open(&p.layout.metrics_db())
        .unwrap()
        .by_agent("builder-c")
        .unwrap()
        .remove(0);
    // The mock reports 10 input and 5 output tokens per model call.
    assert!(row.input_tokens >= 10, "{row:?}");
    assert!(row.output_tokens >= 5, "{row:?}");
    assert_eq!(row.task_id, "task-builder-c");
    let j = ov(p.path(), &["costs", "--agent", "builder-c", "--json"])
        .ok()
        .json();
    assert_eq!(j["sessions"][0]["inputTokens"], row.input_tokens);

    // Spent: the next mail gets no turn; the parent hears why.
    p.budget("  maxTokensPerAgent: 1\n");
    let calls_before = mock.agent_requests().len();
    send("second");
    wait_until(
        Duration::from_secs(60),
        "the parent to hear about the budget",
        || !p.mail("lead-c", MessageType::Escalation).is_empty() && !dispatching(),
    );
    let esc = p.mail("lead-c", MessageType::Escalation);
    assert_eq!(esc.len(), 1);
    assert!(
        esc[0].body.contains("budget.maxTokensPerAgent"),
        "{}",
        esc[0].body
    );
    assert_eq!(
        mock.agent_requests().len(),
        calls_before,
        "no model call was made"
    );
    let unread = MailStore::open(p.layout.mail_db())
        .unwrap()
        .unread_count("builder-c")
        .unwrap();
    assert_eq!(unread, 1, "the refused mail stays unread");
    let j = ov(p.path(), &["costs", "--agent", "builder-c", "--json"])
        .ok()
        .json();
    assert_eq!(j["budget"][0]["key"], "budget.maxTokensPerAgent");
    assert!(j["budget"][0]["percent"].as_f64().unwrap() > 100.0);
}
