//! The contents of the files `ov init` writes, built from the capability table.
//!
//! Every function here is pure and deterministic, so `ov update` can compare
//! the files on disk with what this version would write.

use serde_json::{Map, Value, json};

use crate::capability::{Capability, Lifecycle};

/// The lines of `.overstory/.gitignore`, in order.
pub const GITIGNORE: &str = "\
# Wildcard+whitelist: ignore everything, whitelist tracked files
# Auto-healed by ov prime on each session start
*
!.gitignore
!config.yaml
!agent-manifest.json
!hooks.json
!groups.json
!agent-defs/
!agent-defs/**
!README.md
";

/// `.overstory/README.md`: what the directory is for. Byte-stable per version.
pub const README: &str = include_str!("../../templates/overstory-readme.md");

/// The agent definitions `ov init` deploys, in file-name order, with their
/// capability (`ov-co-creation` is a planning guide without one).
const AGENT_DEFS: [(&str, Option<Capability>, &str); 9] = [
    (
        "builder.md",
        Some(Capability::Builder),
        include_str!("../../templates/agent-defs/builder.md"),
    ),
    (
        "coordinator.md",
        Some(Capability::Coordinator),
        include_str!("../../templates/agent-defs/coordinator.md"),
    ),
    (
        "lead.md",
        Some(Capability::Lead),
        include_str!("../../templates/agent-defs/lead.md"),
    ),
    (
        "merger.md",
        Some(Capability::Merger),
        include_str!("../../templates/agent-defs/merger.md"),
    ),
    (
        "monitor.md",
        Some(Capability::Monitor),
        include_str!("../../templates/agent-defs/monitor.md"),
    ),
    (
        "orchestrator.md",
        Some(Capability::Orchestrator),
        include_str!("../../templates/agent-defs/orchestrator.md"),
    ),
    (
        "ov-co-creation.md",
        None,
        include_str!("../../templates/agent-defs/ov-co-creation.md"),
    ),
    (
        "reviewer.md",
        Some(Capability::Reviewer),
        include_str!("../../templates/agent-defs/reviewer.md"),
    ),
    (
        "scout.md",
        Some(Capability::Scout),
        include_str!("../../templates/agent-defs/scout.md"),
    ),
];

/// Returns every agent definition as (file name, contents).
pub fn agent_defs() -> Vec<(&'static str, String)> {
    AGENT_DEFS
        .iter()
        .map(|(file, cap, template)| (*file, render_agent_def(template, *cap)))
        .collect()
}

fn render_agent_def(template: &str, cap: Option<Capability>) -> String {
    let mut text = template.replace("@@MAIL@@", MAIL_SECTION.trim_end());
    if let Some(cap) = cap {
        text = text
            .replace("@@CONSTRAINTS@@", constraints_section(cap).trim_end())
            .replace("@@TERMINAL_MAIL@@", terminal_mail_section(cap).trim_end());
    }
    text
}

const MAIL_SECTION: &str = "\
## Mail

Agents talk through `ov mail`. Your agent name and your parent's are in your
assignment; pass your own name with `--agent` on every mail command.

- Check your inbox (this marks the messages read):

  ```
  ov mail check --agent <your-name>
  ```

- Send a message. Useful types: `status` (progress), `question` (you need an
  answer), `error` (you are blocked), `escalation` (someone above must decide):

  ```
  ov mail send --to <agent> --type <type> --subject \"<subject>\" --body \"<body>\" --agent <your-name>
  ```

- Reply to a message you received (keeps it in the same thread):

  ```
  ov mail reply <message-id> --body \"<body>\" --agent <your-name>
  ```

New mail also arrives on its own at the start of your next turn.
";

/// The constraints section, derived from the capability's properties.
pub fn constraints_section(cap: Capability) -> String {
    let p = cap.props();
    let mut lines = vec!["## Constraints".to_owned(), String::new()];
    if p.read_only {
        lines.push(
            "- You are read-only. Do not create, edit, move or delete files, and do not commit. \
             Your guards block file writes, and Bash is limited to read-only commands."
                .into(),
        );
    } else if p.has_worktree {
        lines.push(
            "- Work only inside your own worktree (the directory you were started in) and on your \
             own branch. Commit your work there."
                .into(),
        );
    }
    if !p.has_worktree {
        lines.push(
            "- You have no worktree: you run at the project root. Do not change project files \
             yourself; dispatch agents for that."
                .into(),
        );
    }
    if p.can_spawn {
        lines.push(
            "- You may start child agents with `ov sling`; each child reports back to you by mail."
                .into(),
        );
    } else {
        lines.push(
            "- You may not start other agents; ask your parent if more hands are needed.".into(),
        );
    }
    match p.lifecycle {
        Lifecycle::Persistent => lines.push(
            "- You are persistent: you stay up for the whole session and handle one mail after \
             another."
                .into(),
        ),
        Lifecycle::TaskScoped => lines.push(
            "- You live for one task. Each mail you receive starts a new turn; you are finished \
             only when you have sent your terminal mail."
                .into(),
        ),
        Lifecycle::Unmanaged => {}
    }
    lines.push("- Never run `git push`.".into());
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// The sentence (and example) that tells an agent which terminal mail it must
/// send, generated from [`Capability::terminal_mail_types`].
pub fn terminal_mail_section(cap: Capability) -> String {
    let types = cap.terminal_mail_types();
    let mut s = String::from("## Finishing\n\n");
    if cap.props().lifecycle != Lifecycle::TaskScoped {
        let child_types = child_terminal_types();
        s.push_str(&format!(
            "You are persistent, so no single mail ends your session: keep handling mail until \
             the operator stops you. The agents below you finish by sending their terminal mail \
             to their parent ({}); treat that mail as the signal that a child is done.\n",
            child_types
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return s;
    }
    match types {
        [ok, failed] if failed.ends_with("_failed") => {
            s.push_str(&format!(
                "Your terminal mail is `{ok}` or `{failed}`, sent to your parent (named in your \
                 assignment; `coordinator` if you have none). Send exactly one of them, last, \
                 when the merge is settled: `{ok}` when the branch landed and the quality gates \
                 pass, `{failed}` when it did not (name the conflicting files and the error in \
                 the body). No other mail type ends your task.\n\n\
                 ```\n\
                 ov mail send --to <parent> --type {ok} --subject \"Merged: <branch>\" --body \"<what was merged and how conflicts were resolved>\" --agent <your-name>\n\
                 ov mail send --to <parent> --type {failed} --subject \"Merge failed: <branch>\" --body \"<conflicting files and the error>\" --agent <your-name>\n\
                 ```\n"
            ));
        }
        [canonical, ..] => {
            s.push_str(&format!(
                "Your terminal mail is `{canonical}`. When your task is finished, send exactly one \
                 `{canonical}` mail to your parent (named in your assignment; `coordinator` if you \
                 have none). Send it last, after your work is done{}; until it arrives, the system \
                 does not consider your task finished. If you cannot finish, still end with \
                 `{canonical}` and say in the body what is missing and why.\n\n\
                 ```\n\
                 ov mail send --to <parent> --type {canonical} --subject \"Done: <task-id>\" --body \"<what you did, what changed, anything left open>\" --agent <your-name>\n\
                 ```\n",
                if cap.props().read_only {
                    ""
                } else {
                    " and committed"
                }
            ));
        }
        [] => s.push_str("There is no terminal mail for this role.\n"),
    }
    s
}

/// The distinct terminal mail types of task-scoped capabilities (canonical
/// types first), for the persistent agents that receive them.
fn child_terminal_types() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for cap in Capability::ALL {
        if cap.is_task_scoped() {
            let types = cap.terminal_mail_types();
            let wanted: &[&str] = if types.len() == 2 && types[1].ends_with("_failed") {
                types
            } else {
                &types[..1.min(types.len())]
            };
            for t in wanted {
                if !out.contains(t) {
                    out.push(t);
                }
            }
        }
    }
    out
}

/// `agent-manifest.json` as a value: one entry per capability in the default
/// manifest, in table order, and the index from capability tag to agents.
pub fn manifest() -> Value {
    let mut agents = Map::new();
    let mut index: Map<String, Value> = Map::new();
    for cap in Capability::manifest_capabilities() {
        let p = cap.props();
        agents.insert(
            cap.as_str().to_owned(),
            json!({
                "file": format!("{}.md", cap.as_str()),
                "model": p.default_model,
                "tools": p.tools,
                "capabilities": p.manifest_capabilities,
                "canSpawn": p.can_spawn,
                "constraints": p.constraints,
            }),
        );
        for tag in p.manifest_capabilities {
            let entry = index
                .entry((*tag).to_owned())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(names) = entry {
                names.push(Value::String(cap.as_str().to_owned()));
            }
        }
    }
    json!({
        "version": "1.0",
        "agents": agents,
        "capabilityIndex": index,
    })
}

const TOOL_NAME: &str = "TOOL_NAME=$(sed -n 's/.*\"tool_name\"[[:space:]]*:[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p' | head -n 1)";

/// `hooks.json`: the hooks for the operator's own (orchestrator) session.
pub fn hooks() -> Value {
    let entry = |matcher: &str, commands: &[&str]| {
        json!({
            "matcher": matcher,
            "hooks": commands
                .iter()
                .map(|c| json!({"type": "command", "command": c}))
                .collect::<Vec<_>>(),
        })
    };
    let block_push = "input=$(cat); if printf '%s' \"$input\" | grep -Eq '(^|[^[:alnum:]_-])git[[:space:]]+push([^[:alnum:]_-]|$)'; then echo '{\"decision\":\"block\",\"reason\":\"git push is blocked in overstory sessions: land agent work with ov merge and let the operator push\"}'; fi";
    let tool_start =
        format!("{TOOL_NAME}; ov log tool-start --agent orchestrator --tool-name \"$TOOL_NAME\"");
    let tool_end =
        format!("{TOOL_NAME}; ov log tool-end --agent orchestrator --tool-name \"$TOOL_NAME\"");
    let mulch_diff = "input=$(cat); if printf '%s' \"$input\" | grep -q 'git commit'; then mulch diff HEAD~1 >/dev/null 2>&1 || true; fi";
    json!({
        "hooks": {
            "SessionStart": [entry("", &["ov prime --agent orchestrator"])],
            "UserPromptSubmit": [entry("", &["ov mail check --inject --agent orchestrator"])],
            "PreToolUse": [
                entry("Bash", &[block_push]),
                entry("", &[&tool_start]),
            ],
            "PostToolUse": [
                entry("", &[&tool_end]),
                entry("Bash", &[mulch_diff]),
            ],
            "Stop": [entry("", &[
                "ov log session-end --agent orchestrator",
                "mulch learn >/dev/null 2>&1 || true",
            ])],
            "PreCompact": [entry("", &["ov prime --agent orchestrator --compact"])],
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_matches_the_table_and_indexes_in_agent_order() {
        let m = manifest();
        let agents = m["agents"].as_object().unwrap();
        let names: Vec<_> = agents.keys().cloned().collect();
        assert_eq!(
            names,
            [
                "scout",
                "builder",
                "reviewer",
                "lead",
                "merger",
                "coordinator",
                "orchestrator",
                "monitor"
            ]
        );
        assert_eq!(m["agents"]["scout"]["model"], "haiku");
        assert_eq!(m["agents"]["lead"]["canSpawn"], true);
        assert_eq!(
            m["agents"]["coordinator"]["constraints"],
            json!(["read-only", "no-worktree"])
        );
        assert_eq!(
            m["capabilityIndex"]["coordinate"],
            json!(["lead", "coordinator", "orchestrator"])
        );
        assert_eq!(m["version"], "1.0");
    }

    #[test]
    fn json_files_use_tabs_and_end_with_a_newline() {
        let text = crate::json::to_tab_string(&manifest());
        assert!(text.starts_with("{\n\t\"version\": \"1.0\",\n\t\"agents\": {\n\t\t\"scout\""));
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn every_definition_names_its_terminal_mail_and_has_no_placeholders() {
        for (file, text) in agent_defs() {
            assert!(!text.contains("@@"), "{file}");
            assert!(text.contains("ov mail check --agent"), "{file}");
            assert!(text.contains("ov mail send"), "{file}");
            assert!(text.contains("ov mail reply"), "{file}");
            let Some(cap) = file
                .strip_suffix(".md")
                .and_then(|n| n.parse::<Capability>().ok())
            else {
                continue;
            };
            let canonical = cap.terminal_mail_types()[0];
            if cap.is_task_scoped() {
                assert!(
                    text.contains(&format!("--type {canonical}")),
                    "{file} lacks its terminal mail"
                );
            }
            if cap.props().read_only {
                assert!(text.contains("You are read-only"), "{file}");
            }
        }
    }

    #[test]
    fn merger_sends_merged_or_merge_failed_and_workers_worker_done() {
        let merger = terminal_mail_section(Capability::Merger);
        assert!(merger.contains("--type merged "));
        assert!(merger.contains("--type merge_failed "));
        assert!(!merger.contains("worker_done"));
        let builder = terminal_mail_section(Capability::Builder);
        assert!(builder.contains("exactly one `worker_done` mail to your parent"));
        let coordinator = terminal_mail_section(Capability::Coordinator);
        assert!(coordinator.contains("`worker_done`, `merged`, `merge_failed`"));
    }

    #[test]
    fn hooks_cover_the_orchestrator_session() {
        let h = hooks();
        let events: Vec<_> = h["hooks"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            events,
            [
                "SessionStart",
                "UserPromptSubmit",
                "PreToolUse",
                "PostToolUse",
                "Stop",
                "PreCompact"
            ]
        );
        assert_eq!(
            h["hooks"]["UserPromptSubmit"][0]["hooks"][0]["command"],
            "ov mail check --inject --agent orchestrator"
        );
        assert_eq!(h["hooks"]["PreToolUse"][0]["matcher"], "Bash");
    }
}
