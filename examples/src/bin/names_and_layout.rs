//! Validates names and shows where overstory keeps an agent's files.
//!
//! Run with `cargo run -p overstory-examples --bin names_and_layout`.
#![allow(clippy::print_stdout, reason = "an example prints its results")]

use overstory_core::{AgentName, Capability, Layout, TaskId};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let layout = Layout::new(dir.path());
    let agent = AgentName::new("builder-1")?;
    let task = TaskId::new("demo-1")?;
    println!("worktree: {}", layout.agent_worktree(&agent).display());
    println!("spec:     {}", layout.task_spec(&task).display());
    for cap in Capability::ALL {
        let p = cap.props();
        println!(
            "{cap:<12} read-only={:<5} can-spawn={:<5} terminal={:?}",
            p.read_only, p.can_spawn, p.terminal_mail_types
        );
    }
    match AgentName::new("../escape") {
        Ok(_) => return Err("a path-escaping name was accepted".into()),
        Err(e) => println!("rejected: {e}"),
    }
    Ok(())
}
