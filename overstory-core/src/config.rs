//! `.overstory/config.yaml`: the project's settings, with the original's keys
//! and defaults.
//!
//! The typed [`Config`] mirrors the file key for key (camelCase on disk).
//! [`Config::load`] merges built-in defaults ← `config.yaml` ←
//! `config.local.yaml` (maps merge key by key; lists, scalars and an explicit
//! `null` replace), migrates deprecated keys, then checks the type and range
//! of every value. A bad value is a [`ConfigError::Invalid`] naming the dotted
//! key, the file and the line; an unknown key is only a [`ConfigWarning`].
//! [`Config::to_yaml`] writes the file `ov init` creates, which loads back to
//! the same value.
//!
//! ```
//! use overstory_core::Config;
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir(dir.path().join(".overstory"))?;
//! std::fs::write(
//!     dir.path().join(".overstory/config.yaml"),
//!     "agents:\n  maxConcurrent: 10\n",
//! )?;
//! let loaded = Config::load(dir.path())?;
//! assert_eq!(loaded.config.agents.max_concurrent, 10);
//! assert_eq!(loaded.config.agents.max_depth, 2); // the default
//! assert!(loaded.warnings.is_empty());
//!
//! std::fs::write(
//!     dir.path().join(".overstory/config.yaml"),
//!     "agents:\n  maxConcurrent: 0\n",
//! )?;
//! let err = Config::load(dir.path()).unwrap_err();
//! assert!(err.to_string().contains("\"agents.maxConcurrent\""));
//! assert!(err.to_string().contains("line 2"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::ConfigError;
use crate::layout::Layout;

mod load;
mod validate;
pub(crate) mod write;
pub(crate) mod yaml;

use serde::{Deserialize, Serialize};

/// The whole configuration: defaults ← `config.yaml` ← `config.local.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Config {
    /// `project.*`.
    pub project: ProjectConfig,
    /// `agents.*`.
    pub agents: AgentsConfig,
    /// `worktrees.*`.
    pub worktrees: WorktreesConfig,
    /// `taskTracker.*`.
    pub task_tracker: TaskTrackerConfig,
    /// `mulch.*`.
    pub mulch: MulchConfig,
    /// `merge.*`.
    pub merge: MergeConfig,
    /// `providers.<name>`.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// `watchdog.*`.
    pub watchdog: WatchdogConfig,
    /// `coordinator.*`.
    pub coordinator: CoordinatorConfig,
    /// `models.<role>`: model per capability.
    pub models: BTreeMap<String, String>,
    /// `logging.*`.
    pub logging: LoggingConfig,
    /// `runtime.*`.
    pub runtime: RuntimeConfig,
    /// `budget.*`: spending limits (absent or 0 = unlimited). Left out of a
    /// written `config.yaml` while unlimited, so the file reads as the original's.
    #[serde(default, skip_serializing_if = "BudgetConfig::is_unlimited")]
    pub budget: BudgetConfig,
}

/// `budget.*`: limits on what a run and an agent may spend. A limit of 0
/// means unlimited. The turn runner refuses a turn to an agent over its
/// limit; sling refuses a new agent in a run over its limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BudgetConfig {
    /// Tokens (input + output + cache read + cache creation) one run may use.
    pub max_tokens_per_run: u64,
    /// Tokens one agent may use over all its turns.
    pub max_tokens_per_agent: u64,
    /// Estimated US dollars one run may spend.
    pub max_cost_usd_per_run: f64,
}

impl BudgetConfig {
    /// Returns whether no limit is set.
    pub fn is_unlimited(&self) -> bool {
        self.max_tokens_per_run == 0
            && self.max_tokens_per_agent == 0
            && self.max_cost_usd_per_run <= 0.0
    }
}

/// `project.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ProjectConfig {
    /// Project name (default: the root's last path segment).
    pub name: String,
    /// The resolved root (a value in the file is ignored).
    pub root: PathBuf,
    /// The branch work is merged into (default `main`).
    pub canonical_branch: String,
    /// Checks agents must pass before reporting done.
    pub quality_gates: Vec<QualityGate>,
    /// Canopy profile used when no `--profile` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_profile: Option<String>,
}

/// One quality gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QualityGate {
    /// Short name (`Tests`).
    pub name: String,
    /// The command to run (`bun test`).
    pub command: String,
    /// What passing means.
    pub description: String,
}

impl QualityGate {
    /// Builds a gate.
    pub fn new(name: &str, command: &str, description: &str) -> Self {
        Self {
            name: name.into(),
            command: command.into(),
            description: description.into(),
        }
    }
}

/// `agents.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AgentsConfig {
    /// Path of the manifest, relative to the root.
    pub manifest_path: String,
    /// Directory of agent definitions, relative to the root.
    pub base_dir: String,
    /// Maximum concurrently active agents (≥ 1).
    pub max_concurrent: u32,
    /// Minimum delay between spawns, in milliseconds.
    pub stagger_delay_ms: u64,
    /// Maximum hierarchy depth (≥ 0).
    pub max_depth: u32,
    /// Maximum sessions per run (0 = unlimited).
    pub max_sessions_per_run: u32,
    /// Maximum children per lead (0 = unlimited).
    pub max_agents_per_lead: u32,
}

