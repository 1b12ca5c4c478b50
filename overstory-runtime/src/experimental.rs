//! Experimental adapters for the other coding-agent CLIs the original
//! registers (shape only).
//!
//! Each knows its binary, model flag, bypass flag and instruction file, and
//! deploys only the overlay: none of them gets overstory's hooks (the guard
//! protocol is Claude's). Only `sapling` has a direct spawn, and since its
//! output is not stream-json it offers no event reader, so the turn runner
//! refuses it rather than misreading its output.

use std::path::Path;

use async_trait::async_trait;
use overstory_core::config::PiConfig;
use tokio::io::AsyncRead;

use crate::error::RuntimeError;
use crate::runtime::{
    AgentRuntime, DirectSpawnOptions, HooksDef, OverlayContent, PermissionMode, SpawnOptions,
    SpawnSpec, Stability,
};
use crate::shell::shell_word;
use crate::stream_json::{EventReader, ParseOptions};

/// The shape of one experimental adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Shape {
    /// The name the registry and `--runtime` know it by.
    pub id: &'static str,
    /// The program started on `PATH`.
    pub binary: &'static str,
    /// Flags before the model.
    pub leading: &'static [&'static str],
    /// The flag that passes the model (`--model`).
    pub model_flag: &'static str,
    /// Flags added in bypass mode.
    pub bypass: &'static [&'static str],
    /// Where the CLI reads its instructions, relative to the worktree; the
    /// overlay is written there.
    pub instruction_path: &'static str,
    /// Whether the spawner verifies the beacon.
    pub beacon_verification: bool,
}

/// Every experimental adapter, by id.
pub const SHAPES: [Shape; 9] = [
    Shape {
        id: "aider",
        binary: "aider",
        leading: &["--yes-always", "--no-auto-commits"],
        model_flag: "--model",
        bypass: &[],
        instruction_path: "CONVENTIONS.md",
        beacon_verification: false,
    },
    Shape {
        id: "amp",
        binary: "amp",
        leading: &[],
        model_flag: "--model",
        bypass: &["--yes"],
        instruction_path: ".amp/AGENT.md",
        beacon_verification: false,
    },
    Shape {
        id: "codex",
        binary: "codex",
        leading: &["--full-auto"],
        model_flag: "--model",
        bypass: &[],
        instruction_path: "AGENTS.md",
        beacon_verification: false,
    },
    Shape {
        id: "copilot",
        binary: "copilot",
        leading: &[],
        model_flag: "--model",
        bypass: &["--allow-all-tools"],
        instruction_path: ".github/copilot-instructions.md",
        beacon_verification: true,
    },
    Shape {
        id: "cursor",
        binary: "agent",
        leading: &[],
        model_flag: "--model",
        bypass: &["--yolo"],
        instruction_path: ".cursor/rules/overstory.md",
        beacon_verification: true,
    },
    Shape {
        id: "gemini",
        binary: "gemini",
        leading: &[],
        model_flag: "-m",
        bypass: &["--approval-mode", "yolo"],
        instruction_path: "GEMINI.md",
        beacon_verification: true,
    },
    Shape {
        id: "goose",
        binary: "goose",
        leading: &[],
        model_flag: "--model",
        bypass: &[],
        instruction_path: ".goosehints",
        beacon_verification: false,
    },
    Shape {
        id: "opencode",
        binary: "opencode",
        leading: &[],
        model_flag: "--model",
        bypass: &[],
        instruction_path: "AGENTS.md",
        beacon_verification: true,
    },
    Shape {
        id: "pi",
        binary: "pi",
        leading: &[],
        model_flag: "--model",
        bypass: &[],
        instruction_path: "AGENTS.md",
        beacon_verification: false,
    },
];

/// An experimental adapter built from a [`Shape`].
#[derive(Debug, Clone)]
pub struct ShapeRuntime {
    shape: Shape,
    pi: Option<PiConfig>,
}

impl ShapeRuntime {
    /// Returns the adapter called `id`, if it is one of [`SHAPES`]. `pi`
    /// expands model aliases through `pi` (its `modelMap`).
    pub fn by_id(id: &str, pi: Option<PiConfig>) -> Option<Self> {
        SHAPES
            .iter()
            .find(|s| s.id == id)
            .map(|s| Self { shape: *s, pi })
    }

