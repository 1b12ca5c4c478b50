//! Errors of the fleet operations.

use std::time::Duration;

use overstory_core::{ConfigError, DbError, FsError, ProcessError, ValidationError, WorktreeError};
use overstory_mail::MailError;
use overstory_sessions::{AgentState, SessionError};

use crate::tmux::TmuxError;

/// A fleet operation (stop, clean, worktrees, groups, specs, hooks) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// A name or argument is invalid.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// A database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The sessions store failed.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The mail store failed.
    #[error(transparent)]
    Mail(#[from] MailError),
    /// A worktree operation failed.
    #[error(transparent)]
    Worktree(#[from] WorktreeError),
    /// A tmux operation failed.
    #[error(transparent)]
    Tmux(#[from] TmuxError),
    /// Signalling a process failed.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// A file operation failed.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No session row has this agent name.
    #[error("Agent \"{agent}\" not found")]
    AgentNotFound {
        /// The name asked for.
        agent: String,
    },
    /// The agent is already completed and there is nothing to clean.
    #[error("Agent \"{agent}\" is already completed. Use --clean-worktree to remove its worktree")]
    AlreadyCompleted {
        /// The agent that is already completed.
        agent: String,
    },
    /// The merge queue could not be read.
    #[error(transparent)]
    Merge(#[from] overstory_merge::MergeError),
    /// The runtime could not be chosen, built or deployed.
    #[error(transparent)]
    Runtime(#[from] overstory_runtime::error::RuntimeError),
    /// Starting the agent's first turn failed.
    #[error(transparent)]
    Dispatch(#[from] overstory_turn::dispatch::DispatchError),
    /// The process runs as root outside a declared sandbox, and the runtime
    /// (Claude Code) refuses bypass-permissions mode for UID 0.
    #[error(
        "Refusing to {action} as root: Claude Code rejects bypass-permissions mode for UID 0{}. Either run as a regular user, or, inside a sandbox or container, set IS_SANDBOX=1 (it is passed through to the agent)",
        is_sandbox_note(.is_sandbox.as_deref())
    )]
    RootWithoutSandbox {
        /// What was refused (`sling`, `start the coordinator`).
        action: String,
        /// The value `IS_SANDBOX` holds, when it is set but not true-like.
        is_sandbox: Option<String>,
    },
    /// The agent manifest has no definition for the capability.
    #[error("Unknown capability \"{capability}\". Available: {}", .available.join(", "))]
    UnknownCapability {
        /// The capability asked for.
        capability: String,
        /// The capabilities the manifest defines.
        available: Vec<String>,
    },
    /// The `--parent` agent has no session row (and is not `orchestrator`).
    #[error("Parent agent \"{parent}\" not found: no session row has that name")]
    ParentNotFound {
        /// The parent asked for.
        parent: String,
    },
    /// The agent would sit deeper in the hierarchy than `agents.maxDepth`.
    #[error("Depth limit exceeded: depth {depth} > maxDepth {max_depth}")]
    DepthLimit {
        /// The depth the new agent would have.
        depth: u32,
        /// The configured `agents.maxDepth`.
        max_depth: u32,
    },
    /// The run already holds `agents.maxSessionsPerRun` sessions.
    #[error("Run session limit reached: {sessions}/{limit} agents in run {run_id}")]
    RunSessionLimit {
        /// The run the agent would join.
        run_id: String,
        /// How many sessions the run has.
        sessions: usize,
        /// The configured `agents.maxSessionsPerRun`.
        limit: u32,
    },
    /// The run has reached a `budget.*` limit; no agent was created.
    #[error("Budget exhausted: {0}")]
    OverBudget(Box<overstory_sessions::budget::BudgetExceeded>),
    /// `agents.maxConcurrent` worker agents are already active.
    #[error("Max concurrent agent limit reached: {active}/{limit} active agents")]
    ConcurrencyLimit {
        /// How many worker agents are active (persistent agents not counted).
        active: usize,
        /// The configured `agents.maxConcurrent`.
        limit: u32,
    },
    /// The parent already has its ceiling of active children.
    #[error("Per-lead agent limit reached: \"{parent}\" has {children}/{limit} active children")]
    ParentLimit {
        /// The parent agent.
        parent: String,
        /// How many of its children are active.
        children: usize,
        /// The ceiling (`--max-agents`, else `agents.maxAgentsPerLead`).
        limit: u32,
    },
    /// An active session already has the agent name asked for.
    #[error("Agent name \"{agent}\" is already in use (state: {state})")]
    NameInUse {
        /// The name asked for.
        agent: String,
        /// The state of the session holding it.
        state: AgentState,
    },
    /// An active session of another capability holds a persistent agent's
    /// name.
    #[error("Agent name \"{agent}\" is in use by an active {capability} session")]
    NameHeldByOther {
        /// The persistent agent's name.
        agent: String,
        /// The capability of the session holding it.
        capability: String,
    },
    /// Another active agent holds the task, and it is not the new agent's
    /// parent delegating its own task.
    #[error("Task \"{task}\" is already being worked by agent \"{holder}\" (state: {state})")]
    TaskLocked {
        /// The task asked for.
        task: String,
        /// The agent working on it.
        holder: String,
        /// That agent's state.
        state: AgentState,
    },
    /// The dispatcher could not start a headless agent's first turn.
    #[error("Cannot start a headless turn for \"{agent}\": {reason}")]
    TurnNotStarted {
        /// The agent slung.
        agent: String,
        /// Why the dispatcher did not start it.
        reason: String,
    },
    /// A persistent agent is already running.
    #[error("{} is already running ({}, since: {started_at})", capitalized(agent), running_as(*.pid, .tmux_session.as_deref()))]
    AlreadyRunning {
        /// The persistent agent (`coordinator`).
        agent: String,
        /// Its process id, when recorded.
        pid: Option<i64>,
        /// Its tmux session; `None` when it runs headless.
        tmux_session: Option<String>,
        /// When it started (RFC 3339).
        started_at: String,
    },
    /// A persistent agent's host did not bring the agent process up.
    #[error(
        "The {agent} did not start: its agent host {} ({})",
        if *.host_exited { "exited" } else { "did not start the agent in time" },
        .last_log_line.as_deref().unwrap_or("no diagnostics")
    )]
    HostNotStarted {
        /// The persistent agent (`coordinator`).
        agent: String,
        /// Whether the host process exited (else the start timed out).
        host_exited: bool,
        /// The last non-empty line of the host's log, if any.
        last_log_line: Option<String>,
    },
    /// A persistent agent has no active session.
    #[error("No active {agent} session found")]
    NotActive {
        /// The persistent agent (`coordinator`).
        agent: String,
    },
    /// A persistent agent has no session at all, active or not.
    #[error("No {agent} session found")]
    NoSession {
        /// The persistent agent (`coordinator`).
        agent: String,
    },
    /// A persistent agent's row is active but its process is gone; the row
    /// was marked `zombie`.
    #[error(
        "{} is not running: its {} is gone (marked zombie)",
        capitalized(agent),
        .tmux_session.as_ref().map_or_else(|| "agent host".to_owned(), |s| format!("tmux session \"{s}\""))
    )]
    NotRunning {
        /// The persistent agent (`coordinator`).
        agent: String,
        /// Its tmux session; `None` when it ran headless.
        tmux_session: Option<String>,
    },
    /// No reply to an `ask` arrived in time.
    #[error(
        "Timed out after {}s waiting for {agent} reply (correlationId: {correlation_id})",
        .timeout.as_secs()
    )]
    AskTimedOut {
        /// The persistent agent asked (`coordinator`).
        agent: String,
        /// How long the ask waited.
        timeout: Duration,
        /// The correlation id sent with the question.
        correlation_id: String,
    },
    /// A capability may not be spawned without a parent.
    #[error(
        "Capability \"{capability}\" cannot be spawned without a parent: only lead, scout and builder may be slung directly. Pass --parent <agent>, or --force-hierarchy to bypass"
    )]
    Hierarchy {
        /// The capability asked for.
        capability: String,
    },
    /// A test hook stopped sling after a step (see `SlingRequest::fail_after`).
    #[error("Injected failure after sling step \"{step}\"")]
    Injected {
        /// The step after which sling failed.
        step: String,
    },
    /// An agent has no identity file (`agents/<name>/identity.yaml`) yet.
    #[error("No identity for agent \"{agent}\"; it is created on the agent's first sling")]
    IdentityNotFound {
        /// The agent that has no identity file.
        agent: String,
    },
    /// A checkpoint file (`agents/<name>/checkpoint.json`) is not valid JSON.
    #[error("Invalid checkpoint \"{}\"", path.display())]
    InvalidCheckpoint {
        /// The checkpoint file.
        path: std::path::PathBuf,
        /// What the JSON parser reported.
        #[source]
        source: serde_json::Error,
    },
    /// A group operation was refused.
    #[error(transparent)]
    Group(#[from] GroupError),
    /// The tier-2 monitor was asked to start while `watchdog.tier2Enabled`
    /// is off (the text is the original's).
    #[error(
        "Monitor agent (Tier 2) is disabled. Set watchdog.tier2Enabled: true in .overstory/config.yaml to enable."
    )]
    Tier2Disabled,
}