/// `worktrees.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WorktreesConfig {
    /// Where agent worktrees live, relative to the root.
    pub base_dir: String,
}

/// `taskTracker.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TaskTrackerConfig {
    /// `auto`, `seeds` or `beads`.
    pub backend: String,
    /// Whether the tracker is used.
    pub enabled: bool,
}

/// `mulch.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MulchConfig {
    /// Whether mulch is used.
    pub enabled: bool,
    /// Expertise domains to prime.
    pub domains: Vec<String>,
    /// `markdown`, `xml` or `json`.
    pub prime_format: String,
}

/// `merge.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MergeConfig {
    /// Whether tier 3 (AI resolve) is enabled.
    pub ai_resolve_enabled: bool,
    /// Whether tier 4 (reimagine) is enabled.
    pub reimagine_enabled: bool,
}

/// One `providers.<name>` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ProviderConfig {
    /// `native` or `gateway`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Gateway base URL (gateway only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Name of the variable holding the gateway token (gateway only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token_env: Option<String>,
}

/// `watchdog.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WatchdogConfig {
    /// Whether the tier-0 watchdog daemon (mechanical liveness checks) runs.
    pub tier0_enabled: bool,
    /// How often the tier-0 daemon checks the agents, in milliseconds.
    pub tier0_interval_ms: u64,
    /// Whether tier 1 asks a model to triage a stalled agent.
    pub tier1_enabled: bool,
    /// Whether tier 2, the persistent monitor agent, may be started.
    pub tier2_enabled: bool,
    /// Idle time before an agent is stalled, ms.
    pub stale_threshold_ms: u64,
    /// Idle time before an agent is a zombie, ms.
    pub zombie_threshold_ms: u64,
    /// Interval between nudges, ms.
    pub nudge_interval_ms: u64,
    /// How long the watchdog waits for a hosted agent's live host to settle
    /// it after SIGTERM before killing it, ms (1000–30000; the original
    /// declared this key and ignored it).
    pub rpc_timeout_ms: u64,
    /// Triage timeout, ms (5000–120000).
    pub triage_timeout_ms: u64,
    /// Highest escalation level (1–5).
    pub max_escalation_level: u32,
    /// Mail the parent when a worker dies.
    pub notify_parent_on_death: bool,
}

/// `coordinator.*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CoordinatorConfig {
    /// `coordinator.exitTriggers.*`.
    pub exit_triggers: ExitTriggers,
}

/// `coordinator.exitTriggers.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ExitTriggers {
    /// Exit when all agents are done.
    pub all_agents_done: bool,
    /// Exit when the tracker has no work.
    pub task_tracker_empty: bool,
    /// Exit on a shutdown signal.
    pub on_shutdown_signal: bool,
}

/// `logging.*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LoggingConfig {
    /// Verbose logging.
    pub verbose: bool,
    /// Redact secrets in logs.
    pub redact_secrets: bool,
}

/// `runtime.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RuntimeConfig {
    /// The default runtime name (`claude`).
    pub default: String,
    /// Runtime name per capability (`builder: claude`), overriding `default`.
    #[serde(default)]
    pub capabilities: BTreeMap<String, String>,
    /// The runtime name for one-shot print-mode calls; unset or empty falls back to `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub print_command: Option<String>,
    /// Delay after creating a tmux shell, ms.
    pub shell_init_delay_ms: u64,
    /// Run Claude agents headless unless `--no-headless`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claude_headless_by_default: Option<bool>,
    /// `runtime.pi.*`.
    pub pi: PiConfig,
}

/// `runtime.pi.*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PiConfig {
    /// Provider name.
    pub provider: String,
    /// Alias → model id.
    pub model_map: BTreeMap<String, String>,
}

