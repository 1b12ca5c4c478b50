//! Writing a [`Config`] as the `config.yaml` that `ov init` creates.
//!
//! The output uses only what the reader in `yaml.rs` reads the same way the
//! original did: block maps with two-space indentation, `- item` lists,
//! `- firstKey: v` list items with the other keys aligned under the first,
//! `[]` for an empty list, a bare `key:` for an empty map, and double-quoted
//! strings (with `\\` and `\"` escaped) whenever a plain string would read
//! back as something else.

use serde_json::{Map, Value};

use super::Config;
use super::yaml::{self, Value as YamlValue};

const HEADER: &str = "\
# overstory project configuration.
# Written by 'ov init'. Machine-local overrides belong in config.local.yaml
# (gitignored), which is merged over this file key by key.

";

pub(super) fn to_yaml(config: &Config) -> String {
    let mut out = String::from(HEADER);
    if let Ok(Value::Object(map)) = serde_json::to_value(config) {
        write_map(&mut out, 0, &map);
    }
    out
}

pub(crate) fn write_map(out: &mut String, indent: usize, map: &Map<String, Value>) {
    for (key, value) in map {
        write_entry(out, indent, key, value);
    }
}

fn write_entry(out: &mut String, indent: usize, key: &str, value: &Value) {
    let pad = " ".repeat(indent);
    let key = scalar_string(key);
    match value {
        Value::Object(map) => {
            out.push_str(&format!("{pad}{key}:\n"));
            write_map(out, indent + 2, map);
        }
        Value::Array(items) if items.is_empty() => out.push_str(&format!("{pad}{key}: []\n")),
        Value::Array(items) => {
            out.push_str(&format!("{pad}{key}:\n"));
            for item in items {
                write_item(out, indent + 2, item);
            }
        }
        scalar => out.push_str(&format!("{pad}{key}: {}\n", scalar_text(scalar))),
    }
}

/// Writes one list item. A map item puts its first key after `- ` and aligns
/// the others under it.
fn write_item(out: &mut String, indent: usize, item: &Value) {
    let pad = " ".repeat(indent);
    match item {
        Value::Object(map) if !map.is_empty() => {
            let mut body = String::new();
            write_map(&mut body, indent + 2, map);
            let inner = " ".repeat(indent + 2);
            let rest = body.strip_prefix(&inner).unwrap_or(&body);
            out.push_str(&format!("{pad}- {rest}"));
        }
        Value::Object(_) => out.push_str(&format!("{pad}- {{}}\n")),
        Value::Array(items) if items.is_empty() => out.push_str(&format!("{pad}- []\n")),
        Value::Array(items) => {
            let mut body = String::new();
            for inner in items {
                write_item(&mut body, indent + 2, inner);
            }
            let inner = " ".repeat(indent + 2);
            let rest = body.strip_prefix(&inner).unwrap_or(&body);
            out.push_str(&format!("{pad}- {rest}"));
        }
        scalar => out.push_str(&format!("{pad}- {}\n", scalar_text(scalar))),
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar_string(s),
        // Containers are written by the callers.
        Value::Array(_) | Value::Object(_) => String::new(),
    }
}

/// Returns `s` as is when it reads back as the same string, else quoted.
fn scalar_string(s: &str) -> String {
    if needs_quotes(s) {
        quote(s)
    } else {
        s.to_owned()
    }
}

fn needs_quotes(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return true;
    };
    yaml::resolve_plain(s) != YamlValue::Str(s.to_owned())
        || first.is_ascii_digit()
        || "-?[]{},&*!|>%@`".contains(first)
        || s.starts_with(' ')
        || s.ends_with(' ')
        || s.chars()
            .any(|c| matches!(c, ':' | '#' | '\'' | '"' | '\\') || c.is_control())
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::QualityGate;
    use std::path::Path;

    #[test]
    fn defaults_round_trip_and_look_like_the_original() {
        let root = Path::new("/work/demo");
        let mut c = Config::defaults_for(root);
        c.runtime.claude_headless_by_default = Some(true);
        let none = Config::from_yaml(&c.to_yaml(), root).unwrap();
        assert!(none.config.project.quality_gates.is_empty());
        c.project.quality_gates =
            vec![QualityGate::new("Tests", "bun test", "all tests must pass")];
        let text = c.to_yaml();
        assert!(text.starts_with("# "), "{text}");
        assert!(text.contains("\nproject:\n  name: demo\n  root: /work/demo\n"));
        assert!(text.contains(
            "  qualityGates:\n    - name: Tests\n      command: bun test\n      description: all tests must pass\n"
        ));
        assert!(text.contains("  domains: []\n"));
        assert!(text.contains("\nmodels:\n"));
        assert!(text.contains("  claudeHeadlessByDefault: true\n"));
        let back = Config::from_yaml(&text, root).unwrap();
        assert!(back.warnings.is_empty(), "{:?}", back.warnings);
        assert_eq!(back.config, c);
    }

    #[test]
    fn awkward_strings_are_quoted_and_read_back() {
        let root = Path::new("/w/x");
        let mut c = Config::defaults_for(root);
        c.project.quality_gates = vec![QualityGate::new("T", "true", "d")];
        let names = [
            "",
            "true",
            "NULL",
            "~",
            "123abc",
            "30_000",
            "1.5",
            "a: b",
            "x # y",
            "it's",
            "say \"hi\"",
            "back\\slash",
            "line\nbreak",
            "- dash",
            " padded ",
            "yes",
        ];
        for name in names {
            c.project.canonical_branch = if name.trim().is_empty() {
                "main".into()
            } else {
                name.into()
            };
            c.mulch.domains = vec![name.to_owned()];
            c.project.quality_gates[0].description = name.to_owned();
            let text = c.to_yaml();
            if name.is_empty() {
                // Empty domains and descriptions are rejected on load; only
                // check the quoting.
                assert!(text.contains("    - \"\"\n"), "{text}");
                continue;
            }
            let back =
                Config::from_yaml(&text, root).unwrap_or_else(|e| panic!("{name:?}: {e}\n{text}"));
            assert_eq!(back.config.mulch.domains, [name], "{text}");
            assert_eq!(back.config.project.quality_gates[0].description, name);
        }
    }
}
