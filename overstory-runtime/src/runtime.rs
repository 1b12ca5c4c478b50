//! The [`AgentRuntime`] contract and the values that cross it.
//!
//! An adapter is the only code that knows a coding-agent CLI's binary, flags
//! and files. The orchestrator asks it for spawn specs (tmux shell command,
//! one-shot print argv, headless direct spawn), environment, readiness of a
//! tmux pane, where transcripts live, how to deploy per-agent configuration,
//! and how to read typed events from the child's stdout.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use overstory_core::Capability;
use overstory_core::config::QualityGate;
use overstory_sessions::metrics::TokenUsage;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncRead;

use crate::error::RuntimeError;
use crate::stream_json::{EventReader, ParseOptions};

/// Variables a nested Claude Code session sets; they are removed from every
/// agent child's environment (Claude ≥ 2.1.66 refuses to start nested).
pub const NESTED_SESSION_VARS: [&str; 3] = [
    "CLAUDECODE",
    "CLAUDE_CODE_SSE_PORT",
    "CLAUDE_CODE_ENTRYPOINT",
];

/// An adapter's maturity label (documentation only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stability {
    /// Used in production; what every caller gets by default.
    Stable,
    /// Runs agents end to end, but its flags or files may still change.
    Beta,
    /// Knows the CLI's binary, flags and instruction file, but is not tested
    /// against the real CLI.
    Experimental,
}

/// How an interactive agent treats permission prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PermissionMode {
    /// Skip prompts (`bypassPermissions`); what every caller uses.
    #[default]
    Bypass,
    /// Ask (`default`); such an agent can never be detected ready.
    Ask,
}

/// Options for the interactive (tmux) spawn command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpawnOptions {
    /// Model alias or provider-qualified ref, passed through unchanged.
    pub model: String,
    /// Whether the agent skips or asks for tool permissions.
    pub permission_mode: PermissionMode,
    /// Replacement system prompt (declared by the contract; Claude ignores it).
    pub system_prompt: Option<String>,
    /// Inline text appended to the system prompt.
    pub append_system_prompt: Option<String>,
    /// File whose contents are appended to the system prompt (wins over the
    /// inline form).
    pub append_system_prompt_file: Option<PathBuf>,
    /// Working directory (set by the tmux driver, never embedded).
    pub cwd: PathBuf,
    /// Extra writable directories (only some runtimes map them).
    pub shared_writable_dirs: Vec<PathBuf>,
    /// Environment (exported by the tmux driver, never embedded).
    pub env: BTreeMap<String, String>,
}

impl SpawnOptions {
    /// Creates options for `model` in bypass mode with nothing else set.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            ..Self::default()
        }
    }
}

/// Options for a headless (non-tmux) direct spawn.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DirectSpawnOptions {
    /// The child's working directory (the worktree).
    pub cwd: PathBuf,
    /// Variables laid over the parent environment.
    pub env: BTreeMap<String, String>,
    /// The model; `None` omits the flag.
    pub model: Option<String>,
    /// The instruction file (never part of the argv for Claude).
    pub instruction_path: String,
    /// Resume this session; only a non-empty id activates resume.
    pub resume_session_id: Option<String>,
    /// Tools the runtime itself should refuse (a second layer beside the
    /// guard hooks); empty adds no flag.
    pub disallowed_tools: Vec<String>,
    /// The most this one process may spend, in US dollars, for a runtime
    /// that can enforce it itself (Claude Code's `--max-budget-usd`); the
    /// turn runner passes what is left of `budget.maxCostUsdPerRun`.
    pub max_budget_usd: Option<f64>,
}

impl DirectSpawnOptions {
    /// Creates options for a fresh session in `cwd`.
    pub fn new(cwd: impl Into<PathBuf>) -> Self {
        Self {
            cwd: cwd.into(),
            ..Self::default()
        }
    }

    /// Returns the resume id when it activates resume (non-empty).
    pub fn resume_id(&self) -> Option<&str> {
        self.resume_session_id.as_deref().filter(|s| !s.is_empty())
    }
}

/// A child process to start without a shell: argv, cwd and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpawnSpec {
    /// Program followed by its arguments.
    pub argv: Vec<OsString>,
    /// The directory the child starts in.
    pub cwd: PathBuf,
    /// Variables set on top of the inherited environment.
    pub env: BTreeMap<String, String>,
    /// Variables removed from the inherited environment.
    pub env_remove: Vec<String>,
}

