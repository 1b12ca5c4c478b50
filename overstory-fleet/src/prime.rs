//! `ov prime`: the context text a session loads at start (and after
//! compaction), for one agent or for the operator's orchestrator session.
//!
//! Priming also heals `.overstory/.gitignore` (rewritten only when it differs
//! from the shipped one). Expertise from mulch is not fetched here; the
//! Expertise section says so when mulch is disabled.

use overstory_core::init::files::GITIGNORE;
use overstory_core::{AgentName, Config, Layout, env};
use overstory_sessions::SessionStore;
use overstory_sessions::metrics::MetricsStore;
use serde::Serialize;

use crate::error::FleetError;
use crate::profile::{load_checkpoint, load_identity};
use overstory_runtime::manifest::Manifest;

/// Choices of [`prime`].
#[derive(Debug, Clone, Default)]
pub struct PrimeOptions {
    /// Prime this agent (else the orchestrator).
    pub agent: Option<String>,
    /// After compaction: recovery instead of activity and expertise.
    pub compact: bool,
}

/// What [`prime`] produced; the `prime` JSON data.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrimeOutput {
    /// The agent, or null for the orchestrator.
    pub agent: Option<String>,
    /// Whether compact mode was used.
    pub compact: bool,
    /// The context text.
    pub context: String,
    /// Warnings for the user (not part of the context).
    #[serde(skip)]
    pub warnings: Vec<String>,
    /// Whether the gitignore was rewritten.
    #[serde(skip)]
    pub gitignore_healed: bool,
}

/// Rewrites `.overstory/.gitignore` when it differs from the shipped one.
/// Returns whether it was written.
///
/// # Errors
/// [`FleetError::Fs`] when it cannot be written.
pub fn heal_gitignore(layout: &Layout) -> Result<bool, FleetError> {
    let path = layout.gitignore();
    if std::fs::read_to_string(&path).is_ok_and(|t| t == GITIGNORE) || !layout.dir().is_dir() {
        return Ok(false);
    }
    overstory_core::fsio::write_atomic(&path, GITIGNORE)?;
    Ok(true)
}

/// Builds the context for an agent or the orchestrator.
///
/// # Errors
/// [`FleetError::Validation`] for an invalid agent name; store and file errors.
pub fn prime(
    layout: &Layout,
    config: &Config,
    opts: &PrimeOptions,
) -> Result<PrimeOutput, FleetError> {
    let gitignore_healed = heal_gitignore(layout)?;
    let mut out = match opts.agent.as_deref().map(str::trim) {
        Some(name) => agent_context(layout, config, &AgentName::new(name)?, opts.compact)?,
        None => orchestrator_context(layout, config, opts.compact)?,
    };
    out.gitignore_healed = gitignore_healed;
    Ok(out)
}

fn agent_context(
    layout: &Layout,
    config: &Config,
    agent: &AgentName,
    compact: bool,
) -> Result<PrimeOutput, FleetError> {
    let session = if layout.sessions_db().exists() {
        SessionStore::open(&layout.sessions_db())?.get(agent.as_str())?
    } else {
        None
    };
    let identity = load_identity(&layout.agent_identity(agent));
    let mut warnings = Vec::new();
    let mut text = format!("# Agent Context: {agent}\n\n## Identity\n");
    match &identity {
        Some(id) => {
            text.push_str(&format!(
                "Name: {}\nCapability: {}\n",
                id.name, id.capability
            ));
            text.push_str(&format!("Sessions completed: {}\n", id.sessions_completed));
            if !id.expertise_domains.is_empty() {
                text.push_str(&format!("Expertise: {}\n", id.expertise_domains.join(", ")));
            }
            if !id.recent_tasks.is_empty() {
                text.push_str("Recent tasks:\n");
                for t in &id.recent_tasks {
                    text.push_str(&format!("- {}: {}\n", t.task_id, t.summary));
                }
            }
        }
        None => text.push_str("New agent - no prior sessions\n"),
    }
    if session.is_none() && identity.is_none() {
        warnings.push(format!(
            "No session or identity found for agent \"{agent}\""
        ));
    }
    if let Some(s) = &session
        && !s.state.is_terminal()
        && let Some(task) = &s.task_id
    {
        text.push_str(&format!(
            "\n## Activation\nYou are bound to task {task}. Read your overlay at .claude/CLAUDE.md and begin working on {task} now; do not wait for a dispatch message.\n",
            task = task
        ));
    }
    if compact {
        if let Ok(Some(cp)) = load_checkpoint(&layout.agent_checkpoint(agent)) {
            text.push_str("\n## Session Recovery\n");
            text.push_str(&format!("Task: {}\n", cp.task_id));
            text.push_str(&format!("Progress: {}\n", cp.progress_summary));
            if !cp.files_modified.is_empty() {
                text.push_str(&format!(
                    "Files modified: {}\n",
                    cp.files_modified.join(", ")
                ));
            }
            if !cp.pending_work.is_empty() {
                text.push_str(&format!("Pending work: {}\n", cp.pending_work));
            }
            if !cp.current_branch.is_empty() {
                text.push_str(&format!("Branch: {}\n", cp.current_branch));
            }
        }
    } else {
        text.push_str(&expertise(config));
    }
    Ok(PrimeOutput {
        agent: Some(agent.to_string()),
        compact,
        context: text,
        warnings,
        gitignore_healed: false,
    })
}

