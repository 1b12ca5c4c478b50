//! Turning library errors into what the user reads.
//!
//! Library errors hold facts; this module adds the code, the cause chain and
//! hints that name `ov` commands, and prints them: `Error [CODE]: message`,
//! then `  caused by:` and `  hint:` lines on stderr, or the JSON error
//! envelope on stdout under `--json`. Every failure exits 1.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the one module that writes errors"
)]

use std::error::Error as StdError;
use std::path::Path;

use overstory_core::{ConfigError, DbError, FsError, GitError, ProcessError, ValidationError};
use overstory_mail::MailError;
use serde_json::Value;

use crate::output::{Style, envelope_err};

/// An error ready to show the user.
#[derive(Debug)]
pub struct CliError {
    /// The error code (`VALIDATION_ERROR`), when the error has one.
    pub code: Option<&'static str>,
    /// The first line.
    pub message: String,
    /// The cause chain, outermost first.
    pub causes: Vec<String>,
    /// Suggestions naming `ov` commands.
    pub hints: Vec<String>,
    /// A broken invariant: asks for a bug report.
    pub internal: bool,
    /// Extra fields of the `--json` failure envelope, after the standard
    /// ones: `ov watch`'s `running` and `pid`, `ov merge`'s results.
    pub data: Option<Box<serde_json::Map<String, Value>>>,
}

impl CliError {
    /// Builds an error with a message and no code.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            code: None,
            message: message.into(),
            causes: Vec::new(),
            hints: Vec::new(),
            internal: false,
            data: None,
        }
    }

    /// Adds a field to the `--json` failure envelope.
    pub fn field(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.data
            .get_or_insert_with(Default::default)
            .insert(key.to_owned(), value.into());
        self
    }

    /// Builds an error with a code.
    pub fn with_code(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code: Some(code),
            ..Self::new(message)
        }
    }

    /// Builds a `VALIDATION_ERROR`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::with_code("VALIDATION_ERROR", message)
    }

    /// Adds a hint line.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Appends the chain of `err` as causes.
    pub fn caused_by(mut self, err: impl StdError) -> Self {
        self.causes.push(err.to_string());
        self.causes.extend(chain(err.source()));
        self
    }

    /// Adds the fields of `data` (a JSON object; anything else is ignored)
    /// to the `--json` envelope.
    pub fn with_data(mut self, data: Value) -> Self {
        if let Value::Object(fields) = data {
            self.data
                .get_or_insert_with(Default::default)
                .extend(fields);
        }
        self
    }

    /// Marks the error as a broken invariant.
    pub fn internal(mut self) -> Self {
        self.internal = true;
        self
    }

    /// The error for a command that needs an initialised project.
    pub fn not_initialized(root: &Path) -> Self {
        Self::with_code(
            "CONFIG_ERROR",
            format!(
                "'{}' is not an overstory project (missing .overstory/config.yaml). Run 'ov init' first.",
                root.display()
            ),
        )
    }

    /// Builds the error from a library error: its message, code and sources.
    fn from_lib(code: &'static str, err: &dyn StdError) -> Self {
        let mut e = Self::with_code(code, err.to_string());
        e.causes.extend(chain(err.source()));
        e
    }

    /// Returns the `--json` failure envelope for `command`: the original's
    /// `success`, `command`, `error` and `code`, then `causes` and `hints`
    /// arrays when there are any (agents read `--json`, so they need the
    /// hint as much as a person does).
    pub fn envelope(&self, command: &str) -> Value {
        let mut v = envelope_err(command, &self.message, self.code);
        if let Value::Object(map) = &mut v {
            for (key, value) in self.data.iter().flat_map(|d| d.iter()) {
                map.entry(key.clone()).or_insert_with(|| value.clone());
            }
            for (key, lines) in [("causes", &self.causes), ("hints", &self.hints)] {
                if !lines.is_empty() {
                    map.insert(key.into(), lines.clone().into());
                }
            }
        }
        v
    }

    /// Prints the error for the user and returns nothing; the caller exits 1.
    /// When stdout cannot take the `--json` envelope, the error goes to
    /// stderr ([`crate::output::print_error`]).
    pub fn print(&self, json: bool, command: &str, style: Style) {
        crate::output::print_error(self, json, command, style);
    }

    /// Returns the error as `ov` prints it without colour: the
    /// `Error [CODE]: message` line, then the `caused by:`, `hint:` and (for
    /// a broken invariant) `note:` lines.
    pub fn lines(&self) -> (String, Vec<String>) {
        let head = match self.code {
            Some(code) => format!("Error [{code}]: {}", self.message),
            None => format!("Error: {}", self.message),
        };
        let mut details: Vec<String> = self
            .causes
            .iter()
            .map(|c| format!("  caused by: {c}"))
            .collect();
        details.extend(self.hints.iter().map(|h| format!("  hint: {h}")));
        if self.internal {
            details.push(format!(
                "  note: this is a bug in ov; please report it with the output of 'ov --version' ({})",
                overstory_core::VERSION
            ));
        }
        (head, details)
    }
}

