//! The capabilities an agent can have, and the one table of their properties.
//!
//! Everything the program needs to know about a capability — whether it may
//! edit files, whether it may spawn children, whether it lives for one task or
//! for the whole session, which mail counts as "I am finished", which model the
//! default manifest gives it — is read from [`Capability::props`]. No other
//! module keeps its own list.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// The role an agent plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    /// Explores and researches; read-only.
    Scout,
    /// Implements, refactors and fixes in its own worktree.
    Builder,
    /// Reviews and validates; read-only.
    Reviewer,
    /// Decomposes a task and dispatches workers; may also implement.
    Lead,
    /// Merges branches and resolves conflicts.
    Merger,
    /// The persistent top-level agent that dispatches leads.
    Coordinator,
    /// A persistent agent above coordinators.
    Orchestrator,
    /// A persistent patrol agent (watchdog tier 2).
    Monitor,
    /// Deprecated per-task supervisor; supported but not in the default manifest.
    Supervisor,
}

/// How long an agent of a capability lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lifecycle {
    /// Lives for one task; headless agents run one process per user turn.
    TaskScoped,
    /// Lives for the whole session as one long-lived process.
    Persistent,
    /// Neither: started by its own command and not managed per turn (supervisor).
    Unmanaged,
}

/// Which family of PreToolUse guards an agent gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuardClass {
    /// May write files inside its worktree (builder, merger).
    Implementation,
    /// May not write files; Bash limited to read-only commands (scout, reviewer).
    ReadOnly,
    /// Like read-only, plus a gate that blocks closing the task before merge (lead).
    LeadCloseGate,
    /// Read-only, but may `git add`/`git commit` at the root (persistent agents).
    Coordination,
}

/// The properties of one capability. See [`Capability::props`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CapabilityProps {
    /// The capability these properties belong to.
    pub capability: Capability,
    /// The overlay tells the agent it is read-only and guards block writes.
    pub read_only: bool,
    /// The agent may spawn child agents (manifest `canSpawn`).
    pub can_spawn: bool,
    /// Task-scoped, persistent, or unmanaged.
    pub lifecycle: Lifecycle,
    /// A Stop hook ends only the turn, not the session (persistent + lead).
    pub stop_hook_persistent: bool,
    /// Mail types that count as "this agent has finished its task". The first
    /// one is the canonical type agents are told to send.
    pub terminal_mail_types: &'static [&'static str],
    /// May be slung without `--parent` (unless `--force-hierarchy`).
    pub spawnable_without_parent: bool,
    /// Has a worktree of its own (false for `no-worktree` agents).
    pub has_worktree: bool,
    /// The guard family deployed into its `.claude/settings.local.json`.
    pub guard_class: GuardClass,
    /// Included in the default `agent-manifest.json` written by `ov init`.
    pub in_default_manifest: bool,
    /// Default model alias in the manifest.
    pub default_model: &'static str,
    /// Tools listed in the manifest (advisory).
    pub tools: &'static [&'static str],
    /// Capability tags listed in the manifest (advisory).
    pub manifest_capabilities: &'static [&'static str],
    /// Constraints listed in the manifest (advisory).
    pub constraints: &'static [&'static str],
}

const WORKER_TERMINAL: &[&str] = &["worker_done", "result"];
const MERGER_TERMINAL: &[&str] = &["merged", "merge_failed"];
const READ_TOOLS: &[&str] = &["Read", "Glob", "Grep", "Bash"];
const WRITE_TOOLS: &[&str] = &["Read", "Write", "Edit", "Glob", "Grep", "Bash"];

