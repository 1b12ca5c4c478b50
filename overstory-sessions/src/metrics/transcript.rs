//! Token usage from a Claude Code transcript (JSONL).

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::TokenUsage;

/// Returns the directory key Claude Code uses for a project path under
/// `~/.claude/projects/`: every character that is not an ASCII letter or
/// digit becomes `-`.
///
/// The original replaced only `/`, so roots containing `.` or `_` were
/// looked up in the wrong directory.
pub fn project_key(root: &Path) -> String {
    root.to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// Sums the usage of every assistant turn in transcript `text`.
///
/// The one place transcripts are counted. The rules:
/// - only `"type":"assistant"` lines whose `message.usage` is an object
///   count; blank, malformed and other lines are skipped;
/// - a counter counts only as a non-negative integer; a missing, negative,
///   fractional or non-numeric one counts 0 (a negative count is malformed,
///   not a refund);
/// - the model is that of the first *counted* turn that names one, so it
///   names a model whose tokens are in the sum (an assistant line without
///   usage says nothing about the tokens).
pub fn parse_transcript(text: &str) -> TokenUsage {
    let mut u = TokenUsage::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v.get("type").and_then(|t| t.as_str()) != Some("assistant") {
            continue;
        }
        let Some(msg) = v.get("message") else {
            continue;
        };
        let Some(usage) = msg.get("usage").filter(|x| x.is_object()) else {
            continue;
        };
        let n = |k: &str| {
            usage
                .get(k)
                .and_then(serde_json::Value::as_u64)
                .map_or(0, |v| i64::try_from(v).unwrap_or(i64::MAX))
        };
        u.input_tokens += n("input_tokens");
        u.output_tokens += n("output_tokens");
        u.cache_read_tokens += n("cache_read_input_tokens");
        u.cache_creation_tokens += n("cache_creation_input_tokens");
        if u.model_used.is_none() {
            u.model_used = msg.get("model").and_then(|m| m.as_str()).map(str::to_owned);
        }
    }
    u
}

/// Reads and parses the transcript at `path`; `None` when it cannot be read.
pub fn read_transcript(path: &Path) -> Option<TokenUsage> {
    std::fs::read_to_string(path)
        .ok()
        .map(|t| parse_transcript(&t))
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Cursor {
    path: PathBuf,
    offset: u64,
    usage: TokenUsage,
}

/// Returns the transcript's usage, reading only what was appended since the
/// last call: the sum so far and the byte offset of the last complete line
/// are kept in `cursor_file`. A different or truncated transcript starts over.
/// (The original re-parsed the whole file on every snapshot.)
pub fn read_transcript_incremental(transcript: &Path, cursor_file: &Path) -> Option<TokenUsage> {
    let mut cur = std::fs::read_to_string(cursor_file)
        .ok()
        .and_then(|t| serde_json::from_str::<Cursor>(&t).ok())
        .filter(|c| c.path == transcript)
        .unwrap_or_else(|| Cursor {
            path: transcript.to_owned(),
            ..Cursor::default()
        });
    let mut f = std::fs::File::open(transcript).ok()?;
    let len = f.metadata().ok()?.len();
    if len < cur.offset {
        cur = Cursor {
            path: transcript.to_owned(),
            ..Cursor::default()
        };
    }
    let mut buf = Vec::new();
    f.seek(SeekFrom::Start(cur.offset)).ok()?;
    f.read_to_end(&mut buf).ok()?;
    if let Some(last_nl) = buf.iter().rposition(|b| *b == b'\n') {
        let add = parse_transcript(&String::from_utf8_lossy(&buf[..=last_nl]));
        cur.usage.add(&add);
        cur.offset += last_nl as u64 + 1;
        if let Ok(text) = serde_json::to_string(&cur) {
            let _ = overstory_core::fsio::write_atomic(cursor_file, text);
        }
    }
    Some(cur.usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_assistant_turns_and_takes_first_model() {
        let text = r#"{"type":"user","message":{"usage":{"input_tokens":999}}}
{"type":"assistant","message":{"model":"claude-sonnet-4","usage":{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":3}}}
not json
{"type":"assistant","message":{"model":"claude-opus-4","usage":{"input_tokens":1,"output_tokens":"x","cache_creation_input_tokens":7}}}
"#;
        let u = parse_transcript(text);
        assert_eq!(
            (
                u.input_tokens,
                u.output_tokens,
                u.cache_read_tokens,
                u.cache_creation_tokens
            ),
            (11, 5, 3, 7)
        );
        assert_eq!(u.model_used.as_deref(), Some("claude-sonnet-4"));
    }

    #[test]
    fn only_non_negative_integer_counters_and_the_first_counted_model_count() {
        let text = r#"{"type":"assistant","message":{"model":"no-usage","content":[]}}
{"type":"assistant","message":{"model":"claude-a","usage":"not an object"}}
{"type":"assistant","message":{"usage":{"input_tokens":4}}}
{"type":"assistant","message":{"model":"claude-b","usage":{"input_tokens":-50,"output_tokens":2.5,"cache_read_input_tokens":"9"}}}
{"type":"assistant","message":{"model":"claude-c","usage":{"input_tokens":6,"output_tokens":1}}}
"#;
        let u = parse_transcript(text);
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.cache_read_tokens),
            (10, 1, 0)
        );
        assert_eq!(u.model_used.as_deref(), Some("claude-b"));
        assert_eq!(
            parse_transcript("\u{0}\u{1}not json"),
            TokenUsage::default()
        );
    }

    #[test]
    fn incremental_reading_equals_a_full_parse() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("t.jsonl");
        let cursor = dir.path().join("cursor");
        let line = |n: i64| {
            format!(
                "{{\"type\":\"assistant\",\"message\":{{\"model\":\"m{n}\",\"usage\":{{\"input_tokens\":{n},\"output_tokens\":1}}}}}}\n"
            )
        };
        let append = |s: &str| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&t)
                .unwrap()
                .write_all(s.as_bytes())
                .unwrap();
        };
        append(&(line(1) + &line(2)));
        assert_eq!(
            read_transcript_incremental(&t, &cursor)
                .unwrap()
                .input_tokens,
            3
        );
        let l3 = line(4);
        let (head, tail) = l3.split_at(10);
        append(head);
        assert_eq!(
            read_transcript_incremental(&t, &cursor)
                .unwrap()
                .input_tokens,
            3
        );
        append(tail);
        let inc = read_transcript_incremental(&t, &cursor).unwrap();
        assert_eq!(inc, read_transcript(&t).unwrap());
        assert_eq!(inc.model_used.as_deref(), Some("m1"));
        // A rewritten (shorter) transcript starts over.
        std::fs::write(&t, line(5)).unwrap();
        assert_eq!(
            read_transcript_incremental(&t, &cursor)
                .unwrap()
                .input_tokens,
            5
        );
    }
}
