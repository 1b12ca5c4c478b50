//! Tier 1: ask a model whether a stalled agent should be retried,
//! terminated, or given more time.
//!
//! The agent's recent activity (its newest events in `events.db`, which
//! headless agents write instead of a `session.log`) goes into a prompt
//! run with the print mode of the runtime `runtime.printCommand` names
//! (else `runtime.default`, else Claude), killed after
//! `watchdog.triageTimeoutMs`. The answer must be exactly one word —
//! `retry`, `terminate` or `extend` — or a JSON object `{"verdict": …}`
//! ([`parse_verdict`]); anything else, a failure or a timeout falls back
//! to `extend`, marked as a fallback with the reason.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use overstory_core::events::{EventFilter, EventStore};
use overstory_core::{Config, Layout, process};
use overstory_runtime::registry::Registry;
use serde::Serialize;

/// What triage recommends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Recoverable: nudge it to retry.
    Retry,
    /// Failed for good: terminate it.
    Terminate,
    /// Busy with something long: give it one more nudge interval.
    Extend,
}

/// A verdict and how it was reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriageResult {
    /// The verdict (`extend` when triage could not decide).
    pub verdict: Verdict,
    /// Whether this is the fallback rather than the model's answer.
    pub fallback: bool,
    /// Why the fallback was used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl TriageResult {
    fn fallback(reason: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Extend,
            fallback: true,
            reason: Some(reason.into()),
        }
    }
}

/// Parses an exact verdict: the whole answer (trimmed, case-insensitive,
/// surrounding quotes, backticks and a final period removed) is one of
/// `retry`, `terminate`, `extend`, or a JSON object whose `verdict` is one.
/// "unrecoverable" or "not failed" are not verdicts.
pub fn parse_verdict(text: &str) -> Option<Verdict> {
    let text = text.trim();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text)
        && let Some(word) = v.get("verdict").and_then(|w| w.as_str())
    {
        return word_verdict(word);
    }
    word_verdict(text)
}

fn word_verdict(word: &str) -> Option<Verdict> {
    let w = word
        .trim()
        .trim_matches(|c| matches!(c, '`' | '"' | '\'' | '*'))
        .trim_end_matches('.')
        .to_ascii_lowercase();
    match w.as_str() {
        "retry" => Some(Verdict::Retry),
        "terminate" => Some(Verdict::Terminate),
        "extend" => Some(Verdict::Extend),
        _ => None,
    }
}

/// Builds the triage prompt for `agent` from its recent activity.
pub fn triage_prompt(agent: &str, last_activity: &str, log: &str) -> String {
    format!(
        "You are the overstory watchdog's triage step. Agent \"{agent}\" has been quiet since {last_activity}.\n\
         Its most recent activity:\n```\n{log}\n```\n\
         Answer with exactly one word: retry (it hit a recoverable problem), \
         terminate (it failed for good), or extend (it is busy with something long)."
    )
}

/// The newest `n` events of `agent`, one line each, oldest first.
fn recent_log(layout: &Layout, agent: &str, n: usize) -> Option<String> {
    let store = EventStore::open_if_exists(&layout.events_db()).ok()??;
    let events = store
        .by_agent(
            agent,
            &EventFilter {
                limit: Some(n),
                newest: true,
                ..EventFilter::default()
            },
        )
        .ok()?;
    if events.is_empty() {
        return None;
    }
    Some(
        events
            .iter()
            .map(|e| {
                format!(
                    "{} {} {}{}",
                    e.created_at,
                    e.event_type.as_str(),
                    e.tool_name.as_deref().unwrap_or(""),
                    e.data
                        .as_deref()
                        .map(|d| format!(" {d}"))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// Triages `agent` (quiet since `last_activity`) with the print-mode
/// runtime, waiting at most `timeout`. Never fails: problems become the
/// `extend` fallback with a reason.
pub fn triage(
    layout: &Layout,
    config: &Config,
    ov_program: Option<PathBuf>,
    agent: &str,
    last_activity: &str,
    timeout: Duration,
) -> TriageResult {
    let Some(log) = recent_log(layout, agent, 50) else {
        return TriageResult::fallback("No logs available");
    };
    let registry = Registry {
        script: None,
        ov_program,
    };
    let name = Registry::resolve_print_name(Some(config));
    let runtime = match registry.get(Some(name), Some(config), None) {
        Ok(r) => r,
        Err(e) => return TriageResult::fallback(format!("Runtime unavailable: {e}")),
    };
    let argv = runtime.print_command(&triage_prompt(agent, last_activity, &log), None);
    let Some((program, args)) = argv.split_first() else {
        return TriageResult::fallback("Runtime has no print command");
    };
    let mut child = match process::command(program)
        .args(args)
        .current_dir(layout.root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return TriageResult::fallback(format!("{name} unavailable: {e}")),
    };
    let pgid = i32::try_from(child.id()).unwrap_or(0);
    let reader = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = out.read_to_string(&mut text);
            text
        })
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => break None,
        }
    };
    let Some(status) = status else {
        let _ = process::signal_group(pgid, process::Sig::Kill);
        let _ = child.wait();
        return TriageResult::fallback(format!(
            "{name} did not answer within {}ms",
            timeout.as_millis()
        ));
    };
    // Anything the child started goes with it.
    let _ = process::signal_group(pgid, process::Sig::Kill);
    let text = reader.and_then(|r| r.join().ok()).unwrap_or_default();
    if !status.success() {
        return TriageResult::fallback(format!("{name} unavailable ({status})"));
    }
    match parse_verdict(&text) {
        Some(verdict) => TriageResult {
            verdict,
            fallback: false,
            reason: None,
        },
        None => TriageResult::fallback(format!(
            "Unrecognised triage answer: \"{}\"",
            text.trim().chars().take(80).collect::<String>()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_exact_words_or_json() {
        assert_eq!(parse_verdict("retry"), Some(Verdict::Retry));
        assert_eq!(parse_verdict("  Terminate.\n"), Some(Verdict::Terminate));
        assert_eq!(parse_verdict("`extend`"), Some(Verdict::Extend));
        assert_eq!(
            parse_verdict(r#"{"verdict":"terminate"}"#),
            Some(Verdict::Terminate)
        );
        // The original's substring matching got these wrong.
        assert_eq!(parse_verdict("unrecoverable"), None);
        assert_eq!(parse_verdict("it has not failed"), None);
        assert_eq!(parse_verdict("retry or terminate"), None);
        assert_eq!(parse_verdict(""), None);
    }

    #[test]
    fn the_prompt_names_the_agent_the_time_the_log_and_the_words() {
        let p = triage_prompt("builder-1", "2026-01-01T00:00:00.000Z", "a line");
        for needle in [
            "builder-1",
            "2026-01-01T00:00:00.000Z",
            "```\na line\n```",
            "retry",
            "terminate",
            "extend",
        ] {
            assert!(p.contains(needle), "{needle}");
        }
    }
}