    fn model(&self, model: &str) -> String {
        match (&self.pi, self.shape.id) {
            (Some(pi), "pi") => pi
                .model_map
                .get(model)
                .cloned()
                .unwrap_or_else(|| model.to_owned()),
            _ => model.to_owned(),
        }
    }
}

#[async_trait]
impl AgentRuntime for ShapeRuntime {
    fn id(&self) -> &'static str {
        self.shape.id
    }

    fn stability(&self) -> Stability {
        Stability::Experimental
    }

    fn instruction_path(&self) -> &'static str {
        self.shape.instruction_path
    }

    fn spawn_command(&self, opts: &SpawnOptions) -> Result<String, RuntimeError> {
        let mut parts: Vec<String> = vec![self.shape.binary.to_owned()];
        parts.extend(self.shape.leading.iter().map(|s| (*s).to_owned()));
        let is_alias = matches!(opts.model.as_str(), "sonnet" | "opus" | "haiku");
        if !(self.shape.id == "codex" && is_alias) {
            parts.push(self.shape.model_flag.to_owned());
            parts.push(shell_word(&self.model(&opts.model)));
        }
        if opts.permission_mode == PermissionMode::Bypass {
            parts.extend(self.shape.bypass.iter().map(|s| (*s).to_owned()));
        }
        if self.shape.id == "codex" {
            for d in &opts.shared_writable_dirs {
                parts.push("--add-dir".into());
                parts.push(shell_word(&d.to_string_lossy()));
            }
        }
        Ok(parts.join(" "))
    }

    fn print_command(&self, prompt: &str, model: Option<&str>) -> Vec<String> {
        let mut argv = vec![self.shape.binary.to_owned()];
        if let Some(m) = model {
            argv.push(self.shape.model_flag.to_owned());
            argv.push(self.model(m));
        }
        argv.push(prompt.to_owned());
        argv
    }

    fn deploy_config(
        &self,
        worktree: &Path,
        overlay: Option<&OverlayContent>,
        hooks: &HooksDef,
    ) -> Result<(), RuntimeError> {
        let Some(overlay) = overlay else {
            return Ok(());
        };
        crate::overlay::write_instruction_file(
            worktree,
            self.shape.instruction_path,
            &overlay.content,
            &hooks.agent_name,
        )
        .map(|_| ())
    }

    fn requires_beacon_verification(&self) -> bool {
        self.shape.beacon_verification
    }

    fn direct_spawn(&self, _opts: &DirectSpawnOptions) -> Option<SpawnSpec> {
        None
    }

    fn event_reader(
        &self,
        _stdout: Box<dyn AsyncRead + Send + Unpin>,
        _opts: ParseOptions,
    ) -> Option<EventReader<Box<dyn AsyncRead + Send + Unpin>>> {
        None
    }
}

/// The Sapling adapter (`sp`): statically headless, with a direct spawn but
/// no stream-json reader.
#[derive(Debug, Clone, Default)]
pub struct SaplingRuntime;