fn chain(mut source: Option<&(dyn StdError + 'static)>) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(s) = source {
        out.push(s.to_string());
        source = s.source();
    }
    out
}

impl From<ValidationError> for CliError {
    fn from(e: ValidationError) -> Self {
        Self::from_lib(e.code(), &e)
    }
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        // `--project` naming a path that is not there: say that, not "run init".
        if let ConfigError::NotAProject { root } = &e
            && !root.exists()
        {
            return Self::with_code(
                e.code(),
                format!("Project path \"{}\" does not exist", root.display()),
            )
            .hint("Pass --project the directory that holds .overstory/ (or leave it out to use the current one)");
        }
        let not_project = matches!(e, ConfigError::NotAProject { .. });
        let mut err = Self::from_lib(e.code(), &e);
        if not_project {
            err.message.push_str(". Run 'ov init' first.");
        }
        err
    }
}

impl From<overstory_core::init::InitError> for CliError {
    fn from(e: overstory_core::init::InitError) -> Self {
        use overstory_core::init::InitError;
        match e {
            InitError::Git(e) => e.into(),
            InitError::Fs(e) => e.into(),
            InitError::Validation(e) => e.into(),
            InitError::InsideProject { ref root, .. } => {
                let hint = format!(
                    "Run ov commands from here as they are (they use \"{}\"), or pass --force to create a separate project in this directory",
                    root.display()
                );
                Self::from_lib(e.code(), &e).hint(hint)
            }
            other => Self::from_lib(other.code(), &other),
        }
    }
}

impl From<DbError> for CliError {
    fn from(e: DbError) -> Self {
        let hint = match &e {
            DbError::Busy { .. } => Some(
                "Another ov process is holding the database; retry, or find it with 'ov status'",
            ),
            DbError::Corrupt { .. } => Some(
                "Move the damaged file aside (it is not deleted for you) and re-run the command to start a fresh one",
            ),
            _ => None,
        };
        let err = Self::from_lib(e.code(), &e);
        match hint {
            Some(h) => err.hint(h),
            None => err,
        }
    }
}

impl From<GitError> for CliError {
    fn from(e: GitError) -> Self {
        let err = Self::from_lib(e.code(), &e);
        match e {
            GitError::Spawn { .. } => err.hint("Install git and make sure it is on PATH"),
            _ => err,
        }
    }
}

impl From<ProcessError> for CliError {
    fn from(e: ProcessError) -> Self {
        Self::from_lib(e.code(), &e)
    }
}

impl From<FsError> for CliError {
    fn from(e: FsError) -> Self {
        Self::from_lib(e.code(), &e)
    }
}

