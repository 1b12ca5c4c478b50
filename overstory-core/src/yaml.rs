//! YAML documents in the dialect `config.yaml` uses, for other files too.
//!
//! The reader is the config loader's (`saphyr-parser`, YAML 1.2, with the
//! original's scalar rules and tabs in indentation counted as two spaces);
//! the writer is the one `ov init` writes `config.yaml` with: block maps and
//! lists indented with two spaces, `[]` for an empty list, and strings
//! double-quoted whenever a plain scalar would read back as something else
//! (empty, `true`, `null`, a leading digit, `: `, `#`, quotes, …). Whatever
//! [`to_string`] writes, [`from_str`] reads back as the same value.
//!
//! Documents are maps at the top level, exchanged as
//! [`serde_json::Map`]s so callers can use serde on both sides. A `key:`
//! with nothing after it reads as `null`; aliases are refused.

use std::path::Path;

use serde_json::{Map, Value};

use crate::config::write::write_map;
use crate::config::yaml::{self as dialect, Node, Value as NodeValue};
use crate::error::ConfigError;

/// A YAML document could not be read.
#[derive(Debug, thiserror::Error)]
#[error("Failed to parse YAML file \"{}\" at line {line}: {message}", path.display())]
#[non_exhaustive]
pub struct YamlError {
    /// The file the text came from.
    pub path: std::path::PathBuf,
    /// The 1-based line of the problem.
    pub line: usize,
    /// What the parser reported.
    pub message: String,
}

impl YamlError {
    /// Returns the error code: `VALIDATION_ERROR`.
    pub fn code(&self) -> &'static str {
        "VALIDATION_ERROR"
    }
}

/// Returns `map` as a YAML document: one `key: value` line per entry, nested
/// maps and lists indented with two spaces.
///
/// ```
/// use serde_json::json;
/// let doc = json!({"name": "b-1", "created": "2026-01-01", "tags": ["x"], "none": []});
/// let text = overstory_core::yaml::to_string(doc.as_object().unwrap());
/// assert_eq!(text, "name: b-1\ncreated: \"2026-01-01\"\ntags:\n  - x\nnone: []\n");
/// ```
pub fn to_string(map: &Map<String, Value>) -> String {
    let mut out = String::new();
    write_map(&mut out, 0, map);
    out
}

/// Parses `text` (the contents of `path`, named in errors) as a YAML map.
///
/// An empty document (or one holding only comments) is an empty map; when a
/// key appears twice the later value wins.
///
/// # Errors
/// [`YamlError`] with the line for malformed YAML, aliases, non-scalar keys,
/// several documents, or a top level that is not a map.
pub fn from_str(text: &str, path: &Path) -> Result<Map<String, Value>, YamlError> {
    let mut warnings = Vec::new();
    match dialect::parse(text, path, &mut warnings) {
        Ok(node) => match to_json(node) {
            Value::Object(map) => Ok(map),
            _ => Ok(Map::new()),
        },
        Err(ConfigError::Parse {
            path,
            line,
            message,
        }) => Err(YamlError {
            path,
            line,
            message,
        }),
        Err(other) => Err(YamlError {
            path: path.to_path_buf(),
            line: 1,
            message: other.to_string(),
        }),
    }
}

/// Reads as much of a YAML map as can be read, for files that people and
/// older tools edit by hand: the whole document when it parses, otherwise
/// each top-level entry (a line starting in column one, with the indented
/// lines under it) on its own, skipping the entries that do not parse.
///
/// ```
/// let text = "name: a\n???\nlist:\n  - [unclosed\nsize: 3\n";
/// let map = overstory_core::yaml::from_str_lenient(text, "x.yaml".as_ref());
/// assert_eq!(map["name"], "a");
/// assert_eq!(map["size"], 3);
/// assert!(!map.contains_key("list"));
/// ```
pub fn from_str_lenient(text: &str, path: &Path) -> Map<String, Value> {
    if let Ok(map) = from_str(text, path) {
        return map;
    }
    let mut out = Map::new();
    for entry in top_level_entries(text) {
        if let Ok(map) = from_str(&entry, path) {
            out.extend(map);
        }
    }
    out
}

