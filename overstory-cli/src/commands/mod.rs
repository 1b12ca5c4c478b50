//! One module per command; this file holds the command enum and the one
//! dispatch `match`.

use clap::Subcommand;

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

mod agent_host;
mod agents;
mod clean;
mod completions;
mod config;
mod coordinator;
mod costs;
mod dashboard;
mod demo;
mod dispatch;
mod doctor;
mod errors;
mod feed;
mod follow;
mod group;
mod guard;
mod hooks;
mod init;
mod inspect;
mod log;
mod logs;
mod mail;
mod merge;
mod metrics;
mod monitor;
mod nudge;
mod prime;
mod replay;
mod run;
mod scripted_agent;
mod serve;
mod sling;
mod spec;
mod status;
mod stop;
mod timeline;
mod trace;
pub mod turn_shim;
mod watch;
mod worktree;

/// Every `ov` command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Discover agents and what they own
    Agents(agents::AgentsArgs),
    /// Print a shell completion script
    Completions(completions::CompletionsArgs),
    /// Show the merged configuration
    Config(config::ConfigArgs),
    /// Initialize overstory in the current git repository
    Init(init::InitArgs),
    /// Run a small offline swarm in a scratch repository and summarise it
    Demo(demo::DemoArgs),
    /// Check the project's health and repair what is safe
    Doctor(doctor::DoctorArgs),
    /// Show token usage and cost, with use against the budget
    Costs(costs::CostsArgs),
    /// Show error events
    Errors(errors::ErrorsArgs),
    /// Show (and follow) recent events of all agents
    Feed(feed::FeedArgs),
    /// Record a hook event, or prune old events
    Log(log::LogArgs),
    /// Show recent session metrics: tokens, cost, durations, merge tiers
    Metrics(metrics::MetricsArgs),
    /// Query and follow the agents' logs
    Logs(logs::LogsArgs),
    /// Show one agent in depth: state, task, tool calls, mail, tokens, output
    Inspect(inspect::InspectArgs),
    /// Replay the events of a run or of agents
    Replay(replay::ReplayArgs),
    /// Show the current run, or list, show and complete runs
    Run(run::RunArgs),
    /// Serve the fleet, mail and agent timelines to a browser, live
    Serve(serve::ServeArgs),
    /// Show agents, worktrees, mail and the merge queue
    Status(status::StatusArgs),
    /// Show a live view of agents, mail, the merge queue and recent events
    Dashboard(dashboard::DashboardArgs),
    /// Show an agent's timeline
    Trace(trace::TraceArgs),
    /// Send and receive mail between agents
    Mail(mail::MailArgs),
    /// Spawn an agent on a task in its own worktree
    Sling(sling::SlingArgs),
    /// Send a short message to an agent's session or turn queue
    Nudge(nudge::NudgeArgs),
    /// Merge agent branches into the canonical branch through the merge queue
    Merge(merge::MergeArgs),
    /// Stop an agent and mark it completed
    Stop(stop::StopArgs),
    /// Watch agent health and heal the fleet (the Tier 0 watchdog)
    ///
    /// Each tick first runs the reconciler (rolls back dead slings, starts
    /// dispatchers for stranded mail, kills orphaned turns, settles agents
    /// whose host died, removes stale pid files), then judges every session
    /// by watchdog.staleThresholdMs and watchdog.zombieThresholdMs.
    ///
    /// One daemon per project: a second one is refused. Ticks never overlap:
    /// the daemon sleeps its interval after each tick, and every tick (the
    /// daemon's and --once's) holds .overstory/watchdog-tick.lock while it
    /// runs. So --once may run while a daemon does, from scripts or cron: it
    /// waits (up to --wait) for a tick in progress to end, then ticks.
    Watch(watch::WatchArgs),
    /// List and clean agent worktrees
    Worktree(worktree::WorktreeArgs),
    /// Remove runtime state: worktrees, branches, databases, logs
    Clean(clean::CleanArgs),
    /// Create and track groups of issues
    Group(group::GroupArgs),
    /// Write task specifications
    Spec(spec::SpecArgs),
    /// Print the context a session loads at start
    Prime(prime::PrimeArgs),
    /// Install overstory's hooks into .claude/settings.local.json
    Hooks(hooks::HooksArgs),
    /// Run the persistent coordinator agent
    Coordinator(coordinator::CoordinatorArgs),
    /// Run the persistent orchestrator agent (one coordinator per repository)
    Orchestrator(coordinator::OrchestratorArgs),
    /// Run the tier-2 monitor agent that patrols the fleet
    Monitor(monitor::MonitorArgs),
    /// Decide a tool call for an agent (PreToolUse hook)
    #[command(hide = true)]
    Guard(guard::GuardArgs),
    /// Play one turn of an agent script (scripted runtime child)
    #[command(hide = true, name = "scripted-agent")]
    ScriptedAgent(scripted_agent::ScriptedAgentArgs),
    /// Deliver pending mail and queued turns to a headless agent
    #[command(hide = true)]
    Dispatch(dispatch::DispatchArgs),
    /// Host a persistent agent's long-lived process
    #[command(hide = true, name = "agent-host")]
    AgentHost(agent_host::AgentHostArgs),
    /// Run an agent process that dies with its runner
    #[command(hide = true, name = "turn-shim")]
    TurnShim(turn_shim::TurnShimArgs),
}

