//! Choosing a runtime by name, and choosing tmux or headless mode.

use std::path::PathBuf;
use std::sync::Arc;

use overstory_core::{Capability, Config};

use crate::claude::ClaudeRuntime;
use crate::error::RuntimeError;
use crate::runtime::AgentRuntime;
use crate::scripted::ScriptedRuntime;

/// Runtime names this build can construct: the original's eleven plus
/// `scripted`.
pub const RUNTIME_NAMES: [&str; 12] = [
    "aider", "amp", "claude", "codex", "copilot", "cursor", "gemini", "goose", "opencode", "pi",
    "sapling", "scripted",
];

/// The runtime used when nothing else is configured.
pub const DEFAULT_RUNTIME: &str = "claude";

/// Builds runtimes by name. Every lookup returns a fresh instance.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// Script played by the `scripted` runtime (a default empty script when
    /// unset).
    pub script: Option<PathBuf>,
    /// The `ov` binary the `scripted` runtime starts (`ov` on `PATH` when unset).
    pub ov_program: Option<PathBuf>,
}

impl Registry {
    /// Resolves the runtime name: explicit `name` (`--runtime`) →
    /// `runtime.capabilities.<cap>` → `runtime.default` → `claude`.
    pub fn resolve_name<'a>(
        name: Option<&'a str>,
        config: Option<&'a Config>,
        capability: Option<Capability>,
    ) -> &'a str {
        if let Some(n) = name.filter(|n| !n.is_empty()) {
            return n;
        }
        if let Some(cfg) = config {
            if let Some(n) = capability
                .and_then(|c| cfg.runtime.capabilities.get(c.as_str()))
                .filter(|n| !n.is_empty())
            {
                return n;
            }
            if !cfg.runtime.default.is_empty() {
                return &cfg.runtime.default;
            }
        }
        DEFAULT_RUNTIME
    }

    /// Resolves the print-mode runtime name: `runtime.printCommand` →
    /// `runtime.default` → `claude` (no capability routing).
    pub fn resolve_print_name(config: Option<&Config>) -> &str {
        config
            .and_then(|c| c.runtime.print_command.as_deref().filter(|n| !n.is_empty()))
            .or_else(|| {
                config
                    .map(|c| c.runtime.default.as_str())
                    .filter(|n| !n.is_empty())
            })
            .unwrap_or(DEFAULT_RUNTIME)
    }

    /// Returns a new runtime for the resolved name.
    ///
    /// # Errors
    /// [`RuntimeError::UnknownRuntime`] listing the available names.
    pub fn get(
        &self,
        name: Option<&str>,
        config: Option<&Config>,
        capability: Option<Capability>,
    ) -> Result<Arc<dyn AgentRuntime>, RuntimeError> {
        let resolved = Self::resolve_name(name, config, capability);
        if resolved == "pi" {
            let pi = config
                .map(|c| c.runtime.pi.clone())
                .unwrap_or_else(|| Config::defaults_for(".").runtime.pi);
            return Ok(Arc::new(
                crate::experimental::ShapeRuntime::by_id("pi", Some(pi)).ok_or_else(|| {
                    RuntimeError::UnknownRuntime {
                        name: "pi".into(),
                        available: RUNTIME_NAMES.join(", "),
                    }
                })?,
            ));
        }
        self.by_name(resolved)
    }

    /// Returns a new runtime called exactly `name`.
    ///
    /// # Errors
    /// [`RuntimeError::UnknownRuntime`] listing the available names.
    pub fn by_name(&self, name: &str) -> Result<Arc<dyn AgentRuntime>, RuntimeError> {
        match name {
            "claude" => Ok(Arc::new(ClaudeRuntime::new())),
            "scripted" => {
                let ov = self
                    .ov_program
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("ov"));
                Ok(Arc::new(ScriptedRuntime::new(ov, self.script.clone())))
            }
            "sapling" => Ok(Arc::new(crate::experimental::SaplingRuntime)),
            other if crate::experimental::ShapeRuntime::by_id(other, None).is_some() => {
                let pi = (other == "pi").then(|| Config::defaults_for(".").runtime.pi);
                Ok(Arc::new(
                    crate::experimental::ShapeRuntime::by_id(other, pi).ok_or_else(|| {
                        RuntimeError::UnknownRuntime {
                            name: other.to_owned(),
                            available: RUNTIME_NAMES.join(", "),
                        }
                    })?,
                ))
            }
            other => Err(RuntimeError::UnknownRuntime {
                name: other.to_owned(),
                available: RUNTIME_NAMES.join(", "),
            }),
        }
    }
}

