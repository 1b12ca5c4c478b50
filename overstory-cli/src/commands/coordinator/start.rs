//! `ov coordinator start`.

use std::io::IsTerminal as _;
use std::path::PathBuf;

use overstory_fleet::beacon::BeaconTiming;
use overstory_fleet::persistent::{self, PersistentSpec, StartOptions};

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Start the agent
#[derive(Debug, clap::Args)]
pub struct StartArgs {
    #[command(flatten)]
    agent: AgentStartArgs,
    /// Also start the watchdog daemon
    #[arg(long)]
    watchdog: bool,
    /// Also start the tier-2 monitor (needs watchdog.tier2Enabled)
    #[arg(long)]
    monitor: bool,
}

/// How any persistent agent starts (`coordinator`, `orchestrator` and
/// `monitor` share these flags).
#[derive(Debug, clap::Args)]
pub struct AgentStartArgs {
    /// Attach to the tmux session after starting (tmux mode; the default when
    /// stdout is a terminal)
    #[arg(long, overrides_with = "no_attach")]
    attach: bool,
    /// Do not attach to the tmux session
    #[arg(long, overrides_with = "attach")]
    no_attach: bool,
    /// Run in a tmux session instead of headless under an agent host
    #[arg(long, alias = "no-headless", conflicts_with = "headless")]
    tmux: bool,
    /// Run headless under an agent host (the default)
    #[arg(long)]
    headless: bool,
    /// Runtime to use (default: runtime.capabilities.<capability>, then runtime.default)
    #[arg(long, value_name = "name")]
    runtime: Option<String>,
    /// Script for the scripted runtime
    #[arg(long, value_name = "file")]
    script: Option<PathBuf>,
    /// Canopy profile (accepted for compatibility; profiles are not rendered)
    #[arg(long, value_name = "name")]
    profile: Option<String>,
}

/// Starts the agent (and the companions asked for) and reports how it runs.
pub fn run(
    ctx: &Context,
    spec: &PersistentSpec,
    name: &str,
    args: StartArgs,
) -> Result<Output, CliError> {
    run_agent(ctx, spec, name, args.agent, args.watchdog, args.monitor)
}

/// Starts a persistent agent; `watchdog` and `monitor` start its companions.
pub fn run_agent(
    ctx: &Context,
    spec: &PersistentSpec,
    name: &str,
    args: AgentStartArgs,
    watchdog: bool,
    monitor: bool,
) -> Result<Output, CliError> {
    let layout = ctx.layout()?;
    let config = ctx.config()?;
    let mut opts = StartOptions::new(*spec, ctx.ov_exe()?);
    opts.headless = !args.tmux;
    opts.runtime = args.runtime;
    opts.script = args.script.map(|p| ctx.cwd().join(p));
    opts.watchdog = watchdog;
    opts.monitor = monitor;
    opts.beacon_timing = BeaconTiming::from_config(&config);
    let report = persistent::start(&layout, &config, &opts)?;
    let attach = !args.no_attach && (args.attach || std::io::stdout().is_terminal());
    if attach && !report.headless && !ctx.json {
        persistent::attach(&opts.tmux, &report.tmux_session)?;
    }
    let how = if report.headless {
        format!(
            "headless, pid {}",
            report.pid.map_or_else(|| "?".to_owned(), |p| p.to_string())
        )
    } else {
        format!("tmux session {}", report.tmux_session)
    };
    let run = if report.run_id.is_empty() {
        String::new()
    } else {
        format!(", run {}", report.run_id)
    };
    let mut out = Output::new(name).data_of(&report)?.success(format!(
        "{} started ({how}, runtime {}{run})",
        spec.display_name, report.runtime
    ));
    if report.monitor {
        out = out.hint("Monitor started (stop it with ov monitor stop)");
    }
    for w in &report.warnings {
        out = out.warning(w.clone(), None);
    }
    if args.profile.is_some() {
        out = out.warning("--profile is accepted but profiles are not rendered", None);
    }
    if !spec.owns_run() {
        return Ok(out);
    }
    Ok(out.hint(format!(
        "Send it work: ov {} send --body \"<what to do>\"",
        spec.command_name
    )))
}
