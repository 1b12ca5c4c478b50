//! How one overstory agent process runs: the [`AgentRuntime`] trait, the
//! Claude Code, scripted and experimental adapters, the stream-json event
//! parser, the PreToolUse guard, Claude settings and the overlay.
//!
//! Pick a runtime, deploy an agent's configuration into its worktree, and
//! get the argv of its headless child:
//!
//! ```
//! use overstory_core::Capability;
//! use overstory_runtime::{AgentRuntime, DirectSpawnOptions, HooksDef, Registry};
//!
//! let worktree = tempfile::tempdir()?;
//! let runtime = Registry::default().get(Some("claude"), None, None)?;
//! let hooks = HooksDef::new("scout-1", Some(Capability::Scout), worktree.path()).headless(true);
//! runtime.deploy_config(worktree.path(), None, &hooks)?;
//! let settings = std::fs::read_to_string(worktree.path().join(".claude/settings.local.json"))?;
//! assert!(settings.contains("guard scout"));
//!
//! let spec = runtime.direct_spawn(&DirectSpawnOptions::new(worktree.path())).unwrap();
//! assert_eq!(spec.argv_strings()[..2], ["claude", "-p"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The model
//!
//! - [`AgentRuntime`] is one coding-agent CLI. It builds spawn specs for the
//!   three modes — a shell command for a tmux pane
//!   ([`AgentRuntime::spawn_command`]), a one-shot print argv
//!   ([`AgentRuntime::print_command`], or
//!   [`AgentRuntime::print_command_stdin`] for a prompt too large for one
//!   argument, when the CLI reads it from stdin) and a headless child
//!   ([`AgentRuntime::direct_spawn`], whose presence makes `--headless`
//!   legal) — plus provider environment, readiness of a tmux pane, transcript
//!   lookups, per-agent config deployment and an [`EventReader`] over the
//!   child's stdout. Everything but reading transcripts and events is
//!   synchronous: none of it needs an async runtime.
//! - [`ClaudeRuntime`] drives Claude Code. Headless agents run one
//!   `claude -p --output-format stream-json --input-format stream-json …`
//!   process per user turn, resumed with `--resume <session id>`.
//! - [`ScriptedRuntime`] plays a JSON script instead of calling a model (see
//!   [`scripted`]); its child speaks the same stream-json, so the rest of the
//!   system cannot tell the difference.
//! - [`experimental`]: shape-only adapters for other coding-agent CLIs
//!   (`codex`, `pi`, `gemini`, …, `sapling`).
//! - [`Registry`] picks a runtime by name: `--runtime`, then
//!   `runtime.capabilities.<cap>`, then `runtime.default`, then `claude`.
//! - [`resolve_model`] decides the model (config → manifest → capability
//!   default) and gateway routing; [`ResolvedModel::spawn_model`] is passed
//!   as `--model` in every mode.
//! - Deployment writes `.claude/CLAUDE.md` (the overlay) and merges hooks
//!   into `.claude/settings.local.json` ([`claude_settings`]), keeping the
//!   user's own hooks. Guards are not shell one-liners: the hook runs
//!   `ov guard <capability>`, which reads Claude's PreToolUse JSON and
//!   answers with [`guard::evaluate`]. Bash commands are split by a real
//!   lexer ([`shell`]), so compound commands, subshells, `env X=1 …` and
//!   `sh -c "…"` are checked part by part, and what it cannot read without
//!   running it is denied (the guard fails closed; see [`guard`]).
//! - What an agent is told: [`manifest`] (model and definition per
//!   capability), [`overlay`] (the rendered `CLAUDE.md`) and [`prompt`] (the
//!   beacon and mail sections of user turns).
//! - Token usage: [`AgentRuntime::parse_transcript`] sums a transcript into
//!   [`TokenUsage`] by the rules of `overstory_sessions::metrics`.
//!
//! Running turns (the turn runner, waking agents on mail, the agent host)
//! is `overstory-turn`'s job, and the lifecycle around them (sling, stop,
//! worktrees, tmux) is `overstory-fleet`'s; both drive agents through this
//! crate's trait.
//!
//! # More examples
//!
//! Parse a turn's stdout into typed events:
//!
//! ```
//! use overstory_runtime::{EventReader, ParseOptions, RuntimeEvent};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let stdout = br#"{"type":"system","subtype":"init","session_id":"s-1"}
//! {"type":"assistant","message":{"content":[{"type":"text","text":"hello"}]}}
//! not json at all
//! {"type":"result","subtype":"success","is_error":false,"result":"done","session_id":"s-1"}
//! "#;
//! let mut reader = EventReader::new(&stdout[..], ParseOptions::default());
//! let mut kinds = Vec::new();
//! while let Some(event) = reader.next().await? {
//!     kinds.push(event.kind());
//! }
//! assert_eq!(kinds, ["status", "assistant_message", "result"]);
//! assert_eq!(reader.take_diagnostics().len(), 1); // the malformed line
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```
//!
//! Ask the guard about a command, as `ov guard scout` does:
//!
//! ```
//! use overstory_core::Capability;
//! use overstory_runtime::guard::{evaluate, GuardContext, NoProbe, ToolCall};
//!
//! let ctx = GuardContext {
//!     capability: Some(Capability::Scout),
//!     agent_name: Some("scout-1".into()),
//!     cwd: "/tmp".into(),
//!     ..GuardContext::default()
//! };
//! assert!(evaluate(&ctx, &ToolCall::bash("git status && git push"), &NoProbe).is_deny());
//! assert!(!evaluate(&ctx, &ToolCall::bash("grep -r TODO src | head"), &NoProbe).is_deny());
//! ```
//!
//! # Rehearsing a swarm without spending tokens
//!
//! Set `runtime.default: scripted` (or pass `--runtime scripted`) and give
//! each agent a script (format in [`scripted`]). Every agent then runs as a
//! real child process that emits Claude-shaped events, edits and commits in
//! its worktree and sends mail (through the [`scripted::ScriptMailer`] its
//! host gives it), with delays, stalls, crashes and exit codes as scripted —
//! enough to exercise dispatch, the turn runner, the watchdog and the merge
//! queue end to end, offline and free. You can also run one turn by hand:
//!
//! ```text
//! echo '{"type":"user","message":{"role":"user","content":[{"type":"text","text":"go"}]}}' \
//!   | ov scripted-agent --script builder.json
//! ```
//!
//! # Caveats
//!
//! - [`SpawnSpec::command`] starts the child in its own process group;
//!   dropping the `Child` does not kill it. Signal the group and wait.
//! - [`EventReader::next`] is cancel safe; text is batched for up to
//!   [`stream_json::DEFAULT_FLUSH_INTERVAL`], so events may lag output by
//!   that much.
//! - Claude Code refuses bypass-permission mode as root unless `IS_SANDBOX=1`
//!   is set; the variable is inherited by headless children ([`sandbox`]).
#![deny(missing_docs)]

pub mod claude;
pub mod claude_settings;
pub mod error;
pub mod experimental;
pub mod guard;
pub mod manifest;
pub mod model;
pub mod overlay;
pub mod prompt;
pub mod registry;
pub mod runtime;
pub mod sandbox;
pub mod scripted;
pub mod shell;
pub mod stream_json;
pub mod transcript;

pub use claude::ClaudeRuntime;
pub use error::RuntimeError;
pub use model::resolve_model;
pub use overstory_sessions::metrics::TokenUsage;
pub use registry::{HeadlessFlag, Registry, resolve_use_headless};
pub use runtime::{
    AgentRuntime, DialogAction, DirectSpawnOptions, HooksDef, OverlayContent, PermissionMode,
    ReadyState, ResolvedModel, SpawnOptions, SpawnSpec, Stability,
};
pub use scripted::ScriptedRuntime;
pub use stream_json::{
    Diagnostic, DiagnosticKind, EventReader, ParseOptions, RuntimeEvent, encode_user_turn,
};
