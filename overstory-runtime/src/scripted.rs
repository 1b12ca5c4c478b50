//! The scripted runtime: a deterministic agent with no model.
//!
//! [`ScriptedRuntime`] spawns `ov scripted-agent --script <file>` as the
//! agent's child process. That process reads user turns from stdin (the
//! same stream-json lines headless Claude reads) and, for each line, plays
//! one turn of the script — writing Claude-shaped stream-json to stdout, sending mail through
//! the [`ScriptMailer`] it is given, editing files and committing in its working directory,
//! sleeping, stalling, crashing or exiting with a code — until stdin closes
//! (a spawn-per-turn runner writes one line and closes it; an agent host
//! keeps it open for a persistent agent), then exits. The same
//! parser reads its output as Claude's, so everything downstream (turn
//! runner, event store, UI) runs for real.
//!
//! # Script format (JSON)
//!
//! ```json
//! {
//!   "session_id": "optional fixed id (default: generated; --resume wins)",
//!   "model": "scripted",
//!   "read_stdin": true,
//!   "turns": [
//!     {"steps": [
//!       {"say": "Looking at the task"},
//!       {"write": {"path": "src/hello.txt", "content": "hi\n"}},
//!       {"edit": {"path": "src/hello.txt", "old": "hi", "new": "hello"}},
//!       {"run": "cargo fmt --check"},
//!       {"commit": "add hello"},
//!       {"mail": {"to": "lead-1", "subject": "done", "body": "all good", "type": "worker_done"}},
//!       {"sleep_ms": 200}
//!     ]},
//!     {"steps": [{"say": "second turn"}], "result": "finished"}
//!   ]
//! }
//! ```
//!
//! Without `--script`, the agent looks for its script in
//! `$OVERSTORY_SCRIPTS_DIR`, else in `.overstory/scripts/` of the project:
//! `<agent>.json`, then the name with one `-` part less at a time (so
//! `builder-2` and `builder-task-9-3` both find `builder.json`), then
//! `default.json`. With none of them
//! the agent cannot play: it says so on stderr ("No script for agent …:
//! write one at …") and exits with code 127, the code for an agent that
//! could not start, so the turn runner records the failure and settles the
//! agent instead of leaving it waiting.
//!
//! A top-level `"steps": [...]` is shorthand for a single turn. Turn *n* of a
//! session plays `turns[n]`; after the last turn, the last one repeats. A
//! process that gets several user lines (a persistent agent) plays them as
//! consecutive turns of one session. Turns are counted per session id in
//! `$OVERSTORY_SCRIPTED_STATE_DIR`, else in the project under
//! `.overstory/agents/<agent>/scripted-state/` (see [`STATE_DIR_NAME`]),
//! else next to the script (`<script>.state/`); never in the system temp
//! directory.
//!
//! | step | effect |
//! |---|---|
//! | `{"say": text}` | assistant text |
//! | `{"echo_input": true}` | assistant text = the user turn read from stdin |
//! | `{"tool": {"name", "input", "result", "is_error"}}` | a tool_use + tool_result pair, nothing executed |
//! | `{"run": "cmd"}` | runs `sh -c cmd` in the cwd; Bash tool events with its output |
//! | `{"write": {"path", "content"}}` | writes a file (parents created); Write tool events |
//! | `{"edit": {"path", "old", "new"}}` | replaces the first `old`; Edit tool events (error if absent) |
//! | `{"commit": "message"}` | `git add -A && git commit -m message` |
//! | `{"mail": {"to", "subject", "body", "type", "priority", "payload"}}` | sends through the [`ScriptMailer`] as `$OVERSTORY_AGENT_NAME`; Bash tool events showing the equivalent `ov mail send … --agent <name>` |
//! | `{"sleep_ms": n}` | pauses |
//! | `{"stall_ms": n}` / `{"stall": null}` | no output for n ms / forever |
//! | `{"emit": {...}}` / `{"emit_raw": "text"}` | writes a raw stream-json line / raw text |
//! | `{"result": {"text", "is_error"}}` | the result line (otherwise a success result ends the turn) |
//! | `{"exit": n}` | exits with code n at once (no result line) |
//! | `{"crash": true}` | aborts (SIGABRT, no result line) |

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncRead;

use crate::error::RuntimeError;
use crate::runtime::{
    AgentRuntime, DirectSpawnOptions, HooksDef, NESTED_SESSION_VARS, OverlayContent, SpawnOptions,
    SpawnSpec, Stability,
};
use crate::shell::{shell_quote, shell_word};
use crate::stream_json::{EventReader, ParseOptions};

/// Environment variable that overrides where turn counters are kept.
pub const STATE_DIR_VAR: &str = "OVERSTORY_SCRIPTED_STATE_DIR";

/// The directory under an agent's `.overstory/agents/<name>/` that holds its
/// scripted turn counters.
pub const STATE_DIR_NAME: &str = "scripted-state";

/// A parsed agent script.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Script {
    /// Fixed session id (a `--resume` id wins; generated when absent).
    #[serde(default)]
    pub session_id: Option<String>,
    /// Model id reported in events.
    #[serde(default)]
    pub model: Option<String>,
    /// Read the user turn from stdin before playing (default true).
    #[serde(default)]
    pub read_stdin: Option<bool>,
    /// Turns, played one per process run.
    #[serde(default)]
    pub turns: Vec<Turn>,
    /// Shorthand for a single turn.
    #[serde(default)]
    pub steps: Option<Vec<Step>>,
}

