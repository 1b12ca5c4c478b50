//! Reading `config.yaml` into a tree that remembers where each value came from.
//!
//! The scanner is `saphyr-parser` (YAML 1.2); this module turns its events
//! into [`Node`]s and resolves plain scalars by the original's rules, so a
//! file parses to the same values it did there:
//!
//! - `true`/`True`/`TRUE` and `false`/`False`/`FALSE` are booleans;
//!   `null`/`Null`/`NULL`/`~` is null; `yes`, `no`, `on`, `off` stay strings;
//! - integers may carry underscores (`30_000` is 30000); `1.5` is a decimal;
//! - `key:` with nothing after it is an empty map (the original opened a
//!   nested map there), distinct from an explicit `null`;
//! - quoted scalars are always strings; `#` starts a comment only outside
//!   quotes and after whitespace;
//! - a tab in a line's indentation counts as two spaces.
//!
//! Anchors are ignored and aliases are refused. Every node keeps its file and
//! 1-based line so validation can say exactly where a bad value is.

use std::path::Path;
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span};

use super::{ConfigWarning, WarningKind};
use crate::error::ConfigError;

/// Where a value was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    /// The config file the value was read from.
    pub path: Arc<Path>,
    /// The 1-based line.
    pub line: usize,
}

/// A parsed YAML value; the `Node`s in its lists and maps know their origin.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// An explicit `null` or `~`.
    Null,
    /// `key:` with no value: an empty map that merges as one.
    Empty,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Node>),
    Map(Vec<Entry>),
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub value: Value,
    pub origin: Option<Origin>,
}

/// One `key: value` pair of a map.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    /// Where the key was written (errors about the value point here).
    pub origin: Option<Origin>,
    pub node: Node,
}

impl Node {
    /// Builds a node with no origin.
    pub fn new(value: Value) -> Self {
        Self {
            value,
            origin: None,
        }
    }

    /// Returns the entries when this is a map (an empty value counts as one).
    pub fn entries(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(e) => Some(e),
            Value::Empty => Some(&[]),
            _ => None,
        }
    }

    /// Returns the entry for `key` when this is a map holding it.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries()?.iter().find(|e| e.key == key)
    }
}

impl Value {
    /// Names the kind of value for error messages.
    pub fn describe(&self) -> String {
        match self {
            Value::Null => "null".into(),
            Value::Empty => "an empty value".into(),
            Value::Bool(b) => format!("the boolean {b}"),
            Value::Int(i) => format!("the number {i}"),
            Value::Float(f) => format!("the number {f}"),
            Value::Str(s) => format!("the string \"{s}\""),
            Value::List(_) => "a list".into(),
            Value::Map(_) => "a map".into(),
        }
    }
}

/// Parses `text` (the contents of `path`) into a map node.
///
/// An empty file (or one holding only comments) is an empty map. Duplicate
/// keys keep the later value and add a warning.
///
/// # Errors
/// [`ConfigError::Parse`] with the line for malformed YAML, aliases, non-scalar
/// keys, several documents, or a top level that is not a map.
pub(crate) fn parse(
    text: &str,
    path: &Path,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<Node, ConfigError> {
    let text = expand_indent_tabs(text);
    let path: Arc<Path> = Arc::from(path);
    let mut reader = Reader {
        parser: Parser::new_from_str(&text),
        path: path.clone(),
        warnings,
    };
    let mut root: Option<Node> = None;
    loop {
        let (event, span) = reader.next()?;
        match event {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                if root.is_some() {
                    return Err(reader.error(span, "only one YAML document is allowed"));
                }
                let (event, span) = reader.next()?;
                if let Event::DocumentEnd = event {
                    root = Some(Node::new(Value::Map(Vec::new())));
                } else {
                    root = Some(reader.node(event, span)?);
                }
            }
            other => {
                return Err(reader.error(span, &format!("unexpected YAML event {other:?}")));
            }
        }
    }
    let root = root.unwrap_or_else(|| Node::new(Value::Map(Vec::new())));
    match root.value {
        Value::Map(_) => Ok(root),
        Value::Empty | Value::Null => Ok(Node {
            value: Value::Map(Vec::new()),
            origin: root.origin,
        }),
        other => Err(ConfigError::Parse {
            path: path.to_path_buf(),
            line: root.origin.map_or(1, |o| o.line),
            message: format!(
                "the file must be a map of settings (key: value), found {}",
                other.describe()
            ),
        }),
    }
}

struct Reader<'a, 'w> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    path: Arc<Path>,
    warnings: &'w mut Vec<ConfigWarning>,
}

