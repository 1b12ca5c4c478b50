//! `ov coordinator stop`.

use overstory_fleet::persistent::{self, PersistentSpec, PersistentStopOptions};

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Stops the agent and reports what was stopped.
pub fn run(ctx: &Context, spec: &PersistentSpec, name: &str) -> Result<Output, CliError> {
    let layout = ctx.layout()?;
    let report = persistent::stop(&layout, spec, &PersistentStopOptions::default())?;
    let mut out = Output::new(name).data_of(&report)?.success(format!(
        "{} stopped (session {})",
        spec.display_name, report.session_id
    ));
    if let Some(run) = &report.run_id {
        out = out.hint(format!("Run {run} completed"));
    }
    if report.watchdog_stopped {
        out = out.hint("Watchdog stopped");
    }
    if report.monitor_stopped {
        out = out.hint("Monitor stopped");
    }
    Ok(out)
}
