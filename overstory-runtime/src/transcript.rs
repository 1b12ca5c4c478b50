//! Claude session transcripts (`~/.claude/projects/<key>/<session>.jsonl`).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::runtime::TranscriptSummary;

pub use overstory_sessions::metrics::project_key;

/// Returns `<home>/.claude/projects/<key>`, or `None` without a home.
pub fn transcript_dir(home: Option<&Path>, root: &Path) -> Option<PathBuf> {
    let home = home.filter(|h| !h.as_os_str().is_empty())?;
    Some(
        home.join(".claude")
            .join("projects")
            .join(project_key(root)),
    )
}

/// Sums assistant token usage in transcript text.
///
/// Blank, malformed and non-assistant lines are skipped; only numeric usage
/// fields count; the model is the first assistant `message.model` seen.
pub fn summarize(text: &str) -> TranscriptSummary {
    let mut s = TranscriptSummary::default();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line.trim()) else {
            continue;
        };
        if v.get("type").and_then(Value::as_str) != Some("assistant") {
            continue;
        }
        let Some(msg) = v.get("message").and_then(Value::as_object) else {
            continue;
        };
        if s.model.is_empty()
            && let Some(m) = msg.get("model").and_then(Value::as_str)
        {
            m.clone_into(&mut s.model);
        }
        let Some(usage) = msg.get("usage").and_then(Value::as_object) else {
            continue;
        };
        let n = |k: &str| usage.get(k).and_then(Value::as_u64).unwrap_or(0);
        s.input_tokens += n("input_tokens");
        s.output_tokens += n("output_tokens");
        s.cache_read_tokens += n("cache_read_input_tokens");
        s.cache_creation_tokens += n("cache_creation_input_tokens");
    }
    s
}

/// Reads and summarises a transcript; `None` when the file cannot be read.
pub async fn parse_file(path: &Path) -> Option<TranscriptSummary> {
    let bytes = tokio::fs::read(path).await.ok()?;
    Some(summarize(&String::from_utf8_lossy(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_replaces_every_non_alphanumeric_character() {
        assert_eq!(project_key(Path::new("/a/b.c_d")), "-a-b-c-d");
        assert_eq!(
            transcript_dir(Some(Path::new("/h")), Path::new("/w/p")).unwrap(),
            Path::new("/h/.claude/projects/-w-p")
        );
        assert!(transcript_dir(None, Path::new("/w")).is_none());
        assert!(transcript_dir(Some(Path::new("")), Path::new("/w")).is_none());
    }

    #[test]
    fn tokens_are_summed_across_assistant_turns_and_other_lines_ignored() {
        let text = r#"{"type":"user","message":{"usage":{"input_tokens":1000}}}
{"type":"assistant","message":{"model":"claude-a","usage":{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":2}}}

garbage
{"type":"assistant","message":{"model":"claude-b","usage":{"input_tokens":"x","output_tokens":7,"cache_creation_input_tokens":3}}}
"#;
        let s = summarize(text);
        assert_eq!(s.input_tokens, 10);
        assert_eq!(s.output_tokens, 12);
        assert_eq!(s.cache_read_tokens, 2);
        assert_eq!(s.cache_creation_tokens, 3);
        assert_eq!(s.model, "claude-a");
    }

    #[test]
    fn garbage_gives_zeros_and_missing_file_gives_none() {
        assert_eq!(
            summarize("\u{0}\u{1}not json"),
            TranscriptSummary::default()
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert!(
            rt.block_on(parse_file(Path::new("/nonexistent/x.jsonl")))
                .is_none()
        );
    }
}