/// Splits `text` before each line that starts a top-level entry.
fn top_level_entries(text: &str) -> Vec<String> {
    let mut entries: Vec<String> = Vec::new();
    for line in text.split_inclusive('\n') {
        let starts_entry = !line.starts_with([' ', '\t', '#', '\n', '\r']);
        match entries.last_mut() {
            Some(last) if !starts_entry => last.push_str(line),
            _ => entries.push(line.to_owned()),
        }
    }
    entries
}

fn to_json(node: Node) -> Value {
    match node.value {
        NodeValue::Null | NodeValue::Empty => Value::Null,
        NodeValue::Bool(b) => Value::Bool(b),
        NodeValue::Int(i) => Value::from(i),
        NodeValue::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        NodeValue::Str(s) => Value::String(s),
        NodeValue::List(items) => Value::Array(items.into_iter().map(to_json).collect()),
        NodeValue::Map(entries) => Value::Object(
            entries
                .into_iter()
                .map(|e| (e.key, to_json(e.node)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    /// Runs the plain YAML 1.2 parser over `text`, with none of the
    /// dialect's allowances (tabs), and fails on any scan error.
    fn assert_standard_yaml(text: &str) {
        for event in saphyr_parser::Parser::new_from_str(text) {
            if let Err(e) = event {
                panic!("not valid YAML ({e}):\n{text}");
            }
        }
    }

    #[test]
    fn what_is_written_reads_back_the_same() {
        let doc = map(json!({
            "name": "b-1",
            "empty": "",
            "quoted": "say \"hi\" # not a comment \\ ok",
            "looksTrue": "true",
            "date": "2026-01-02T00:00:00.000Z",
            "multi": "one\ntwo",
            "count": 3,
            "ratio": 1.5,
            "flag": false,
            "nothing": null,
            "list": ["rust", "a: b", "- dash"],
            "none": [],
            "records": [{"id": "t-1", "n": 2}, {"id": "t-2", "n": 0}],
            "nested": {"inner": {"x": "y"}},
        }));
        let text = to_string(&doc);
        assert_standard_yaml(&text);
        assert_eq!(from_str(&text, Path::new("d.yaml")).unwrap(), doc, "{text}");
    }

    #[test]
    fn lists_are_indented_with_spaces_not_tabs() {
        let text = to_string(&map(json!({"l": ["a"], "m": [{"k": "v", "j": "w"}]})));
        assert_eq!(text, "l:\n  - a\nm:\n  - k: v\n    j: w\n");
        assert!(!text.contains('\t'));
        assert_standard_yaml(&text);
        // The check has teeth: the original's tab-indented lists fail it.
        assert!(saphyr_parser::Parser::new_from_str("l:\n\t- a\n").any(|e| e.is_err()));
    }

    #[test]
    fn tab_indented_lists_of_older_files_still_read() {
        let text = "tags:\n\t- a\n\t- b\ntasks:\n\t- id: t\n\t  done: \"yes\"\n";
        let doc = from_str(text, Path::new("d.yaml")).unwrap();
        assert_eq!(doc["tags"], json!(["a", "b"]));
        assert_eq!(doc["tasks"], json!([{"id": "t", "done": "yes"}]));
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let err = from_str("a: 1\nb: [\n", Path::new("/p/x.yaml")).unwrap_err();
        assert_eq!(err.path, Path::new("/p/x.yaml"));
        assert!(err.line >= 2, "{err}");
        assert!(
            err.to_string()
                .starts_with("Failed to parse YAML file \"/p/x.yaml\" at line")
        );
        assert!(from_str("- a\n", Path::new("x")).is_err());
    }

    #[test]
    fn lenient_reading_keeps_the_entries_that_parse() {
        let text = "# c\n\nname: a\n???\nbad: [\nn: 2\nl:\n  - x\n";
        let doc = from_str_lenient(text, Path::new("x"));
        assert_eq!(doc, map(json!({"name": "a", "n": 2, "l": ["x"]})));
        assert!(from_str_lenient("", Path::new("x")).is_empty());
    }
}