impl FleetError {
    /// Returns the error code the original uses for this kind of failure
    /// (`AGENT_ERROR`, `VALIDATION_ERROR`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(e) => e.code(),
            Self::Db(e) => e.code(),
            Self::Session(e) => e.code(),
            Self::Mail(e) => e.code(),
            Self::Worktree(e) => e.code(),
            Self::Tmux(e) => e.code(),
            Self::Process(e) => e.code(),
            Self::Fs(e) => e.code(),
            Self::Config(e) => e.code(),
            Self::Merge(e) => e.code(),
            Self::Runtime(e) => e.code(),
            Self::Dispatch(e) => e.code(),
            Self::AgentNotFound { .. }
            | Self::AlreadyCompleted { .. }
            | Self::RootWithoutSandbox { .. }
            | Self::UnknownCapability { .. }
            | Self::ParentNotFound { .. }
            | Self::DepthLimit { .. }
            | Self::RunSessionLimit { .. }
            | Self::ConcurrencyLimit { .. }
            | Self::ParentLimit { .. }
            | Self::NameInUse { .. }
            | Self::NameHeldByOther { .. }
            | Self::TaskLocked { .. }
            | Self::TurnNotStarted { .. }
            | Self::AlreadyRunning { .. }
            | Self::HostNotStarted { .. }
            | Self::NotActive { .. }
            | Self::NoSession { .. }
            | Self::NotRunning { .. }
            | Self::AskTimedOut { .. }
            | Self::Injected { .. }
            | Self::IdentityNotFound { .. }
            | Self::Tier2Disabled => "AGENT_ERROR",
            Self::OverBudget(_) => "BUDGET_EXCEEDED",
            Self::InvalidCheckpoint { .. } => "LIFECYCLE_ERROR",
            Self::Hierarchy { .. } => "HIERARCHY_VIOLATION",
            Self::Group(_) => "GROUP_ERROR",
        }
    }

    /// Builds a validation error for `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(ValidationError::other(Some(field.to_owned()), message))
    }

    /// The refusal to `action` as root, with what `IS_SANDBOX` holds.
    pub(crate) fn root_without_sandbox(action: impl Into<String>) -> Self {
        Self::RootWithoutSandbox {
            action: action.into(),
            is_sandbox: overstory_core::env::var(overstory_core::env::IS_SANDBOX),
        }
    }
}