/// One turn of a script.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Turn {
    /// The steps, in order.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// The final result text (default: the last text said, or `done`).
    #[serde(default)]
    pub result: Option<String>,
}

/// One scripted action. See the module docs for each step's effect.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Step {
    /// Says this text as an assistant message.
    Say(String),
    /// Says the user turn back as an assistant message.
    EchoInput(bool),
    /// A tool call and result, nothing executed.
    Tool(ToolStep),
    /// Run a shell command.
    Run(String),
    /// Writes a file, creating its directories.
    Write {
        /// Path (relative to the cwd or absolute).
        path: String,
        /// The file's whole new content.
        content: String,
    },
    /// Replace text in a file.
    Edit {
        /// The file to edit (relative to the cwd or absolute).
        path: String,
        /// The text to find; only its first occurrence is replaced.
        old: String,
        /// The text put in its place.
        new: String,
    },
    /// Commit everything in the cwd's repository.
    Commit(String),
    /// Send mail through the player's [`ScriptMailer`].
    Mail(MailStep),
    /// Sleeps this many milliseconds.
    SleepMs(u64),
    /// Produce no output for this long.
    StallMs(u64),
    /// Produce no output until killed.
    Stall(Option<u64>),
    /// Write a raw JSON line.
    Emit(Value),
    /// Write raw text as a line.
    EmitRaw(String),
    /// Write the result line now.
    Result(ResultStep),
    /// Exit with this code at once.
    Exit(i32),
    /// Aborts the process (SIGABRT), as a crashing agent would.
    Crash(bool),
}

/// A simulated tool call.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolStep {
    /// The tool's name as Claude reports it (`Read`, `Bash`).
    pub name: String,
    /// The tool's input object, reported verbatim.
    #[serde(default)]
    pub input: Value,
    /// The result text reported for the call (empty when absent).
    #[serde(default)]
    pub result: Option<String>,
    /// Whether the result is an error.
    #[serde(default)]
    pub is_error: bool,
}

/// A mail to send: the fields of `ov mail send`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailStep {
    /// The recipient: an agent name or a group address (`@builders`).
    pub to: String,
    /// The subject line (may be empty).
    #[serde(default)]
    pub subject: String,
    /// The message body (may be empty).
    #[serde(default)]
    pub body: String,
    /// Mail type (`status` when absent).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The priority (`low`, `normal`, `high`, `urgent`; `normal` when
    /// absent).
    #[serde(default)]
    pub priority: Option<String>,
    /// JSON payload (sent as text).
    #[serde(default)]
    pub payload: Option<Value>,
}

/// An explicit result line.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultStep {
    /// The result text (default: the last text said, or `done`).
    #[serde(default)]
    pub text: Option<String>,
    /// Whether the turn failed.
    #[serde(default)]
    pub is_error: bool,
}

impl Script {
    /// Parses a script from JSON text.
    ///
    /// # Errors
    /// [`RuntimeError::Script`] naming `path` and the parse error.
    pub fn parse(text: &str, path: &Path) -> Result<Self, RuntimeError> {
        let script: Script = serde_json::from_str(text).map_err(|e| RuntimeError::Script {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if script.turns.is_empty() && script.steps.is_none() {
            return Err(RuntimeError::Script {
                path: path.to_path_buf(),
                message: "it has neither \"turns\" nor \"steps\"".into(),
            });
        }
        Ok(script)
    }

    /// Reads and parses a script file.
    ///
    /// # Errors
    /// [`RuntimeError::Script`] when the file cannot be read or parsed.
    pub fn load(path: &Path) -> Result<Self, RuntimeError> {
        let text = std::fs::read_to_string(path).map_err(|e| RuntimeError::Script {
            path: path.to_path_buf(),
            message: format!("cannot read it: {e}"),
        })?;
        Self::parse(&text, path)
    }

    /// Returns the turn to play as turn number `n` (0-based); the last turn
    /// repeats.
    pub fn turn(&self, n: usize) -> Turn {
        if let Some(steps) = &self.steps {
            return Turn {
                steps: steps.clone(),
                result: None,
            };
        }
        self.turns
            .get(n)
            .or_else(|| self.turns.last())
            .cloned()
            .unwrap_or_default()
    }
}

/// How a played turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit with this code.
    Exit(i32),
    /// Abort the process (a crash).
    Crash,
}

/// Sends the mail of a script's `mail` steps.
///
/// The player itself knows nothing about mail stores or waking agents; the
/// program hosting it supplies this (`ov scripted-agent` delivers through
/// the mail library and wakes headless recipients, as `ov mail send` does).
pub trait ScriptMailer: std::fmt::Debug + Send + Sync {
    /// Sends one scripted mail from the agent `from` and reports what
    /// happened. A failure does not stop the turn: it becomes a failed tool
    /// result, as a failing `ov mail send` would for a real agent.
    fn send(&self, from: &str, mail: &MailStep) -> MailReport;
}

/// What a [`ScriptMailer`] reports for one mail; shown as the result of the
/// step's Bash tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailReport {
    /// Whether the mail was stored.
    pub delivered: bool,
    /// What the tool result shows (message ids, hints, or the failure).
    pub text: String,
}

impl MailReport {
    /// Reports a stored mail.
    pub fn delivered(text: impl Into<String>) -> Self {
        Self {
            delivered: true,
            text: text.into(),
        }
    }

    /// Reports a mail that was not stored, and why.
    pub fn failed(text: impl Into<String>) -> Self {
        Self {
            delivered: false,
            text: text.into(),
        }
    }
}

