//! The tool-argument filter: which keys of a tool call's input are worth
//! storing, and the one-line summary shown in timelines.
//!
//! Only identifying keys are kept (paths, patterns, commands); bulky or
//! sensitive payloads (`content`, `old_string`, `new_string`, `prompt`,
//! timeouts) are dropped. A key is kept when it is present, even with a
//! `null` value; an absent key stays absent.

use serde_json::{Map, Value};

/// Summaries longer than this many characters are cut and end in `...`.
pub const SUMMARY_MAX_CHARS: usize = 80;

/// The filtered arguments of one tool call and its summary line.
#[derive(Debug, Clone, PartialEq)]
pub struct FilteredArgs {
    /// The kept keys, as a JSON object.
    pub args: Map<String, Value>,
    /// One line such as `bash: cargo test` or `read: src/lib.rs (lines 10-30)`.
    pub summary: String,
}

/// Returns the kept keys of `input` for `tool_name` and a one-line summary.
///
/// Unknown tools keep nothing and are summarised by their name.
pub fn filter_tool_args(tool_name: &str, input: &Value) -> FilteredArgs {
    let empty = Map::new();
    let obj = input.as_object().unwrap_or(&empty);
    let keep = |keys: &[&str]| -> Map<String, Value> {
        keys.iter()
            .filter_map(|k| obj.get(*k).map(|v| ((*k).to_owned(), v.clone())))
            .collect()
    };
    let text = |k: &str| -> String { obj.get(k).and_then(Value::as_str).unwrap_or("").to_owned() };
    let num = |k: &str| -> Option<f64> { obj.get(k).and_then(Value::as_f64) };
    let (args, summary) = match tool_name {
        "Bash" => (
            keep(&["command", "description"]),
            format!("bash: {}", truncate(&text("command"))),
        ),
        "Read" => {
            let p = text("file_path");
            let summary = match (num("offset"), num("limit")) {
                (Some(o), Some(l)) => format!("read: {p} (lines {}-{})", n(o), n(o + l)),
                (Some(o), None) => format!("read: {p} (from line {})", n(o)),
                (None, Some(l)) => format!("read: {p} (first {} lines)", n(l)),
                (None, None) => format!("read: {p}"),
            };
            (keep(&["file_path", "offset", "limit"]), summary)
        }
        "Write" => (
            keep(&["file_path"]),
            format!("write: {}", text("file_path")),
        ),
        "Edit" => (keep(&["file_path"]), format!("edit: {}", text("file_path"))),
        "Glob" => {
            let path = text("path");
            let summary = if path.is_empty() {
                format!("glob: {}", text("pattern"))
            } else {
                format!("glob: {} in {path}", text("pattern"))
            };
            (keep(&["pattern", "path"]), summary)
        }
        "Grep" => {
            let path = text("path");
            let summary = if path.is_empty() {
                format!("grep: \"{}\"", text("pattern"))
            } else {
                format!("grep: \"{}\" in {path}", text("pattern"))
            };
            (keep(&["pattern", "path", "glob", "output_mode"]), summary)
        }
        "WebFetch" => (keep(&["url"]), format!("fetch: {}", text("url"))),
        "WebSearch" => (keep(&["query"]), format!("search: {}", text("query"))),
        "Task" => {
            let t = text("subagent_type");
            let summary = if t.is_empty() {
                format!("task: {}", text("description"))
            } else {
                format!("task: {} ({t})", text("description"))
            };
            (keep(&["description", "subagent_type"]), summary)
        }
        other => (Map::new(), other.to_owned()),
    };
    FilteredArgs { args, summary }
}