impl SpawnSpec {
    /// Returns the argv as UTF-8 strings (lossy), for display and tests.
    pub fn argv_strings(&self) -> Vec<String> {
        self.argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// Builds a `std` command for this spec, its child leading its own
    /// process group. Stdio is left to the caller.
    pub fn command(&self) -> std::process::Command {
        let program = self.argv.first().cloned().unwrap_or_default();
        let mut cmd = overstory_core::process::command(program);
        cmd.args(self.argv.iter().skip(1)).current_dir(&self.cwd);
        for k in &self.env_remove {
            cmd.env_remove(k);
        }
        cmd.envs(&self.env);
        cmd
    }

    /// Builds the tokio twin of [`SpawnSpec::command`].
    pub fn tokio_command(&self) -> tokio::process::Command {
        tokio::process::Command::from(self.command())
    }
}

/// What a tmux pane shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadyState {
    /// Still starting (or unrecognised).
    Loading,
    /// A dialog waits for keys.
    Dialog(DialogAction),
    /// The agent is working on a turn (the busy indicator is showing); the
    /// prompt may be visible but input would be queued, not read.
    Busy,
    /// The prompt is ready for input.
    Ready,
}

/// Keys the tmux driver sends to get past a dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialogAction {
    /// Send an empty line and Enter.
    Enter,
    /// Send these keys raw, then Enter.
    Type(String),
}

impl DialogAction {
    /// Returns the original's action string (`Enter`, `type:2`).
    pub fn as_action(&self) -> String {
        match self {
            Self::Enter => "Enter".to_owned(),
            Self::Type(keys) => format!("type:{keys}"),
        }
    }
}

/// Overlay markdown, written verbatim as the instruction file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayContent {
    /// The rendered overlay, written byte for byte.
    pub content: String,
}

/// What deployment needs to generate hooks and guards.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HooksDef {
    /// The agent's name, which hook commands are written for.
    pub agent_name: String,
    /// The agent's capability; `None` means the default (`builder`).
    pub capability: Option<Capability>,
    /// Absolute worktree path (the path-boundary root).
    pub worktree_path: PathBuf,
    /// Quality-gate commands the read-only guard lets through; `None` or
    /// empty lets none through (there are no built-in gates).
    pub quality_gates: Option<Vec<QualityGate>>,
    /// Deploy only the PreToolUse guards (headless agents).
    pub is_headless: bool,
    /// The `ov` program the guard hook runs (`ov` on `PATH` by default; an
    /// absolute path makes the hook independent of `PATH`).
    pub guard_program: PathBuf,
}

impl HooksDef {
    /// Creates a definition for a tmux agent with no gates and `ov` on `PATH`.
    pub fn new(
        agent_name: impl Into<String>,
        capability: Option<Capability>,
        worktree_path: impl Into<PathBuf>,
    ) -> Self {
        Self {
            agent_name: agent_name.into(),
            capability,
            worktree_path: worktree_path.into(),
            quality_gates: None,
            is_headless: false,
            guard_program: PathBuf::from("ov"),
        }
    }

    /// Sets headless mode.
    pub fn headless(mut self, yes: bool) -> Self {
        self.is_headless = yes;
        self
    }

    /// Sets the program the guard hook runs.
    pub fn guard_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.guard_program = program.into();
        self
    }

    /// Sets the quality gates.
    pub fn quality_gates(mut self, gates: Vec<QualityGate>) -> Self {
        self.quality_gates = Some(gates);
        self
    }

    /// Returns the capability, defaulting to `builder`.
    pub fn capability_or_default(&self) -> Capability {
        self.capability.unwrap_or(Capability::Builder)
    }
}

/// A model choice and its provider routing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedModel {
    /// The model string handed to the runtime.
    pub model: String,
    /// Provider variables for the child.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// The value came from `config.models[capability]`.
    #[serde(default)]
    pub is_explicit_override: bool,
}

impl ResolvedModel {
    /// Returns the model to pass as `--model` in every mode.
    ///
    /// The original forwarded it headless only for explicit overrides, so
    /// manifest defaults (`haiku` for scouts) were silently dropped; here a
    /// resolved model is always passed.
    pub fn spawn_model(&self) -> Option<&str> {
        Some(self.model.as_str()).filter(|m| !m.is_empty())
    }
}

/// Whether `runtime` can run an agent headless in `cwd`: it has a direct
/// spawn (no terminal) and a parser for the child's output. The turn runner
/// and the agent host both need both.
pub fn supports_headless(runtime: &dyn AgentRuntime, cwd: &Path) -> bool {
    runtime
        .direct_spawn(&DirectSpawnOptions::new(cwd))
        .is_some()
        && runtime
            .event_reader(Box::new(tokio::io::empty()), ParseOptions::default())
            .is_some()
}

