//! Token usage from a Claude Code transcript (JSONL).

use std::path::Path;

use super::TokenUsage;

/// Sums the usage of every assistant turn in transcript `text`. Malformed
/// and non-assistant lines are skipped; missing counters count as 0; the
/// model is that of the first assistant turn that names one.
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
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(0)
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
}
