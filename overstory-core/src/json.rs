//! JSON text in the layout the original writes its files in.
//!
//! Every JSON file overstory writes under `.overstory/` or `.claude/`
//! (manifest, hooks, groups, nudge markers, Claude settings, checkpoints) is
//! pretty-printed with one tab per level and ends with a newline, so files
//! written by the original and by us diff cleanly. This module is the only
//! place that knows that layout.

use serde::Serialize as _;
use serde_json::Value;

/// Returns `value` as tab-indented JSON text ending with a newline.
///
/// Keys keep their order in `value`; an empty object or array stays on one
/// line (`{}`, `[]`).
///
/// ```
/// let text = overstory_core::json::to_tab_string(&serde_json::json!({"a": [1]}));
/// assert_eq!(text, "{\n\t\"a\": [\n\t\t1\n\t]\n}\n");
/// ```
pub fn to_tab_string(value: &Value) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    // A `Value` has string keys only, and writing into a Vec cannot fail.
    let _ = value.serialize(&mut ser);
    // serde_json writes valid UTF-8.
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::to_tab_string;
    use serde_json::json;

    #[test]
    fn nested_values_get_one_tab_per_level_and_a_trailing_newline() {
        let text = to_tab_string(&json!({"a": {"b": 1}, "c": ["x"]}));
        assert_eq!(
            text,
            "{\n\t\"a\": {\n\t\t\"b\": 1\n\t},\n\t\"c\": [\n\t\t\"x\"\n\t]\n}\n"
        );
    }

    #[test]
    fn empty_containers_and_scalars_stay_on_one_line() {
        assert_eq!(to_tab_string(&json!({})), "{}\n");
        assert_eq!(to_tab_string(&json!([])), "[]\n");
        assert_eq!(to_tab_string(&json!({"a": []})), "{\n\t\"a\": []\n}\n");
        assert_eq!(to_tab_string(&json!("s")), "\"s\"\n");
    }

    #[test]
    fn keys_keep_their_insertion_order_and_text_parses_back() {
        let value = json!({"zeta": 1, "alpha": "t\"ab\t", "mid": null});
        let text = to_tab_string(&value);
        assert!(text.find("zeta") < text.find("alpha"), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }
}