/// One coding-agent CLI.
///
/// Optional features answer `None`/`false` instead of being probed for:
/// [`AgentRuntime::direct_spawn`] is what makes headless mode legal.
#[async_trait]
pub trait AgentRuntime: Send + Sync + std::fmt::Debug {
    /// Registry key and `--runtime` value (`claude`).
    fn id(&self) -> &'static str;

    /// Maturity label.
    fn stability(&self) -> Stability;

    /// Worktree-relative path of the instruction file.
    fn instruction_path(&self) -> &'static str;

    /// Whether this runtime is always headless (forces the headless path).
    fn is_headless(&self) -> bool {
        false
    }

    /// Checks, before anything is created for an agent, that this runtime's
    /// agent process can start here: its binary resolves on `PATH` (or at
    /// the configured path). `ov sling` calls it first, so a missing CLI
    /// fails with what to install instead of an agent that never boots.
    /// The default has nothing to check.
    ///
    /// # Errors
    /// [`RuntimeError::MissingBinary`] naming the binary and how to install it.
    fn preflight(&self) -> Result<(), RuntimeError> {
        Ok(())
    }

    /// Returns the shell command run inside a tmux pane. Never embeds cwd or
    /// env; deterministic for equal input.
    ///
    /// # Errors
    /// [`RuntimeError::Unsupported`] when the runtime has no interactive mode.
    fn spawn_command(&self, opts: &SpawnOptions) -> Result<String, RuntimeError>;

    /// Returns the argv of a one-shot "print" call (merge resolver, triage).
    fn print_command(&self, prompt: &str, model: Option<&str>) -> Vec<String>;

    /// Returns the argv of a one-shot "print" call that reads its prompt
    /// from stdin, when this runtime's print mode can (`None`, the default:
    /// the prompt must go in argv through [`AgentRuntime::print_command`],
    /// where Linux caps one argument at 128 KiB).
    fn print_command_stdin(&self, model: Option<&str>) -> Option<Vec<String>> {
        let _ = model;
        None
    }

    /// Writes the instruction file (when `overlay` is given) and the
    /// runtime's hook/guard configuration.
    ///
    /// Synchronous on purpose: deployment only writes a few small files, and
    /// callers (sling, an embedding program's own async tasks) must not need
    /// an async runtime, nor start one inside theirs.
    ///
    /// # Errors
    /// [`RuntimeError::Deploy`] naming the agent and the file.
    fn deploy_config(
        &self,
        worktree: &Path,
        overlay: Option<&OverlayContent>,
        hooks: &HooksDef,
    ) -> Result<(), RuntimeError>;

    /// Reads a captured tmux pane. The default treats any pane as ready, for
    /// runtimes with no start-up screen to wait for.
    fn detect_ready(&self, _pane: &str) -> ReadyState {
        ReadyState::Ready
    }

    /// Sums token usage from a session transcript (by the rules of
    /// [`overstory_sessions::metrics::parse_transcript`]); `None` when
    /// unreadable. The default has no transcripts.
    async fn parse_transcript(&self, _path: &Path) -> Option<TokenUsage> {
        None
    }

    /// Returns where transcripts of a project live, `None` when unsupported
    /// (the default).
    fn transcript_dir(&self, _project_root: &Path) -> Option<PathBuf> {
        None
    }

    /// Returns provider/model routing variables (may be empty). The default
    /// passes the resolved model's variables through unchanged.
    fn build_env(&self, model: &ResolvedModel) -> BTreeMap<String, String> {
        model.env.clone()
    }

    /// Whether the tmux spawner must verify the beacon was received.
    fn requires_beacon_verification(&self) -> bool {
        true
    }

    /// Returns the spec of a headless child, or `None` when unsupported.
    fn direct_spawn(&self, opts: &DirectSpawnOptions) -> Option<SpawnSpec>;

    /// Returns a reader of typed events from the child's stdout, or `None`
    /// when the runtime does not speak a parseable protocol.
    fn event_reader(
        &self,
        stdout: Box<dyn AsyncRead + Send + Unpin>,
        opts: ParseOptions,
    ) -> Option<EventReader<Box<dyn AsyncRead + Send + Unpin>>>;

    /// Encodes one user turn for the child's stdin (newline-terminated).
    fn encode_user_turn(&self, text: &str) -> String {
        crate::stream_json::encode_user_turn(text)
    }
}
