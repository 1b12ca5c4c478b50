//! Encoding user turns for headless agents.
//!
//! A headless Claude Code worker reads its user turn as one stream-json line
//! on stdin. [`encode_user_turn`] builds that line; [`initial_prompt`] joins
//! the first turn's sections (prime context, pending mail, the beacon); and
//! [`beacon`] is the one-line start-up instruction `ov sling` gives every agent.

use serde::Serialize;

/// The separator between prompt sections and between mail messages.
pub const SECTION_SEPARATOR: &str = "\n\n---\n\n";

#[derive(Serialize)]
struct UserTurn<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: UserMessage<'a>,
}

#[derive(Serialize)]
struct UserMessage<'a> {
    role: &'static str,
    content: [TextBlock<'a>; 1],
}

#[derive(Serialize)]
struct TextBlock<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

/// Encodes `text` as one stream-json user message followed by a newline:
/// `{"type":"user","message":{"role":"user","content":[{"type":"text","text":…}]}}`.
pub fn encode_user_turn(text: &str) -> String {
    let turn = UserTurn {
        kind: "user",
        message: UserMessage {
            role: "user",
            content: [TextBlock { kind: "text", text }],
        },
    };
    // Serialising plain strings into a struct cannot fail.
    let mut line = serde_json::to_string(&turn).unwrap_or_default();
    line.push('\n');
    line
}

/// Joins the first turn's sections — prime context (if any), the mail section
/// (if any) and the beacon — with [`SECTION_SEPARATOR`], and encodes the
/// result as a user turn. With only a beacon, the text is exactly the beacon.
pub fn initial_prompt(prime: Option<&str>, mail_section: &str, beacon: &str) -> String {
    let sections: Vec<&str> = [prime.unwrap_or(""), mail_section, beacon]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    encode_user_turn(&sections.join(SECTION_SEPARATOR))
}

/// Facts the beacon names.
#[derive(Debug, Clone)]
pub struct BeaconFacts<'a> {
    /// The agent's name.
    pub agent: &'a str,
    /// Its capability.
    pub capability: &'a str,
    /// Its task id.
    pub task_id: &'a str,
    /// Hierarchy depth.
    pub depth: u32,
    /// The parent agent, if any.
    pub parent: Option<&'a str>,
    /// Path of the agent's instruction file (its overlay).
    pub instruction_path: &'a str,
    /// The time stamp to show (RFC 3339).
    pub now: &'a str,
}

/// Builds the one-line start-up beacon: identity, hierarchy and what to do first.
pub fn beacon(f: &BeaconFacts<'_>) -> String {
    format!(
        "[OVERSTORY] {agent} ({cap}) {now} task:{task} — Depth: {depth} | Parent: {parent} — Startup: read {instr}, run mulch prime, check mail (ov mail check --agent {agent}), then begin task {task}",
        agent = f.agent,
        cap = f.capability,
        now = f.now,
        task = f.task_id,
        depth = f.depth,
        parent = f.parent.unwrap_or("none"),
        instr = f.instruction_path,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn text_of(line: &str) -> String {
        let v: Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["type"], "user");
        assert_eq!(v["message"]["role"], "user");
        let content = v["message"]["content"].as_array().unwrap();
        assert_eq!(content.len(), 1);
        assert_eq!(content[0]["type"], "text");
        content[0]["text"].as_str().unwrap().to_owned()
    }

    #[test]
    fn encode_user_turn_is_one_json_line_with_the_exact_text() {
        let line = encode_user_turn("hello world");
        assert!(line.ends_with('\n'));
        assert_eq!(line.matches('\n').count(), 1);
        assert_eq!(text_of(&line), "hello world");
        assert_eq!(
            line,
            "{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hello world\"}]}}\n"
        );
    }

    #[test]
    fn multi_line_text_round_trips() {
        let text = "line one\nline two\n\ttabbed \"quoted\" \\ back";
        assert_eq!(text_of(&encode_user_turn(text)), text);
    }

    #[test]
    fn initial_prompt_joins_all_sections() {
        let line = initial_prompt(
            Some("PRIME"),
            "[MAIL] From: a | Subject: s | Priority: normal\n\nbody",
            "BEACON",
        );
        let text = text_of(&line);
        assert!(text.contains("PRIME") && text.contains("[MAIL]") && text.contains("BEACON"));
        assert_eq!(text.matches("---").count(), 2);
    }

    #[test]
    fn initial_prompt_without_prime_has_mail_and_beacon() {
        let text = text_of(&initial_prompt(None, "[MAIL] x", "BEACON"));
        assert_eq!(text, "[MAIL] x\n\n---\n\nBEACON");
    }

    #[test]
    fn initial_prompt_without_mail_has_prime_and_beacon() {
        let text = text_of(&initial_prompt(Some("PRIME"), "", "BEACON"));
        assert_eq!(text, "PRIME\n\n---\n\nBEACON");
        assert!(!text.contains("[MAIL]"));
    }

    #[test]
    fn beacon_only_is_exactly_the_beacon() {
        assert_eq!(
            text_of(&initial_prompt(None, "", "Start now.")),
            "Start now."
        );
        let line = initial_prompt(Some(""), "", "Start now.");
        assert!(line.ends_with('\n'));
        assert!(serde_json::from_str::<Value>(line.trim_end()).is_ok());
    }

    #[test]
    fn beacon_names_identity_hierarchy_and_mail_command() {
        let b = beacon(&BeaconFacts {
            agent: "builder-1",
            capability: "builder",
            task_id: "task-9",
            depth: 1,
            parent: None,
            instruction_path: ".claude/CLAUDE.md",
            now: "2026-01-01T00:00:00.000Z",
        });
        assert!(!b.contains('\n'));
        for needle in [
            "builder-1",
            "(builder)",
            "2026-01-01T00:00:00.000Z",
            "task:task-9",
            "Depth: 1",
            "Parent: none",
            ".claude/CLAUDE.md",
            "ov mail check --agent builder-1",
        ] {
            assert!(b.contains(needle), "{needle} missing from {b}");
        }
    }
}