/// The one table. Order is the manifest order of the original.
static TABLE: [CapabilityProps; 9] = [
    CapabilityProps {
        capability: Capability::Scout,
        read_only: true,
        can_spawn: false,
        lifecycle: Lifecycle::TaskScoped,
        stop_hook_persistent: false,
        terminal_mail_types: WORKER_TERMINAL,
        spawnable_without_parent: true,
        has_worktree: true,
        guard_class: GuardClass::ReadOnly,
        in_default_manifest: true,
        default_model: "haiku",
        tools: READ_TOOLS,
        manifest_capabilities: &["explore", "research"],
        constraints: &["read-only"],
    },
    CapabilityProps {
        capability: Capability::Builder,
        read_only: false,
        can_spawn: false,
        lifecycle: Lifecycle::TaskScoped,
        stop_hook_persistent: false,
        terminal_mail_types: WORKER_TERMINAL,
        spawnable_without_parent: true,
        has_worktree: true,
        guard_class: GuardClass::Implementation,
        in_default_manifest: true,
        default_model: "sonnet",
        tools: WRITE_TOOLS,
        manifest_capabilities: &["implement", "refactor", "fix"],
        constraints: &[],
    },
    CapabilityProps {
        capability: Capability::Reviewer,
        read_only: true,
        can_spawn: false,
        lifecycle: Lifecycle::TaskScoped,
        stop_hook_persistent: false,
        terminal_mail_types: WORKER_TERMINAL,
        spawnable_without_parent: false,
        has_worktree: true,
        guard_class: GuardClass::ReadOnly,
        in_default_manifest: true,
        default_model: "sonnet",
        tools: READ_TOOLS,
        manifest_capabilities: &["review", "validate"],
        constraints: &["read-only"],
    },
    CapabilityProps {
        capability: Capability::Lead,
        read_only: false,
        can_spawn: true,
        lifecycle: Lifecycle::TaskScoped,
        stop_hook_persistent: true,
        terminal_mail_types: WORKER_TERMINAL,
        spawnable_without_parent: true,
        has_worktree: true,
        guard_class: GuardClass::LeadCloseGate,
        in_default_manifest: true,
        default_model: "opus",
        tools: &["Read", "Write", "Edit", "Glob", "Grep", "Bash", "Task"],
        manifest_capabilities: &["coordinate", "implement", "review"],
        constraints: &[],
    },
    CapabilityProps {
        capability: Capability::Merger,
        read_only: false,
        can_spawn: false,
        lifecycle: Lifecycle::TaskScoped,
        stop_hook_persistent: false,
        terminal_mail_types: MERGER_TERMINAL,
        spawnable_without_parent: false,
        has_worktree: true,
        guard_class: GuardClass::Implementation,
        in_default_manifest: true,
        default_model: "sonnet",
        tools: WRITE_TOOLS,
        manifest_capabilities: &["merge", "resolve-conflicts"],
        constraints: &[],
    },
    CapabilityProps {
        capability: Capability::Coordinator,
        read_only: true,
        can_spawn: true,
        lifecycle: Lifecycle::Persistent,
        stop_hook_persistent: true,
        terminal_mail_types: WORKER_TERMINAL,
        spawnable_without_parent: false,
        has_worktree: false,
        guard_class: GuardClass::Coordination,
        in_default_manifest: true,
        default_model: "opus",
        tools: READ_TOOLS,
        manifest_capabilities: &["coordinate", "dispatch", "escalate"],
        constraints: &["read-only", "no-worktree"],
    },
    CapabilityProps {
        capability: Capability::Orchestrator,
        read_only: true,
        can_spawn: true,
        lifecycle: Lifecycle::Persistent,
        stop_hook_persistent: true,
        terminal_mail_types: WORKER_TERMINAL,
        spawnable_without_parent: false,
        has_worktree: false,
        guard_class: GuardClass::Coordination,
        in_default_manifest: true,
        default_model: "opus",
        tools: READ_TOOLS,
        manifest_capabilities: &["orchestrate", "coordinate", "dispatch", "escalate"],
        constraints: &["read-only", "no-worktree"],
    },
    CapabilityProps {
        capability: Capability::Monitor,
        read_only: true,
        can_spawn: false,
        lifecycle: Lifecycle::Persistent,
        stop_hook_persistent: true,
        terminal_mail_types: WORKER_TERMINAL,
        spawnable_without_parent: false,
        has_worktree: false,
        guard_class: GuardClass::Coordination,
        in_default_manifest: true,
        default_model: "sonnet",
        tools: READ_TOOLS,
        manifest_capabilities: &["monitor", "patrol"],
        constraints: &["read-only", "no-worktree"],
    },
    CapabilityProps {
        capability: Capability::Supervisor,
        read_only: true,
        can_spawn: true,
        lifecycle: Lifecycle::Unmanaged,
        stop_hook_persistent: false,
        terminal_mail_types: WORKER_TERMINAL,
        spawnable_without_parent: false,
        has_worktree: false,
        guard_class: GuardClass::Coordination,
        in_default_manifest: false,
        default_model: "opus",
        tools: READ_TOOLS,
        manifest_capabilities: &["supervise"],
        constraints: &["read-only", "no-worktree"],
    },
];

impl Capability {
    /// Every capability, in the manifest order of the original.
    pub const ALL: [Capability; 9] = [
        Capability::Scout,
        Capability::Builder,
        Capability::Reviewer,
        Capability::Lead,
        Capability::Merger,
        Capability::Coordinator,
        Capability::Orchestrator,
        Capability::Monitor,
        Capability::Supervisor,
    ];

