//! `ov coordinator output`.

use std::time::Duration;

use overstory_fleet::Tmux;
use overstory_fleet::persistent::{self, OutputFollower, PersistentSpec};
use serde_json::json;

use crate::commands::follow::FollowLoop;
use crate::context::Context;
use crate::error::CliError;
use crate::output::{self, Output};

/// Show the agent's recent output
#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// Keep printing new output until interrupted (Ctrl-C)
    #[arg(long, short = 'f')]
    follow: bool,
    /// How many recent lines to show
    #[arg(long, value_name = "n", default_value_t = 50)]
    lines: usize,
    /// Poll interval for --follow in ms
    #[arg(long, value_name = "ms", default_value_t = 2000)]
    interval: u64,
}

/// Prints the recent output, then (with `--follow`) what comes after it.
pub fn run(
    ctx: &Context,
    spec: &PersistentSpec,
    name: &str,
    args: OutputArgs,
) -> Result<Output, CliError> {
    let layout = ctx.layout()?;
    let tmux = Tmux::default();
    let report = persistent::output(&layout, spec, args.lines, &tmux)?;
    if !args.follow {
        return Ok(Output::new(name).data_of(&report)?.raw(report.content));
    }
    let follow = FollowLoop::install()?;
    let mut follower = OutputFollower::from_now(&layout, spec, &tmux)?;
    let emit = |content: &str| -> bool {
        if content.is_empty() {
            return true;
        }
        let text = if ctx.json {
            output::envelope_line(name, &json!({"content": content, "lines": args.lines}))
        } else if content.ends_with('\n') {
            content.to_owned()
        } else {
            format!("{content}\n")
        };
        output::print_raw(&text)
    };
    if !emit(&report.content) {
        return Ok(Output::silent(name));
    }
    let every = Duration::from_millis(args.interval.max(100));
    let _ = follow.run(every, || {
        Ok::<bool, std::convert::Infallible>(emit(&follower.poll()))
    });
    Ok(Output::silent(name))
}
