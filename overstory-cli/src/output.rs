//! Everything `ov` writes to the terminal on success.
//!
//! A command returns an [`Output`]: the envelope's command name, the data
//! spread into the `--json` envelope, and the human lines. This module renders
//! it one way or the other. With `--json`, stdout carries exactly one compact
//! JSON document and nothing else.
//!
//! Output that cannot be written is a failure, never a silent success:
//! [`Output::print`] and [`write_raw`] write, flush and return a
//! [`WriteError`] (a full disk, a closed pipe), and `ov` then exits 1 with
//! the error on stderr. A command whose effect depends on its output being
//! read (`ov mail check` marks mail read) prints its output itself and
//! undoes the effect when the write fails. Streamed output ([`print_raw`]:
//! `--follow`, `--watch`) stops at the first failed write; a reader that
//! went away (a broken pipe) is how a stream is meant to end and counts as
//! success, while any other write error is remembered and makes `ov` exit 1
//! at the end ([`take_stream_failure`]).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the one module that writes output"
)]

use std::io::{IsTerminal as _, Write as _};
use std::sync::Mutex;

use overstory_core::env;
use serde_json::{Map, Value};

use crate::error::CliError;

/// Colour settings for human output.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Whether ANSI colour codes are written.
    pub color: bool,
}

impl Style {
    /// Decides colour from the environment: `NO_COLOR` (any non-empty value)
    /// and `TERM=dumb` turn it off, `FORCE_COLOR` turns it on (unless `0` or
    /// `false`), otherwise colour follows whether stdout is a terminal.
    pub fn detect() -> Self {
        let color = if env::is_set(env::NO_COLOR) {
            false
        } else if let Some(force) = env::var(env::FORCE_COLOR) {
            !matches!(force.as_str(), "0" | "false")
        } else if env::var(env::TERM).as_deref() == Some("dumb") {
            false
        } else {
            std::io::stdout().is_terminal()
        };
        Self { color }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Returns `text` in green.
    pub fn green(self, text: &str) -> String {
        self.paint("32", text)
    }

    /// Returns `text` in yellow.
    pub fn yellow(self, text: &str) -> String {
        self.paint("33", text)
    }

    /// Returns `text` in red.
    pub fn red(self, text: &str) -> String {
        self.paint("31", text)
    }

    /// Returns `text` dimmed.
    pub fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }

    /// Returns `text` in bold.
    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }
}

/// One line of human output.
#[derive(Debug, Clone)]
pub enum Line {
    /// `✓ <msg>`; hidden by `--quiet`.
    Success(String),
    /// `! <msg> — <hint>`; hidden by `--quiet`.
    Warning(String, Option<String>),
    /// A dim, two-space indented hint; hidden by `--quiet`.
    Hint(String),
    /// Plain text written as is (tables, context); never hidden.
    Raw(String),
}

/// What a command produced.
#[derive(Debug, Clone)]
pub struct Output {
    command: String,
    data: Map<String, Value>,
    lines: Vec<Line>,
    /// When set, `--json` prints this value bare instead of an envelope.
    bare_json: Option<Value>,
    /// Prints nothing at all (the command already streamed its output).
    silent: bool,
    /// When set, the human lines are printed even under `--json` (hook
    /// formats such as `mail check --inject` take precedence over it).
    text_only: bool,
    /// The command ran and reports a failure it found (`ov doctor` with a
    /// failed check): printed as usual, then exit 1.
    failed: bool,
}

impl Output {
    /// Starts an output for the envelope command name `command`.
    pub fn new(command: impl Into<String>) -> Self {
        Self {
            command: command.into(),
            data: Map::new(),
            lines: Vec::new(),
            bare_json: None,
            silent: false,
            text_only: false,
            failed: false,
        }
    }

    /// Starts an output that prints nothing, for commands that streamed
    /// their output as they ran (`ov feed --follow`).
    pub fn silent(command: impl Into<String>) -> Self {
        Self {
            silent: true,
            ..Self::new(command)
        }
    }

    /// Serializes `value` and spreads its fields into the envelope.
    ///
    /// # Errors
    /// An internal [`CliError`] when `value` cannot be encoded as JSON.
    pub fn data_of<T: serde::Serialize + ?Sized>(self, value: &T) -> Result<Self, CliError> {
        Ok(self.data(to_json(value)?))
    }

    /// Spreads the fields of `data` (a JSON object) into the envelope.
    pub fn data(mut self, data: Value) -> Self {
        if let Value::Object(map) = data {
            self.data.extend(map);
        }
        self
    }

    /// Sets one envelope field.
    pub fn field(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.data.insert(key.to_owned(), value.into());
        self
    }