fn expertise(config: &Config) -> String {
    if config.mulch.enabled {
        "\n## Expertise\nRun `mulch prime` for project expertise.\n".into()
    } else {
        "\n## Expertise\nmulch is disabled for this project.\n".into()
    }
}

fn orchestrator_context(
    layout: &Layout,
    config: &Config,
    compact: bool,
) -> Result<PrimeOutput, FleetError> {
    let git = overstory_core::git::Git::new(layout.root());
    let session_branch = git.run(&["symbolic-ref", "--short", "HEAD"]).ok();
    if let Some(b) = &session_branch
        && layout.dir().is_dir()
    {
        let path = layout.session_branch();
        overstory_core::fsio::write_atomic(&path, format!("{b}\n"))?;
    }
    if env::is_set(env::TMUX)
        && let Ok(o) = overstory_core::process::foreground_command("tmux")
            .args(["display-message", "-p", "#S"])
            .output()
        && o.status.success()
    {
        let name = String::from_utf8_lossy(&o.stdout).trim().to_owned();
        if !name.is_empty() && layout.dir().is_dir() {
            let v = serde_json::json!({"tmuxSession": name, "registeredAt": overstory_core::clock::now_rfc3339()});
            let path = layout.orchestrator_tmux();
            let _ =
                overstory_core::fsio::write_atomic(&path, overstory_core::json::to_tab_string(&v));
        }
    }
    let p = &config.project;
    let mut text = format!(
        "# Overstory Context\n\n## Project: {}\nCanonical branch: {}\n",
        p.name, p.canonical_branch
    );
    if let Some(b) = session_branch
        .as_deref()
        .filter(|b| *b != p.canonical_branch)
    {
        text.push_str(&format!("Session branch: {b} (merge target)\n"));
    }
    text.push_str(&format!(
        "Max concurrent agents: {}\nMax depth: {}\n",
        config.agents.max_concurrent, config.agents.max_depth
    ));
    if let Ok(m) = Manifest::for_project(layout.root(), config) {
        text.push_str("\n## Agent Manifest\n");
        for (name, def) in &m.agents {
            text.push_str(&format!(
                "- **{name}** [{}]: {}{}\n",
                def.model,
                def.capabilities.join(", "),
                if def.can_spawn { " (can spawn)" } else { "" }
            ));
        }
    }
    if !compact {
        text.push_str("\n## Recent Activity\n");
        let recent = if layout.metrics_db().exists() {
            MetricsStore::open(&layout.metrics_db())
                .and_then(|m| m.recent(5))
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        if recent.is_empty() {
            text.push_str("No recent sessions.\n");
        }
        for s in recent {
            let status = if s.completed_at.is_some() {
                "completed"
            } else {
                "in-progress"
            };
            let mut line = format!(
                "- {} ({}): {} — {status}",
                s.agent_name, s.capability, s.task_id
            );
            if s.completed_at.is_some() && s.duration_ms > 0 {
                line.push_str(&format!(" ({}s)", s.duration_ms / 1000));
            }
            if let Some(tier) = &s.merge_result {
                line.push_str(&format!(" [{tier}]"));
            }
            text.push_str(&line);
            text.push('\n');
        }
        text.push_str(&expertise(config));
    }
    Ok(PrimeOutput {
        agent: None,
        compact,
        context: text,
        warnings: Vec::new(),
        gitignore_healed: false,
    })
}