impl From<overstory_sessions::SessionError> for CliError {
    fn from(e: overstory_sessions::SessionError) -> Self {
        use overstory_sessions::SessionError as E;
        match e {
            E::Db(db) => db.into(),
            E::Validation(v) => v.into(),
            other => {
                let hint = match &other {
                    E::AgentNotFound { .. } => Some("List agents with 'ov status --all'"),
                    E::RunNotFound { .. } => Some("List runs with 'ov run list'"),
                    E::NoActiveRun => Some("Start one with 'ov coordinator start' or 'ov sling'"),
                    _ => None,
                };
                let err = Self::from_lib(other.code(), &other);
                match hint {
                    Some(h) => err.hint(h),
                    None => err,
                }
            }
        }
    }
}

impl From<MailError> for CliError {
    fn from(e: MailError) -> Self {
        let code = e.code();
        let hint = match &e {
            MailError::MissingDirectory { .. } => Some("Run 'ov init' first"),
            MailError::NotFound { .. } => Some("List message ids with 'ov mail list'"),
            MailError::TerminalRecipient { .. } => {
                Some("Check the agent's state with 'ov status'; mail its parent instead")
            }
            MailError::EmptyGroup { .. } => Some("See the active agents with 'ov status'"),
            _ => None,
        };
        let mut err = match e {
            // Keep the database hints (locked: retry; corrupt: move it aside).
            MailError::Db(db) => Self::from(db),
            MailError::Invalid(v) => Self::from(v),
            other => Self::from_lib(code, &other),
        };
        err.code = Some(code);
        match hint {
            Some(h) => err.hint(h),
            None => err,
        }
    }
}

impl From<overstory_runtime::RuntimeError> for CliError {
    fn from(e: overstory_runtime::RuntimeError) -> Self {
        let hint = match &e {
            overstory_runtime::RuntimeError::UnknownRuntime { .. } => {
                Some("Set runtime.default in .overstory/config.yaml or pass --runtime")
            }
            overstory_runtime::RuntimeError::Script { .. } => {
                Some("See the scripted runtime docs for the script format")
            }
            _ => None,
        };
        let err = Self::from_lib(e.code(), &e);
        match hint {
            Some(h) => err.hint(h),
            None => err,
        }
    }
}

impl From<overstory_core::WorktreeError> for CliError {
    fn from(e: overstory_core::WorktreeError) -> Self {
        use overstory_core::WorktreeError as W;
        let hint = match &e {
            W::Unmerged { .. } => Some(
                "Merge the branch into the canonical branch with git first, or pass --force to discard its commits",
            ),
            W::AlreadyExists { .. } => Some("List agent worktrees with 'ov worktree list'"),
            W::Unverified { .. } => {
                Some("Check project.canonicalBranch in .overstory/config.yaml, or pass --force")
            }
            _ => None,
        };
        let err = Self::from_lib(e.code(), &e);
        match hint {
            Some(h) => err.hint(h),
            None => err,
        }
    }
}

impl From<overstory_fleet::FleetError> for CliError {
    fn from(e: overstory_fleet::FleetError) -> Self {
        use overstory_fleet::FleetError as F;
        match e {
            F::Validation(v) => v.into(),
            F::Db(d) => d.into(),
            F::Session(s) => s.into(),
            F::Mail(m) => m.into(),
            F::Worktree(w) => w.into(),
            F::Fs(f) => f.into(),
            F::Config(c) => c.into(),
            F::Process(p) => p.into(),
            F::Runtime(r) => r.into(),
            F::Dispatch(d) => d.into(),
            other => {
                let hints = fleet_hints(&other);
                let mut err = Self::from_lib(other.code(), &other);
                err.hints.extend(hints);
                err
            }
        }
    }
}

