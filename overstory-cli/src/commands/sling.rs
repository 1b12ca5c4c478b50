//! `ov sling <task-id>`: admit, set up and start one agent on one task.

use std::path::PathBuf;

use overstory_core::{AgentName, Capability, TaskId};
use overstory_fleet::{SlingRequest, SlingStep, sling};
use overstory_runtime::HeadlessFlag;

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Spawn an agent on a task in its own worktree
#[derive(Debug, clap::Args)]
pub struct SlingArgs {
    /// The task id
    pub task_id: String,
    /// Agent capability (a key of the manifest's agents)
    #[arg(long, default_value = "builder")]
    pub capability: String,
    /// Agent name (default: <capability>-<task-id>, then -2, -3, ...)
    #[arg(long)]
    pub name: Option<String>,
    /// Spec file, copied to .overstory/specs/<task-id>.md
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Comma-separated file scope
    #[arg(long)]
    pub files: Option<String>,
    /// Parent agent (must have a session row; the depth is its depth + 1)
    #[arg(long)]
    pub parent: Option<String>,
    /// Depth in the hierarchy, used only without a parent row
    #[arg(long, allow_hyphen_values = true)]
    pub depth: Option<String>,
    /// Leads only: skip the scout phase
    #[arg(long)]
    pub skip_scout: bool,
    /// Leads only: skip review
    #[arg(long)]
    pub skip_review: bool,
    /// Skip the task-tracker check (no-op: no tracker is wired in)
    #[arg(long)]
    pub skip_task_check: bool,
    /// Allow any capability without a parent
    #[arg(long)]
    pub force_hierarchy: bool,
    /// Per-parent ceiling on active children (0 = unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub max_agents: Option<String>,
    /// Worker ceiling written into the agent's overlay
    #[arg(long, allow_hyphen_values = true)]
    pub dispatch_max_agents: Option<String>,
    /// Do not warn about builders dispatched without a scout
    #[arg(long)]
    pub no_scout_check: bool,
    /// Runtime (default: runtime.capabilities.<cap>, runtime.default, claude)
    #[arg(long)]
    pub runtime: Option<String>,
    /// Script for the scripted runtime
    #[arg(long)]
    pub script: Option<PathBuf>,
    /// Branch to start from (default: the current branch, else the canonical one)
    #[arg(long)]
    pub base_branch: Option<String>,
    /// Canopy profile (accepted; profiles are not rendered yet)
    #[arg(long)]
    pub profile: Option<String>,
    /// Run headless (spawn-per-turn)
    #[arg(long, conflicts_with = "no_headless")]
    pub headless: bool,
    /// Run in tmux
    #[arg(long)]
    pub no_headless: bool,
    /// Accept any task status (no-op: no tracker is wired in)
    #[arg(long)]
    pub recover: bool,
    /// Test hook: fail after this step and roll back
    #[arg(long, hide = true)]
    pub fail_after: Option<SlingStep>,
}

fn non_negative(flag: &str, value: &str) -> Result<u32, CliError> {
    let digits: String = value
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    if value.trim_start().starts_with('-') || digits.is_empty() {
        return Err(CliError::validation(format!(
            "{flag} must be a non-negative integer"
        )));
    }
    digits
        .parse()
        .map_err(|_| CliError::validation(format!("{flag} must be a non-negative integer")))
}

/// Runs `ov sling`.
pub fn run(ctx: &Context, args: SlingArgs) -> Result<Output, CliError> {
    let layout = ctx.layout()?;
    let config = ctx.config()?;
    let ov = ctx.ov_exe()?;
    // Arguments become library types once, here.
    let task = TaskId::new(args.task_id.trim())?;
    // A name given is validated like any other, even an empty one: `--name ""`
    // is a mistake (an unset variable), not a request for an automatic name.
    let optional_name = |flag: &str, v: Option<String>| -> Result<Option<AgentName>, CliError> {
        v.as_deref()
            .map(|n| {
                AgentName::new(n.trim()).map_err(|e| {
                    CliError::from(e).hint(format!(
                        "Pass {flag} letters, digits, '_' and '-' (at most {} bytes){}",
                        overstory_core::names::MAX_AGENT_NAME_LEN,
                        if flag == "--name" {
                            ", or leave it out for an automatic name"
                        } else {
                            ""
                        }
                    ))
                })
            })
            .transpose()
    };
    let mut req = SlingRequest::new(layout, config, task, ov);
    req.capability = args.capability.trim().parse::<Capability>()?;
    req.name = optional_name("--name", args.name)?;
    req.spec = args.spec.map(|p| ctx.cwd().join(p));
    req.files = args.files.into_iter().collect();
    req.parent = optional_name("--parent", args.parent)?;
    req.depth = args
        .depth
        .as_deref()
        .map(|d| non_negative("--depth", d))
        .transpose()?;
    req.max_agents = args
        .max_agents
        .as_deref()
        .map(|d| non_negative("--max-agents", d))
        .transpose()?;
    req.dispatch_max_agents = args
        .dispatch_max_agents
        .as_deref()
        .map(|d| non_negative("--dispatch-max-agents", d))
        .transpose()?;
    req.skip_scout = args.skip_scout;
    req.skip_review = args.skip_review;
    req.no_scout_check = args.no_scout_check;
    req.force_hierarchy = args.force_hierarchy;
    req.runtime = args.runtime;
    req.script = args.script.map(|p| ctx.cwd().join(p));
    req.base_branch = args.base_branch;
    req.headless = if args.headless {
        HeadlessFlag::Headless
    } else if args.no_headless {
        HeadlessFlag::NoHeadless
    } else {
        HeadlessFlag::Unset
    };
    req.fail_after = args.fail_after;
    let r = sling(&req)?;
    let data = crate::output::to_json(&r)?;
    let mut out = Output::new("sling").data(data);
    let mut lines = vec![format!("  Task:     {}", r.task_id)];
    lines.push(format!("  Branch:   {}", r.branch));
    lines.push(format!("  Worktree: {}", r.worktree));
    if r.headless {
        out = out.success(format!(
            "Agent launched (headless, spawn-per-turn) {}",
            r.agent_name
        ));
        lines.push(format!("  Session:  {}", r.session_id));
        if let Some(pid) = r.dispatcher_pid {
            lines.push(format!("  First turn: running (dispatcher pid {pid})"));
        }
    } else {
        out = out.success(format!("Agent launched {}", r.agent_name));
        lines.push(format!("  Tmux:     {}", r.tmux_session));
        if let Some(pid) = r.pid {
            lines.push(format!("  PID:      {pid}"));
        }
    }
    out = out.raw(lines.join("\n"));
    for w in &r.warnings {
        out = out.warning(w.clone(), None);
    }
    if args.profile.is_some() {
        out = out.warning(
            "--profile is accepted but profiles are not rendered yet",
            None,
        );
    }
    Ok(out)
}
