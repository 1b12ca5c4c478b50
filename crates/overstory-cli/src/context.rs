//! What every command gets: the global flags, resolved once, and the project.

use std::path::PathBuf;

use overstory_core::config::Config;
use overstory_core::{Layout, env, project};

use crate::error::CliError;
use crate::output::Style;

/// The global flags and the lazily resolved project.
#[derive(Debug)]
pub struct Context {
    /// `--json` anywhere on the command line.
    pub json: bool,
    /// `-q/--quiet`.
    pub quiet: bool,
    /// `--verbose`.
    pub verbose: bool,
    /// `--project <path>`.
    pub project: Option<PathBuf>,
    /// Colour and glyph settings for human output.
    pub style: Style,
    cwd: PathBuf,
}

impl Context {
    /// Builds the context from parsed global flags.
    pub fn new(
        json: bool,
        quiet: bool,
        verbose: bool,
        project: Option<PathBuf>,
    ) -> Result<Self, CliError> {
        let cwd = std::env::current_dir()
            .map_err(|e| CliError::new("Failed to read the current directory").caused_by(e))?;
        Ok(Self {
            json,
            quiet,
            verbose,
            project,
            style: Style::detect(),
            cwd,
        })
    }

    /// Returns the directory `ov` was started in.
    #[allow(dead_code, reason = "used by commands on other branches")]
    pub fn cwd(&self) -> &std::path::Path {
        &self.cwd
    }

    /// Resolves the project root by the rules of [`project::resolve_root`],
    /// whether or not it is initialised.
    pub fn root(&self) -> Result<PathBuf, CliError> {
        let env_root = env::var(env::PROJECT_ROOT).map(PathBuf::from);
        let (root, _) =
            project::resolve_root(self.project.as_deref(), env_root.as_deref(), &self.cwd)?;
        Ok(root)
    }

    /// Returns the layout of an initialised project, or the "run ov init"
    /// error when `.overstory/config.yaml` is missing.
    pub fn layout(&self) -> Result<Layout, CliError> {
        let root = self.root()?;
        let layout = Layout::new(&root);
        if !layout.is_initialized() {
            return Err(CliError::not_initialized(&root));
        }
        Ok(layout)
    }

    /// Returns the project's configuration (defaults until the loader lands).
    pub fn config(&self) -> Result<Config, CliError> {
        let layout = self.layout()?;
        Ok(Config::defaults_for(layout.root()))
    }
}