/// The next steps for a fleet refusal, naming `ov` commands and settings.
fn fleet_hints(e: &overstory_fleet::FleetError) -> Vec<String> {
    use overstory_fleet::FleetError as F;
    let one = |h: &str| vec![h.to_owned()];
    match e {
        F::AgentNotFound { .. } => one("List agents with 'ov status --all'"),
        F::Tmux(overstory_fleet::TmuxError::NotInstalled) => {
            one("Install tmux, or run agents headless (the default for new projects)")
        }
        F::UnknownCapability { .. } => {
            one("Pass --capability with one of the available ones, or add it to the agent manifest")
        }
        F::ParentNotFound { .. } => {
            one("Check the agent names with 'ov status --all', or omit --parent")
        }
        F::DepthLimit { .. } => {
            one("Sling from a shallower parent, or raise agents.maxDepth in .overstory/config.yaml")
        }
        F::RunSessionLimit { .. } => one(
            "Finish the run with 'ov run complete' so the next sling starts a new one, or raise agents.maxSessionsPerRun",
        ),
        F::ConcurrencyLimit { .. } => one(
            "Wait for an agent to finish (see 'ov status'), or raise agents.maxConcurrent in .overstory/config.yaml",
        ),
        F::ParentLimit { .. } => {
            one("Wait for one of its children to finish (see 'ov status'), or pass --max-agents")
        }
        F::NameInUse { agent, .. } => vec![format!(
            "Pick another --name, or stop the agent first with 'ov stop {agent}'"
        )],
        F::TaskLocked { holder, .. } => vec![format!(
            "Wait for it, stop it with 'ov stop {holder}', or sling with --parent {holder} to delegate"
        )],
        F::TurnNotStarted { agent, .. } => vec![format!(
            "Check the agent with 'ov status' and 'ov trace {agent}'"
        )],
        F::AlreadyRunning { agent, .. } => vec![format!(
            "Check it with 'ov {agent} status', or stop it with 'ov {agent} stop'"
        )],
        F::NameHeldByOther { agent, .. } => {
            vec![format!("Stop that session first with 'ov stop {agent}'")]
        }
        F::HostNotStarted { agent, .. } => vec![format!(
            "Read .overstory/logs/{agent}/host.log for the host's diagnostics, then retry 'ov {agent} start'"
        )],
        F::NotActive { agent } | F::NoSession { agent } => {
            vec![format!("Start it with 'ov {agent} start'")]
        }
        F::NotRunning { agent, .. } => vec![format!("Start it again with 'ov {agent} start'")],
        F::AskTimedOut { agent, .. } => vec![format!(
            "Its reply may still come: check 'ov mail list --to operator' and 'ov {agent} output'"
        )],
        _ => Vec::new(),
    }
}

impl From<overstory_turn::dispatch::DispatchError> for CliError {
    fn from(e: overstory_turn::dispatch::DispatchError) -> Self {
        use overstory_turn::dispatch::DispatchError as E;
        match e {
            E::Db(db) => db.into(),
            E::Mail(m) => m.into(),
            E::Fs(f) => f.into(),
            E::Runtime(r) => r.into(),
            other => Self::from_lib(other.code(), &other),
        }
    }
}

impl From<overstory_fleet::demo::DemoError> for CliError {
    fn from(e: overstory_fleet::demo::DemoError) -> Self {
        use overstory_fleet::demo::DemoError as E;
        match e {
            E::Fs(f) => f.into(),
            E::Git(g) => g.into(),
            E::Init(i) => i.into(),
            E::Config(c) => c.into(),
            E::Fleet(f) => f.into(),
            E::Db(d) => d.into(),
            E::Mail(m) => m.into(),
            E::Session(s) => s.into(),
            other => {
                let hint = match &other {
                    E::Stalled { .. } | E::AgentFailed { .. } => Some(
                        "Inspect it with 'ov status --all', 'ov mail list' and 'ov feed' (--project <dir>)",
                    ),
                    E::DirNotEmpty { .. } => Some("Omit --dir to use a fresh temp directory"),
                    _ => None,
                };
                let err = Self::from_lib(other.code(), &other);
                match hint {
                    Some(h) => err.hint(h),
                    None => err,
                }
            }
        }
    }
}

