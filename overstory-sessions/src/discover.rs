//! `ov agents discover`: who is working on what, with each agent's file scope.

use std::path::Path;

use overstory_core::{AgentName, Capability, Layout};
use serde::Serialize;

use crate::error::SessionError;
use crate::legacy::open_sessions;
use crate::state::AgentState;

/// Instruction files of every runtime, the Claude one first.
pub const INSTRUCTION_FILES: [&str; 10] = [
    ".claude/CLAUDE.md",
    "AGENTS.md",
    "GEMINI.md",
    ".github/copilot-instructions.md",
    ".cursor/rules/overstory.md",
    "CONVENTIONS.md",
    ".goosehints",
    ".amp/AGENT.md",
    "SAPLING.md",
    "CLAUDE.md",
];

/// One discovered agent, serialised with the original's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveredAgent {
    /// The agent's name (`builder-1`).
    pub agent_name: AgentName,
    /// What the agent may do (`builder`, `lead`, …).
    pub capability: Capability,
    /// Where the agent is in its lifecycle.
    pub state: AgentState,
    /// The task it works on (`""` for persistent agents).
    pub task_id: String,
    /// The branch it commits on (`overstory/<agent>/<task>`).
    pub branch_name: String,
    /// The agent that spawned it; `None` when the operator did.
    pub parent_agent: Option<AgentName>,
    /// How many levels below the operator it was spawned (0 = top level).
    pub depth: i64,
    /// Paths it exclusively owns (from its instruction file).
    pub file_scope: Vec<String>,
    /// When it started.
    pub started_at: String,
    /// When the agent was last seen active (RFC 3339).
    pub last_activity: String,
}

/// Lists active agents (every agent with `all`), optionally of one capability.
///
/// # Errors
/// [`SessionError`] when `sessions.db` cannot be read.
pub fn discover(
    layout: &Layout,
    capability: Option<Capability>,
    all: bool,
) -> Result<Vec<DiscoveredAgent>, SessionError> {
    let (store, _) = open_sessions(layout)?;
    let sessions = if all { store.all()? } else { store.active()? };
    Ok(sessions
        .into_iter()
        .filter(|s| capability.is_none_or(|c| s.capability == c))
        .map(|s| DiscoveredAgent {
            task_id: s.task_str().to_owned(),
            file_scope: file_scope_of(Path::new(&s.worktree_path)),
            agent_name: s.agent_name,
            capability: s.capability,
            state: s.state,
            branch_name: s.branch_name,
            parent_agent: s.parent_agent,
            depth: s.depth,
            started_at: s.started_at,
            last_activity: s.last_activity,
        })
        .collect())
}

/// Returns the file scope in the first instruction file found in `worktree`.
pub fn file_scope_of(worktree: &Path) -> Vec<String> {
    INSTRUCTION_FILES
        .iter()
        .find_map(|f| std::fs::read_to_string(worktree.join(f)).ok())
        .map(|t| parse_file_scope(&t))
        .unwrap_or_default()
}

/// Returns the `` - `path` `` items between `## File Scope (exclusive
/// ownership)` and `## Expertise`; empty when the section is missing or
/// says `No file scope restrictions`.
pub fn parse_file_scope(text: &str) -> Vec<String> {
    let Some(start) = text.find("## File Scope (exclusive ownership)") else {
        return Vec::new();
    };
    let rest = &text[start..];
    let section = rest.find("## Expertise").map_or(rest, |end| &rest[..end]);
    if section.contains("No file scope restrictions") {
        return Vec::new();
    }
    section
        .lines()
        .filter_map(|l| {
            let item = l.trim().strip_prefix("- `")?;
            let end = item.find('`')?;
            Some(item[..end].to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_scope_is_read_between_the_headings() {
        let t = "# x\n## File Scope (exclusive ownership)\n- `src/a.rs`\n- `src/b/`\ntext\n## Expertise\n- `not/this`\n";
        assert_eq!(parse_file_scope(t), ["src/a.rs", "src/b/"]);
        assert!(
            parse_file_scope(
                "## File Scope (exclusive ownership)\nNo file scope restrictions\n## Expertise"
            )
            .is_empty()
        );
        assert!(parse_file_scope("nothing").is_empty());
    }
}
