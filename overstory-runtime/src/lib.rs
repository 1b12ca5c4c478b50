//! How overstory agents run: the runtime trait, the Claude Code and scripted
//! adapters, hooks and guards, the stream-json event parser, the turn runner
//! and mail dispatch.
//!
//! # The model
//!
//! - [`AgentRuntime`] is one coding-agent CLI. It builds spawn specs for the
//!   three modes — a shell command for a tmux pane
//!   ([`AgentRuntime::spawn_command`]), a one-shot print argv
//!   ([`AgentRuntime::print_command`]) and a headless child
//!   ([`AgentRuntime::direct_spawn`], whose presence makes `--headless`
//!   legal) — plus provider environment, readiness of a tmux pane, transcript
//!   lookups, per-agent config deployment and an [`EventReader`] over the
//!   child's stdout.
//! - [`ClaudeRuntime`] drives Claude Code. Headless agents run one
//!   `claude -p --output-format stream-json --input-format stream-json …`
//!   process per user turn, resumed with `--resume <session id>`.
//! - [`ScriptedRuntime`] plays a JSON script instead of calling a model (see
//!   [`scripted`]); its child speaks the same stream-json, so the rest of the
//!   system cannot tell the difference.
//! - [`Registry`] picks a runtime by name: `--runtime`, then
//!   `runtime.capabilities.<cap>`, then `runtime.default`, then `claude`.
//! - [`resolve_model`] decides the model (config → manifest → capability
//!   default) and gateway routing; [`ResolvedModel::spawn_model`] is passed
//!   as `--model` in every mode.
//! - Deployment writes `.claude/CLAUDE.md` (the overlay) and merges hooks
//!   into `.claude/settings.local.json` ([`hooks`]). Guards are not shell
//!   one-liners: the hook runs `ov guard <capability>`, which reads Claude's
//!   PreToolUse JSON and answers with [`guard::evaluate`]. Bash commands are
//!   split by a real lexer ([`shell`]), so compound commands, subshells,
//!   `env X=1 …` and `sh -c "…"` are checked part by part.
//! - What an agent is told: [`manifest`] (model and definition per
//!   capability), [`overlay`] (the rendered `CLAUDE.md`), [`prompt`] (the
//!   beacon and mail sections of user turns), [`identity`] (the agent's CV
//!   and checkpoints).
//! - [`host`]: the agent host of a persistent agent (coordinator,
//!   orchestrator, monitor) — one long-lived headless process whose stdin
//!   stays open; [`dispatch::wake`] pokes the host and it writes the
//!   agent's new mail as the next user turn, with no server running.
//! - [`connection`]: a long-lived headless child reached through its
//!   stdin, and the per-process registry of such connections.
//! - [`turn`]: the turn runner. [`turn::run_turn`] runs one user turn of one
//!   headless agent: the agent's OS-locked [`turn::lock`], the child in its
//!   own process group (under [`turn::shim`] so it dies with its runner),
//!   events into `events.db`, and the final state decided by
//!   [`turn::outcome::settle`] and written through the sessions
//!   compare-and-swap. Tests inject children through [`turn::child`].
//! - [`dispatch`]: turns mail and queued nudges into turns with no server
//!   running — [`dispatch::wake`] starts a detached dispatcher that batches an
//!   agent's pending work into one turn at a time, marking mail read only
//!   after a clean turn; [`dispatch::sweep`] is the backstop.
//! - [`mailroom`]: where mail meets sessions (the mail roster, waking
//!   recipients, the counts `ov status` shows).
//! - [`fleet`]: agent lifecycle around the runner — worktrees, the tmux
//!   manager, `ov stop`, cleanup, groups, specs, priming and hooks install,
//!   and [`fleet::persistent`]: the coordinator and orchestrator
//!   (`start`/`stop`/`status`/`send`/`ask`/`output`/`check_complete`), run
//!   headless under a [`host`] by default.
//! - [`others`]: shape-only adapters for the other CLIs the original
//!   registers (`codex`, `pi`, `gemini`, …, `sapling`).
//! - [`demo`]: `ov demo` — a coordinator, a lead and two builders playing
//!   scripts in a scratch repository, watched through the stores and git.
//!
//! ## Who uses what
//!
//! [`turn::run_turn`] spawns [`AgentRuntime::direct_spawn`] (pass
//! [`ResolvedModel::spawn_model`] as the model and the session's Claude id
//! as `resume_session_id`), writes [`AgentRuntime::encode_user_turn`] to
//! stdin, closes it, and drains [`AgentRuntime::event_reader`];
//! [`RuntimeEvent::store_type`]/[`RuntimeEvent::store_level`] give the
//! events.db columns and [`EventReader::last_read_at`] raw activity for the
//! stall timer. Sling resolves the runtime with [`Registry`], decides the
//! mode with [`resolve_use_headless`], renders the overlay and calls
//! [`AgentRuntime::deploy_config`] with a [`HooksDef`] whose
//! `guard_program` is the absolute path of the running `ov`.
//!
//! # Example
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
//! its worktree and sends mail through `ov mail send`, with delays, stalls,
//! crashes and exit codes as scripted — enough to exercise dispatch, the turn
//! runner, the watchdog and the merge queue end to end, offline and free.
//! You can also run one turn by hand:
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
//!   [`event::DEFAULT_FLUSH_INTERVAL`], so events may lag output by that much.
//! - Claude Code refuses bypass-permission mode as root unless `IS_SANDBOX=1`
//!   is set; the variable is inherited by headless children.
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