impl<'a> Reader<'a, '_> {
    fn next(&mut self) -> Result<(Event<'a>, Span), ConfigError> {
        match self.parser.next_event() {
            Some(Ok(ev)) => Ok(ev),
            Some(Err(e)) => Err(self.scan_error(&e)),
            None => Ok((Event::StreamEnd, Span::default())),
        }
    }

    fn scan_error(&self, e: &ScanError) -> ConfigError {
        ConfigError::Parse {
            path: self.path.to_path_buf(),
            line: e.marker().line().max(1),
            message: e.info().to_owned(),
        }
    }

    fn error(&self, span: Span, message: &str) -> ConfigError {
        ConfigError::Parse {
            path: self.path.to_path_buf(),
            line: span.start.line().max(1),
            message: message.to_owned(),
        }
    }

    fn origin(&self, span: Span) -> Option<Origin> {
        Some(Origin {
            path: self.path.clone(),
            line: span.start.line().max(1),
        })
    }

    fn node(&mut self, event: Event<'a>, span: Span) -> Result<Node, ConfigError> {
        let origin = self.origin(span);
        let value = match event {
            Event::Scalar(text, style, _anchor, tag) => {
                let is_str_tag = tag.as_ref().is_some_and(|t| t.suffix == "str");
                if style == ScalarStyle::Plain && !is_str_tag {
                    resolve_plain(&text)
                } else {
                    Value::Str(text.into_owned())
                }
            }
            Event::SequenceStart(..) => {
                let mut items = Vec::new();
                loop {
                    let (ev, sp) = self.next()?;
                    if let Event::SequenceEnd = ev {
                        break;
                    }
                    items.push(self.node(ev, sp)?);
                }
                Value::List(items)
            }
            Event::MappingStart(..) => {
                let mut entries: Vec<Entry> = Vec::new();
                loop {
                    let (ev, sp) = self.next()?;
                    let key = match ev {
                        Event::MappingEnd => break,
                        Event::Scalar(text, ..) => text.into_owned(),
                        _ => return Err(self.error(sp, "map keys must be plain text")),
                    };
                    let key_origin = self.origin(sp);
                    let (ev, vsp) = self.next()?;
                    let node = self.node(ev, vsp)?;
                    if let Some(pos) = entries.iter().position(|e| e.key == key) {
                        let first = entries.remove(pos);
                        self.warnings.push(ConfigWarning {
                            kind: WarningKind::DuplicateKey,
                            key: Some(key.clone()),
                            path: Some(self.path.to_path_buf()),
                            line: key_origin.as_ref().map(|o| o.line),
                            message: format!(
                                "key \"{key}\" appears twice (first on line {}); the later value is used",
                                first.origin.as_ref().map_or(0, |o| o.line)
                            ),
                        });
                    }
                    entries.push(Entry {
                        key,
                        origin: key_origin,
                        node,
                    });
                }
                Value::Map(entries)
            }
            Event::Alias(_) => {
                return Err(self.error(span, "YAML aliases (*name) are not supported"));
            }
            other => return Err(self.error(span, &format!("unexpected YAML event {other:?}"))),
        };
        Ok(Node { value, origin })
    }
}

/// Resolves an unquoted scalar by the original's rules.
pub(crate) fn resolve_plain(s: &str) -> Value {
    match s {
        "" => Value::Empty,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        "null" | "Null" | "NULL" | "~" => Value::Null,
        _ => resolve_number(s).unwrap_or_else(|| Value::Str(s.to_owned())),
    }
}

fn resolve_number(s: &str) -> Option<Value> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if all_digits(digits) {
        return Some(
            s.parse::<i64>()
                .map(Value::Int)
                .unwrap_or_else(|_| Value::Float(s.parse().unwrap_or(f64::INFINITY))),
        );
    }
    if digits.contains('_') && digits.split('_').all(all_digits) {
        let joined: String = s.chars().filter(|c| *c != '_').collect();
        return joined.parse::<i64>().ok().map(Value::Int);
    }
    if let Some((int, frac)) = digits.split_once('.')
        && all_digits(int)
        && all_digits(frac)
    {
        return s.parse::<f64>().ok().map(Value::Float);
    }
    None
}

