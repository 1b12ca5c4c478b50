//! The scripted runtime: a deterministic agent with no model.
//!
//! [`ScriptedRuntime`] spawns `ov scripted-agent --script <file>` as the
//! agent's child process. That process reads user turns from stdin (the
//! same stream-json lines headless Claude reads) and, for each line, plays
//! one turn of the script — writing Claude-shaped stream-json to stdout, sending mail through
//! `ov mail send`, editing files and committing in its working directory,
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
//! `<agent>.json`, then `<role>.json` (the agent name up to its last `-`, so
//! `builder-2` finds `builder.json`), then `default.json`; with none of
//! them it echoes its input.
//!
//! A top-level `"steps": [...]` is shorthand for a single turn. Turn *n* of a
//! session (counted per session id in a state directory next to the script,
//! or in `$OVERSTORY_SCRIPTED_STATE_DIR`) plays `turns[n]`; after the last
//! turn, the last one repeats. A process that gets several user lines (a
//! persistent agent) plays them as consecutive turns of one session.
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
//! | `{"mail": {"to", "subject", "body", "type", "priority", "payload"}}` | runs `ov mail send … --agent $OVERSTORY_AGENT_NAME` |
//! | `{"sleep_ms": n}` | pauses |
//! | `{"stall_ms": n}` / `{"stall": null}` | no output for n ms / forever |
//! | `{"emit": {...}}` / `{"emit_raw": "text"}` | writes a raw stream-json line / raw text |
//! | `{"result": {"text", "is_error"}}` | the result line (otherwise a success result ends the turn) |
//! | `{"exit": n}` | exits with code n at once (no result line) |
//! | `{"crash": true}` | aborts (SIGABRT, no result line) |

use std::io::Write;
use std::path::{Path, PathBuf};
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
use crate::stream_json::{EventReader, ParseOptions};

/// Environment variable that overrides where turn counters are kept.
pub const STATE_DIR_VAR: &str = "OVERSTORY_SCRIPTED_STATE_DIR";

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
    /// Assistant text.
    Say(String),
    /// Assistant text equal to the user turn.
    EchoInput(bool),
    /// A tool call and result, nothing executed.
    Tool(ToolStep),
    /// Run a shell command.
    Run(String),
    /// Write a file.
    Write {
        /// Path (relative to the cwd or absolute).
        path: String,
        /// Content.
        content: String,
    },
    /// Replace text in a file.
    Edit {
        /// Path.
        path: String,
        /// Text to find.
        old: String,
        /// Replacement.
        new: String,
    },
    /// Commit everything in the cwd's repository.
    Commit(String),
    /// Send mail through `ov mail send`.
    Mail(MailStep),
    /// Pause.
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
    /// Abort the process.
    Crash(bool),
}

/// A simulated tool call.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolStep {
    /// Tool name.
    pub name: String,
    /// Tool input.
    #[serde(default)]
    pub input: Value,
    /// Reported result.
    #[serde(default)]
    pub result: Option<String>,
    /// Whether the result is an error.
    #[serde(default)]
    pub is_error: bool,
}

/// A mail to send.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailStep {
    /// Recipient.
    pub to: String,
    /// Subject.
    #[serde(default)]
    pub subject: String,
    /// Body.
    #[serde(default)]
    pub body: String,
    /// Mail type (`status` when absent).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Priority.
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
    /// Result text.
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

/// Where and as whom a turn is played.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PlayOptions {
    /// Working directory (the worktree).
    pub cwd: PathBuf,
    /// The `ov` binary used for mail steps.
    pub ov_program: PathBuf,
    /// Session to resume (from `--resume`).
    pub resume: Option<String>,
    /// Sender of mail steps (`OVERSTORY_AGENT_NAME`).
    pub agent_name: Option<String>,
    /// Where turn counters are kept.
    pub state_dir: PathBuf,
}

