//! Error types of the core crate.
//!
//! Each enum is named for its area and holds facts (paths, fields, values) as
//! fields rather than preformatted text. `code()` returns the string the
//! original uses for that area (`VALIDATION_ERROR`, `CONFIG_ERROR`, …), which
//! the CLI prints as `Error [<code>]: <message>`.

use std::path::PathBuf;

/// A value supplied by a user or a file failed validation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// A name (agent, task, branch, group) breaks the naming rules.
    #[error("Invalid {field} \"{value}\": {reason}")]
    InvalidName {
        /// The field the name was given for (`name`, `taskId`, `branch`).
        field: &'static str,
        /// The rejected value, verbatim.
        value: String,
        /// Which rule failed.
        reason: String,
    },
    /// A value is not one of an enumeration's members.
    #[error("Invalid {field} \"{value}\": expected one of {expected}")]
    NotOneOf {
        /// The field being parsed (`type`, `priority`, `level`, …).
        field: &'static str,
        /// The rejected value, verbatim.
        value: String,
        /// The accepted values, comma separated.
        expected: String,
    },
    /// Any other rule, with its own message.
    #[error("{message}")]
    Other {
        /// The field being validated, if there is one.
        field: Option<String>,
        /// What is wrong, as a sentence.
        message: String,
    },
}

impl ValidationError {
    /// Returns the error code the original uses: `VALIDATION_ERROR`.
    pub fn code(&self) -> &'static str {
        "VALIDATION_ERROR"
    }

    /// Returns the field that failed validation, when known.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidName { field, .. } | Self::NotOneOf { field, .. } => Some(field),
            Self::Other { field, .. } => field.as_deref(),
        }
    }

    /// Builds an [`ValidationError::Other`] for `field` with `message`.
    pub fn other(field: impl Into<Option<String>>, message: impl Into<String>) -> Self {
        Self::Other {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Opening, migrating or querying a SQLite database failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The database file could not be opened or configured.
    #[error("Failed to open database \"{}\"", path.display())]
    Open {
        /// The database file (`.overstory/mail.db`, `sessions.db`, …).
        path: PathBuf,
        /// The underlying SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// The schema could not be created or upgraded.
    #[error("Failed to migrate database \"{}\" to schema version {version}", path.display())]
    Migrate {
        /// The database file being migrated.
        path: PathBuf,
        /// The schema version being applied.
        version: u32,
        /// The underlying SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file exists but is not a usable SQLite database.
    #[error("Database \"{}\" is corrupt or not a SQLite database", path.display())]
    Corrupt {
        /// The file that failed SQLite's checks.
        path: PathBuf,
        /// The underlying SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// Another process held the database locked for longer than the busy timeout.
    #[error("Database \"{}\" stayed locked by another process for longer than {timeout_ms} ms", path.display())]
    Busy {
        /// The locked database file.
        path: PathBuf,
        /// The busy timeout that expired, in milliseconds.
        timeout_ms: u64,
        /// The underlying SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// A statement failed for a reason other than a lock or corruption.
    #[error("Failed to {action} in \"{}\"", path.display())]
    Query {
        /// What was being done, as a verb phrase (`insert a message`).
        action: &'static str,
        /// The database file the statement ran on.
        path: PathBuf,
        /// The underlying SQLite error.
        #[source]
        source: rusqlite::Error,
    },
}

impl DbError {
    /// Returns the error code: `DATABASE_ERROR`.
    pub fn code(&self) -> &'static str {
        "DATABASE_ERROR"
    }

    /// Wraps a failed statement, classifying busy and corrupt databases so the
    /// message can say what to do about them.
    pub fn query(action: &'static str, path: impl Into<PathBuf>, source: rusqlite::Error) -> Self {
        let path = path.into();
        match classify(&source) {
            Class::Busy => Self::Busy {
                path,
                timeout_ms: crate::db::BUSY_TIMEOUT_MS,
                source,
            },
            Class::Corrupt => Self::Corrupt { path, source },
            Class::Other => Self::Query {
                action,
                path,
                source,
            },
        }
    }

    /// Returns whether the cause is SQLite reporting a locked database.
    pub fn is_busy(&self) -> bool {
        matches!(self, Self::Busy { .. })
    }
}

enum Class {
    Busy,
    Corrupt,
    Other,
}

fn classify(e: &rusqlite::Error) -> Class {
    use rusqlite::ErrorCode;
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Class::Busy,
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => Class::Corrupt,
        _ => Class::Other,
    }
}

/// Loading or validating `config.yaml` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The directory is not an initialised overstory project.
    #[error("'{}' is not an overstory project (missing .overstory/config.yaml)", root.display())]
    NotAProject {
        /// The directory that was checked.
        root: PathBuf,
    },
    /// A config file exists but could not be read.
    #[error("Failed to read config file \"{}\"", path.display())]
    Read {
        /// The file that could not be read (`config.yaml` or `config.local.yaml`).
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A config file is not valid YAML.
    #[error("Failed to parse config file \"{}\" at line {line}: {message}", path.display())]
    Parse {
        /// The file with the syntax error (`config.yaml` or `config.local.yaml`).
        path: PathBuf,
        /// The 1-based line of the problem.
        line: usize,
        /// What the parser reported.
        message: String,
    },
    /// A key has a value of the wrong type or out of range.
    #[error("Invalid config value for \"{key}\"{}: {message}", location(path.as_deref(), *line))]
    Invalid {
        /// The dotted key path, such as `agents.maxDepth`.
        key: String,
        /// The file that set the key, when known.
        path: Option<PathBuf>,
        /// The 1-based line that set the key, when known.
        line: Option<usize>,
        /// What is wrong with the value.
        message: String,
    },
}

fn location(path: Option<&std::path::Path>, line: Option<usize>) -> String {
    match (path, line) {
        (Some(p), Some(l)) => format!(" in \"{}\" line {l}", p.display()),
        (Some(p), None) => format!(" in \"{}\"", p.display()),
        (None, Some(l)) => format!(" at line {l}"),
        (None, None) => String::new(),
    }
}

impl ConfigError {
    /// Returns the error code: `CONFIG_ERROR`, or `VALIDATION_ERROR` for an invalid value
    /// (as the original reports those).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "VALIDATION_ERROR",
            _ => "CONFIG_ERROR",
        }
    }
}

/// A git command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitError {
    /// `git` could not be started.
    #[error("Failed to run git (is it installed and on PATH?)")]
    Spawn {
        /// The I/O error from spawning.
        #[source]
        source: std::io::Error,
    },
    /// git ran and exited non-zero.
    #[error("git {args} failed (exit {code}): {output}")]
    Failed {
        /// The arguments, space separated.
        args: String,
        /// The exit code (-1 when killed by a signal).
        code: i32,
        /// Trimmed stderr, or stdout when stderr was empty.
        output: String,
    },
    /// The directory is not inside a git work tree.
    #[error("overstory requires a git repository. Run 'git init' first.")]
    NotARepository {
        /// The directory that was checked.
        dir: PathBuf,
    },
}