impl Command {
    /// Returns the `command` field used in this command's JSON envelopes.
    pub fn envelope_name(&self) -> String {
        match self {
            Command::Agents(_) => "agents discover".into(),
            Command::Completions(_) => "completions".into(),
            Command::Config(_) => "config".into(),
            Command::Coordinator(a) => a.envelope_name(),
            Command::Orchestrator(a) => a.envelope_name(),
            Command::Monitor(a) => a.envelope_name(),
            Command::Init(_) => "init".into(),
            Command::Demo(_) => "demo".into(),
            Command::Dispatch(_) => "dispatch".into(),
            Command::Doctor(_) => "doctor".into(),
            Command::AgentHost(_) => "agent-host".into(),
            Command::TurnShim(_) => "turn-shim".into(),
            Command::Costs(_) => "costs".into(),
            Command::Metrics(_) => "metrics".into(),
            Command::Errors(_) => "errors".into(),
            Command::Feed(_) => "feed".into(),
            Command::Log(a) if a.event == "prune" => "log prune".into(),
            Command::Log(_) => "log".into(),
            Command::Logs(_) => "logs".into(),
            Command::Inspect(_) => "inspect".into(),
            Command::Replay(_) => "replay".into(),
            Command::Run(a) => a.envelope_name().into(),
            Command::Serve(_) => "serve".into(),
            Command::Status(_) => "status".into(),
            Command::Dashboard(_) => "dashboard".into(),
            Command::Trace(_) => "trace".into(),
            // The original's mail errors name the program, not the command.
            Command::Mail(_) => "ov".into(),
            Command::Stop(_) => "stop".into(),
            Command::Watch(_) => "watch".into(),
            Command::Sling(_) => "sling".into(),
            Command::Nudge(_) => "nudge".into(),
            Command::Merge(_) => "merge".into(),
            Command::Worktree(a) => a.envelope_name().into(),
            Command::Clean(_) => "clean".into(),
            Command::Group(a) => a.envelope_name().into(),
            Command::Spec(_) => "spec-write".into(),
            Command::Prime(_) => "prime".into(),
            Command::Hooks(a) => a.envelope_name().into(),
            Command::Guard(_) => "guard".into(),
            Command::ScriptedAgent(_) => "scripted-agent".into(),
        }
    }
}

/// Runs one command.
pub fn run(ctx: &Context, command: Command) -> Result<Output, CliError> {
    match command {
        Command::Agents(args) => agents::run(ctx, args),
        Command::Completions(args) => completions::run(ctx, args),
        Command::Config(args) => config::run(ctx, args),
        Command::Coordinator(args) => coordinator::run(ctx, args),
        Command::Orchestrator(args) => coordinator::run_orchestrator(ctx, args),
        Command::Monitor(args) => monitor::run(ctx, args),
        Command::Init(args) => init::run(ctx, args),
        Command::Demo(args) => demo::run(ctx, args),
        Command::Dispatch(args) => dispatch::run(ctx, args),
        Command::Doctor(args) => doctor::run(ctx, args),
        Command::AgentHost(args) => agent_host::run(ctx, args),
        // Handled in cli.rs before a context exists: it exits with its
        // child's status and prints nothing.
        Command::TurnShim(_) => {
            Err(CliError::new("turn-shim runs before command dispatch").internal())
        }
        Command::Costs(args) => costs::run(ctx, args),
        Command::Metrics(args) => metrics::run(ctx, args),
        Command::Errors(args) => errors::run(ctx, args),
        Command::Feed(args) => feed::run(ctx, args),
        Command::Log(args) => log::run(ctx, args),
        Command::Logs(args) => logs::run(ctx, args),
        Command::Inspect(args) => inspect::run(ctx, args),
        Command::Replay(args) => replay::run(ctx, args),
        Command::Run(args) => run::run(ctx, args),
        Command::Serve(args) => serve::run(ctx, args),
        Command::Status(args) => status::run(ctx, args),
        Command::Dashboard(args) => dashboard::run(ctx, args),
        Command::Trace(args) => trace::run(ctx, args),
        Command::Mail(args) => mail::run(ctx, args),
        Command::Stop(args) => stop::run(ctx, args),
        Command::Watch(args) => watch::run(ctx, args),
        Command::Sling(args) => sling::run(ctx, args),
        Command::Nudge(args) => nudge::run(ctx, args),
        Command::Merge(args) => merge::run(ctx, args),
        Command::Worktree(args) => worktree::run(ctx, args),
        Command::Clean(args) => clean::run(ctx, args),
        Command::Group(args) => group::run(ctx, args),
        Command::Spec(args) => spec::run(ctx, args),
        Command::Prime(args) => prime::run(ctx, args),
        Command::Hooks(args) => hooks::run(ctx, args),
        Command::Guard(args) => guard::run(ctx, args),
        Command::ScriptedAgent(args) => scripted_agent::run(ctx, args),
    }
}