impl Config {
    /// Returns the built-in defaults for a project rooted at `root`.
    pub fn defaults_for(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "project".into());
        let mut providers = BTreeMap::new();
        providers.insert(
            "anthropic".to_owned(),
            ProviderConfig {
                kind: "native".into(),
                base_url: None,
                auth_token_env: None,
            },
        );
        let model_map = [
            ("opus", "anthropic/claude-opus-4-6"),
            ("sonnet", "anthropic/claude-sonnet-4-6"),
            ("haiku", "anthropic/claude-haiku-4-5"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        Self {
            project: ProjectConfig {
                name,
                root,
                canonical_branch: "main".into(),
                // The original defaults to three bun commands; a project
                // that names no gates here has none (`ov init` writes the
                // ones that fit the project it detects).
                quality_gates: Vec::new(),
                default_profile: None,
            },
            agents: AgentsConfig {
                manifest_path: ".overstory/agent-manifest.json".into(),
                base_dir: ".overstory/agent-defs".into(),
                max_concurrent: 25,
                stagger_delay_ms: 2000,
                max_depth: 2,
                max_sessions_per_run: 0,
                max_agents_per_lead: 5,
            },
            worktrees: WorktreesConfig {
                base_dir: ".overstory/worktrees".into(),
            },
            task_tracker: TaskTrackerConfig {
                backend: "auto".into(),
                enabled: true,
            },
            mulch: MulchConfig {
                enabled: true,
                domains: Vec::new(),
                prime_format: "markdown".into(),
            },
            merge: MergeConfig {
                ai_resolve_enabled: true,
                reimagine_enabled: false,
            },
            providers,
            watchdog: WatchdogConfig {
                tier0_enabled: true,
                tier0_interval_ms: 30_000,
                tier1_enabled: false,
                tier2_enabled: false,
                stale_threshold_ms: 300_000,
                zombie_threshold_ms: 600_000,
                nudge_interval_ms: 60_000,
                rpc_timeout_ms: 5000,
                triage_timeout_ms: 30_000,
                max_escalation_level: 3,
                notify_parent_on_death: true,
            },
            coordinator: CoordinatorConfig::default(),
            models: BTreeMap::new(),
            logging: LoggingConfig {
                verbose: false,
                redact_secrets: true,
            },
            runtime: RuntimeConfig {
                default: "claude".into(),
                capabilities: BTreeMap::new(),
                print_command: None,
                shell_init_delay_ms: 0,
                claude_headless_by_default: None,
                pi: PiConfig {
                    provider: "anthropic".into(),
                    model_map,
                },
            },
            budget: BudgetConfig::default(),
        }
    }

    /// Returns whether Claude agents run headless unless told otherwise.
    pub fn claude_headless_by_default(&self) -> bool {
        self.runtime.claude_headless_by_default.unwrap_or(false)
    }
}

/// A configuration and the warnings produced while loading it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LoadedConfig {
    /// The merged, validated configuration.
    pub config: Config,
    /// Unknown keys, deprecated keys and questionable values, in file order.
    /// A program should show them to the user (the CLI prints them to stderr).
    pub warnings: Vec<ConfigWarning>,
}

/// What a [`ConfigWarning`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WarningKind {
    /// A key the program does not know; it is kept and ignored.
    UnknownKey,
    /// A deprecated key that was migrated to its new name.
    Deprecated,
    /// A key written twice in one map; the later value is used.
    DuplicateKey,
    /// A value that is accepted but probably not what was meant.
    Value,
}

/// Something in the configuration worth telling the user that does not stop
/// the program.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigWarning {
    /// What kind of warning this is.
    pub kind: WarningKind,
    /// The dotted key, when the warning is about one.
    pub key: Option<String>,
    /// The file, when known.
    pub path: Option<PathBuf>,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// What is worth knowing, as a sentence.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    /// Formats the line the CLI prints: `[overstory] DEPRECATED: …` for
    /// deprecated keys, `[overstory] WARNING: …` otherwise, with the file and
    /// line in parentheses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.kind {
            WarningKind::Deprecated => "DEPRECATED",
            _ => "WARNING",
        };
        write!(f, "[overstory] {label}: {}", self.message)?;
        match (&self.path, self.line) {
            (Some(p), Some(l)) => write!(f, " (\"{}\" line {l})", p.display()),
            (Some(p), None) => write!(f, " (\"{}\")", p.display()),
            _ => Ok(()),
        }
    }
}

impl Config {
    /// Loads the configuration of the project rooted at `root`: defaults ←
    /// `.overstory/config.yaml` ← `.overstory/config.local.yaml`.
    ///
    /// Missing files are skipped, so an uninitialised directory gets the
    /// defaults (named after the directory). `project.root` is always `root`,
    /// whatever the files say.
    ///
    /// # Errors
    /// [`ConfigError::Read`] when a file exists but cannot be read,
    /// [`ConfigError::Parse`] for malformed YAML, and [`ConfigError::Invalid`]
    /// for a value of the wrong type or out of range.
    pub fn load(root: &Path) -> Result<LoadedConfig, ConfigError> {
        let layout = Layout::new(root);
        load::load_files(root, &[layout.config(), layout.config_local()])
    }

    /// Loads a configuration from YAML text as if it were the project's
    /// `config.yaml` (with no `config.local.yaml`).
    ///
    /// # Errors
    /// As [`Config::load`], with `.overstory/config.yaml` under `root` as the
    /// path in messages.
    pub fn from_yaml(text: &str, root: &Path) -> Result<LoadedConfig, ConfigError> {
        load::load_texts(root, &[(Layout::new(root).config(), text.to_owned())])
    }

    /// Writes the configuration as `ov init` does: a comment header, two-space
    /// indentation, keys in the order of the defaults, `[]` for empty lists,
    /// a bare `key:` for empty maps, and strings quoted when they would
    /// otherwise read back as something else. The text loads back to an equal
    /// configuration.
    pub fn to_yaml(&self) -> String {
        write::to_yaml(self)
    }
}

#[cfg(test)]
mod tests;
