//! The Claude Code adapter.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tokio::io::AsyncRead;

use crate::claude_settings;
use crate::error::RuntimeError;
use crate::runtime::{
    AgentRuntime, DialogAction, DirectSpawnOptions, HooksDef, NESTED_SESSION_VARS, OverlayContent,
    PermissionMode, ReadyState, ResolvedModel, SpawnOptions, SpawnSpec, Stability,
};
use crate::stream_json::{EventReader, ParseOptions};
use crate::transcript;
use overstory_sessions::metrics::TokenUsage;

/// The instruction file Claude Code loads from its working directory.
pub const CLAUDE_INSTRUCTION_PATH: &str = ".claude/CLAUDE.md";

/// The headless argv before `--model`/`--resume` (program first).
pub const HEADLESS_ARGV: [&str; 10] = [
    "claude",
    "-p",
    "--output-format",
    "stream-json",
    "--input-format",
    "stream-json",
    "--verbose",
    "--strict-mcp-config",
    "--permission-mode",
    "bypassPermissions",
];

/// How to install Claude Code, for the error when `claude` is missing.
pub const CLAUDE_INSTALL_HINT: &str =
    "Install Claude Code with `npm install -g @anthropic-ai/claude-code`, or put `claude` on PATH";

/// The Claude Code adapter (`claude`).
#[derive(Debug, Clone)]
pub struct ClaudeRuntime {
    program: PathBuf,
    home: Option<PathBuf>,
}

impl Default for ClaudeRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl ClaudeRuntime {
    /// Creates the adapter running `claude` from `PATH`, with transcripts
    /// under `$HOME`.
    pub fn new() -> Self {
        Self {
            program: PathBuf::from("claude"),
            home: overstory_core::env::var(overstory_core::env::HOME).map(PathBuf::from),
        }
    }

    /// Uses `program` instead of `claude` for direct spawns.
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = program.into();
        self
    }

    /// Returns the installed Claude Code version (`2.1.197`), or `None` when
    /// the binary cannot be run. For `ov doctor`.
    pub fn version(&self) -> Option<String> {
        let out = overstory_core::process::foreground_command(&self.program)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace()
            .next()
            .filter(|v| {
                out.status.success() && v.chars().next().is_some_and(|c| c.is_ascii_digit())
            })
            .map(str::to_owned)
    }

    /// Uses `home` for transcript lookups.
    pub fn with_home(mut self, home: Option<PathBuf>) -> Self {
        self.home = home;
        self
    }
}