impl PlayOptions {
    /// Creates options for `cwd` with turn counters in `state_dir`.
    pub fn new(
        cwd: impl Into<PathBuf>,
        ov_program: impl Into<PathBuf>,
        state_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            cwd: cwd.into(),
            ov_program: ov_program.into(),
            resume: None,
            agent_name: None,
            state_dir: state_dir.into(),
        }
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

struct Player<'a> {
    out: &'a mut dyn Write,
    session: String,
    model: String,
    opts: &'a PlayOptions,
    last_text: Option<String>,
    call: usize,
}

impl Player<'_> {
    fn line(&mut self, v: &Value) -> Result<(), RuntimeError> {
        let io = |source| RuntimeError::Io {
            action: "write to stdout",
            source,
        };
        writeln!(self.out, "{v}").map_err(io)?;
        self.out.flush().map_err(io)
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

    fn result(&mut self, text: &str, is_error: bool, started: Instant) -> Result<(), RuntimeError> {
        let v = json!({
            "type": "result",
            "subtype": if is_error { "error_during_execution" } else { "success" },
            "is_error": is_error,
            "duration_ms": started.elapsed().as_millis() as u64,
            "num_turns": 1,
            "result": text,
            "session_id": self.session,
            "total_cost_usd": 0.0,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        });
        self.line(&v)
    }

    fn shell(&self, command: &str) -> (bool, String) {
        let out = overstory_core::process::foreground_command("sh")
            .args(["-c", command])
            .current_dir(&self.opts.cwd)
            .stdin(std::process::Stdio::null())
            .output();
        match out {
            Ok(o) => {
                let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&o.stderr));
                (o.status.success(), text)
            }
            Err(e) => (false, format!("failed to start sh: {e}")),
        }
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