/// The mailer of a player that was given none: every mail step fails, and
/// its tool result says so.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMailer;

impl ScriptMailer for NoMailer {
    fn send(&self, _from: &str, _mail: &MailStep) -> MailReport {
        MailReport::failed(
            "No mailer is configured for this scripted player; the mail was not sent",
        )
    }
}

impl MailStep {
    /// Returns the `ov mail send` command line equivalent to this step, sent
    /// as `from`: what a real agent would have run, shown in the step's
    /// tool call.
    pub fn command_line(&self, from: &str) -> String {
        let mut args: Vec<String> = vec![
            "--to".into(),
            self.to.clone(),
            "--subject".into(),
            self.subject.clone(),
            "--body".into(),
            self.body.clone(),
        ];
        if let Some(t) = &self.kind {
            args.extend(["--type".into(), t.clone()]);
        }
        if let Some(p) = &self.priority {
            args.extend(["--priority".into(), p.clone()]);
        }
        if let Some(p) = &self.payload {
            args.extend(["--payload".into(), p.to_string()]);
        }
        args.extend(["--agent".into(), from.to_owned()]);
        std::iter::once("ov mail send".to_owned())
            .chain(args.iter().map(|a| shell_word(a)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Where and as whom a turn is played.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PlayOptions {
    /// Working directory (the worktree): where files are written and
    /// commands and commits run.
    pub cwd: PathBuf,
    /// Sends the mail of `mail` steps ([`NoMailer`] unless set).
    pub mailer: Arc<dyn ScriptMailer>,
    /// Session to resume (from `--resume`).
    pub resume: Option<String>,
    /// Sender of mail steps (`OVERSTORY_AGENT_NAME`).
    pub agent_name: Option<String>,
    /// Where turn counters are kept.
    pub state_dir: PathBuf,
}

impl PlayOptions {
    /// Creates options for `cwd` with turn counters in `state_dir` and no
    /// mailer.
    pub fn new(cwd: impl Into<PathBuf>, state_dir: impl Into<PathBuf>) -> Self {
        Self {
            cwd: cwd.into(),
            mailer: Arc::new(NoMailer),
            resume: None,
            agent_name: None,
            state_dir: state_dir.into(),
        }
    }

    /// Sets the mailer of `mail` steps.
    pub fn mailer(mut self, mailer: Arc<dyn ScriptMailer>) -> Self {
        self.mailer = mailer;
        self
    }

    /// Sets the session to resume.
    pub fn resume(mut self, id: Option<String>) -> Self {
        self.resume = id.filter(|s| !s.is_empty());
        self
    }

    /// Sets the mail sender.
    pub fn agent_name(mut self, name: Option<String>) -> Self {
        self.agent_name = name;
        self
    }
}

/// Returns the default state directory for a script: `<script>.state`.
pub fn default_state_dir(script: &Path) -> PathBuf {
    let mut s = script.as_os_str().to_owned();
    s.push(".state");
    PathBuf::from(s)
}

/// Plays one turn: writes Claude-shaped stream-json lines to `out` and
/// does what the steps say in the options' working directory.
struct Player<'a> {
    out: &'a mut dyn Write,
    session: String,
    model: String,
    opts: &'a PlayOptions,
    last_text: Option<String>,
    call: usize,
    started: Instant,
    result_written: bool,
}

impl Player<'_> {
    fn line(&mut self, v: &Value) -> Result<(), RuntimeError> {
        self.raw(&v.to_string())
    }

    fn raw(&mut self, text: &str) -> Result<(), RuntimeError> {
        let io = |source| RuntimeError::Io {
            action: "write to stdout",
            source,
        };
        writeln!(self.out, "{text}").map_err(io)?;
        self.out.flush().map_err(io)
    }

    fn init(&mut self) -> Result<(), RuntimeError> {
        let v = json!({
            "type": "system", "subtype": "init", "session_id": self.session, "model": self.model,
            "cwd": self.opts.cwd.to_string_lossy(), "tools": ["Bash", "Edit", "Write"],
            "permissionMode": "bypassPermissions",
        });
        self.line(&v)
    }

    fn say(&mut self, text: &str) -> Result<(), RuntimeError> {
        self.last_text = Some(text.to_owned());
        let v = json!({
            "type": "assistant",
            "message": {
                "id": format!("msg_scripted_{}", self.call),
                "type": "message", "role": "assistant", "model": self.model,
                "content": [{"type": "text", "text": text}],
                "usage": {"input_tokens": 0, "output_tokens": text.len() / 4 + 1},
            },
            "session_id": self.session,
        });
        self.line(&v)
    }

    fn tool(
        &mut self,
        name: &str,
        input: Value,
        result: &str,
        is_error: bool,
    ) -> Result<(), RuntimeError> {
        self.call += 1;
        let id = format!("toolu_scripted_{}", self.call);
        self.line(&json!({
            "type": "assistant",
            "message": {
                "type": "message", "role": "assistant", "model": self.model,
                "content": [{"type": "tool_use", "id": id, "name": name, "input": input}],
            },
            "session_id": self.session,
        }))?;
        self.line(&json!({
            "type": "user",
            "message": {"role": "user", "content": [{
                "type": "tool_result", "tool_use_id": id, "content": result, "is_error": is_error,
            }]},
            "session_id": self.session,
        }))
    }

    fn result(&mut self, text: &str, is_error: bool) -> Result<(), RuntimeError> {
        let v = json!({
            "type": "result",
            "subtype": if is_error { "error_during_execution" } else { "success" },
            "is_error": is_error,
            "duration_ms": self.started.elapsed().as_millis() as u64,
            "num_turns": 1,
            "result": text,
            "session_id": self.session,
            "total_cost_usd": 0.0,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        });
        self.result_written = true;
        self.line(&v)
    }

    /// Returns the final text: `preferred`, else the last text said, else
    /// `done`.
    fn final_text(&self, preferred: Option<&str>) -> String {
        preferred
            .map(str::to_owned)
            .or_else(|| self.last_text.clone())
            .unwrap_or_else(|| "done".into())
    }

    /// Plays one step; returns how the turn ends when the step ends it.
    fn step(&mut self, step: &Step, input: &str) -> Result<Option<Outcome>, RuntimeError> {
        match step {
            Step::Say(t) => self.say(t)?,
            Step::EchoInput(_) => self.say(input)?,
            Step::Tool(t) => self.tool(
                &t.name,
                t.input.clone(),
                t.result.as_deref().unwrap_or(""),
                t.is_error,
            )?,
            Step::Run(cmd) => self.run(cmd)?,
            Step::Write { path, content } => self.write_file(path, content)?,
            Step::Edit { path, old, new } => self.edit_file(path, old, new)?,
            Step::Commit(msg) => {
                self.run(&format!(
                    "git add -A && git commit -q -m {}",
                    shell_quote(msg)
                ))?;
            }
            Step::Mail(m) => self.mail(m)?,
            Step::SleepMs(ms) | Step::StallMs(ms) | Step::Stall(Some(ms)) => {
                std::thread::sleep(Duration::from_millis(*ms));
            }
            Step::Stall(None) => loop {
                std::thread::sleep(Duration::from_secs(3600));
            },
            Step::Emit(v) => self.line(v)?,
            Step::EmitRaw(t) => self.raw(t)?,
            Step::Result(r) => {
                let text = self.final_text(r.text.as_deref());
                self.result(&text, r.is_error)?;
            }
            Step::Exit(code) => return Ok(Some(Outcome::Exit(*code))),
            Step::Crash(_) => return Ok(Some(Outcome::Crash)),
        }
        Ok(None)
    }

    /// Runs `sh -c command` in the cwd and reports it as a Bash tool call.
    fn run(&mut self, command: &str) -> Result<(), RuntimeError> {
        let out = overstory_core::process::foreground_command("sh")
            .args(["-c", command])
            .current_dir(&self.opts.cwd)
            .stdin(std::process::Stdio::null())
            .output();
        let (ok, text) = match out {
            Ok(o) => {
                let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&o.stderr));
                (o.status.success(), text)
            }
            Err(e) => (false, format!("failed to start sh: {e}")),
        };
        self.tool("Bash", json!({"command": command}), &text, !ok)
    }