#[async_trait]
impl AgentRuntime for ClaudeRuntime {
    fn id(&self) -> &'static str {
        "claude"
    }

    fn stability(&self) -> Stability {
        Stability::Stable
    }

    fn instruction_path(&self) -> &'static str {
        CLAUDE_INSTRUCTION_PATH
    }

    fn preflight(&self) -> Result<(), RuntimeError> {
        let found = self
            .program
            .to_str()
            .and_then(overstory_core::process::which);
        match found {
            Some(_) => Ok(()),
            None => Err(RuntimeError::MissingBinary {
                runtime: "claude".to_owned(),
                program: self.program.clone(),
                install: CLAUDE_INSTALL_HINT.to_owned(),
            }),
        }
    }

    fn spawn_command(&self, opts: &SpawnOptions) -> Result<String, RuntimeError> {
        let mode = match opts.permission_mode {
            PermissionMode::Bypass => "bypassPermissions",
            PermissionMode::Ask => "default",
        };
        let mut cmd = format!(
            "claude --model {} --permission-mode {mode}",
            crate::shell::shell_word(&opts.model)
        );
        if let Some(file) = &opts.append_system_prompt_file {
            let quoted = crate::shell::shell_quote(&file.to_string_lossy());
            cmd.push_str(&format!(" --append-system-prompt \"$(cat {quoted})\""));
        } else if let Some(text) = &opts.append_system_prompt {
            cmd.push_str(" --append-system-prompt ");
            cmd.push_str(&crate::shell::shell_quote(text));
        }
        Ok(cmd)
    }

    fn print_command(&self, prompt: &str, model: Option<&str>) -> Vec<String> {
        let mut argv: Vec<String> = ["claude", "--print", "-p", prompt]
            .into_iter()
            .map(str::to_owned)
            .collect();
        if let Some(m) = model {
            argv.extend(["--model".to_owned(), m.to_owned()]);
        }
        argv
    }

    fn print_command_stdin(&self, model: Option<&str>) -> Option<Vec<String>> {
        // `claude --print` with no prompt argument reads the prompt from stdin.
        let mut argv = vec!["claude".to_owned(), "--print".to_owned()];
        if let Some(m) = model {
            argv.extend(["--model".to_owned(), m.to_owned()]);
        }
        Some(argv)
    }

    fn deploy_config(
        &self,
        worktree: &Path,
        overlay: Option<&OverlayContent>,
        hooks_def: &HooksDef,
    ) -> Result<(), RuntimeError> {
        if let Some(overlay) = overlay {
            let path = worktree.join(CLAUDE_INSTRUCTION_PATH);
            claude_settings::write_deployed(
                &hooks_def.agent_name,
                &path,
                overlay.content.as_bytes(),
            )?;
        }
        claude_settings::deploy_hooks(worktree, hooks_def)
    }

    fn detect_ready(&self, pane: &str) -> ReadyState {
        detect_ready(pane)
    }

    async fn parse_transcript(&self, path: &Path) -> Option<TokenUsage> {
        transcript::parse_file(path).await
    }

    fn transcript_dir(&self, project_root: &Path) -> Option<PathBuf> {
        transcript::transcript_dir(self.home.as_deref(), project_root)
    }

    fn build_env(&self, model: &ResolvedModel) -> BTreeMap<String, String> {
        let mut env = model.env.clone();
        // Claude accepts only `1`; a declared sandbox (`yes`, `true`, ...)
        // is passed on in the one spelling it understands.
        if crate::sandbox::requested() {
            env.insert(overstory_core::env::IS_SANDBOX.to_owned(), "1".to_owned());
        }
        env
    }

    fn direct_spawn(&self, opts: &DirectSpawnOptions) -> Option<SpawnSpec> {
        let mut argv: Vec<std::ffi::OsString> = HEADLESS_ARGV.iter().map(Into::into).collect();
        argv[0] = self.program.clone().into_os_string();
        if let Some(m) = &opts.model {
            argv.push("--model".into());
            argv.push(m.into());
        }
        if let Some(id) = opts.resume_id() {
            argv.push("--resume".into());
            argv.push(id.into());
        }
        if !opts.disallowed_tools.is_empty() {
            argv.push("--disallowedTools".into());
            argv.push(opts.disallowed_tools.join(",").into());
        }
        if let Some(usd) = opts.max_budget_usd.filter(|u| u.is_finite() && *u >= 0.0) {
            argv.push("--max-budget-usd".into());
            argv.push(format!("{usd:.4}").into());
        }
        Some(SpawnSpec {
            argv,
            cwd: opts.cwd.clone(),
            env: opts.env.clone(),
            env_remove: NESTED_SESSION_VARS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        })
    }

    fn event_reader(
        &self,
        stdout: Box<dyn AsyncRead + Send + Unpin>,
        opts: ParseOptions,
    ) -> Option<EventReader<Box<dyn AsyncRead + Send + Unpin>>> {
        Some(EventReader::new(stdout, opts))
    }
}

/// Text Claude Code's TUI shows only while a turn is running.
pub const BUSY_MARKERS: [&str; 2] = ["esc to interrupt", "Esc to interrupt"];

