//! `ov coordinator status`.

use overstory_fleet::Tmux;
use overstory_fleet::persistent::{self, PersistentSpec};

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Reports whether the agent runs.
pub fn run(ctx: &Context, spec: &PersistentSpec, name: &str) -> Result<Output, CliError> {
    let layout = ctx.layout()?;
    let s = persistent::status(&layout, spec, &Tmux::default())?;
    let text = match (&s.state, s.running) {
        (None, _) => format!("{} is not running", spec.display_name),
        (Some(state), true) => format!(
            "{} is running ({}, pid {}, state {state}, since {})",
            spec.display_name,
            if s.headless == Some(true) {
                "headless".to_owned()
            } else {
                format!("tmux {}", s.tmux_session.as_deref().unwrap_or(""))
            },
            s.pid.map_or_else(|| "?".to_owned(), |p| p.to_string()),
            s.started_at.as_deref().unwrap_or("?")
        ),
        (Some(state), false) => format!(
            "{} is not running (its process is gone; state {state})",
            spec.display_name
        ),
    };
    Ok(Output::new(name).data_of(&s)?.raw(text))
}