    /// Prints `value` as is under `--json` (no envelope).
    pub fn bare_json(mut self, value: Value) -> Self {
        self.bare_json = Some(value);
        self
    }

    /// Prints the human lines even under `--json` (no envelope).
    pub fn text_only(mut self) -> Self {
        self.text_only = true;
        self
    }

    /// Marks the output as reporting a failure: it prints as usual and `ov`
    /// exits 1.
    pub fn failed(mut self) -> Self {
        self.failed = true;
        self
    }

    /// Returns whether the output reports a failure (see [`Output::failed`]).
    pub fn is_failure(&self) -> bool {
        self.failed
    }

    /// Adds a `✓` line.
    pub fn success(mut self, msg: impl Into<String>) -> Self {
        self.lines.push(Line::Success(msg.into()));
        self
    }

    /// Adds a `!` line.
    pub fn warning(mut self, msg: impl Into<String>, hint: Option<String>) -> Self {
        self.lines.push(Line::Warning(msg.into(), hint));
        self
    }

    /// Adds a dim hint line.
    pub fn hint(mut self, msg: impl Into<String>) -> Self {
        self.lines.push(Line::Hint(msg.into()));
        self
    }

    /// Adds plain text (may hold several lines).
    pub fn raw(mut self, text: impl Into<String>) -> Self {
        self.lines.push(Line::Raw(text.into()));
        self
    }

    /// Writes the output to stdout and flushes it.
    ///
    /// # Errors
    /// A [`WriteError`] when stdout cannot take the output (closed pipe,
    /// full disk): the output was not (wholly) delivered.
    pub fn print(&self, json: bool, quiet: bool, style: Style) -> Result<(), WriteError> {
        write_raw(&self.render(json, quiet, style))
    }

    /// Renders the output as it would be printed.
    pub fn render(&self, json: bool, quiet: bool, style: Style) -> String {
        if self.silent {
            return String::new();
        }
        if json && !self.text_only {
            // Serialised in place: large payloads (ov status with a
            // thousand sessions) are not deep-copied into a new envelope.
            let mut text = match &self.bare_json {
                Some(v) => v.to_string(),
                None => envelope_ok_text(&self.command, &self.data),
            };
            text.push('\n');
            return text;
        }
        let mut s = String::new();
        for line in &self.lines {
            match line {
                Line::Success(m) if !quiet => {
                    s.push_str(&format!("{} {m}\n", style.green("✓")));
                }
                Line::Warning(m, hint) if !quiet => {
                    let tail = hint.as_ref().map(|h| format!(" — {h}")).unwrap_or_default();
                    s.push_str(&format!("{} {m}{tail}\n", style.yellow("!")));
                }
                Line::Hint(h) if !quiet => {
                    s.push_str(&style.dim(&format!("  {h}")));
                    s.push('\n');
                }
                Line::Raw(t) => {
                    s.push_str(t);
                    if !t.ends_with('\n') {
                        s.push('\n');
                    }
                }
                _ => {}
            }
        }
        s
    }
}

/// Builds `{"success":true,"command":…, …data}` as a value: the reference
/// the envelope text is tested against.
#[cfg(test)]
fn envelope_ok(command: &str, data: &Map<String, Value>) -> Value {
    let mut map = Map::new();
    map.insert("success".into(), Value::Bool(true));
    map.insert("command".into(), Value::String(command.to_owned()));
    for (k, v) in data {
        if k != "success" && k != "command" {
            map.insert(k.clone(), v.clone());
        }
    }
    Value::Object(map)
}

/// One success envelope line for streamed output (`--follow` under
/// `--json`): `data`'s fields (a JSON object) after `success` and `command`,
/// then a newline.
pub fn envelope_line(command: &str, data: &Value) -> String {
    let empty = Map::new();
    let map = data.as_object().unwrap_or(&empty);
    format!("{}\n", envelope_ok_text(command, map))
}

/// Returns the text of [`envelope_ok`] without building the envelope value.
fn envelope_ok_text(command: &str, data: &Map<String, Value>) -> String {
    let quote = |s: &str| Value::String(s.to_owned()).to_string();
    let mut s = format!("{{\"success\":true,\"command\":{}", quote(command));
    for (k, v) in data {
        if k != "success" && k != "command" {
            s.push(',');
            s.push_str(&quote(k));
            s.push(':');
            s.push_str(&v.to_string());
        }
    }
    s.push('}');
    s
}

/// Builds `{"success":false,"command":…,"error":…,"code":…}`.
pub fn envelope_err(command: &str, error: &str, code: Option<&str>) -> Value {
    let mut map = Map::new();
    map.insert("success".into(), Value::Bool(false));
    map.insert("command".into(), Value::String(command.to_owned()));
    map.insert("error".into(), Value::String(error.to_owned()));
    if let Some(code) = code {
        map.insert("code".into(), Value::String(code.to_owned()));
    }
    Value::Object(map)
}