#[async_trait]
impl AgentRuntime for SaplingRuntime {
    fn id(&self) -> &'static str {
        "sapling"
    }

    fn stability(&self) -> Stability {
        Stability::Stable
    }

    fn instruction_path(&self) -> &'static str {
        "SAPLING.md"
    }

    fn is_headless(&self) -> bool {
        true
    }

    fn spawn_command(&self, opts: &SpawnOptions) -> Result<String, RuntimeError> {
        Ok(format!("sp run --model {} --json", shell_word(&opts.model)))
    }

    fn print_command(&self, prompt: &str, model: Option<&str>) -> Vec<String> {
        let mut argv = vec!["sp".to_owned(), "run".to_owned()];
        if let Some(m) = model {
            argv.extend(["--model".to_owned(), m.to_owned()]);
        }
        argv.extend(["--json".to_owned(), prompt.to_owned()]);
        argv
    }

    fn deploy_config(
        &self,
        worktree: &Path,
        overlay: Option<&OverlayContent>,
        hooks: &HooksDef,
    ) -> Result<(), RuntimeError> {
        let Some(overlay) = overlay else {
            return Ok(());
        };
        crate::overlay::write_instruction_file(
            worktree,
            "SAPLING.md",
            &overlay.content,
            &hooks.agent_name,
        )
        .map(|_| ())
    }

    fn requires_beacon_verification(&self) -> bool {
        false
    }

    fn direct_spawn(&self, opts: &DirectSpawnOptions) -> Option<SpawnSpec> {
        let mut argv: Vec<std::ffi::OsString> = vec!["sp".into(), "run".into()];
        if let Some(m) = &opts.model {
            argv.push("--model".into());
            argv.push(m.into());
        }
        argv.extend([
            "--json".into(),
            "--cwd".into(),
            opts.cwd.clone().into_os_string(),
            "--system-prompt-file".into(),
            opts.instruction_path.clone().into(),
        ]);
        Some(SpawnSpec {
            argv,
            cwd: opts.cwd.clone(),
            env: opts.env.clone(),
            env_remove: Vec::new(),
        })
    }

    fn event_reader(
        &self,
        _stdout: Box<dyn AsyncRead + Send + Unpin>,
        _opts: ParseOptions,
    ) -> Option<EventReader<Box<dyn AsyncRead + Send + Unpin>>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn rt(id: &str) -> ShapeRuntime {
        ShapeRuntime::by_id(id, None).unwrap()
    }

    #[test]
    fn spawn_commands_follow_each_shape() {
        let o = SpawnOptions::new("gpt-5");
        assert_eq!(
            rt("gemini").spawn_command(&o).unwrap(),
            "gemini -m gpt-5 --approval-mode yolo"
        );
        assert_eq!(
            rt("copilot").spawn_command(&o).unwrap(),
            "copilot --model gpt-5 --allow-all-tools"
        );
        assert_eq!(
            rt("cursor").spawn_command(&o).unwrap(),
            "agent --model gpt-5 --yolo"
        );
        assert_eq!(
            rt("opencode").spawn_command(&o).unwrap(),
            "opencode --model gpt-5"
        );
        assert_eq!(
            rt("aider").spawn_command(&o).unwrap(),
            "aider --yes-always --no-auto-commits --model gpt-5"
        );
        let mut c = SpawnOptions::new("sonnet");
        c.shared_writable_dirs = vec![PathBuf::from("/p/.overstory")];
        assert_eq!(
            rt("codex").spawn_command(&c).unwrap(),
            "codex --full-auto --add-dir /p/.overstory"
        );
    }

    #[test]
    fn pi_expands_aliases_through_its_model_map() {
        let pi = overstory_core::Config::defaults_for("/p").runtime.pi;
        let r = ShapeRuntime::by_id("pi", Some(pi)).unwrap();
        assert_eq!(
            r.spawn_command(&SpawnOptions::new("opus")).unwrap(),
            "pi --model anthropic/claude-opus-4-6"
        );
        assert_eq!(
            rt("pi").spawn_command(&SpawnOptions::new("opus")).unwrap(),
            "pi --model opus"
        );
    }

    #[test]
    fn experimental_adapters_have_no_headless_path_and_sapling_is_static_headless() {
        for s in SHAPES {
            let r = rt(s.id);
            assert_eq!(r.stability(), Stability::Experimental);
            assert!(r.direct_spawn(&DirectSpawnOptions::new("/w")).is_none());
            assert!(r.transcript_dir(Path::new("/p")).is_none());
        }
        let sp = SaplingRuntime;
        assert!(sp.is_headless());
        let o = DirectSpawnOptions {
            instruction_path: "SAPLING.md".into(),
            ..DirectSpawnOptions::new("/w")
        };
        assert_eq!(
            sp.direct_spawn(&o).unwrap().argv_strings(),
            [
                "sp",
                "run",
                "--json",
                "--cwd",
                "/w",
                "--system-prompt-file",
                "SAPLING.md"
            ]
        );
    }

    #[test]
    fn deploy_writes_only_the_overlay_at_the_instruction_path() {
        let d = tempfile::tempdir().unwrap();
        let def = HooksDef::new("a", None, d.path());
        let ov = OverlayContent {
            content: "hi".into(),
        };
        rt("copilot")
            .deploy_config(d.path(), Some(&ov), &def)
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join(".github/copilot-instructions.md")).unwrap(),
            "hi"
        );
        assert!(!d.path().join(".claude").exists());
    }
}
