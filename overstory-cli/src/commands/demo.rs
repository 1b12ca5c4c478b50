//! `ov demo`: a small swarm, offline, in a scratch repository.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use overstory_fleet::demo::{DemoOptions, DemoSummary, Progress, cancel_on_signals, run_demo};

use crate::context::Context;
use crate::error::CliError;
use crate::output::{self, Output, Style};

/// Run a small swarm offline: a coordinator, a lead and two builders
///
/// Creates a scratch git repository, initialises overstory in it with the
/// scripted runtime (no model, no network), and plays a lead that slings two
/// builders; they commit in their worktrees and report worker_done, the lead
/// merges their branches and reports merge_ready, and the coordinator merges
/// the lead's branch. Prints progress as it happens, then a summary.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Create the scratch repository here (a new or empty directory; kept)
    #[arg(long, value_name = "path")]
    pub dir: Option<PathBuf>,
    /// Keep the scratch repository instead of deleting it at the end
    #[arg(long)]
    pub keep: bool,
    /// Give up (and clean up) after this many seconds
    #[arg(long, value_name = "secs", default_value_t = 60)]
    pub timeout: u64,
    /// Serve the demo's project to a browser while it runs (see 'ov serve')
    #[arg(long)]
    pub serve: bool,
    /// Test hook: builders stall forever (exercises the timeout and cleanup)
    #[arg(long, hide = true)]
    pub stall_builders: bool,
}

/// Runs `ov demo`.
pub fn run(ctx: &Context, args: DemoArgs) -> Result<Output, CliError> {
    if args.timeout == 0 {
        return Err(CliError::validation("--timeout must be at least 1"));
    }
    let ov = ctx.ov_exe()?;
    let cancel = Arc::new(AtomicBool::new(false));
    cancel_on_signals(&cancel)
        .map_err(|e| CliError::new("Failed to install a signal handler").caused_by(e))?;
    let mut opts = DemoOptions::new(ov);
    opts.dir = args.dir.map(|d| ctx.cwd().join(d));
    opts.keep = args.keep;
    opts.timeout = Duration::from_secs(args.timeout);
    opts.cancel = cancel;
    opts.stall_builders = args.stall_builders;

    let style = ctx.style;
    // Progress is not the result: --json and -q keep stdout to the summary.
    let live = !ctx.json && !ctx.quiet;
    // --serve needs the project's path before the demo starts: pick it.
    let scratch = (args.serve && opts.dir.is_none())
        .then(|| std::env::temp_dir().join(format!("ov-demo-serve-{}", std::process::id())));
    if scratch.is_some() {
        opts.dir.clone_from(&scratch);
    }
    let mut served: Option<super::serve::Background> = None;
    let mut printer = |p: &Progress| {
        if live {
            output::print_raw(&progress_line(p, style));
        }
        if let (true, None, "init", Some(dir)) = (args.serve, &served, p.kind, &opts.dir) {
            match super::serve::Background::start(
                overstory_core::Layout::new(dir),
                Some(opts.ov_program.clone()),
            ) {
                Ok(b) => {
                    output::eprint_line(&format!("ov serve: watch the swarm at {}", b.info.url));
                    served = Some(b);
                }
                Err(e) => output::eprint_line(&format!("! ov serve did not start: {}", e.message)),
            }
        }
    };
    let summary = run_demo(&opts, &mut printer);
    drop(served);
    if let Some(dir) = scratch.filter(|_| !args.keep) {
        let _ = std::fs::remove_dir_all(dir);
    }
    let summary = summary?;
    let data = crate::output::to_json(&summary)?;
    Ok(Output::new("demo")
        .raw(summary_text(&summary, style))
        .success(format!(
            "Demo finished in {}: {} agents, {} mail, {} commits, {} branches merged",
            seconds(summary.wall_time_ms),
            summary.agents.len(),
            summary.mail_total,
            summary.commits.len(),
            summary.merged_branches.len()
        ))
        .data(data))
}

fn seconds(ms: u64) -> String {
    format!("{:.2}s", ms as f64 / 1000.0)
}

/// `  0.42s  commit  text`.
fn progress_line(p: &Progress, style: Style) -> String {
    let label = format!("{:<6}", p.kind);
    let label = match p.kind {
        "spawn" | "merge" => style.green(&label),
        "mail" => style.yellow(&label),
        "commit" => style.bold(&label),
        "turn+" | "turn-" | "say" | "tool" | "state" => style.dim(&label),
        _ => label,
    };
    format!("{:>7}  {label}  {}\n", seconds(p.elapsed_ms), p.text)
}

fn summary_text(s: &DemoSummary, style: Style) -> String {
    let mut out = vec![String::new(), style.bold("Summary")];
    out.push(format!("  Agents ({}):", s.agents.len()));
    let width = s.agents.iter().map(|a| a.name.len()).max().unwrap_or(0);
    for a in &s.agents {
        let turns = if a.turns == 1 { "turn" } else { "turns" };
        let detail = if a.branch.is_empty() {
            format!("{} {turns}, one {} process", a.turns, s.coordinator)
        } else {
            format!("{} {turns}, {}", a.turns, a.branch)
        };
        out.push(format!(
            "    {:<width$}  {:<11}  {:<9}  {detail}",
            a.name, a.capability, a.state
        ));
    }
    let by_type: Vec<String> = s.mail.iter().map(|(k, n)| format!("{k} {n}")).collect();
    out.push(format!("  Mail ({}): {}", s.mail_total, by_type.join(", ")));
    out.push(format!("  Commits ({}):", s.commits.len()));
    for c in &s.commits {
        out.push(format!("    {}  {}  ({})", c.sha, c.subject, c.branch));
    }
    out.push(format!(
        "  Merged into {}: {}",
        s.canonical_branch,
        s.merged_branches.join(", ")
    ));
    out.push(format!("  Merge queue ({}):", s.merges.len()));
    for m in &s.merges {
        out.push(format!(
            "    {}  {} (tier {})",
            m.branch,
            m.status,
            m.tier.as_deref().unwrap_or("none")
        ));
    }
    out.push(format!(
        "  Files on {}: {}",
        s.canonical_branch,
        s.files_on_canonical.join(", ")
    ));
    out.push(format!(
        "  Worktrees removed: {}; {}",
        s.worktrees_removed,
        match s.processes_left {
            0 => "no agent process left running".to_owned(),
            n => style.red(&format!("{n} process(es) still running")),
        }
    ));
    out.push(format!("  Wall time: {}", seconds(s.wall_time_ms)));
    if s.kept {
        out.push(format!(
            "  Repository: {} (kept; try 'git -C {} log --graph --oneline')",
            s.dir, s.dir
        ));
    } else {
        out.push(format!(
            "  Repository: {} (deleted; pass --keep to keep it)",
            s.dir
        ));
    }
    out.join("\n")
}
