//! Where the turn runner reports what went wrong without failing the turn.
//!
//! Store, mail and event failures never abort a turn; they are reported to a
//! [`RunnerLog`]. The default sink appends to the turn's
//! `logs/<agent>/<ts>/runner.log` once that directory exists and mirrors each
//! line to `tracing`. Embedders and tests can supply their own sink (for
//! example [`MemoryLog`], which keeps the lines for assertions).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use overstory_core::clock;

/// How serious a runner diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Something failed but the turn is still trustworthy.
    Warn,
    /// Something failed that makes the turn's record unreliable.
    Error,
}

impl LogLevel {
    /// Returns `warn` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// A sink for runner diagnostics.
pub trait RunnerLog: Send + Sync {
    /// Records one diagnostic line.
    fn log(&self, level: LogLevel, message: &str);
}

/// A sink that keeps every line in memory.
#[derive(Debug, Default, Clone)]
pub struct MemoryLog {
    lines: Arc<Mutex<Vec<(LogLevel, String)>>>,
}

impl MemoryLog {
    /// Creates an empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the lines logged so far.
    pub fn lines(&self) -> Vec<(LogLevel, String)> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Returns whether a line at `level` contains `needle`.
    pub fn contains(&self, level: LogLevel, needle: &str) -> bool {
        self.lines()
            .iter()
            .any(|(l, m)| *l == level && m.contains(needle))
    }
}

impl RunnerLog for MemoryLog {
    fn log(&self, level: LogLevel, message: &str) {
        if let Ok(mut l) = self.lines.lock() {
            l.push((level, message.to_owned()));
        }
    }
}

/// The runner's sink for one turn: a caller's sink, or the default file +
/// `tracing` sink bound to the turn's log directory.
pub(crate) struct Sink {
    custom: Option<Arc<dyn RunnerLog>>,
    agent: String,
    file: Option<PathBuf>,
}

impl Sink {
    pub(crate) fn new(custom: Option<Arc<dyn RunnerLog>>, agent: &str) -> Self {
        Self {
            custom,
            agent: agent.to_owned(),
            file: None,
        }
    }

    /// Sends later lines to `runner.log` in the turn's log directory.
    pub(crate) fn bind_file(&mut self, path: PathBuf) {
        self.file = Some(path);
    }

    pub(crate) fn warn(&self, message: &str) {
        self.log(LogLevel::Warn, message);
    }

    pub(crate) fn error(&self, message: &str) {
        self.log(LogLevel::Error, message);
    }

    fn log(&self, level: LogLevel, message: &str) {
        if let Some(c) = &self.custom {
            c.log(level, message);
            return;
        }
        match level {
            LogLevel::Warn => tracing::warn!(agent = %self.agent, "{message}"),
            LogLevel::Error => tracing::error!(agent = %self.agent, "{message}"),
        }
        if let Some(path) = &self.file {
            let line = format!("{} [{}] {message}\n", clock::now_rfc3339(), level.as_str());
            let _ = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(line.as_bytes()));
        }
    }
}