    fn write_file(&mut self, path: &str, content: &str) -> Result<(), RuntimeError> {
        let full = self.path(path);
        let res = full
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&full, content));
        let (text, err) = match res {
            Ok(()) => (
                format!("File created successfully at: {}", full.display()),
                false,
            ),
            Err(e) => (format!("Failed to write {}: {e}", full.display()), true),
        };
        self.tool(
            "Write",
            json!({"file_path": full, "content": content}),
            &text,
            err,
        )
    }

    fn edit_file(&mut self, path: &str, old: &str, new: &str) -> Result<(), RuntimeError> {
        let full = self.path(path);
        let res = std::fs::read_to_string(&full).and_then(|s| {
            if s.contains(old) {
                std::fs::write(&full, s.replacen(old, new, 1)).map(|()| true)
            } else {
                Ok(false)
            }
        });
        let (text, err) = match res {
            Ok(true) => (
                format!("The file {} has been updated.", full.display()),
                false,
            ),
            Ok(false) => (format!("String to replace not found in file: {old}"), true),
            Err(e) => (format!("Failed to edit {}: {e}", full.display()), true),
        };
        self.tool(
            "Edit",
            json!({"file_path": full, "old_string": old, "new_string": new}),
            &text,
            err,
        )
    }

    /// Sends the mail through the options' mailer, shown as the Bash call
    /// of the equivalent `ov mail send`.
    fn mail(&mut self, mail: &MailStep) -> Result<(), RuntimeError> {
        let from = self
            .opts
            .agent_name
            .clone()
            .unwrap_or_else(|| "scripted-agent".into());
        let report = self.opts.mailer.send(&from, mail);
        self.tool(
            "Bash",
            json!({"command": mail.command_line(&from)}),
            &report.text,
            !report.delivered,
        )
    }

    fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.opts.cwd.join(p)
        }
    }
}

