//! What headless turns cost: each `result` event's usage is charged to the
//! agent in `metrics.db`, and a turn is refused once a `budget.*` limit is
//! reached (see [`overstory_sessions::budget`]).

use overstory_core::config::BudgetConfig;
use overstory_core::events::{EventLevel, EventStore, EventType, NewEvent};
use overstory_core::{Layout, clock};
use overstory_mail::protocol::{Escalation, Severity};
use overstory_mail::{MailStore, MessageType, NewMessage, Priority};
use overstory_runtime::stream_json::RuntimeEvent;
use overstory_sessions::budget::{self, BudgetExceeded};
use overstory_sessions::metrics::{MetricsStore, TurnUsage, usage_from_json};
use serde_json::json;

use crate::log::Sink;

/// Charges the usage reported by an agent's `result` events to its
/// metrics row.
pub(crate) struct Ledger {
    store: MetricsStore,
    template: TurnUsage,
    model: Option<String>,
}

impl Ledger {
    /// Opens `metrics.db` for charging `template`'s agent; `None` (after a
    /// warning) when the file cannot be opened.
    pub(crate) fn open(layout: &Layout, template: TurnUsage, sink: &Sink) -> Option<Self> {
        match MetricsStore::open(&layout.metrics_db()) {
            Ok(store) => Some(Self {
                store,
                template,
                model: None,
            }),
            Err(e) => {
                sink.warn(&format!("token usage will not be recorded: {e}"));
                None
            }
        }
    }

    /// Notes the model an event names; charges a `result` event's usage.
    pub(crate) fn observe(&mut self, ev: &RuntimeEvent, sink: &Sink) {
        match ev {
            RuntimeEvent::Status { model: Some(m), .. }
            | RuntimeEvent::AssistantMessage { model: Some(m), .. } => self.model = Some(m.clone()),
            RuntimeEvent::Result {
                usage,
                total_cost_usd,
                ..
            } => {
                if usage.is_none() && total_cost_usd.is_none() {
                    return;
                }
                let mut turn = self.template.clone();
                turn.usage = usage
                    .as_ref()
                    .map(|u| usage_from_json(u, self.model.as_deref()))
                    .unwrap_or_default();
                turn.usage.model_used.clone_from(&self.model);
                turn.reported_cost_usd = *total_cost_usd;
                if let Err(e) = self.store.add_turn_usage(&turn) {
                    sink.warn(&format!("failed to record the turn's token usage: {e}"));
                }
            }
            _ => {}
        }
    }
}

/// Returns the budget limit the agent (or its run) has reached, if any. An
/// unreadable `metrics.db` does not stop work: it is logged.
pub(crate) fn over_budget(
    layout: &Layout,
    limits: &BudgetConfig,
    agent: &str,
    run_id: Option<&str>,
    sink: &Sink,
) -> Option<BudgetExceeded> {
    if limits.is_unlimited() {
        return None;
    }
    let checked = MetricsStore::open(&layout.metrics_db())
        .and_then(|store| budget::check_agent(limits, &store, agent, run_id));
    match checked {
        Ok(over) => over,
        Err(e) => {
            sink.warn(&format!("budget not checked: {e}"));
            None
        }
    }
}

/// What is left of the run's dollar budget, for a runtime that can cap its
/// own spend; `None` when there is no dollar limit (or no run).
pub(crate) fn remaining_usd(
    layout: &Layout,
    limits: &BudgetConfig,
    run_id: Option<&str>,
) -> Option<f64> {
    let limit = limits.max_cost_usd_per_run;
    let run = run_id?;
    if limit <= 0.0 {
        return None;
    }
    let spent = MetricsStore::open(&layout.metrics_db())
        .and_then(|s| s.run_spend(run))
        .map_or(0.0, |s| s.cost_usd);
    Some((limit - spent).max(0.0))
}

/// Records why a turn was refused (an `error` event) and tells the
/// agent's parent with an `escalation` mail.
pub(crate) fn report_refusal(
    layout: &Layout,
    agent: &str,
    task_id: &str,
    run_id: Option<&str>,
    parent: Option<&str>,
    over: &BudgetExceeded,
    sink: &Sink,
) {
    let message = format!("turn refused: {over}");
    let row = NewEvent::new(agent, EventType::Error)
        .level(EventLevel::Error)
        .run(run_id.map(str::to_owned))
        .data(&json!({
            "reason": "budget_exceeded",
            "budget": over.kind.key(),
            "scope": over.scope,
            "used": over.used,
            "limit": over.limit,
            "message": message,
            "timestamp": clock::now_rfc3339(),
        }));
    if let Err(e) = EventStore::open(&layout.events_db()).and_then(|s| s.insert(&row)) {
        sink.warn(&format!("failed to record the budget refusal: {e}"));
    }
    sink.error(&message);
    let Some(parent) = parent else {
        return;
    };
    let payload = Escalation {
        severity: Severity::Error,
        task_id: (!task_id.is_empty()).then(|| task_id.to_owned()),
        context: over.to_string(),
    };
    let msg = NewMessage {
        from: agent.to_owned(),
        to: parent.to_owned(),
        subject: format!("[BUDGET] {agent} stopped: {} reached", over.kind.key()),
        body: format!(
            "Agent \"{agent}\" gets no further turn: {over}. Its unread mail stays unread until the budget allows another turn."
        ),
        kind: MessageType::Escalation,
        priority: Priority::High,
        payload: serde_json::to_string(&payload).ok(),
        ..NewMessage::default()
    };
    if let Err(e) = MailStore::open(layout.mail_db()).and_then(|m| m.insert(&msg).map(drop)) {
        sink.warn(&format!("failed to tell {parent} about the budget: {e}"));
    }
}