/// Replaces each tab in a line's leading indentation with two spaces, as the
/// original did (YAML itself forbids tabs there). Line numbers are unchanged.
fn expand_indent_tabs(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('\t') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.split_inclusive('\n') {
        let indent_len = line.len() - line.trim_start_matches([' ', '\t']).len();
        let (indent, rest) = line.split_at(indent_len);
        out.push_str(&indent.replace('\t', "  "));
        out.push_str(rest);
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Node {
        let mut w = Vec::new();
        parse(text, Path::new("/p/config.yaml"), &mut w).unwrap()
    }

    fn scalar(text: &str) -> Value {
        let root = parse_ok(&format!("k: {text}\n"));
        root.get("k").unwrap().node.value.clone()
    }

    #[test]
    fn scalars_resolve_like_the_original() {
        assert_eq!(scalar("true"), Value::Bool(true));
        assert_eq!(scalar("True"), Value::Bool(true));
        assert_eq!(scalar("TRUE"), Value::Bool(true));
        assert_eq!(scalar("FALSE"), Value::Bool(false));
        assert_eq!(scalar("null"), Value::Null);
        assert_eq!(scalar("NULL"), Value::Null);
        assert_eq!(scalar("~"), Value::Null);
        assert_eq!(scalar("30_000"), Value::Int(30_000));
        assert_eq!(scalar("-12"), Value::Int(-12));
        assert_eq!(scalar("1.5"), Value::Float(1.5));
        for s in ["yes", "no", "on", "off", "Yes", "0x1F", "1e3"] {
            assert_eq!(scalar(s), Value::Str(s.into()), "{s}");
        }
        assert_eq!(scalar("\"42\""), Value::Str("42".into()));
        assert_eq!(scalar("'true'"), Value::Str("true".into()));
        assert_eq!(scalar(""), Value::Empty);
    }

    #[test]
    fn comments_only_outside_quotes() {
        assert_eq!(scalar("abc # note"), Value::Str("abc".into()));
        assert_eq!(scalar("\"a # b\""), Value::Str("a # b".into()));
        assert_eq!(scalar("'x#y'"), Value::Str("x#y".into()));
        assert_eq!(scalar("a#b"), Value::Str("a#b".into()));
    }

    #[test]
    fn nested_maps_lists_and_lines() {
        let root = parse_ok(
            "# header\nproject:\n  name: demo\n  qualityGates:\n    - name: Tests\n      command: cargo test\nmulch:\n  domains: []\n",
        );
        let project = &root.get("project").unwrap().node;
        let name = project.get("name").unwrap();
        assert_eq!(name.origin.as_ref().unwrap().line, 3);
        let gates = &project.get("qualityGates").unwrap().node;
        let Value::List(items) = &gates.value else {
            panic!("not a list")
        };
        assert_eq!(items[0].origin.as_ref().unwrap().line, 5);
        assert_eq!(
            items[0].get("command").unwrap().node.value,
            Value::Str("cargo test".into())
        );
        let domains = &root.get("mulch").unwrap().node.get("domains").unwrap().node;
        assert_eq!(domains.value, Value::List(Vec::new()));
    }

    #[test]
    fn tabs_in_indentation_count_as_two_spaces() {
        let root = parse_ok("agents:\n\tmaxDepth: 3\n");
        let v = &root
            .get("agents")
            .unwrap()
            .node
            .get("maxDepth")
            .unwrap()
            .node;
        assert_eq!(v.value, Value::Int(3));
    }

    #[test]
    fn bad_yaml_reports_the_line() {
        let mut w = Vec::new();
        let err = parse(
            "project:\n  name: \"unterminated\n  x: 1\n",
            Path::new("/p/c.yaml"),
            &mut w,
        )
        .unwrap_err();
        let ConfigError::Parse { line, .. } = err else {
            panic!("{err:?}")
        };
        assert!(line >= 2, "line {line}");
        let err = parse("a: 1\n b: 2\nc: [\n", Path::new("/p/c.yaml"), &mut w).unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }), "{err:?}");
    }

    #[test]
    fn duplicate_keys_warn_and_the_later_wins() {
        let mut w = Vec::new();
        let root = parse("a: 1\na: 2\n", Path::new("/p/c.yaml"), &mut w).unwrap();
        assert_eq!(root.get("a").unwrap().node.value, Value::Int(2));
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].line, Some(2));
    }

    #[test]
    fn empty_and_comment_only_files_are_empty_maps() {
        assert_eq!(parse_ok("").value, Value::Map(Vec::new()));
        assert_eq!(parse_ok("# nothing\n").value, Value::Map(Vec::new()));
        let mut w = Vec::new();
        assert!(parse("- a\n", Path::new("/p/c.yaml"), &mut w).is_err());
        assert!(parse("a: &x 1\nb: *x\n", Path::new("/p/c.yaml"), &mut w).is_err());
    }
}