fn read_counter(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Returns the session a turn plays in: the resumed one, else the script's
/// fixed id, else a new one.
fn session_id(script: &Script, opts: &PlayOptions) -> String {
    opts.resume
        .clone()
        .or_else(|| script.session_id.clone())
        .unwrap_or_else(|| format!("scripted-{}", overstory_core::ids::random_alnum(12)))
}

/// Returns the index of the turn to play in `session` and counts it in
/// `state_dir`.
///
/// # Errors
/// [`RuntimeError::StateDir`] naming the directory when the counter cannot
/// be stored (nothing falls back to the system temp dir).
fn next_turn_index(state_dir: &Path, session: &str) -> Result<usize, RuntimeError> {
    let file = format!("{}.turn", sanitize(session));
    let n = read_counter(&state_dir.join(&file));
    std::fs::create_dir_all(state_dir)
        .and_then(|()| std::fs::write(state_dir.join(&file), format!("{}\n", n + 1)))
        .map_err(|source| RuntimeError::StateDir {
            path: state_dir.to_path_buf(),
            source,
        })?;
    Ok(n)
}

/// Plays one turn of `script` with `input` (the stdin text) and writes
/// stream-json to `out`.
///
/// The turn is the session's next one (counted in the options' state
/// directory); it opens with an `init` line, plays its steps in order, and
/// ends with a success result unless a step wrote one, exited or crashed.
///
/// # Errors
/// [`RuntimeError::Io`] when stdout cannot be written or the turn counter
/// cannot be stored.
pub fn play(
    script: &Script,
    input: &str,
    opts: &PlayOptions,
    out: &mut dyn Write,
) -> Result<Outcome, RuntimeError> {
    let started = Instant::now();
    let session = session_id(script, opts);
    let turn = script.turn(next_turn_index(&opts.state_dir, &session)?);
    let mut player = Player {
        out,
        session,
        model: script
            .model
            .clone()
            .unwrap_or_else(|| "scripted".to_owned()),
        opts,
        last_text: None,
        call: 0,
        started,
        result_written: false,
    };
    player.init()?;
    for step in &turn.steps {
        if let Some(outcome) = player.step(step, input)? {
            return Ok(outcome);
        }
    }
    if !player.result_written {
        let text = player.final_text(turn.result.as_deref());
        player.result(&text, false)?;
    }
    Ok(Outcome::Exit(0))
}

/// Environment variable naming a directory of agent scripts.
pub const SCRIPTS_DIR_VAR: &str = "OVERSTORY_SCRIPTS_DIR";

/// Finds the script for `agent` in `dir`: `<agent>.json`, then the name
/// with one `-` part less at a time (`builder-2` ⇒ `builder.json`; an
/// automatic name `builder-task-9-3` ⇒ `builder-task-9.json`,
/// `builder-task.json`, `builder.json`), then `default.json`.
pub fn find_script(dir: &Path, agent: Option<&str>) -> Option<PathBuf> {
    let mut names = Vec::new();
    if let Some(a) = agent {
        names.push(format!("{a}.json"));
        let mut stem = a;
        while let Some((shorter, _)) = stem.rsplit_once('-') {
            names.push(format!("{shorter}.json"));
            stem = shorter;
        }
    }
    names.push("default.json".to_owned());
    names.into_iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// Returns the script directory: `$OVERSTORY_SCRIPTS_DIR`, else
/// `.overstory/scripts/` of `$OVERSTORY_PROJECT_ROOT`.
pub fn scripts_dir_from_env() -> Option<PathBuf> {
    use overstory_core::env;
    env::var(SCRIPTS_DIR_VAR).map(PathBuf::from).or_else(|| {
        env::var(env::PROJECT_ROOT).map(|r| overstory_core::Layout::new(r).scripts_dir())
    })
}

/// Runs one scripted-agent process turn: loads the script (given, else
/// found by [`find_script`] in [`scripts_dir_from_env`]), reads the user
/// turn from `stdin` unless the script says not to, and plays it to
/// `stdout`.
///
/// Turn counters go to `$OVERSTORY_SCRIPTED_STATE_DIR`, else to the agent's
/// `.overstory/agents/<name>/scripted-state/` in `$OVERSTORY_PROJECT_ROOT`,
/// else next to the script. Mail steps run through `mailer` as
/// `OVERSTORY_AGENT_NAME`.
///
/// # Errors
/// [`RuntimeError::NoScript`] when no script is given or found (naming
/// where to write one); [`RuntimeError::Script`] for a bad script;
/// [`RuntimeError::StateDir`] when the turn counter cannot be stored;
/// [`RuntimeError::Io`] when stdin or stdout fail.
pub fn run_agent(
    script_path: Option<&Path>,
    resume: Option<String>,
    print: Option<&str>,
    cwd: &Path,
    mailer: Arc<dyn ScriptMailer>,
    stdin: &mut dyn std::io::Read,
    stdout: &mut dyn Write,
) -> Result<Outcome, RuntimeError> {
    let agent = overstory_core::env::var(overstory_core::env::AGENT_NAME);
    let found = match script_path {
        Some(p) => Some(p.to_path_buf()),
        None => scripts_dir_from_env().and_then(|d| find_script(&d, agent.as_deref())),
    };
    let Some(script_path) = found.as_deref() else {
        return Err(no_script(agent.as_deref()));
    };
    let script = Script::load(script_path)?;
    let state_dir = state_dir_for(script_path, agent.as_deref());
    let options = |resume: Option<String>| {
        PlayOptions::new(cwd, state_dir.clone())
            .mailer(Arc::clone(&mailer))
            .resume(resume)
            .agent_name(agent.clone())
    };
    if let Some(prompt) = print {
        // Print mode: the prompt is the input and only the final text is
        // written, like `claude --print`.
        let opts = options(None);
        let mut buf = Vec::new();
        let outcome = play(&script, prompt, &opts, &mut buf)?;
        let text = String::from_utf8_lossy(&buf)
            .lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v.get("type").and_then(Value::as_str) == Some("result"))
            .and_then(|v| v.get("result").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default();
        writeln!(stdout, "{text}").map_err(|source| RuntimeError::Io {
            action: "write to stdout",
            source,
        })?;
        return Ok(outcome);
    }
    if !script.read_stdin.unwrap_or(true) {
        return play(&script, "", &options(resume), stdout);
    }
    // One turn per user line, for as long as stdin stays open: a
    // spawn-per-turn runner writes one line and closes stdin (one turn); an
    // agent host keeps it open and writes a line per turn. Every turn of
    // one process plays in the same session, so the turn index advances.
    let session = resume
        .filter(|s| !s.is_empty())
        .or_else(|| script.session_id.clone())
        .unwrap_or_else(|| format!("scripted-{}", overstory_core::ids::random_alnum(12)));
    let opts = options(Some(session));
    let mut reader = std::io::BufReader::new(stdin);
    let mut line = String::new();
    let mut played = 0usize;
    loop {
        line.clear();
        let n = std::io::BufRead::read_line(&mut reader, &mut line).map_err(|source| {
            RuntimeError::Io {
                action: "read the user turn from stdin",
                source,
            }
        })?;
        if n == 0 {
            break;
        }
        if !is_user_line(&line) {
            continue;
        }
        let text = crate::stream_json::decode_user_turns(&line);
        let outcome = play(&script, &text, &opts, stdout)?;
        played += 1;
        if outcome != Outcome::Exit(0) {
            return Ok(outcome);
        }
    }
    if played == 0 {
        // No user turn at all: play one turn with empty input.
        return play(&script, "", &opts, stdout);
    }
    Ok(Outcome::Exit(0))
}

/// Returns whether `line` is a stream-json user message.
fn is_user_line(line: &str) -> bool {
    serde_json::from_str::<Value>(line.trim())
        .is_ok_and(|v| v.get("type").and_then(Value::as_str) == Some("user"))
}

/// The error for an agent with no script: where the first script looked
/// for (`<scripts dir>/<agent>.json`) would be.
fn no_script(agent: Option<&str>) -> RuntimeError {
    let dir = scripts_dir_from_env().unwrap_or_else(|| PathBuf::from(".overstory/scripts"));
    let file = format!("{}.json", agent.unwrap_or("default"));
    RuntimeError::NoScript {
        agent: agent.unwrap_or("scripted-agent").to_owned(),
        path: dir.join(file),
    }
}

/// Where an agent's turn counters live: `$OVERSTORY_SCRIPTED_STATE_DIR`,
/// else its agent directory in the project, else next to the script.
fn state_dir_for(script_path: &Path, agent: Option<&str>) -> PathBuf {
    use overstory_core::env;
    if let Some(dir) = env::var(STATE_DIR_VAR) {
        return PathBuf::from(dir);
    }
    let in_project = env::var(env::PROJECT_ROOT)
        .zip(agent)
        .and_then(|(root, a)| {
            let name = overstory_core::AgentName::new(a).ok()?;
            Some(
                overstory_core::Layout::new(root)
                    .agent_dir(&name)
                    .join(STATE_DIR_NAME),
            )
        });
    in_project.unwrap_or_else(|| default_state_dir(script_path))
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The scripted adapter (`scripted`): headless only.
#[derive(Debug, Clone)]
pub struct ScriptedRuntime {
    ov: PathBuf,
    script: Option<PathBuf>,
}

impl ScriptedRuntime {
    /// Creates the adapter starting `ov` to play `script`.
    ///
    /// Without a script the child looks one up by its agent's name (see the
    /// [module docs](self)) and fails when there is none.
    pub fn new(ov: PathBuf, script: Option<PathBuf>) -> Self {
        Self { ov, script }
    }

    /// Returns the script path, if any.
    pub fn script(&self) -> Option<&Path> {
        self.script.as_deref()
    }

    fn argv(&self, resume: Option<&str>) -> Vec<std::ffi::OsString> {
        let mut argv: Vec<std::ffi::OsString> =
            vec![self.ov.clone().into(), "scripted-agent".into()];
        if let Some(s) = &self.script {
            argv.push("--script".into());
            argv.push(s.clone().into());
        }
        if let Some(id) = resume {
            argv.push("--resume".into());
            argv.push(id.into());
        }
        argv
    }
}

#[async_trait]
impl AgentRuntime for ScriptedRuntime {
    fn id(&self) -> &'static str {
        "scripted"
    }

    fn stability(&self) -> Stability {
        Stability::Stable
    }

    fn instruction_path(&self) -> &'static str {
        crate::claude::CLAUDE_INSTRUCTION_PATH
    }

    fn is_headless(&self) -> bool {
        true
    }

    fn spawn_command(&self, _opts: &SpawnOptions) -> Result<String, RuntimeError> {
        Ok(self
            .argv(None)
            .iter()
            .map(|a| shell_quote(&a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" "))
    }

    fn print_command(&self, prompt: &str, _model: Option<&str>) -> Vec<String> {
        let mut argv: Vec<String> = self
            .argv(None)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        argv.extend(["--print".to_owned(), prompt.to_owned()]);
        argv
    }

    fn deploy_config(
        &self,
        worktree: &Path,
        overlay: Option<&OverlayContent>,
        hooks: &HooksDef,
    ) -> Result<(), RuntimeError> {
        // The same files Claude gets, so a rehearsal leaves the same traces.
        crate::claude::ClaudeRuntime::new().deploy_config(worktree, overlay, hooks)
    }

    fn requires_beacon_verification(&self) -> bool {
        false
    }

    fn direct_spawn(&self, opts: &DirectSpawnOptions) -> Option<SpawnSpec> {
        Some(SpawnSpec {
            argv: self.argv(opts.resume_id()),
            cwd: opts.cwd.clone(),
            env: opts.env.clone(),
            env_remove: NESTED_SESSION_VARS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        })
    }

    fn event_reader(
        &self,
        stdout: Box<dyn AsyncRead + Send + Unpin>,
        opts: ParseOptions,
    ) -> Option<EventReader<Box<dyn AsyncRead + Send + Unpin>>> {
        Some(EventReader::new(stdout, opts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(script: &str, input: &str, dir: &Path) -> (Outcome, Vec<Value>) {
        let s = Script::parse(script, Path::new("t.json")).unwrap();
        let opts = PlayOptions::new(dir, dir.join(".state"));
        let mut out = Vec::new();
        let o = play(&s, input, &opts, &mut out).unwrap();
        let lines = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (o, lines)
    }

    #[test]
    fn a_turn_starts_with_init_and_ends_with_a_success_result() {
        let d = tempfile::tempdir().unwrap();
        let (o, lines) = run(r#"{"steps":[{"say":"hi"}]}"#, "", d.path());
        assert_eq!(o, Outcome::Exit(0));
        assert_eq!(lines[0]["type"], "system");
        assert_eq!(lines[1]["message"]["content"][0]["text"], "hi");
        assert_eq!(lines[2]["type"], "result");
        assert_eq!(lines[2]["is_error"], false);
        assert_eq!(lines[2]["result"], "hi");
        assert_eq!(lines[0]["session_id"], lines[2]["session_id"]);
    }

    #[test]
    fn turns_advance_per_session_and_the_last_repeats() {
        let d = tempfile::tempdir().unwrap();
        let script =
            r#"{"session_id":"s1","turns":[{"steps":[{"say":"one"}]},{"steps":[{"say":"two"}]}]}"#;
        let texts: Vec<String> = (0..3)
            .map(|_| {
                run(script, "", d.path()).1[1]["message"]["content"][0]["text"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(texts, ["one", "two", "two"]);
    }

    #[test]
    fn an_unwritable_state_dir_is_an_error_naming_it() {
        let d = tempfile::tempdir().unwrap();
        let blocker = d.path().join("state");
        std::fs::write(&blocker, "not a directory").unwrap();
        let s = Script::parse(r#"{"steps":[{"say":"a"}]}"#, Path::new("t")).unwrap();
        let opts = PlayOptions::new(d.path(), &blocker).resume(Some("sid".into()));
        let mut out = Vec::new();
        let err = play(&s, "", &opts, &mut out).unwrap_err();
        assert!(matches!(err, RuntimeError::StateDir { .. }), "{err}");
        assert!(err.to_string().contains(&blocker.display().to_string()));
        assert!(out.is_empty(), "nothing is played without a counter");
    }

    #[test]
    fn turn_counters_live_in_the_agents_project_directory() {
        let d = tempfile::tempdir().unwrap();
        let script = d.path().join("s.json");
        std::fs::write(&script, r#"{"steps":[{"say":"a"}]}"#).unwrap();
        // Beside the script when no project is known.
        if overstory_core::env::var(STATE_DIR_VAR).is_some()
            || overstory_core::env::var(overstory_core::env::PROJECT_ROOT).is_some()
        {
            return;
        }
        assert_eq!(
            state_dir_for(&script, Some("builder-1")),
            d.path().join("s.json.state")
        );
    }

    #[test]
    fn no_script_names_the_agent_and_where_to_write_one() {
        let e = no_script(Some("builder-7"));
        let text = e.to_string();
        assert!(
            text.starts_with("No script for agent \"builder-7\""),
            "{text}"
        );
        assert!(text.contains("builder-7.json"), "{text}");
        assert_eq!(e.code(), "SCRIPT_ERROR");
    }

    #[test]
    fn resume_id_becomes_the_session_id() {
        let d = tempfile::tempdir().unwrap();
        let s = Script::parse(r#"{"steps":[]}"#, Path::new("t")).unwrap();
        let opts = PlayOptions::new(d.path(), d.path().join("st")).resume(Some("keep-me".into()));
        let mut out = Vec::new();
        play(&s, "", &opts, &mut out).unwrap();
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("\"session_id\":\"keep-me\"")
        );
    }

    #[test]
    fn exit_and_crash_stop_without_a_result() {
        let d = tempfile::tempdir().unwrap();
        let (o, lines) = run(r#"{"steps":[{"exit":3},{"say":"never"}]}"#, "", d.path());
        assert_eq!(o, Outcome::Exit(3));
        assert_eq!(lines.len(), 1);
        let (o, _) = run(r#"{"steps":[{"crash":true}]}"#, "", d.path());
        assert_eq!(o, Outcome::Crash);
    }

    #[test]
    fn write_and_edit_change_files_and_report_tool_events() {
        let d = tempfile::tempdir().unwrap();
        let (_, lines) = run(
            r#"{"steps":[{"write":{"path":"a/b.txt","content":"hi there"}},{"edit":{"path":"a/b.txt","old":"hi","new":"hello"}},{"edit":{"path":"a/b.txt","old":"zzz","new":"y"}}]}"#,
            "",
            d.path(),
        );
        assert_eq!(
            std::fs::read_to_string(d.path().join("a/b.txt")).unwrap(),
            "hello there"
        );
        assert_eq!(lines[1]["message"]["content"][0]["name"], "Write");
        assert_eq!(lines[4]["message"]["content"][0]["is_error"], false);
        assert_eq!(lines[6]["message"]["content"][0]["is_error"], true);
    }

    #[test]
    fn without_a_mailer_a_mail_step_is_a_failed_tool_call() {
        let d = tempfile::tempdir().unwrap();
        let (o, lines) = run(
            r#"{"steps":[{"mail":{"to":"lead-1","subject":"it's done"}}]}"#,
            "",
            d.path(),
        );
        assert_eq!(o, Outcome::Exit(0), "a failed mail does not stop the turn");
        assert_eq!(
            lines[1]["message"]["content"][0]["input"]["command"],
            "ov mail send --to lead-1 --subject 'it'\\''s done' --body '' --agent scripted-agent"
        );
        assert_eq!(lines[2]["message"]["content"][0]["is_error"], true);
    }

    #[test]
    fn echo_input_says_the_user_turn() {
        let d = tempfile::tempdir().unwrap();
        let (_, lines) = run(r#"{"steps":[{"echo_input":true}]}"#, "ping", d.path());
        assert_eq!(lines[1]["message"]["content"][0]["text"], "ping");
    }

    #[test]
    fn scripts_are_found_by_agent_then_role_then_default() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(find_script(d.path(), Some("builder-2")), None);
        std::fs::write(d.path().join("default.json"), "{}").unwrap();
        assert_eq!(
            find_script(d.path(), Some("builder-2")).unwrap(),
            d.path().join("default.json")
        );
        std::fs::write(d.path().join("builder.json"), "{}").unwrap();
        assert_eq!(
            find_script(d.path(), Some("builder-2")).unwrap(),
            d.path().join("builder.json")
        );
        std::fs::write(d.path().join("builder-2.json"), "{}").unwrap();
        assert_eq!(
            find_script(d.path(), Some("builder-2")).unwrap(),
            d.path().join("builder-2.json")
        );
        assert_eq!(
            find_script(d.path(), None).unwrap(),
            d.path().join("default.json")
        );
        // An automatic name finds its capability's script.
        assert_eq!(
            find_script(d.path(), Some("builder-task-9-3")).unwrap(),
            d.path().join("builder.json")
        );
    }

    #[test]
    fn print_mode_writes_only_the_final_text() {
        let d = tempfile::tempdir().unwrap();
        let script = d.path().join("p.json");
        std::fs::write(
            &script,
            r#"{"steps":[{"say":"thinking"},{"echo_input":true}]}"#,
        )
        .unwrap();
        let mut out = Vec::new();
        let o = run_agent(
            Some(&script),
            None,
            Some("resolve it"),
            d.path(),
            Arc::new(NoMailer),
            &mut std::io::empty(),
            &mut out,
        )
        .unwrap();
        assert_eq!(o, Outcome::Exit(0));
        assert_eq!(String::from_utf8(out).unwrap(), "resolve it\n");
    }

    #[test]
    fn each_user_line_is_one_turn_of_the_same_session() {
        let d = tempfile::tempdir().unwrap();
        let script = d.path().join("multi.json");
        std::fs::write(
            &script,
            r#"{"turns":[{"steps":[{"say":"one"}]},{"steps":[{"echo_input":true}]}]}"#,
        )
        .unwrap();
        let input = format!(
            "{}not json\n{}",
            crate::stream_json::encode_user_turn("first"),
            crate::stream_json::encode_user_turn("second")
        );
        let mut out = Vec::new();
        let o = run_agent(
            Some(&script),
            None,
            None,
            d.path(),
            Arc::new(NoMailer),
            &mut input.as_bytes(),
            &mut out,
        )
        .unwrap();
        assert_eq!(o, Outcome::Exit(0));
        let lines: Vec<Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let results: Vec<&Value> = lines.iter().filter(|l| l["type"] == "result").collect();
        assert_eq!(results.len(), 2, "two user lines, two turns: {lines:?}");
        assert_eq!(results[0]["result"], "one");
        assert_eq!(results[1]["result"], "second");
        assert_eq!(results[0]["session_id"], results[1]["session_id"]);
    }

    #[test]
    fn no_user_line_still_plays_one_turn() {
        let d = tempfile::tempdir().unwrap();
        let script = d.path().join("one.json");
        std::fs::write(&script, r#"{"steps":[{"say":"hi"}]}"#).unwrap();
        let mut out = Vec::new();
        run_agent(
            Some(&script),
            None,
            None,
            d.path(),
            Arc::new(NoMailer),
            &mut "plain text".as_bytes(),
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let results = text
            .lines()
            .filter(|l| l.contains("\"type\":\"result\""))
            .count();
        assert_eq!(results, 1);
    }

    #[test]
    fn bad_scripts_are_rejected_with_the_path() {
        let e = Script::parse("{", Path::new("/s.json")).unwrap_err();
        assert!(e.to_string().contains("/s.json"));
        let e = Script::parse(r#"{"steps":[{"fly":1}]}"#, Path::new("/s.json")).unwrap_err();
        assert_eq!(e.code(), "SCRIPT_ERROR");
        assert!(Script::parse("{}", Path::new("/s")).is_err());
    }

    #[test]
    fn direct_spawn_runs_ov_scripted_agent_with_resume() {
        let r = ScriptedRuntime::new("/bin/ov".into(), Some("/s.json".into()));
        let o = DirectSpawnOptions {
            resume_session_id: Some("x".into()),
            ..DirectSpawnOptions::new("/w")
        };
        assert_eq!(
            r.direct_spawn(&o).unwrap().argv_strings(),
            [
                "/bin/ov",
                "scripted-agent",
                "--script",
                "/s.json",
                "--resume",
                "x"
            ]
        );
        assert!(r.is_headless());
        assert_eq!(
            r.print_command("p", None),
            [
                "/bin/ov",
                "scripted-agent",
                "--script",
                "/s.json",
                "--print",
                "p"
            ]
        );
    }
}