impl From<overstory_merge::MergeError> for CliError {
    fn from(e: overstory_merge::MergeError) -> Self {
        use overstory_merge::MergeError as M;
        let code = e.code();
        let err = Self::from_lib(code, &e);
        match e {
            M::Locked { .. } => err.hint("Run without --no-wait to wait for it"),
            M::BranchNotFound { .. } => err.hint("List branches with 'git branch --list'"),
            M::TargetNotFound { .. } => err.hint(
                "Pass --into <branch>, or set project.canonicalBranch in .overstory/config.yaml",
            ),
            M::Db(_) => err.hint("Run 'ov doctor' to check the project's databases"),
            _ => err,
        }
    }
}

impl From<overstory_serve::ServeError> for CliError {
    fn from(e: overstory_serve::ServeError) -> Self {
        use overstory_serve::ServeError as E;
        let hint = match &e {
            E::RemoteRefused { .. } => Some(
                "Add --allow-remote to listen beyond this machine (requests still need the token)"
                    .to_owned(),
            ),
            E::AlreadyRunning { url, .. } => Some(match url {
                Some(u) => format!(
                    "It serves {u}; open the URL in .overstory/serve.json, or stop it first"
                ),
                None => "Stop it first, or open the URL in .overstory/serve.json".to_owned(),
            }),
            E::Bind { .. } => {
                Some("Pick another port with --port, or --port 0 for a free one".to_owned())
            }
            _ => None,
        };
        let err = Self::from_lib(e.code(), &e);
        match hint {
            Some(h) => err.hint(h),
            None => err,
        }
    }
}

impl From<overstory_turn::host::HostError> for CliError {
    fn from(e: overstory_turn::host::HostError) -> Self {
        use overstory_turn::host::HostError as E;
        match e {
            E::Db(db) => db.into(),
            E::Fs(f) => f.into(),
            E::Runtime(r) => r.into(),
            E::Process(p) => p.into(),
            other => Self::from_lib(other.code(), &other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_errors_keep_code_and_cause_chain() {
        let e: CliError = FsError::new(
            "write",
            "/x/y",
            std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied"),
        )
        .into();
        assert_eq!(e.code, Some("IO_ERROR"));
        assert_eq!(e.message, "Failed to write \"/x/y\"");
        assert_eq!(e.causes, ["denied"]);
    }

    #[test]
    fn fleet_refusals_get_a_hint_naming_the_next_command() {
        let e: CliError = overstory_fleet::FleetError::TaskLocked {
            task: "task-1".to_owned(),
            holder: "builder-1".to_owned(),
            state: overstory_sessions::AgentState::Working,
        }
        .into();
        assert_eq!(e.code, Some("AGENT_ERROR"));
        assert_eq!(
            e.message,
            "Task \"task-1\" is already being worked by agent \"builder-1\" (state: working)"
        );
        assert_eq!(
            e.hints,
            [
                "Wait for it, stop it with 'ov stop builder-1', or sling with --parent builder-1 to delegate"
            ]
        );
        let e: CliError = overstory_fleet::FleetError::NotActive {
            agent: "coordinator".to_owned(),
        }
        .into();
        assert_eq!(e.hints, ["Start it with 'ov coordinator start'"]);
    }

    #[test]
    fn json_envelope_carries_causes_and_hints_only_when_present() {
        let bare = CliError::validation("bad").envelope("sling");
        assert_eq!(
            bare.to_string(),
            "{\"success\":false,\"command\":\"sling\",\"error\":\"bad\",\"code\":\"VALIDATION_ERROR\"}"
        );
        let full = CliError::with_code("MAIL_ERROR", "Failed")
            .caused_by(std::io::Error::other("disk"))
            .hint("Run 'ov doctor'")
            .envelope("mail list");
        assert_eq!(full["causes"], serde_json::json!(["disk"]));
        assert_eq!(full["hints"], serde_json::json!(["Run 'ov doctor'"]));
        assert_eq!(full["code"], "MAIL_ERROR");
    }
}