impl GitError {
    /// Returns the error code: `WORKTREE_ERROR`, or `VALIDATION_ERROR` outside a repository.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotARepository { .. } => "VALIDATION_ERROR",
            _ => "WORKTREE_ERROR",
        }
    }
}

/// Starting, signalling or tracking a child process failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// The program could not be started.
    #[error("Failed to start \"{program}\"")]
    Spawn {
        /// The program that was to be started, as given to the OS.
        program: String,
        /// The I/O error from spawning.
        #[source]
        source: std::io::Error,
    },
    /// A pid file could not be written, read or removed.
    #[error("Failed to {action} pid file \"{}\"", path.display())]
    PidFile {
        /// What was being done (`write`, `read`, `remove`).
        action: &'static str,
        /// The pid file (`.overstory/agents/<agent>/turn.pid`, …).
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A signal could not be delivered.
    #[error("Failed to send {signal} to process group {pgid}")]
    Signal {
        /// The signal's conventional name (`SIGTERM`).
        signal: &'static str,
        /// The process group id, or the pid when one process was signalled.
        pgid: i32,
        /// The OS error (for example `EPERM` for another user's process).
        #[source]
        source: std::io::Error,
    },
}

impl ProcessError {
    /// Returns the error code: `AGENT_ERROR`.
    pub fn code(&self) -> &'static str {
        "AGENT_ERROR"
    }
}

/// A filesystem operation under the project failed.
#[derive(Debug, thiserror::Error)]
#[error("Failed to {action} \"{}\"", path.display())]
pub struct FsError {
    /// What was being done, as a verb phrase (`create directory`, `write`).
    pub action: &'static str,
    /// The file or directory acted on.
    pub path: PathBuf,
    /// The I/O error.
    #[source]
    pub source: std::io::Error,
}

impl FsError {
    /// Builds an error for `action` on `path`.
    pub fn new(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self {
            action,
            path: path.into(),
            source,
        }
    }

    /// Returns the error code: `IO_ERROR`.
    pub fn code(&self) -> &'static str {
        "IO_ERROR"
    }
}

/// Returns `e` and every cause below it as one line, joined with `": "`
/// (`Failed to open mail database "…": database disk image is malformed`),
/// for places that must carry an error as text: a wake-up outcome, a guard's
/// reason for denying.
pub fn chain_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod chain_tests {
    #[test]
    fn chain_text_joins_every_cause() {
        let e = super::FsError::new("write", "/x/y", std::io::Error::other("disk full"));
        let text = super::chain_text(&e);
        assert!(text.ends_with(": disk full"), "{text}");
        assert!(text.contains("/x/y"), "{text}");
    }
}
