//! Conflict markers: parsing them, the mechanical resolutions, and the
//! checks an AI answer must pass.
//!
//! A conflicted file is text with blocks
//! `<<<<<<< ours` / (optional `||||||| base`) / `=======` / `>>>>>>> theirs`.
//! "Ours" is the target (canonical) side, "theirs" the incoming branch.

/// One part of a conflicted file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text outside any conflict block (lines with their newlines).
    Text(String),
    /// A conflict block.
    Block {
        /// The target's lines.
        ours: String,
        /// The merge base's lines, when the file was written in diff3 style.
        base: Option<String>,
        /// The branch's lines.
        theirs: String,
    },
}

/// Splits a conflicted file into text and blocks. Returns `None` when the
/// markers are unbalanced.
pub fn parse(text: &str) -> Option<Vec<Part>> {
    #[derive(PartialEq)]
    enum S {
        Out,
        Ours,
        Base,
        Theirs,
    }
    let mut parts = Vec::new();
    let (mut out, mut ours, mut base, mut theirs) =
        (String::new(), String::new(), None::<String>, String::new());
    let mut s = S::Out;
    for line in text.split_inclusive('\n') {
        match s {
            S::Out if line.starts_with("<<<<<<<") => {
                if !out.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut out)));
                }
                s = S::Ours;
            }
            S::Out => out.push_str(line),
            S::Ours if line.starts_with("|||||||") => {
                base = Some(String::new());
                s = S::Base;
            }
            S::Ours | S::Base if line.starts_with("=======") => s = S::Theirs,
            S::Ours => ours.push_str(line),
            S::Base => {
                if let Some(b) = base.as_mut() {
                    b.push_str(line);
                }
            }
            S::Theirs if line.starts_with(">>>>>>>") => {
                parts.push(Part::Block {
                    ours: std::mem::take(&mut ours),
                    base: base.take(),
                    theirs: std::mem::take(&mut theirs),
                });
                s = S::Out;
            }
            S::Theirs => theirs.push_str(line),
        }
    }
    if s != S::Out {
        return None;
    }
    if !out.is_empty() {
        parts.push(Part::Text(out));
    }
    Some(parts)
}

/// Returns whether `text` still holds a conflict marker line.
pub fn has_markers(text: &str) -> bool {
    text.lines().any(|l| {
        l.starts_with("<<<<<<< ")
            || l == "<<<<<<<"
            || l.starts_with(">>>>>>> ")
            || l == ">>>>>>>"
            || l == "======="
    })
}

/// Resolves every block by keeping both sides, ours first (what a
/// `merge=union` attribute asks for).
pub fn resolve_union(parts: &[Part]) -> String {
    join(parts, |ours, theirs| format!("{ours}{theirs}"))
}

/// How [`resolve_one_sided`] resolved a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OneSided {
    /// Every block's target side was blank: the branch's lines were kept.
    KeptTheirs,
    /// Every block's branch side was blank: the target's lines were kept.
    KeptOurs,
}

/// Resolves a file whose every block has one blank side, keeping the side
/// with content; returns `None` when some block has content on both sides
/// (keeping one would discard the other).
pub fn resolve_one_sided(parts: &[Part]) -> Option<(String, OneSided)> {
    let blocks = || {
        parts.iter().filter_map(|p| match p {
            Part::Block { ours, theirs, .. } => Some((ours, theirs)),
            Part::Text(_) => None,
        })
    };
    let blank = |s: &str| s.trim().is_empty();
    if blocks().all(|(o, _)| blank(o)) {
        return Some((join(parts, |_, t| t.to_owned()), OneSided::KeptTheirs));
    }
    if blocks().all(|(_, t)| blank(t)) {
        return Some((join(parts, |o, _| o.to_owned()), OneSided::KeptOurs));
    }
    None
}

fn join(parts: &[Part], pick: impl Fn(&str, &str) -> String) -> String {
    let mut s = String::new();
    for p in parts {
        match p {
            Part::Text(t) => s.push_str(t),
            Part::Block { ours, theirs, .. } => s.push_str(&pick(ours, theirs)),
        }
    }
    s
}

/// Returns why `output` is not acceptable as a resolved file, or `None`
/// when it looks like file content: blank output, conflict markers left,
/// a Markdown fence, or prose such as "Here is the resolved file".
pub fn reject_ai_output(output: &str) -> Option<&'static str> {
    if output.trim().is_empty() {
        return Some("the output was empty");
    }
    if has_markers(output) {
        return Some("the output still holds conflict markers");
    }
    if looks_like_prose(output) {
        return Some("the output looks like prose, not file content");
    }
    None
}

/// Returns whether `text` reads as an explanation rather than a file.
pub fn looks_like_prose(text: &str) -> bool {
    let t = text.trim_start();
    if t.lines().any(|l| l.trim_start().starts_with("```")) {
        return true;
    }
    const OPENERS: [&str; 14] = [
        "I ",
        "I'",
        "Here",
        "The ",
        "This ",
        "Let me",
        "Sure",
        "Sorry",
        "Certainly",
        "To resolve",
        "Based on",
        "Unfortunately",
        "As an AI",
        "Okay",
    ];
    if OPENERS.iter().any(|o| t.starts_with(o)) {
        return true;
    }
    let lower = t.to_lowercase();
    ["i need permission", "i cannot", "i don't have", "i can't"]
        .iter()
        .any(|p| lower.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "head\n<<<<<<< HEAD\nours 1\n=======\ntheirs 1\n>>>>>>> branch\nmid\n<<<<<<< HEAD\n=======\ntheirs 2\n>>>>>>> branch\n";

    #[test]
    fn parses_blocks_and_unions_both_sides() {
        let parts = parse(TEXT).unwrap();
        assert_eq!(parts.len(), 4);
        assert_eq!(
            resolve_union(&parts),
            "head\nours 1\ntheirs 1\nmid\ntheirs 2\n"
        );
        assert!(parse("<<<<<<< a\nx\n").is_none());
        let diff3 = "<<<<<<< a\no\n||||||| base\nb\n=======\nt\n>>>>>>> c\n";
        assert_eq!(
            parse(diff3).unwrap(),
            vec![Part::Block {
                ours: "o\n".into(),
                base: Some("b\n".into()),
                theirs: "t\n".into()
            }]
        );
    }

    #[test]
    fn one_sided_keeps_the_side_with_content_only() {
        let parts = parse(TEXT).unwrap();
        assert_eq!(resolve_one_sided(&parts), None, "block 1 has both sides");
        let parts = parse("<<<<<<< a\n\n=======\nnew\n>>>>>>> b\n").unwrap();
        assert_eq!(
            resolve_one_sided(&parts),
            Some(("new\n".into(), OneSided::KeptTheirs))
        );
    }

    #[test]
    fn ai_output_checks() {
        assert!(reject_ai_output("fn main() {}\n").is_none());
        assert!(reject_ai_output("  \n").is_some());
        assert!(reject_ai_output("a\n=======\nb\n").is_some());
        assert!(reject_ai_output("Here is the resolved file:\nx\n").is_some());
        assert!(reject_ai_output("```rust\nx\n```\n").is_some());
        assert!(reject_ai_output("x\nI cannot do that\n").is_some());
        assert!(has_markers(TEXT));
        assert!(!has_markers("a == b\n"));
    }
}