/// Formats a JSON number the way JavaScript prints it (`10`, not `10.0`).
fn n(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Cuts `s` to [`SUMMARY_MAX_CHARS`] characters plus `...`; exactly 80 is kept whole.
pub fn truncate(s: &str) -> String {
    if s.chars().count() <= SUMMARY_MAX_CHARS {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(SUMMARY_MAX_CHARS).collect();
        out.push_str("...");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn write_drops_content_and_summarises_path() {
        let f = filter_tool_args(
            "Write",
            &json!({"file_path": "/a/b.rs", "content": "x".repeat(1000)}),
        );
        assert_eq!(Value::Object(f.args), json!({"file_path": "/a/b.rs"}));
        assert_eq!(f.summary, "write: /a/b.rs");
    }

    #[test]
    fn edit_drops_old_and_new_strings() {
        let f = filter_tool_args(
            "Edit",
            &json!({"file_path": "x", "old_string": "a", "new_string": "b"}),
        );
        assert_eq!(Value::Object(f.args), json!({"file_path": "x"}));
        assert_eq!(f.summary, "edit: x");
    }

    #[test]
    fn bash_keeps_full_command_but_cuts_summary_after_80_chars() {
        let cmd80 = "a".repeat(80);
        let f = filter_tool_args("Bash", &json!({"command": cmd80, "timeout": 5}));
        assert_eq!(f.summary, format!("bash: {cmd80}"));
        assert!(!f.args.contains_key("timeout"));
        let cmd81 = "b".repeat(81);
        let f = filter_tool_args("Bash", &json!({"command": cmd81}));
        assert_eq!(f.summary, format!("bash: {}...", "b".repeat(80)));
        assert_eq!(f.args["command"], json!(cmd81));
    }

    #[test]
    fn non_string_command_is_kept_but_summarised_empty() {
        let f = filter_tool_args("Bash", &json!({"command": 42}));
        assert_eq!(f.args["command"], json!(42));
        assert_eq!(f.summary, "bash: ");
    }

    #[test]
    fn null_values_are_kept_and_absent_keys_stay_absent() {
        let f = filter_tool_args("Grep", &json!({"pattern": "x", "path": null}));
        assert_eq!(Value::Object(f.args), json!({"pattern": "x", "path": null}));
        assert_eq!(f.summary, "grep: \"x\"");
    }

    #[test]
    fn read_summaries_use_numbers_only() {
        let s = |v: Value| filter_tool_args("Read", &v).summary;
        assert_eq!(
            s(json!({"file_path": "f", "offset": 10, "limit": 20})),
            "read: f (lines 10-30)"
        );
        assert_eq!(
            s(json!({"file_path": "f", "offset": 10})),
            "read: f (from line 10)"
        );
        assert_eq!(
            s(json!({"file_path": "f", "limit": 5})),
            "read: f (first 5 lines)"
        );
        assert_eq!(s(json!({"file_path": "f", "offset": "10"})), "read: f");
    }

    #[test]
    fn other_tools_summarise_as_documented() {
        let s = |t: &str, v: Value| filter_tool_args(t, &v).summary;
        assert_eq!(
            s("Glob", json!({"pattern": "*.rs", "path": "src"})),
            "glob: *.rs in src"
        );
        assert_eq!(s("Glob", json!({"pattern": "*.rs"})), "glob: *.rs");
        assert_eq!(
            s("Grep", json!({"pattern": "fn", "path": "src"})),
            "grep: \"fn\" in src"
        );
        assert_eq!(
            s("WebFetch", json!({"url": "http://x", "prompt": "p"})),
            "fetch: http://x"
        );
        assert_eq!(s("WebSearch", json!({"query": "q"})), "search: q");
        assert_eq!(
            s(
                "Task",
                json!({"description": "d", "subagent_type": "t", "prompt": "p"})
            ),
            "task: d (t)"
        );
        assert_eq!(s("Task", json!({"description": "d"})), "task: d");
    }

    #[test]
    fn unknown_tool_keeps_nothing_and_is_named() {
        let f = filter_tool_args("mcp__x__y", &json!({"secret": "s"}));
        assert!(f.args.is_empty());
        assert_eq!(f.summary, "mcp__x__y");
    }
}
