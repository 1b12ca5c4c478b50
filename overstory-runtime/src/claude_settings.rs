//! `.claude/settings.local.json`: overstory's hooks, merged into whatever the
//! user already has.
//!
//! Every command overstory writes ends with [`MANAGED_TAG`], a shell comment;
//! that tag (not a substring like `ov `) is how a later deployment recognises
//! its own entries and replaces them while keeping the user's. Entries written
//! by the original TypeScript overstory are recognised by their exact
//! prefixes ([`PATH_PREFIX`], [`ENV_GUARD`]).
//!
//! Hook commands refer to `$OVERSTORY_AGENT_NAME` instead of a baked-in name,
//! so persistent agents sharing the project root's settings file no longer
//! overwrite each other's identity.

use std::path::Path;

use overstory_core::json::to_tab_string;
use serde_json::{Map, Value, json};

use crate::error::RuntimeError;
use crate::guard;
use crate::runtime::HooksDef;
use crate::shell::{shell_quote, shell_word};

/// Marks a hook command as written by overstory.
pub const MANAGED_TAG: &str = "# overstory:managed";
/// Prefix of every template command: Claude runs hooks with a minimal PATH.
pub const PATH_PREFIX: &str =
    "export PATH=\"$HOME/.bun/bin:/usr/local/bin:/opt/homebrew/bin:$PATH\";";
/// Makes a command a no-op outside overstory agent sessions.
pub const ENV_GUARD: &str = "[ -z \"$OVERSTORY_AGENT_NAME\" ] && exit 0;";
/// The hook event types of the full (tmux) template, in order.
pub const TEMPLATE_EVENTS: [&str; 6] = [
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "Stop",
    "PreCompact",
];

const AGENT: &str = "\"$OVERSTORY_AGENT_NAME\"";

/// Returns the settings file path inside a worktree.
pub fn settings_path(worktree: &Path) -> std::path::PathBuf {
    worktree.join(".claude").join("settings.local.json")
}

fn managed(cmd: &str) -> String {
    format!("{cmd} {MANAGED_TAG}")
}

fn template_cmd(body: &str) -> Value {
    json!({"type": "command", "command": managed(&format!("{PATH_PREFIX} {ENV_GUARD} {body}"))})
}

fn entry(matcher: &str, hooks: Vec<Value>) -> Value {
    json!({"matcher": matcher, "hooks": hooks})
}

/// Returns the guard hook command for a definition.
pub fn guard_command(def: &HooksDef) -> String {
    let mut cmd = format!(
        "{} guard {}",
        shell_quote(&def.guard_program.to_string_lossy()),
        def.capability_or_default()
    );
    if let Some(gates) = &def.quality_gates {
        for g in gates {
            cmd.push_str(" --gate ");
            cmd.push_str(&shell_quote(&g.command));
        }
    }
    managed(&cmd)
}