/// Reads a captured Claude Code pane.
///
/// In order: the bypass-permissions warning is answered with `2` ("Yes, I
/// accept") and the trust-this-folder dialog with Enter; a visible busy
/// indicator ([`BUSY_MARKERS`]) reports [`ReadyState::Busy`] so a beacon is
/// not re-sent into a working agent; a prompt (`❯` or `Try "`) together with
/// the "bypass permissions" status line is [`ReadyState::Ready`]; anything
/// else is still [`ReadyState::Loading`].
pub fn detect_ready(pane: &str) -> ReadyState {
    if pane.contains("WARNING: Claude Code running in Bypass Permissions mode")
        && pane.contains("1. No, exit")
        && pane.contains("2. Yes, I accept")
    {
        return ReadyState::Dialog(DialogAction::Type("2".into()));
    }
    if pane.contains("trust this folder") {
        return ReadyState::Dialog(DialogAction::Enter);
    }
    if BUSY_MARKERS.iter().any(|m| pane.contains(m)) {
        return ReadyState::Busy;
    }
    let prompt = pane.contains('\u{276f}') || pane.contains("Try \"");
    if prompt && pane.contains("bypass permissions") {
        return ReadyState::Ready;
    }
    ReadyState::Loading
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claude() -> ClaudeRuntime {
        ClaudeRuntime::new().with_home(Some(PathBuf::from("/home/u")))
    }

    #[test]
    fn identity_is_claude_with_claude_md() {
        let c = claude();
        assert_eq!(c.id(), "claude");
        assert_eq!(c.instruction_path(), ".claude/CLAUDE.md");
        assert_eq!(c.stability(), Stability::Stable);
        assert!(!c.is_headless());
        assert!(c.requires_beacon_verification());
    }

    #[test]
    fn spawn_command_maps_permission_modes() {
        let c = claude();
        assert_eq!(
            c.spawn_command(&SpawnOptions::new("sonnet")).unwrap(),
            "claude --model sonnet --permission-mode bypassPermissions"
        );
        let mut o = SpawnOptions::new("opus");
        o.permission_mode = PermissionMode::Ask;
        assert_eq!(
            c.spawn_command(&o).unwrap(),
            "claude --model opus --permission-mode default"
        );
    }

    #[test]
    fn inline_system_prompt_is_single_quoted_with_escapes_and_newlines_kept() {
        let mut o = SpawnOptions::new("sonnet");
        o.append_system_prompt = Some("it's\nmulti".into());
        assert_eq!(
            claude().spawn_command(&o).unwrap(),
            "claude --model sonnet --permission-mode bypassPermissions --append-system-prompt 'it'\\''s\nmulti'"
        );
    }

    #[test]
    fn prompt_file_wins_and_is_read_by_the_shell() {
        let mut o = SpawnOptions::new("sonnet");
        o.append_system_prompt = Some("inline".into());
        o.append_system_prompt_file = Some(PathBuf::from("/a/b's.md"));
        let cmd = claude().spawn_command(&o).unwrap();
        assert!(
            cmd.ends_with("--append-system-prompt \"$(cat '/a/b'\\''s.md')\""),
            "{cmd}"
        );
        assert!(!cmd.contains("inline"));
    }

    #[test]
    fn spawn_command_never_emits_system_prompt_cwd_or_env() {
        let mut o = SpawnOptions::new("sonnet");
        o.system_prompt = Some("SYS".into());
        o.cwd = PathBuf::from("/the/cwd");
        o.env.insert("SECRET".into(), "v".into());
        let cmd = claude().spawn_command(&o).unwrap();
        assert!(!cmd.contains("SYS") && !cmd.contains("/the/cwd") && !cmd.contains("SECRET"));
        assert!(!cmd.contains("--append-system-prompt"));
    }

    #[test]
    fn any_model_string_passes_through() {
        for m in ["sonnet", "claude-sonnet-4-6", "gw/vendor/x"] {
            let cmd = claude().spawn_command(&SpawnOptions::new(m)).unwrap();
            assert!(cmd.starts_with(&format!("claude --model {m} ")));
            let spec = claude()
                .direct_spawn(&DirectSpawnOptions {
                    model: Some(m.into()),
                    ..DirectSpawnOptions::new("/w")
                })
                .unwrap();
            assert_eq!(spec.argv_strings()[11], m);
        }
    }

    #[test]
    fn unsafe_model_strings_are_quoted_for_the_shell() {
        let cmd = claude()
            .spawn_command(&SpawnOptions::new("x; rm -rf ~"))
            .unwrap();
        assert_eq!(
            cmd,
            "claude --model 'x; rm -rf ~' --permission-mode bypassPermissions"
        );
    }

    #[test]
    fn print_argv_is_print_p_prompt_and_optional_model() {
        assert_eq!(
            claude().print_command("hi", None),
            ["claude", "--print", "-p", "hi"]
        );
        assert_eq!(
            claude().print_command("hi", Some("haiku")),
            ["claude", "--print", "-p", "hi", "--model", "haiku"]
        );
    }

    #[test]
    fn stdin_print_argv_has_no_prompt_argument() {
        assert_eq!(
            claude().print_command_stdin(None),
            Some(vec!["claude".to_owned(), "--print".to_owned()])
        );
        assert_eq!(
            claude().print_command_stdin(Some("haiku")).unwrap(),
            ["claude", "--print", "--model", "haiku"]
        );
    }

    #[test]
    fn direct_spawn_without_model_is_the_ten_element_argv() {
        let spec = claude()
            .direct_spawn(&DirectSpawnOptions::new("/w"))
            .unwrap();
        assert_eq!(spec.argv_strings(), HEADLESS_ARGV);
        assert_eq!(spec.cwd, Path::new("/w"));
        for v in NESTED_SESSION_VARS {
            assert!(spec.env_remove.iter().any(|e| e == v));
        }
    }

    #[test]
    fn direct_spawn_with_model_and_resume_appends_pairs_in_order() {
        let opts = DirectSpawnOptions {
            model: Some("sonnet".into()),
            resume_session_id: Some("sess-1".into()),
            instruction_path: ".claude/CLAUDE.md".into(),
            ..DirectSpawnOptions::new("/w")
        };
        let argv = claude().direct_spawn(&opts).unwrap().argv_strings();
        assert_eq!(argv.len(), 14);
        assert_eq!(&argv[10..], ["--model", "sonnet", "--resume", "sess-1"]);
        assert!(!argv.iter().any(|a| a.contains("CLAUDE.md")));
        let m = DirectSpawnOptions {
            model: Some("m".into()),
            ..DirectSpawnOptions::new("/w")
        };
        assert_eq!(claude().direct_spawn(&m).unwrap().argv.len(), 12);
    }

    #[test]
    fn disallowed_tools_are_an_opt_in_trailing_flag() {
        let o = DirectSpawnOptions {
            disallowed_tools: vec!["Task".into(), "TeamCreate".into()],
            ..DirectSpawnOptions::new("/w")
        };
        let argv = claude().direct_spawn(&o).unwrap().argv_strings();
        assert_eq!(&argv[10..], ["--disallowedTools", "Task,TeamCreate"]);
    }

    #[test]
    fn a_spend_cap_becomes_claudes_own_max_budget_flag() {
        let o = DirectSpawnOptions {
            max_budget_usd: Some(1.25),
            ..DirectSpawnOptions::new("/w")
        };
        let argv = claude().direct_spawn(&o).unwrap().argv_strings();
        assert_eq!(&argv[10..], ["--max-budget-usd", "1.2500"]);
        for none in [None, Some(-1.0), Some(f64::NAN)] {
            let o = DirectSpawnOptions {
                max_budget_usd: none,
                ..DirectSpawnOptions::new("/w")
            };
            let argv = claude().direct_spawn(&o).unwrap().argv_strings();
            assert!(!argv.contains(&"--max-budget-usd".to_owned()), "{none:?}");
        }
    }

    #[test]
    fn resume_is_omitted_for_none_or_empty_ids() {
        for id in [None, Some(String::new())] {
            let o = DirectSpawnOptions {
                resume_session_id: id,
                ..DirectSpawnOptions::new("/w")
            };
            let argv = claude().direct_spawn(&o).unwrap().argv_strings();
            assert!(!argv.contains(&"--resume".to_owned()));
        }
    }

    #[test]
    fn detect_ready_pins_the_pane_heuristics() {
        for pane in ["", "Loading...", "❯", "bypass permissions", "random text"] {
            assert_eq!(detect_ready(pane), ReadyState::Loading, "{pane}");
        }
        assert_eq!(
            detect_ready("❯ \n bypass permissions on"),
            ReadyState::Ready
        );
        assert_eq!(
            detect_ready("Try \"fix lint\"\nbypass permissions"),
            ReadyState::Ready
        );
        assert_eq!(detect_ready("❯\n shift+tab to cycle"), ReadyState::Loading);
        assert_eq!(
            detect_ready("Do you trust this folder?\n❯ bypass permissions"),
            ReadyState::Dialog(DialogAction::Enter)
        );
        let bypass = "WARNING: Claude Code running in Bypass Permissions mode\n❯ 1. No, exit\n2. Yes, I accept\nbypass permissions";
        let s = detect_ready(bypass);
        assert_eq!(s, ReadyState::Dialog(DialogAction::Type("2".into())));
        if let ReadyState::Dialog(a) = s {
            assert_eq!(a.as_action(), "type:2");
        }
        assert_eq!(DialogAction::Enter.as_action(), "Enter");
        assert_eq!(
            detect_ready("❯ \n✻ Thinking… (esc to interrupt)\nbypass permissions on"),
            ReadyState::Busy
        );
    }

    #[test]
    fn version_is_none_for_a_missing_binary() {
        assert_eq!(
            ClaudeRuntime::new()
                .with_program("/nonexistent/claude")
                .version(),
            None
        );
    }

    #[test]
    fn preflight_names_a_missing_binary_and_how_to_install_it() {
        let err = ClaudeRuntime::new()
            .with_program("/nonexistent/claude")
            .preflight()
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("\"/nonexistent/claude\""), "{text}");
        assert!(
            text.contains("npm install -g @anthropic-ai/claude-code"),
            "{text}"
        );
        assert_eq!(err.code(), "RUNTIME_ERROR");
        assert!(
            ClaudeRuntime::new()
                .with_program("no-such-claude-binary-on-path")
                .preflight()
                .is_err()
        );
        // Any executable that resolves passes.
        ClaudeRuntime::new()
            .with_program("/bin/sh")
            .preflight()
            .unwrap();
    }

    #[test]
    fn build_env_returns_model_env_or_empty() {
        let c = claude();
        let mut env = c.build_env(&ResolvedModel::default());
        // IS_SANDBOX=1 is added exactly when the environment declares one.
        let sandbox = env.remove("IS_SANDBOX");
        assert_eq!(sandbox.is_some(), crate::sandbox::requested());
        assert!(sandbox.is_none_or(|v| v == "1"));
        assert!(env.is_empty());
        let mut m = ResolvedModel::default();
        m.env.insert("ANTHROPIC_BASE_URL".into(), "u".into());
        assert_eq!(c.build_env(&m)["ANTHROPIC_BASE_URL"], "u");
    }

    #[test]
    fn transcript_dir_uses_home_and_project_key() {
        assert_eq!(
            claude().transcript_dir(Path::new("/p/x")).unwrap(),
            Path::new("/home/u/.claude/projects/-p-x")
        );
        assert!(
            ClaudeRuntime::new()
                .with_home(None)
                .transcript_dir(Path::new("/p"))
                .is_none()
        );
    }

    #[test]
    fn deploy_config_writes_overlay_verbatim_only_when_given_and_always_settings() {
        let d = tempfile::tempdir().unwrap();
        let def = HooksDef::new("scout-1", Some(overstory_core::Capability::Scout), d.path());
        claude().deploy_config(d.path(), None, &def).unwrap();
        assert!(!d.path().join(".claude/CLAUDE.md").exists());
        let settings =
            std::fs::read_to_string(d.path().join(".claude/settings.local.json")).unwrap();
        assert!(settings.contains("guard scout"));
        let overlay = OverlayContent {
            content: "# Hi\n\n{{literal}}\n".into(),
        };
        claude()
            .deploy_config(d.path(), Some(&overlay), &def)
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join(".claude/CLAUDE.md")).unwrap(),
            overlay.content
        );
    }

    #[test]
    fn deploy_failure_is_an_agent_error_naming_the_agent() {
        let d = tempfile::tempdir().unwrap();
        // A file where the .claude directory should be.
        std::fs::write(d.path().join(".claude"), "x").unwrap();
        let def = HooksDef::new("builder-9", None, d.path());
        let err = claude().deploy_config(d.path(), None, &def).unwrap_err();
        assert_eq!(err.code(), "AGENT_ERROR");
        assert!(err.to_string().contains("builder-9"), "{err}");
    }

    #[tokio::test]
    async fn parse_transcript_of_missing_file_is_none() {
        assert_eq!(
            claude().parse_transcript(Path::new("/no/such.jsonl")).await,
            None::<TokenUsage>
        );
    }
}
