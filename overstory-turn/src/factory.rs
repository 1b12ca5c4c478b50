//! What turns are built from: the runtime an agent was slung with
//! ([`RuntimeChoice`], kept in `agents/<name>/runtime.json`) and the
//! [`TurnFactory`] that turns a session row into the options of its next
//! turn (runtime, model, worktree, task).
//!
//! The dispatcher and the agent host both build turns here, so a
//! spawn-per-turn agent and a hosted one get their runtime and model by
//! the same rules.

use std::path::PathBuf;
use std::sync::Arc;

use overstory_core::config::Config;
use overstory_core::{AgentName, FsError, Layout};
use overstory_runtime::error::RuntimeError;
use overstory_runtime::manifest::Manifest;
use overstory_runtime::model::{process_env, resolve_model};
use overstory_runtime::registry::Registry;
use overstory_runtime::runtime::{AgentRuntime, ResolvedModel};
use overstory_sessions::Session;
use serde::{Deserialize, Serialize};

use crate::RunTurnOptions;
use crate::child::{ProcessSpawner, ShimConfig, TurnSpawner};

/// The runtime an agent was slung with, kept so every later turn uses the
/// same one (`.overstory/agents/<name>/runtime.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeChoice {
    /// The runtime name (`claude`, `scripted`).
    pub runtime: String,
    /// The scripted runtime's script, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<PathBuf>,
}

impl RuntimeChoice {
    /// Reads an agent's recorded choice, if any.
    pub fn load(layout: &Layout, agent: &AgentName) -> Option<Self> {
        let text = std::fs::read_to_string(layout.agent_runtime_choice(agent)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Records the choice atomically.
    ///
    /// # Errors
    /// [`FsError`] naming the file.
    pub fn save(&self, layout: &Layout, agent: &AgentName) -> Result<(), FsError> {
        let path = layout.agent_runtime_choice(agent);
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        overstory_core::fsio::write_atomic(&path, text.as_bytes())
    }
}

/// What dispatch needs to build turns for a project.
#[derive(Clone)]
pub struct TurnFactory {
    /// The project's `.overstory/` layout.
    pub layout: Layout,
    /// The project's loaded configuration, used to choose each turn's runtime and model.
    pub config: Config,
    /// The agent manifest, when it loaded.
    pub manifest: Option<Manifest>,
    /// Builds runtimes (knows where `ov` is, for the scripted runtime).
    pub registry: Registry,
    /// Starts each turn's runtime child process (replaceable in tests).
    pub spawner: Arc<dyn TurnSpawner>,
}

impl std::fmt::Debug for TurnFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnFactory")
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl TurnFactory {
    /// Builds a factory for the project, loading the manifest if it exists.
    /// With `ov` given, children run under `ov turn-shim` (so they die with
    /// their runner) and the scripted runtime starts that `ov`.
    pub fn new(layout: Layout, config: Config, ov: Option<PathBuf>) -> Self {
        let manifest = Manifest::for_project(layout.root(), &config).ok();
        let spawner: Arc<dyn TurnSpawner> = match &ov {
            Some(ov) => Arc::new(ProcessSpawner::with_shim(ShimConfig::ov(ov))),
            None => Arc::new(ProcessSpawner::new()),
        };
        Self {
            layout,
            config,
            manifest,
            registry: Registry {
                script: None,
                ov_program: ov,
            },
            spawner,
        }
    }

    /// Returns the runtime for `session`: its recorded choice, else the
    /// configured one for its capability.
    ///
    /// # Errors
    /// [`RuntimeError::UnknownRuntime`].
    pub fn runtime_for(&self, session: &Session) -> Result<Arc<dyn AgentRuntime>, RuntimeError> {
        let choice = RuntimeChoice::load(&self.layout, &session.agent_name);
        match choice {
            Some(c) => {
                let mut registry = self.registry.clone();
                if c.script.is_some() {
                    registry.script = c.script;
                }
                registry.by_name(&c.runtime)
            }
            None => self
                .registry
                .get(None, Some(&self.config), Some(session.capability)),
        }
    }

    /// Returns the model for `session`: config, then the manifest entry of
    /// its capability, then the capability's default.
    pub fn model_for(&self, session: &Session) -> ResolvedModel {
        let capability = session.capability;
        let manifest_model = self
            .manifest
            .as_ref()
            .and_then(|m| m.agent(capability.as_str()))
            .map(|d| d.model.clone());
        resolve_model(
            &self.config,
            manifest_model.as_deref(),
            capability,
            &process_env,
        )
    }

    /// Builds the options for one turn of `session` carrying `user_turn`.
    ///
    /// # Errors
    /// [`RuntimeError`] when the session's runtime cannot be built.
    pub fn turn_options(
        &self,
        session: &Session,
        user_turn: String,
    ) -> Result<RunTurnOptions, RuntimeError> {
        let agent = session.agent_name.clone();
        let runtime = self.runtime_for(session)?;
        let model = self.model_for(session);
        let mut opts = RunTurnOptions::new(
            agent,
            session.capability.as_str(),
            self.layout.clone(),
            PathBuf::from(&session.worktree_path),
            session.task_str(),
            user_turn,
            runtime,
            model,
        );
        opts.run_id = session.run_id.clone();
        opts.spawner = self.spawner.clone();
        opts.budget = self.config.budget.clone();
        Ok(opts)
    }
}
