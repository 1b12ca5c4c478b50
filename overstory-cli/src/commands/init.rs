//! `ov init`: set up `.overstory/` in the current git repository.

use std::path::Path;

use overstory_core::Layout;
use overstory_core::init::{self, InitOptions, InitOutcome, InitReport};
use serde_json::json;

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Initialize overstory in the current git repository
///
/// Creates .overstory/ with config.yaml, the agent manifest, hooks.json, the
/// agent definitions and the directory layout, then commits only those files.
/// Runs in the current directory (--project is ignored). An initialized
/// project is left alone unless --force or --yes is given.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Reinitialize: rewrite the managed files (config.yaml is backed up first)
    #[arg(long)]
    pub force: bool,

    /// Same as --force (init never prompts)
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Project name (default: the origin remote's repository name, else the directory name)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Accepted for compatibility; ecosystem tools are not bootstrapped
    #[arg(long, value_name = "LIST")]
    pub tools: Option<String>,

    /// Accepted for compatibility (mulch is not bootstrapped)
    #[arg(long)]
    pub skip_mulch: bool,

    /// Accepted for compatibility (seeds is not bootstrapped)
    #[arg(long)]
    pub skip_seeds: bool,

    /// Accepted for compatibility (canopy is not bootstrapped)
    #[arg(long)]
    pub skip_canopy: bool,

    /// Accepted for compatibility (no onboarding is run)
    #[arg(long)]
    pub skip_onboard: bool,
}

/// Runs `ov init` in the current directory.
pub fn run(ctx: &Context, args: InitArgs) -> Result<Output, CliError> {
    let force = if args.force {
        Some("--force")
    } else if args.yes {
        Some("--yes")
    } else {
        None
    };
    let outcome = init::init(ctx.cwd(), &InitOptions::new(args.name, force))?;
    Ok(match outcome {
        InitOutcome::AlreadyInitialized { root } => {
            let dir = Layout::new(&root).dir().display().to_string();
            Output::new("init")
                .field("alreadyInitialized", true)
                .field("path", dir.clone())
                .warning(format!("overstory is already initialized in {dir}"), None)
                .hint("Use --force or --yes to reinitialize.")
        }
        InitOutcome::Initialized(report) => render(&report, ctx.quiet),
    })
}

/// Renders the report; with `--quiet` nothing is printed on success (the
/// progress lines are raw text, which `--quiet` would otherwise keep).
fn render(r: &InitReport, quiet: bool) -> Output {
    let rel = |p: &Path| -> String {
        let shown = p.strip_prefix(&r.root).unwrap_or(p).display().to_string();
        if p.is_dir() {
            format!("{shown}/")
        } else {
            shown
        }
    };
    let overstory_dir = Layout::new(&r.root).dir().to_owned();
    let mut out = Output::new("init").data(json!({
        "project": r.project,
        "tools": {
            "overstory": {"status": "initialized", "path": overstory_dir.display().to_string()},
        },
        "onboard": {},
        "gitattributes": r.gitattributes,
        "scaffoldCommitted": r.scaffold_committed,
    }));
    if quiet {
        return out;
    }
    if let Some(flag) = r.reinitialized {
        out = out.raw(format!("Reinitializing .overstory/ ({flag})"));
    }
    out = out.raw(format!("Initializing overstory for \"{}\"...", r.project));
    for d in &r.dirs {
        out = out.success(format!("Created {}", rel(d)));
    }
    let defs = r
        .files
        .iter()
        .filter(|f| f.parent().is_some_and(|p| p.ends_with("agent-defs")))
        .count();
    out = out.success(format!(
        "Deployed {defs} agent definitions to .overstory/agent-defs/"
    ));
    for f in r
        .files
        .iter()
        .filter(|f| !f.parent().is_some_and(|p| p.ends_with("agent-defs")))
    {
        out = out.success(format!("Created {}", rel(f)));
    }
    match r.project_kind {
        Some(kind) => {
            out = out.success(format!(
                "Detected a {kind} project: quality gates set to match"
            ));
        }
        None => {
            out = out.warning(
                "No Cargo, Go, Python, Bun or npm project found: no quality gates written",
                Some("add them under project.qualityGates in .overstory/config.yaml".to_owned()),
            );
        }
    }
    if let Some(backup) = &r.config_backup {
        out = out.warning(
            format!("Saved the previous config.yaml as {}", rel(backup)),
            None,
        );
    }
    if r.gitattributes {
        out = out.success("Updated .gitattributes");
    }
    if r.scaffold_committed {
        out = out.success(format!(
            "Committed the scaffold ({})",
            init::SCAFFOLD_COMMIT_MESSAGE
        ));
    }
    for w in &r.warnings {
        out = out.warning(w.clone(), None);
    }
    out.success("Initialized")
        .hint("Next: ov hooks install")
        .hint("Then: ov coordinator start (or try the offline swarm: ov demo)")
}