/// The `--headless`/`--no-headless` flag as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeadlessFlag {
    /// Neither flag.
    #[default]
    Unset,
    /// `--headless`.
    Headless,
    /// `--no-headless`.
    NoHeadless,
}

/// Decides tmux (`false`) or headless (`true`), before config deployment.
///
/// A statically headless runtime wins over `--no-headless`; `--headless`
/// needs direct-spawn support; `runtime.claudeHeadlessByDefault` applies to
/// Claude only.
///
/// # Errors
/// [`RuntimeError::HeadlessUnsupported`] for `--headless` on a runtime
/// without direct spawn.
pub fn resolve_use_headless(
    runtime: &dyn AgentRuntime,
    flag: HeadlessFlag,
    config: &Config,
) -> Result<bool, RuntimeError> {
    if runtime.is_headless() {
        return Ok(true);
    }
    let probe = crate::runtime::DirectSpawnOptions::new(".");
    let can_direct = runtime.direct_spawn(&probe).is_some();
    match flag {
        HeadlessFlag::Headless if can_direct => Ok(true),
        HeadlessFlag::Headless => Err(RuntimeError::HeadlessUnsupported {
            runtime: runtime.id().to_owned(),
        }),
        HeadlessFlag::NoHeadless => Ok(false),
        HeadlessFlag::Unset => {
            Ok(runtime.id() == "claude" && can_direct && config.claude_headless_by_default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::defaults_for("/p")
    }

    #[test]
    fn default_and_claude_give_claude_and_unknown_is_an_error() {
        let r = Registry::default();
        assert_eq!(r.get(None, None, None).unwrap().id(), "claude");
        assert_eq!(r.get(Some("claude"), None, None).unwrap().id(), "claude");
        let err = r.get(Some("nope"), None, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Unknown runtime: \"nope\". Available: aider, amp, claude, codex, copilot, cursor, gemini, goose, opencode, pi, sapling, scripted"
        );
        for name in RUNTIME_NAMES {
            assert_eq!(r.by_name(name).unwrap().id(), name);
        }
    }

    #[test]
    fn each_lookup_returns_a_new_instance() {
        let r = Registry::default();
        let a = r.get(None, None, None).unwrap();
        let b = r.get(None, None, None).unwrap();
        assert!(!Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn explicit_name_beats_capability_routing_which_beats_default() {
        let mut c = cfg();
        c.runtime.default = "scripted".into();
        assert_eq!(
            Registry::resolve_name(None, Some(&c), Some(Capability::Scout)),
            "scripted"
        );
        c.runtime
            .capabilities
            .insert("scout".into(), "claude".into());
        assert_eq!(
            Registry::resolve_name(None, Some(&c), Some(Capability::Scout)),
            "claude"
        );
        assert_eq!(
            Registry::resolve_name(None, Some(&c), Some(Capability::Builder)),
            "scripted"
        );
        assert_eq!(
            Registry::resolve_name(Some("x"), Some(&c), Some(Capability::Scout)),
            "x"
        );
        // No capabilities configured at all is fine.
        let plain = cfg();
        assert_eq!(
            Registry::resolve_name(None, Some(&plain), Some(Capability::Lead)),
            "claude"
        );
    }

    #[test]
    fn pi_receives_its_config_or_defaults() {
        let r = Registry::default();
        let mut c = cfg();
        c.runtime
            .pi
            .model_map
            .insert("opus".into(), "custom/opus-x".into());
        let pi = r.get(Some("pi"), Some(&c), None).unwrap();
        let cmd = pi.spawn_command(&crate::SpawnOptions::new("opus")).unwrap();
        assert_eq!(cmd, "pi --model custom/opus-x");
        let pi = r.get(Some("pi"), None, None).unwrap();
        let cmd = pi.spawn_command(&crate::SpawnOptions::new("opus")).unwrap();
        assert_eq!(cmd, "pi --model anthropic/claude-opus-4-6");
    }

    #[test]
    fn headless_flag_on_codex_is_a_validation_error() {
        let r = Registry::default();
        let codex = r.by_name("codex").unwrap();
        assert!(resolve_use_headless(codex.as_ref(), HeadlessFlag::Headless, &cfg()).is_err());
        let sapling = r.by_name("sapling").unwrap();
        assert!(resolve_use_headless(sapling.as_ref(), HeadlessFlag::NoHeadless, &cfg()).unwrap());
    }

    #[test]
    fn print_runtime_ignores_capability_routing() {
        let mut c = cfg();
        c.runtime
            .capabilities
            .insert("scout".into(), "scripted".into());
        assert_eq!(Registry::resolve_print_name(Some(&c)), "claude");
        c.runtime.print_command = Some("scripted".into());
        assert_eq!(Registry::resolve_print_name(Some(&c)), "scripted");
        assert_eq!(Registry::resolve_print_name(None), "claude");
    }

    #[test]
    fn headless_decision_table() {
        let claude = ClaudeRuntime::new();
        let scripted = ScriptedRuntime::new("ov".into(), None);
        let mut c = cfg();
        // Static headless beats --no-headless.
        assert!(resolve_use_headless(&scripted, HeadlessFlag::NoHeadless, &c).unwrap());
        // Flag beats knob.
        c.runtime.claude_headless_by_default = Some(true);
        assert!(!resolve_use_headless(&claude, HeadlessFlag::NoHeadless, &c).unwrap());
        assert!(resolve_use_headless(&claude, HeadlessFlag::Unset, &c).unwrap());
        c.runtime.claude_headless_by_default = None;
        assert!(!resolve_use_headless(&claude, HeadlessFlag::Unset, &c).unwrap());
        assert!(resolve_use_headless(&claude, HeadlessFlag::Headless, &c).unwrap());
    }

    #[derive(Debug)]
    struct TmuxOnly;
    #[async_trait::async_trait]
    impl AgentRuntime for TmuxOnly {
        fn id(&self) -> &'static str {
            "codex"
        }
        fn stability(&self) -> crate::Stability {
            crate::Stability::Experimental
        }
        fn instruction_path(&self) -> &'static str {
            "AGENTS.md"
        }
        fn spawn_command(&self, _: &crate::SpawnOptions) -> Result<String, RuntimeError> {
            Ok("codex".into())
        }
        fn print_command(&self, _: &str, _: Option<&str>) -> Vec<String> {
            Vec::new()
        }
        fn deploy_config(
            &self,
            _: &std::path::Path,
            _: Option<&crate::OverlayContent>,
            _: &crate::HooksDef,
        ) -> Result<(), RuntimeError> {
            Ok(())
        }
        fn detect_ready(&self, _: &str) -> crate::ReadyState {
            crate::ReadyState::Ready
        }
        async fn parse_transcript(&self, _: &std::path::Path) -> Option<crate::TokenUsage> {
            None
        }
        fn transcript_dir(&self, _: &std::path::Path) -> Option<PathBuf> {
            None
        }
        fn build_env(
            &self,
            _: &crate::ResolvedModel,
        ) -> std::collections::BTreeMap<String, String> {
            Default::default()
        }
        fn direct_spawn(&self, _: &crate::DirectSpawnOptions) -> Option<crate::SpawnSpec> {
            None
        }
        fn event_reader(
            &self,
            _: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
            _: crate::ParseOptions,
        ) -> Option<crate::EventReader<Box<dyn tokio::io::AsyncRead + Send + Unpin>>> {
            None
        }
    }

    #[test]
    fn headless_flag_on_runtime_without_direct_spawn_is_a_validation_error_and_knob_is_claude_only()
    {
        let mut c = cfg();
        c.runtime.claude_headless_by_default = Some(true);
        let err = resolve_use_headless(&TmuxOnly, HeadlessFlag::Headless, &c).unwrap_err();
        assert_eq!(err.code(), "VALIDATION_ERROR");
        assert!(err.to_string().contains("codex"));
        assert!(!resolve_use_headless(&TmuxOnly, HeadlessFlag::Unset, &c).unwrap());
    }
}