/// Why a group operation (`ov group`, `.overstory/groups.json`) was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// The tracker does not know an issue given as a member.
    #[error("Issue \"{issue}\" not found in tracker")]
    IssueNotFound {
        /// The issue id that was looked up.
        issue: String,
    },
    /// An active group already has the name.
    #[error("A group named \"{name}\" already exists ({group_id}). Pick another name")]
    NameTaken {
        /// The requested name.
        name: String,
        /// The id of the active group that holds it.
        group_id: String,
    },
    /// The issue is already in the group.
    #[error("Issue \"{issue}\" is already a member of group \"{group}\"")]
    AlreadyMember {
        /// The issue being added.
        issue: String,
        /// The group's name.
        group: String,
    },
    /// The issue is not in the group.
    #[error("Issue \"{issue}\" is not a member of group \"{group}\"")]
    NotMember {
        /// The issue being removed.
        issue: String,
        /// The group's name.
        group: String,
    },
    /// Removing these issues would leave the group empty.
    #[error("Cannot remove all issues from group \"{group}\"")]
    WouldBeEmpty {
        /// The group's name.
        group: String,
    },
    /// No group has this id or name.
    #[error("Group \"{key}\" not found")]
    NotFound {
        /// The id or name that was looked up.
        key: String,
    },
    /// Several groups, none or more than one of them active, share the name.
    #[error("Group name \"{key}\" is ambiguous (matches: {}). Use the group ID.", ids.join(", "))]
    Ambiguous {
        /// The name that was looked up.
        key: String,
        /// The ids of the groups with that name.
        ids: Vec<String>,
    },
}

