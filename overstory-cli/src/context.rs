//! What every command gets: the global flags, resolved once, and the project.

use std::cell::OnceCell;
use std::path::PathBuf;

use overstory_core::config::Config;
use overstory_core::{Layout, env, project};

use crate::error::CliError;
use crate::output::{self, Style};

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
    config: OnceCell<Config>,
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
        // `--project` must name an initialised project, whatever the command.
        let project = match project {
            Some(p) => Some(project::resolve_root(Some(&p), None, &cwd)?.0),
            None => None,
        };
        Ok(Self {
            json,
            quiet,
            verbose,
            project,
            style: Style::detect(),
            cwd,
            config: OnceCell::new(),
        })
    }

    /// Returns the directory `ov` was started in.
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

    /// Returns the path of the running `ov` executable, used to start
    /// dispatchers, agent hosts, turn shims and scripted agents.
    pub fn ov_exe(&self) -> Result<std::path::PathBuf, CliError> {
        std::env::current_exe().map_err(|e| {
            CliError::new("Cannot find the running ov executable")
                .caused_by(e)
                .hint("Run ov by its path or from PATH, not from a deleted or moved file")
        })
    }

    /// Loads the project's configuration (once per process) and prints its
    /// warnings (unknown keys, deprecated keys) to stderr.
    pub fn config(&self) -> Result<Config, CliError> {
        if let Some(config) = self.config.get() {
            return Ok(config.clone());
        }
        let layout = self.layout()?;
        let loaded = Config::load(layout.root())?;
        for warning in &loaded.warnings {
            output::eprint_line(&warning.to_string());
        }
        Ok(self.config.get_or_init(|| loaded.config).clone())
    }
}
