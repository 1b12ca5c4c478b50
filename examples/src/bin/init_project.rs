//! Sets up overstory in a scratch git repository and reads its configuration,
//! the way an embedding program would.
//!
//! Run with `cargo run -p overstory-examples --bin init_project`.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "an example prints its results"
)]

use overstory_core::init::{InitOptions, InitOutcome, init};
use overstory_core::{Config, Layout, process};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let repo = dir.path();
    let status = process::foreground_command("git")
        .args(["init", "-q", "-b", "main"])
        .current_dir(repo)
        .status()?;
    if !status.success() {
        return Err("git init failed".into());
    }

    // The same scaffold `ov init` writes; a second call changes nothing.
    match init(repo, &InitOptions::default())? {
        InitOutcome::Initialized(report) => println!(
            "initialized {} on {} ({} files, committed: {})",
            report.project,
            report.canonical_branch,
            report.files.len(),
            report.scaffold_committed
        ),
        InitOutcome::AlreadyInitialized { .. } => {
            return Err("fresh repo reported as initialized".into());
        }
    }
    if !matches!(
        init(repo, &InitOptions::default())?,
        InitOutcome::AlreadyInitialized { .. }
    ) {
        return Err("second init was not a no-op".into());
    }

    // defaults <- config.yaml <- config.local.yaml, validated.
    std::fs::write(
        Layout::new(repo).config_local(),
        "agents:\n  maxConcurrent: 4\n",
    )?;
    let loaded = Config::load(repo)?;
    for warning in &loaded.warnings {
        eprintln!("{warning}");
    }
    println!(
        "max concurrent agents: {}",
        loaded.config.agents.max_concurrent
    );
    println!(
        "headless by default: {}",
        loaded.config.claude_headless_by_default()
    );
    println!("mail lives in {}", Layout::new(repo).mail_db().display());

    // A bad value names the key, the file and the line.
    std::fs::write(
        Layout::new(repo).config_local(),
        "agents:\n  maxConcurrent: 0\n",
    )?;
    match Config::load(repo) {
        Ok(_) => return Err("an invalid value was accepted".into()),
        Err(e) => println!("rejected: {e}"),
    }
    Ok(())
}