/// Builds the overstory-owned hooks: the guard entry, plus (unless headless)
/// the lifecycle template.
pub fn overstory_hooks(def: &HooksDef) -> Map<String, Value> {
    let cap = def.capability_or_default();
    let guard_entry = entry(
        &guard::guarded_tools(cap).join("|"),
        vec![json!({"type": "command", "command": guard_command(def)})],
    );
    let mut hooks = Map::new();
    if def.is_headless {
        hooks.insert("PreToolUse".into(), Value::Array(vec![guard_entry]));
        return hooks;
    }
    // The same `ov` the guard runs (bare `ov` unless an absolute path was given).
    let ov = shell_word(&def.guard_program.to_string_lossy());
    let mail = format!("{ov} mail check --inject --agent {AGENT}");
    hooks.insert(
        "SessionStart".into(),
        json!([entry(
            "",
            vec![
                template_cmd(&format!("{ov} prime --agent {AGENT}")),
                template_cmd(&mail)
            ]
        )]),
    );
    hooks.insert(
        "UserPromptSubmit".into(),
        json!([entry("", vec![template_cmd(&mail)])]),
    );
    hooks.insert(
        "PreToolUse".into(),
        json!([
            guard_entry,
            entry(
                "",
                vec![template_cmd(&format!(
                    "{ov} log tool-start --agent {AGENT} --stdin"
                ))]
            ),
        ]),
    );
    hooks.insert(
        "PostToolUse".into(),
        json!([
            entry(
                "",
                vec![
                    template_cmd(&format!("{ov} log tool-end --agent {AGENT} --stdin")),
                    template_cmd(&format!("{mail} --debounce 500")),
                ]
            ),
            entry("", vec![template_cmd(&format!("{mail} --debounce 30000"))]),
            entry(
                "Bash",
                vec![template_cmd(
                    "if grep -q 'git commit'; then ml diff HEAD~1 >/dev/null 2>&1 || true; fi"
                )]
            ),
        ]),
    );
    hooks.insert(
        "Stop".into(),
        json!([entry(
            "",
            vec![
                template_cmd(&format!("{ov} log session-end --agent {AGENT} --stdin")),
                template_cmd("ml learn"),
            ]
        )]),
    );
    hooks.insert(
        "PreCompact".into(),
        json!([entry(
            "",
            vec![template_cmd(&format!(
                "{ov} prime --agent {AGENT} --compact"
            ))]
        )]),
    );
    hooks
}

/// Returns whether a hook command was written by overstory (tagged, or an
/// exact prefix the original generated).
pub fn is_managed_command(cmd: &str) -> bool {
    cmd.contains(MANAGED_TAG) || cmd.starts_with(PATH_PREFIX) || cmd.starts_with(ENV_GUARD)
}

fn is_managed_entry(entry: &Value) -> bool {
    entry
        .get("hooks")
        .and_then(Value::as_array)
        .is_some_and(|hooks| {
            hooks.iter().any(|h| {
                h.get("command")
                    .and_then(Value::as_str)
                    .is_some_and(is_managed_command)
            })
        })
}

/// Merges overstory's hooks into an existing settings value.
///
/// Non-`hooks` keys are kept untouched; user entries are kept after
/// overstory's; event types are overstory's (template order) followed by
/// user-only types. Malformed input is treated as empty.
pub fn merge_settings(existing: Option<&str>, ours: Map<String, Value>) -> Value {
    let mut root = existing
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default();
    let old_hooks = match root.remove("hooks") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let mut user: Map<String, Value> = Map::new();
    for (event, entries) in old_hooks {
        let kept: Vec<Value> = entries
            .as_array()
            .map(|a| a.iter().filter(|e| !is_managed_entry(e)).cloned().collect())
            .unwrap_or_default();
        if !kept.is_empty() {
            user.insert(event, Value::Array(kept));
        }
    }
    let mut hooks = Map::new();
    for event in TEMPLATE_EVENTS {
        let mut list: Vec<Value> = match ours.get(event) {
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        };
        if let Some(Value::Array(u)) = user.remove(event) {
            list.extend(u);
        }
        if !list.is_empty() {
            hooks.insert(event.to_owned(), Value::Array(list));
        }
    }
    for (event, entries) in user {
        hooks.insert(event, entries);
    }
    root.insert("hooks".into(), Value::Object(hooks));
    Value::Object(root)
}

/// Writes `<worktree>/.claude/settings.local.json` (merge, then atomic
/// replace).
///
/// # Errors
/// [`RuntimeError::Deploy`] when the directory or file cannot be written.
pub fn deploy_hooks(worktree: &Path, def: &HooksDef) -> Result<(), RuntimeError> {
    let path = settings_path(worktree);
    let existing = std::fs::read_to_string(&path).ok();
    let merged = merge_settings(existing.as_deref(), overstory_hooks(def));
    write_deployed(&def.agent_name, &path, to_tab_string(&merged).as_bytes())
}