/// ` (IS_SANDBOX is "<v>", which does not count)` when the variable is set.
fn is_sandbox_note(value: Option<&str>) -> String {
    value
        .map(|v| format!(" (IS_SANDBOX is \"{v}\", which does not count)"))
        .unwrap_or_default()
}

/// `coordinator` ⇒ `Coordinator`.
fn capitalized(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// `headless: pid 42` or `tmux: overstory-app-coordinator`.
fn running_as(pid: Option<i64>, tmux_session: Option<&str>) -> String {
    match tmux_session {
        Some(s) => format!("tmux: {s}"),
        None => format!(
            "headless: pid {}",
            pid.map_or_else(|| "unknown".to_owned(), |p| p.to_string())
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_as_sentences_built_from_their_facts() {
        let running = FleetError::AlreadyRunning {
            agent: "coordinator".to_owned(),
            pid: Some(42),
            tmux_session: None,
            started_at: "2026-01-01T00:00:00.000Z".to_owned(),
        };
        assert_eq!(
            running.to_string(),
            "Coordinator is already running (headless: pid 42, since: 2026-01-01T00:00:00.000Z)"
        );
        let gone = FleetError::NotRunning {
            agent: "orchestrator".to_owned(),
            tmux_session: Some("overstory-app-orchestrator".to_owned()),
        };
        assert_eq!(
            gone.to_string(),
            "Orchestrator is not running: its tmux session \"overstory-app-orchestrator\" is gone (marked zombie)"
        );
        let root = FleetError::RootWithoutSandbox {
            action: "sling".to_owned(),
            is_sandbox: Some("no".to_owned()),
        };
        let text = root.to_string();
        assert!(text.starts_with("Refusing to sling as root: "), "{text}");
        assert!(
            text.contains("(IS_SANDBOX is \"no\", which does not count)"),
            "{text}"
        );
        assert!(text.contains("set IS_SANDBOX=1"), "{text}");
        let host = FleetError::HostNotStarted {
            agent: "coordinator".to_owned(),
            host_exited: false,
            last_log_line: None,
        };
        assert_eq!(
            host.to_string(),
            "The coordinator did not start: its agent host did not start the agent in time (no diagnostics)"
        );
        assert_eq!(host.code(), "AGENT_ERROR");
    }

    #[test]
    fn library_messages_never_name_the_cli() {
        let errors = [
            FleetError::ParentNotFound {
                parent: "lead-1".to_owned(),
            },
            FleetError::TaskLocked {
                task: "task-1".to_owned(),
                holder: "builder-1".to_owned(),
                state: AgentState::Working,
            },
            FleetError::NotRunning {
                agent: "coordinator".to_owned(),
                tmux_session: None,
            },
        ];
        for e in errors {
            assert!(!e.to_string().contains("ov "), "{e}");
        }
    }
}
