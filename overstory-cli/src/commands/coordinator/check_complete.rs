//! `ov coordinator check-complete`.

use overstory_fleet::persistent::{self, TriggerResult};

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Evaluates the exit triggers and reports each.
pub fn run(ctx: &Context, name: &str) -> Result<Output, CliError> {
    let layout = ctx.layout()?;
    let report = persistent::check_complete(&layout, &ctx.config()?)?;
    let line = |label: &str, t: &TriggerResult| {
        format!(
            "  {label}: {} — {}",
            match (t.enabled, t.met) {
                (false, _) => "disabled",
                (true, true) => "met",
                (true, false) => "not met",
            },
            t.detail
        )
    };
    let t = &report.triggers;
    let text = [
        format!("Complete: {}", if report.complete { "yes" } else { "no" }),
        line("allAgentsDone", &t.all_agents_done),
        line("taskTrackerEmpty", &t.task_tracker_empty),
        line("onShutdownSignal", &t.on_shutdown_signal),
    ]
    .join("\n");
    Ok(Output::new(name).data_of(&report)?.raw(text))
}