/// Writes a line to stderr (progress and timing lines that are not output).
/// A stderr that cannot be written is ignored: there is nowhere left to say so.
pub fn eprint_line(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// Stdout could not take the output.
#[derive(Debug)]
pub struct WriteError {
    /// What the operating system said (`EPIPE`, `ENOSPC`, …).
    pub source: std::io::Error,
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Could not write the output to stdout")
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl WriteError {
    /// Returns whether the reader went away (a closed pipe).
    pub fn is_broken_pipe(&self) -> bool {
        self.source.kind() == std::io::ErrorKind::BrokenPipe
    }
}

impl From<WriteError> for CliError {
    fn from(e: WriteError) -> Self {
        let hint = if e.is_broken_pipe() {
            "The program reading ov's output closed it early"
        } else {
            "Make room on the disk (or fix what stdout is redirected to) and run the command again"
        };
        CliError::with_code("OUTPUT_ERROR", e.to_string())
            .caused_by(e.source)
            .hint(hint)
    }
}

/// Writes text to stdout as is and flushes it.
///
/// # Errors
/// A [`WriteError`] when stdout cannot take it.
pub fn write_raw(text: &str) -> Result<(), WriteError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|source| WriteError { source })
}

/// The first write error of streamed output that was not a closed pipe.
static STREAM_FAILURE: Mutex<Option<WriteError>> = Mutex::new(None);

/// Writes streamed text to stdout (follow lines, progress, help) and
/// returns whether it was written, so a loop can stop at the first
/// failure. A closed pipe ends a stream normally; any other failure is
/// remembered, and `ov` exits 1 once the command returns.
pub fn print_raw(text: &str) -> bool {
    match write_raw(text) {
        Ok(()) => true,
        Err(e) => {
            if !e.is_broken_pipe()
                && let Ok(mut slot) = STREAM_FAILURE.lock()
            {
                slot.get_or_insert(e);
            }
            false
        }
    }
}

/// Returns (and forgets) the remembered failure of streamed output.
pub fn take_stream_failure() -> Option<WriteError> {
    STREAM_FAILURE.lock().ok().and_then(|mut slot| slot.take())
}

/// Prints an error for the user: the `--json` failure envelope on stdout,
/// or the human lines on stderr. When even the envelope cannot be written
/// to stdout, the human lines go to stderr, so an error is never lost.
pub fn print_error(err: &CliError, json: bool, command: &str, style: Style) {
    if json && write_raw(&format!("{}\n", err.envelope(command))).is_ok() {
        return;
    }
    let (head, details) = err.lines();
    let mut text = format!("{}\n", style.red(&head));
    for line in &details {
        text.push_str(&style.dim(line));
        text.push('\n');
    }
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Encodes `value` as JSON for an envelope; a failure is an internal error
/// rather than silently empty data.
///
/// # Errors
/// An internal [`CliError`] naming the type that could not be encoded.
pub fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Value, CliError> {
    serde_json::to_value(value).map_err(|e| {
        CliError::new(format!(
            "Failed to encode {} as JSON",
            std::any::type_name::<T>()
        ))
        .caused_by(e)
        .internal()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelope_spreads_data_after_success_and_command() {
        let out = Output::new("mail send").data(json!({"id": "msg-1", "to": "x"}));
        let text = out.render(true, false, Style { color: false });
        assert_eq!(
            text,
            "{\"success\":true,\"command\":\"mail send\",\"id\":\"msg-1\",\"to\":\"x\"}\n"
        );
    }

    #[test]
    fn quiet_hides_status_lines_but_not_raw_text() {
        let out = Output::new("x")
            .success("done")
            .warning("careful", Some("hint".into()))
            .hint("try this")
            .raw("table");
        let style = Style { color: false };
        assert_eq!(
            out.render(false, false, style),
            "✓ done\n! careful — hint\n  try this\ntable\n"
        );
        assert_eq!(out.render(false, true, style), "table\n");
    }

    #[test]
    fn envelope_text_equals_the_envelope_value() {
        let data = json!({"a": [1, {"b": "x\"y"}], "command": "ignored", "z": null});
        let map = data.as_object().unwrap().clone();
        assert_eq!(
            envelope_ok_text("st\"at", &map),
            envelope_ok("st\"at", &map).to_string()
        );
    }

    #[test]
    fn error_envelope_shape() {
        let v = envelope_err("sling", "boom", Some("AGENT_ERROR"));
        assert_eq!(
            v.to_string(),
            "{\"success\":false,\"command\":\"sling\",\"error\":\"boom\",\"code\":\"AGENT_ERROR\"}"
        );
    }
}