    /// Returns this capability's row of the property table.
    pub fn props(self) -> &'static CapabilityProps {
        // The table is in declaration order; the test below pins that.
        &TABLE[self as usize]
    }

    /// Returns the lower-case name used on disk and on the wire (`builder`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scout => "scout",
            Self::Builder => "builder",
            Self::Reviewer => "reviewer",
            Self::Lead => "lead",
            Self::Merger => "merger",
            Self::Coordinator => "coordinator",
            Self::Orchestrator => "orchestrator",
            Self::Monitor => "monitor",
            Self::Supervisor => "supervisor",
        }
    }

    /// Returns whether this capability lives for the whole session.
    pub fn is_persistent(self) -> bool {
        self.props().lifecycle == Lifecycle::Persistent
    }

    /// Returns whether this capability lives for one task.
    pub fn is_task_scoped(self) -> bool {
        self.props().lifecycle == Lifecycle::TaskScoped
    }

    /// Returns the mail types that count as this capability's terminal mail.
    pub fn terminal_mail_types(self) -> &'static [&'static str] {
        self.props().terminal_mail_types
    }

    /// Returns the terminal mail types for a capability given as free text, as
    /// the turn runner receives it: unknown strings get the worker set.
    pub fn terminal_mail_types_for(capability: &str) -> &'static [&'static str] {
        capability
            .parse::<Capability>()
            .map_or(WORKER_TERMINAL, Capability::terminal_mail_types)
    }

    /// Returns the capabilities that appear in the default manifest.
    pub fn manifest_capabilities() -> impl Iterator<Item = Capability> {
        Self::ALL
            .into_iter()
            .filter(|c| c.props().in_default_manifest)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Capability {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| ValidationError::NotOneOf {
                field: "capability",
                value: s.to_owned(),
                expected: Self::ALL.map(Capability::as_str).join(", "),
            })
    }
}

impl PartialEq<str> for Capability {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Capability {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl rusqlite::ToSql for Capability {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::Borrowed(
            rusqlite::types::ValueRef::Text(self.as_str().as_bytes()),
        ))
    }
}

/// Reading a column validates it: an unknown capability is a conversion
/// error that names it and the valid ones.
impl rusqlite::types::FromSql for Capability {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        value
            .as_str()?
            .parse()
            .map_err(|e: ValidationError| rusqlite::types::FromSqlError::Other(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_declaration_order() {
        for c in Capability::ALL {
            assert_eq!(c.props().capability, c);
        }
    }

    #[test]
    fn names_round_trip() {
        for c in Capability::ALL {
            assert_eq!(c.as_str().parse::<Capability>().unwrap(), c);
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
        }
        let err = "wizard".parse::<Capability>().unwrap_err();
        assert!(err.to_string().contains("scout, builder"), "{err}");
    }

    #[test]
    fn terminal_mail_per_capability() {
        assert_eq!(
            Capability::Merger.terminal_mail_types(),
            ["merged", "merge_failed"]
        );
        for c in [
            Capability::Builder,
            Capability::Scout,
            Capability::Reviewer,
            Capability::Lead,
        ] {
            assert_eq!(c.terminal_mail_types(), ["worker_done", "result"]);
        }
        assert_eq!(
            Capability::terminal_mail_types_for("unknown-thing"),
            ["worker_done", "result"]
        );
        assert_eq!(
            Capability::terminal_mail_types_for("merger"),
            ["merged", "merge_failed"]
        );
    }

    #[test]
    fn lifecycle_sets_match_the_spec() {
        let task: Vec<_> = Capability::ALL
            .into_iter()
            .filter(|c| c.is_task_scoped())
            .collect();
        assert_eq!(
            task,
            [
                Capability::Scout,
                Capability::Builder,
                Capability::Reviewer,
                Capability::Lead,
                Capability::Merger
            ]
        );
        let persistent: Vec<_> = Capability::ALL
            .into_iter()
            .filter(|c| c.is_persistent())
            .collect();
        assert_eq!(
            persistent,
            [
                Capability::Coordinator,
                Capability::Orchestrator,
                Capability::Monitor
            ]
        );
        let stop_persistent: Vec<_> = Capability::ALL
            .into_iter()
            .filter(|c| c.props().stop_hook_persistent)
            .collect();
        assert_eq!(
            stop_persistent,
            [
                Capability::Lead,
                Capability::Coordinator,
                Capability::Orchestrator,
                Capability::Monitor
            ]
        );
    }

    #[test]
    fn hierarchy_roots() {
        let roots: Vec<_> = Capability::ALL
            .into_iter()
            .filter(|c| c.props().spawnable_without_parent)
            .collect();
        assert_eq!(
            roots,
            [Capability::Scout, Capability::Builder, Capability::Lead]
        );
    }

    #[test]
    fn default_manifest_has_eight_agents_without_supervisor() {
        let m: Vec<_> = Capability::manifest_capabilities().collect();
        assert_eq!(m.len(), 8);
        assert!(!m.contains(&Capability::Supervisor));
    }
}
