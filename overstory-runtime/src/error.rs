//! Errors of the runtime crate.

use std::path::PathBuf;

/// Something went wrong preparing or describing an agent's runtime.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// A runtime name is not registered.
    #[error("Unknown runtime: \"{name}\". Available: {available}")]
    UnknownRuntime {
        /// The name that was asked for.
        name: String,
        /// The registered names, comma separated.
        available: String,
    },
    /// `--headless` was asked of a runtime that cannot run without tmux.
    #[error(
        "Runtime \"{runtime}\" does not support headless mode (no direct spawn); drop --headless"
    )]
    HeadlessUnsupported {
        /// The runtime's id.
        runtime: String,
    },
    /// Writing the agent's configuration (overlay, hooks) failed.
    #[error("Failed to deploy config for agent \"{agent}\": could not {action} \"{}\"", path.display())]
    Deploy {
        /// The agent whose config was being written.
        agent: String,
        /// What was being done (`write`, `create directory`).
        action: &'static str,
        /// The file or directory being written.
        path: PathBuf,
        /// The I/O error that caused it.
        #[source]
        source: std::io::Error,
    },
    /// A script for the scripted runtime could not be read or parsed.
    #[error("Invalid agent script \"{}\": {message}", path.display())]
    Script {
        /// The script file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A scripted step failed in a way that stops the script.
    #[error("Scripted step {step} ({kind}) failed: {message}")]
    Step {
        /// The step's index (0-based) in the turn.
        step: usize,
        /// The step kind (`write`, `commit`, ...).
        kind: &'static str,
        /// What happened.
        message: String,
    },
    /// The scripted runtime's turn counter could not be stored.
    #[error("Failed to store the scripted turn counter in \"{}\"", path.display())]
    StateDir {
        /// The state directory.
        path: PathBuf,
        /// The I/O error that caused it.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing a stream failed.
    #[error("Failed to {action}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The I/O error that caused it.
        #[source]
        source: std::io::Error,
    },
    /// The agent manifest is missing, unreadable or invalid.
    #[error("Invalid agent manifest \"{}\":\n{}", path.display(), problems.join("\n"))]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// Every problem, one per line.
        problems: Vec<String>,
    },
    /// An overlay would be written into the canonical project root.
    #[error("Refusing to write the overlay into the canonical project root \"{}\": agents get their own worktree", root.display())]
    OverlayAtRoot {
        /// The canonical project root the overlay would have been written into.
        root: PathBuf,
    },
    /// A template holds a placeholder that is not in the allowed set.
    #[error("Unknown placeholder {{{{{key}}}}} in {source_name}")]
    Template {
        /// The placeholder's name, without braces.
        key: String,
        /// Which template (`overlay`, `agent definition`).
        source_name: &'static str,
    },
    /// The runtime's agent binary cannot be found, so no agent of it can start.
    #[error("Runtime \"{runtime}\" cannot start: \"{}\" was not found on PATH. {install}", program.display())]
    MissingBinary {
        /// The runtime's id (`claude`).
        runtime: String,
        /// The program that was looked for (`claude`, or a configured path).
        program: PathBuf,
        /// How to get it (`Install it with: npm install -g …`).
        install: String,
    },
    /// No script was found for a scripted agent, so it cannot play a turn.
    #[error("No script for agent \"{agent}\": write one at {}", path.display())]
    NoScript {
        /// The agent (`scripted-agent` when unnamed).
        agent: String,
        /// Where the first script looked for would be.
        path: PathBuf,
    },
    /// An option is not supported by this runtime.
    #[error("Runtime \"{runtime}\" does not support {feature}")]
    Unsupported {
        /// The runtime's id.
        runtime: String,
        /// The unsupported option or feature.
        feature: &'static str,
    },
}

impl RuntimeError {
    /// Returns the error code the original uses for this area.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownRuntime { .. } | Self::HeadlessUnsupported { .. } => "VALIDATION_ERROR",
            Self::Deploy { .. }
            | Self::Manifest { .. }
            | Self::OverlayAtRoot { .. }
            | Self::Template { .. } => "AGENT_ERROR",
            Self::Script { .. } | Self::Step { .. } | Self::NoScript { .. } => "SCRIPT_ERROR",
            Self::MissingBinary { .. } => "RUNTIME_ERROR",
            Self::Io { .. } | Self::StateDir { .. } => "IO_ERROR",
            Self::Unsupported { .. } => "RUNTIME_ERROR",
        }
    }
}