/// Writes `bytes` to `path` atomically for `agent`'s deployment, creating
/// the directory ([`overstory_core::fsio::write_atomic`]).
pub(crate) fn write_deployed(agent: &str, path: &Path, bytes: &[u8]) -> Result<(), RuntimeError> {
    overstory_core::fsio::write_atomic(path, bytes).map_err(|e| RuntimeError::Deploy {
        agent: agent.to_owned(),
        action: e.action,
        path: e.path,
        source: e.source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use overstory_core::Capability;

    fn def(cap: Capability, headless: bool) -> HooksDef {
        HooksDef::new("builder-1", Some(cap), "/w").headless(headless)
    }

    fn commands(v: &Value) -> Vec<String> {
        let mut out = Vec::new();
        for (_, entries) in v["hooks"].as_object().unwrap() {
            for e in entries.as_array().unwrap() {
                for h in e["hooks"].as_array().unwrap() {
                    out.push(h["command"].as_str().unwrap().to_owned());
                }
            }
        }
        out
    }

    #[test]
    fn full_template_has_all_six_event_types_and_the_expected_commands() {
        let v = merge_settings(None, overstory_hooks(&def(Capability::Builder, false)));
        let keys: Vec<_> = v["hooks"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, TEMPLATE_EVENTS);
        let all = commands(&v).join("\n");
        for needle in [
            "ov prime --agent",
            "ov mail check --inject --agent",
            "--debounce 500",
            "--debounce 30000",
            "ml diff HEAD~1",
            "ov log tool-start",
            "ov log tool-end",
            "ov log session-end",
            "--stdin",
            "ml learn",
            "--compact",
            "guard builder",
        ] {
            assert!(all.contains(needle), "{needle}");
        }
        assert!(!all.contains("--tool-name"));
        assert!(!all.contains("sed "));
        let session: Vec<_> = v["hooks"]["SessionStart"][0]["hooks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["command"].as_str().unwrap().to_owned())
            .collect();
        assert!(session[0].contains("ov prime") && session[1].contains("mail check --inject"));
    }

    #[test]
    fn template_hooks_use_the_given_ov_program() {
        let d = def(Capability::Builder, false).guard_program("/opt/ov bin/ov");
        let v = merge_settings(None, overstory_hooks(&d));
        let all = commands(&v).join("\n");
        assert!(all.contains("'/opt/ov bin/ov' prime --agent"));
        assert!(all.contains("'/opt/ov bin/ov' guard builder"));
    }

    #[test]
    fn template_commands_carry_path_prefix_once_and_env_guard_guards_do_not() {
        let v = merge_settings(None, overstory_hooks(&def(Capability::Builder, false)));
        for c in commands(&v) {
            assert!(c.contains(MANAGED_TAG));
            assert!(
                c.contains("OVERSTORY_AGENT_NAME") || c.contains(" guard "),
                "{c}"
            );
            if c.contains(" guard ") {
                assert!(!c.contains(PATH_PREFIX));
            } else {
                assert_eq!(c.matches(PATH_PREFIX).count(), 1, "{c}");
                assert!(c.contains("$HOME"));
            }
            assert!(!c.contains("{{"), "{c}");
        }
    }

    #[test]
    fn headless_deploys_only_the_pre_tool_use_guard() {
        let v = merge_settings(None, overstory_hooks(&def(Capability::Builder, true)));
        let keys: Vec<_> = v["hooks"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["PreToolUse"]);
        let cmds = commands(&v);
        assert_eq!(cmds.len(), 1);
        assert!(cmds[0].contains("'ov' guard builder"));
        let matcher = v["hooks"]["PreToolUse"][0]["matcher"].as_str().unwrap();
        for t in [
            "Bash",
            "Write",
            "Edit",
            "NotebookEdit",
            "Task",
            "AskUserQuestion",
        ] {
            assert!(matcher.split('|').any(|m| m == t), "{t}");
        }
    }

    #[test]
    fn scout_and_builder_settings_differ() {
        let a = merge_settings(None, overstory_hooks(&def(Capability::Scout, true)));
        let b = merge_settings(None, overstory_hooks(&def(Capability::Builder, true)));
        assert_ne!(a, b);
        assert!(commands(&a)[0].contains("guard scout"));
    }

    #[test]
    fn quality_gates_are_passed_to_the_guard_quoted() {
        let d = def(Capability::Reviewer, true).quality_gates(vec![
            overstory_core::config::QualityGate::new("T", "cargo test", "pass"),
            overstory_core::config::QualityGate::new("Q", "it's", "x"),
        ]);
        let c = guard_command(&d);
        assert!(c.contains("--gate 'cargo test' --gate 'it'\\''s'"), "{c}");
    }

    #[test]
    fn existing_keys_and_user_hooks_survive_and_follow_overstory_hooks() {
        let existing = r#"{
            "permissions": {"allow": ["Bash(ls)"]},
            "env": {"A": "1"},
            "hooks": {
                "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "my-ov lint --strict"}]}],
                "Notification": [{"matcher": "", "hooks": [{"type": "command", "command": "notify-send hi"}]}]
            }
        }"#;
        let v = merge_settings(
            Some(existing),
            overstory_hooks(&def(Capability::Builder, false)),
        );
        assert_eq!(v["permissions"]["allow"][0], "Bash(ls)");
        assert_eq!(v["env"]["A"], "1");
        let pre = v["hooks"]["PreToolUse"].as_array().unwrap();
        assert_eq!(
            pre.last().unwrap()["hooks"][0]["command"],
            "my-ov lint --strict"
        );
        assert!(
            pre[0]["hooks"][0]["command"]
                .as_str()
                .unwrap()
                .contains(" guard ")
        );
        let keys: Vec<_> = v["hooks"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys.last().unwrap(), "Notification");
    }

    #[test]
    fn user_commands_mentioning_ov_are_not_mistaken_for_ours() {
        // The original deleted any user hook containing "ov ".
        let existing = r#"{"hooks":{"Stop":[{"matcher":"","hooks":[{"type":"command","command":"echo ov overstory OVERSTORY_X"}]}]}}"#;
        let v = merge_settings(
            Some(existing),
            overstory_hooks(&def(Capability::Builder, true)),
        );
        assert_eq!(
            v["hooks"]["Stop"][0]["hooks"][0]["command"],
            "echo ov overstory OVERSTORY_X"
        );
    }

    #[test]
    fn repeat_deploys_are_idempotent_and_replace_stale_entries() {
        let existing = format!(
            r#"{{"hooks":{{"PreToolUse":[{{"matcher":"Bash","hooks":[{{"type":"command","command":"{} old guard"}}]}},{{"matcher":"","hooks":[{{"type":"command","command":"user-thing"}}]}}]}}}}"#,
            ENV_GUARD.replace('"', "\\\"")
        );
        let once = merge_settings(
            Some(&existing),
            overstory_hooks(&def(Capability::Builder, false)),
        );
        let text = to_tab_string(&once);
        let twice = merge_settings(
            Some(&text),
            overstory_hooks(&def(Capability::Builder, false)),
        );
        assert_eq!(once, twice);
        let all = commands(&twice);
        assert_eq!(all.iter().filter(|c| *c == "user-thing").count(), 1);
        assert!(!all.iter().any(|c| c.contains("old guard")));
    }

    #[test]
    fn malformed_existing_file_is_treated_as_empty() {
        let v = merge_settings(
            Some("{not json"),
            overstory_hooks(&def(Capability::Builder, true)),
        );
        assert_eq!(v.as_object().unwrap().len(), 1);
        let v = merge_settings(
            Some("[1]"),
            overstory_hooks(&def(Capability::Builder, true)),
        );
        assert!(v["hooks"]["PreToolUse"].is_array());
    }

    #[test]
    fn output_is_tab_indented_with_trailing_newline() {
        let s = to_tab_string(&json!({"a": {"b": 1}}));
        assert_eq!(s, "{\n\t\"a\": {\n\t\t\"b\": 1\n\t}\n}\n");
    }
}