/// Plays one turn of `script` with `input` (the stdin text) and writes
/// stream-json to `out`.
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
    let session = opts
        .resume
        .clone()
        .or_else(|| script.session_id.clone())
        .unwrap_or_else(|| format!("scripted-{}", overstory_core::ids::random_alnum(12)));
    let file = format!("{}.turn", sanitize(&session));
    let store = |dir: &Path, n: usize| {
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(dir.join(&file), format!("{}\n", n + 1)))
    };
    let mut n = read_counter(&opts.state_dir.join(&file));
    if store(&opts.state_dir, n).is_err() {
        // A read-only script directory: keep counting in the temp dir.
        let fallback = std::env::temp_dir().join("ov-scripted-state");
        n = read_counter(&fallback.join(&file)).max(n);
        store(&fallback, n).map_err(|source| RuntimeError::Io {
            action: "store the scripted turn counter",
            source,
        })?;
    }
    let turn = script.turn(n);
    let model = script
        .model
        .clone()
        .unwrap_or_else(|| "scripted".to_owned());
    let mut p = Player {
        out,
        session: session.clone(),
        model: model.clone(),
        opts,
        last_text: None,
        call: 0,
    };
    p.line(&json!({
        "type": "system", "subtype": "init", "session_id": session, "model": model,
        "cwd": opts.cwd.to_string_lossy(), "tools": ["Bash", "Edit", "Write"],
        "permissionMode": "bypassPermissions",
    }))?;
    let mut result_written = false;
    for step in &turn.steps {
        match step {
            Step::Say(t) => p.say(t)?,
            Step::EchoInput(_) => p.say(input)?,
            Step::Tool(t) => p.tool(
                &t.name,
                t.input.clone(),
                t.result.as_deref().unwrap_or(""),
                t.is_error,
            )?,
            Step::Run(cmd) => {
                let (ok, text) = p.shell(cmd);
                p.tool("Bash", json!({"command": cmd}), &text, !ok)?;
            }
            Step::Write { path, content } => {
                let full = p.path(path);
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
                p.tool(
                    "Write",
                    json!({"file_path": full, "content": content}),
                    &text,
                    err,
                )?;
            }
            Step::Edit { path, old, new } => {
                let full = p.path(path);
                let res = std::fs::read_to_string(&full).and_then(|s| {
                    if s.contains(old.as_str()) {
                        std::fs::write(&full, s.replacen(old.as_str(), new, 1)).map(|()| true)
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
                p.tool(
                    "Edit",
                    json!({"file_path": full, "old_string": old, "new_string": new}),
                    &text,
                    err,
                )?;
            }
            Step::Commit(msg) => {
                let cmd = format!(
                    "git add -A && git commit -q -m {}",
                    crate::shell::shell_quote(msg)
                );
                let (ok, text) = p.shell(&cmd);
                p.tool("Bash", json!({"command": cmd}), &text, !ok)?;
            }
            Step::Mail(m) => {
                let mut args: Vec<String> = vec![
                    "mail".into(),
                    "send".into(),
                    "--to".into(),
                    m.to.clone(),
                    "--subject".into(),
                    m.subject.clone(),
                    "--body".into(),
                    m.body.clone(),
                ];
                if let Some(t) = &m.kind {
                    args.extend(["--type".into(), t.clone()]);
                }
                if let Some(pr) = &m.priority {
                    args.extend(["--priority".into(), pr.clone()]);
                }
                if let Some(pl) = &m.payload {
                    args.extend(["--payload".into(), pl.to_string()]);
                }
                let agent = opts
                    .agent_name
                    .clone()
                    .unwrap_or_else(|| "scripted-agent".into());
                args.extend(["--agent".into(), agent]);
                let out = overstory_core::process::foreground_command(&opts.ov_program)
                    .args(&args)
                    .current_dir(&opts.cwd)
                    .stdin(std::process::Stdio::null())
                    .output();
                let (ok, text) = match out {
                    Ok(o) => (
                        o.status.success(),
                        format!(
                            "{}{}",
                            String::from_utf8_lossy(&o.stdout),
                            String::from_utf8_lossy(&o.stderr)
                        ),
                    ),
                    Err(e) => (
                        false,
                        format!("failed to start {}: {e}", opts.ov_program.display()),
                    ),
                };
                let shown = std::iter::once(opts.ov_program.to_string_lossy().into_owned())
                    .chain(args.iter().map(|a| crate::shell::shell_quote(a)))
                    .collect::<Vec<_>>()
                    .join(" ");
                p.tool("Bash", json!({"command": shown}), &text, !ok)?;
            }
            Step::SleepMs(ms) | Step::StallMs(ms) => std::thread::sleep(Duration::from_millis(*ms)),
            Step::Stall(Some(ms)) => std::thread::sleep(Duration::from_millis(*ms)),
            Step::Stall(None) => loop {
                std::thread::sleep(Duration::from_secs(3600));
            },
            Step::Emit(v) => p.line(v)?,
            Step::EmitRaw(t) => {
                let io = |source| RuntimeError::Io {
                    action: "write to stdout",
                    source,
                };
                writeln!(p.out, "{t}").map_err(io)?;
                p.out.flush().map_err(io)?;
            }
            Step::Result(r) => {
                let text = r
                    .text
                    .clone()
                    .or_else(|| p.last_text.clone())
                    .unwrap_or_else(|| "done".into());
                p.result(&text, r.is_error, started)?;
                result_written = true;
            }
            Step::Exit(code) => return Ok(Outcome::Exit(*code)),
            Step::Crash(_) => return Ok(Outcome::Crash),
        }
    }
    if !result_written {
        let text = turn
            .result
            .clone()
            .or_else(|| p.last_text.clone())
            .unwrap_or_else(|| "done".into());
        p.result(&text, false, started)?;
    }
    Ok(Outcome::Exit(0))
}

/// Environment variable naming a directory of agent scripts.
pub const SCRIPTS_DIR_VAR: &str = "OVERSTORY_SCRIPTS_DIR";

/// Finds the script for `agent` in `dir`: `<agent>.json`, then the name up
/// to its last `-` (`builder-2` ⇒ `builder.json`), then `default.json`.
pub fn find_script(dir: &Path, agent: Option<&str>) -> Option<PathBuf> {
    let mut names = Vec::new();
    if let Some(a) = agent {
        names.push(format!("{a}.json"));
        if let Some((stem, _)) = a.rsplit_once('-') {
            names.push(format!("{stem}.json"));
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
/// found by [`find_script`] in [`scripts_dir_from_env`], else a default that
/// echoes its input), reads the user turn from `stdin` unless the script
/// says not to, and plays it to `stdout`.
///
/// Turn counters go to `$OVERSTORY_SCRIPTED_STATE_DIR`, else next to the
/// script, else to a directory under the system temp dir. Mail steps run
/// `ov_program` as `OVERSTORY_AGENT_NAME`.
///
/// # Errors
/// [`RuntimeError::Script`] for a bad script; [`RuntimeError::Io`] when
/// stdin or stdout fail.
pub fn run_agent(
    script_path: Option<&Path>,
    resume: Option<String>,
    print: Option<&str>,
    cwd: &Path,
    ov_program: &Path,
    stdin: &mut dyn std::io::Read,
    stdout: &mut dyn Write,
) -> Result<Outcome, RuntimeError> {
    let agent = overstory_core::env::var(overstory_core::env::AGENT_NAME);
    let found = match script_path {
        Some(p) => Some(p.to_path_buf()),
        None => scripts_dir_from_env().and_then(|d| find_script(&d, agent.as_deref())),
    };
    let script_path = found.as_deref();
    let script = match script_path {
        Some(p) => Script::load(p)?,
        None => Script {
            steps: Some(vec![Step::EchoInput(true)]),
            ..Script::default()
        },
    };
    if let Some(prompt) = print {
        // Print mode: the prompt is the input and only the final text is
        // written, like `claude --print`.
        let opts = PlayOptions::new(cwd, ov_program, state_dir_for(script_path)).agent_name(agent);
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
        let opts = PlayOptions::new(cwd, ov_program, state_dir_for(script_path))
            .resume(resume)
            .agent_name(agent);
        return play(&script, "", &opts, stdout);
    }
    // One turn per user line, for as long as stdin stays open: a
    // spawn-per-turn runner writes one line and closes stdin (one turn); an
    // agent host keeps it open and writes a line per turn. Every turn of
    // one process plays in the same session, so the turn index advances.
    let session = resume
        .filter(|s| !s.is_empty())
        .or_else(|| script.session_id.clone())
        .unwrap_or_else(|| format!("scripted-{}", overstory_core::ids::random_alnum(12)));
    let opts = PlayOptions::new(cwd, ov_program, state_dir_for(script_path))
        .resume(Some(session))
        .agent_name(agent);
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

fn state_dir_for(script_path: Option<&Path>) -> PathBuf {
    overstory_core::env::var(STATE_DIR_VAR)
        .map(PathBuf::from)
        .or_else(|| script_path.map(default_state_dir))
        .unwrap_or_else(|| std::env::temp_dir().join("ov-scripted-state"))
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
    /// Without a script the child plays a one-step script that echoes its
    /// input.
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
            .map(|a| crate::shell::shell_quote(&a.to_string_lossy()))
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
        let opts = PlayOptions::new(dir, "ov", dir.join(".state"));
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
    fn an_unwritable_state_dir_falls_back_to_the_temp_dir() {
        let d = tempfile::tempdir().unwrap();
        let blocker = d.path().join("state");
        std::fs::write(&blocker, "not a directory").unwrap();
        let s = Script::parse(
            r#"{"turns":[{"steps":[{"say":"a"}]},{"steps":[{"say":"b"}]}]}"#,
            Path::new("t"),
        )
        .unwrap();
        let sid = format!("fallback-{}", overstory_core::ids::random_alnum(10));
        let opts = PlayOptions::new(d.path(), "ov", &blocker).resume(Some(sid.clone()));
        let said = |o: &PlayOptions| {
            let mut out = Vec::new();
            play(&s, "", o, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert!(said(&opts).contains("\"a\""));
        assert!(said(&opts).contains("\"b\""));
        let _ = std::fs::remove_file(
            std::env::temp_dir()
                .join("ov-scripted-state")
                .join(format!("{sid}.turn")),
        );
    }

    #[test]
    fn resume_id_becomes_the_session_id() {
        let d = tempfile::tempdir().unwrap();
        let s = Script::parse(r#"{"steps":[]}"#, Path::new("t")).unwrap();
        let opts =
            PlayOptions::new(d.path(), "ov", d.path().join("st")).resume(Some("keep-me".into()));
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
            Path::new("ov"),
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
            Path::new("ov"),
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
            Path::new("ov"),
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
