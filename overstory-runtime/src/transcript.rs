//! Claude session transcripts (`~/.claude/projects/<key>/<session>.jsonl`):
//! where they are, and reading one. Counting their tokens is
//! [`overstory_sessions::metrics::parse_transcript`]'s job (one set of
//! rules for the metrics store and the runtime).

use std::path::{Path, PathBuf};

use overstory_sessions::metrics::{TokenUsage, parse_transcript};

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

/// Reads a transcript and sums its token usage; `None` when the file cannot
/// be read.
pub async fn parse_file(path: &Path) -> Option<TokenUsage> {
    let bytes = tokio::fs::read(path).await.ok()?;
    Some(parse_transcript(&String::from_utf8_lossy(&bytes)))
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

    #[tokio::test]
    async fn tokens_are_summed_across_assistant_turns_and_other_lines_ignored() {
        let text = r#"{"type":"user","message":{"usage":{"input_tokens":1000}}}
{"type":"assistant","message":{"model":"claude-a","usage":{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":2}}}

garbage
{"type":"assistant","message":{"model":"claude-b","usage":{"input_tokens":"x","output_tokens":7,"cache_creation_input_tokens":3}}}
"#;
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("s.jsonl");
        std::fs::write(&file, text).unwrap();
        let s = parse_file(&file).await.unwrap();
        assert_eq!(
            s,
            parse_transcript(text),
            "the file is counted by the one rule"
        );
        assert_eq!(s.input_tokens, 10);
        assert_eq!(s.output_tokens, 12);
        assert_eq!(s.cache_read_tokens, 2);
        assert_eq!(s.cache_creation_tokens, 3);
        assert_eq!(s.model_used.as_deref(), Some("claude-a"));
    }

    #[tokio::test]
    async fn garbage_gives_zeros_and_missing_file_gives_none() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("g.jsonl");
        std::fs::write(&file, "\u{0}\u{1}not json").unwrap();
        assert_eq!(parse_file(&file).await, Some(TokenUsage::default()));
        assert!(
            parse_file(Path::new("/nonexistent/x.jsonl"))
                .await
                .is_none()
        );
    }
}
