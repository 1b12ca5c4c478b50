//! The per-agent overlay (`.claude/CLAUDE.md`): the agent's base definition
//! plus its assignment, rendered from a template embedded in the binary.
//!
//! Rendering is single-pass over an explicit key set: a value is never
//! re-scanned for placeholders (the original's repeated replacement could
//! loop forever or expand a value's own text), and an unknown `{{KEY}}` is
//! an error instead of surviving into the agent's instructions. Every key
//! works inside base definitions too. Completion wording comes from the
//! capability's terminal mail types, so mergers are told `merged` everywhere.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use overstory_core::Capability;
use overstory_core::config::QualityGate;

use crate::error::RuntimeError;

/// The markdown template every overlay is rendered from (`{{placeholder}}`
/// syntax).
pub const OVERLAY_TEMPLATE: &str = include_str!("overlay.md.tmpl");

/// Everything an overlay says about one agent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OverlayConfig {
    /// The agent's name, as its mail address and in its branch.
    pub agent_name: String,
    /// The agent's capability, which picks the overlay's role rules.
    pub capability: Capability,
    /// The task the agent works on.
    pub task_id: String,
    /// Spec file, if any.
    pub spec_path: Option<String>,
    /// The git branch the agent commits to.
    pub branch_name: String,
    /// The agent's worktree: the directory it may write in.
    pub worktree_path: PathBuf,
    /// Parent agent (`coordinator` when absent).
    pub parent_agent: Option<String>,
    /// How deep in the agent tree it is (0 for the coordinator's children
    /// slung by the orchestrator).
    pub depth: u32,
    /// Files the agent owns.
    pub file_scope: Vec<String>,
    /// Mulch domains to prime.
    pub mulch_domains: Vec<String>,
    /// Expertise text from mulch, rendered into the overlay as is.
    pub mulch_expertise: Option<String>,
    /// Whether the overlay tells the agent it may sling workers.
    pub can_spawn: bool,
    /// The base agent definition (markdown).
    pub base_definition: String,
    /// Profile instructions (canopy layer).
    pub profile_instructions: Option<String>,
    /// Quality gates (`project.qualityGates`); `None` or empty means the
    /// project has none, and the overlay says so.
    pub quality_gates: Option<Vec<QualityGate>>,
    /// Lead was dispatched with `--skip-scout`.
    pub skip_scout: bool,
    /// Lead should skip review.
    pub skip_review: bool,
    /// Ceiling on the lead's workers (0 or `None` = none).
    pub max_agents: Option<u32>,
    /// The task tracker's command (`sd`), used in the overlay's close
    /// instructions.
    pub tracker_cli: String,
    /// The task tracker's display name (`seeds`).
    pub tracker_name: String,
    /// Where the runtime reads the overlay, relative to the worktree
    /// (`.claude/CLAUDE.md`).
    pub instruction_path: String,
}

impl OverlayConfig {
    /// Creates a config with defaults for everything but the identity.
    pub fn new(
        agent_name: impl Into<String>,
        capability: Capability,
        task_id: impl Into<String>,
        branch_name: impl Into<String>,
        worktree_path: impl Into<PathBuf>,
    ) -> Self {
        Self {
            agent_name: agent_name.into(),
            capability,
            task_id: task_id.into(),
            spec_path: None,
            branch_name: branch_name.into(),
            worktree_path: worktree_path.into(),
            parent_agent: None,
            depth: 0,
            file_scope: Vec::new(),
            mulch_domains: Vec::new(),
            mulch_expertise: None,
            can_spawn: capability.props().can_spawn,
            base_definition: String::new(),
            profile_instructions: None,
            quality_gates: None,
            skip_scout: false,
            skip_review: false,
            max_agents: None,
            tracker_cli: "sd".into(),
            tracker_name: "seeds".into(),
            instruction_path: crate::claude::CLAUDE_INSTRUCTION_PATH.into(),
        }
    }

    fn gates(&self) -> Vec<QualityGate> {
        self.quality_gates.clone().unwrap_or_default()
    }
}

/// What the overlay says where a project has no quality gates.
pub const NO_GATES: &str = "no quality gates configured";

/// `` `cmd`, `cmd` `` (or [`NO_GATES`]).
pub fn gates_inline(gates: &[QualityGate]) -> String {
    if gates.is_empty() {
        return NO_GATES.into();
    }
    gates
        .iter()
        .map(|g| format!("`{}`", g.command))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `N. Run `cmd` -- desc.` lines (or one line saying there are none).
pub fn gates_steps(gates: &[QualityGate]) -> String {
    if gates.is_empty() {
        return format!("1. Nothing to run: {NO_GATES}.");
    }
    gates
        .iter()
        .enumerate()
        .map(|(i, g)| format!("{}. Run `{}` -- {}.", i + 1, g.command, g.description))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A fenced bash block, commands padded to the longest + 2, then
/// `# Description` with the first letter upper-cased.
pub fn gates_bash(gates: &[QualityGate]) -> String {
    let width = gates
        .iter()
        .map(|g| g.command.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    let mut s = String::from("```bash\n");
    if gates.is_empty() {
        let _ = writeln!(s, "# {NO_GATES}");
    }
    for g in gates {
        let mut desc = g.description.chars();
        let cap: String = desc
            .next()
            .map(|c| c.to_uppercase().chain(desc).collect())
            .unwrap_or_default();
        let _ = writeln!(s, "{:<width$}# {cap}", g.command);
    }
    s.push_str("```");
    s
}

/// `  - `cmd` (desc)` lines (or one line saying there are none).
pub fn gates_capabilities(gates: &[QualityGate]) -> String {
    if gates.is_empty() {
        return format!("  - ({NO_GATES})");
    }
    gates
        .iter()
        .map(|g| format!("  - `{}` ({})", g.command, g.description))
        .collect::<Vec<_>>()
        .join("\n")
}

fn values(c: &OverlayConfig) -> Vec<(&'static str, String)> {
    let gates = c.gates();
    let parent = c
        .parent_agent
        .clone()
        .unwrap_or_else(|| "coordinator".into());
    let terminal = c.capability.terminal_mail_types()[0];
    let read_only = matches!(c.capability, Capability::Scout | Capability::Reviewer);
    let spec_path = c
        .spec_path
        .clone()
        .unwrap_or_else(|| "No spec file provided".into());
    let file_scope = if c.file_scope.is_empty() {
        "No file scope restrictions".to_owned()
    } else {
        c.file_scope
            .iter()
            .map(|f| format!("- `{f}`"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let domains = if c.mulch_domains.is_empty() {
        "No specific expertise domains configured".to_owned()
    } else {
        format!("```bash\nml prime {}\n```", c.mulch_domains.join(" "))
    };
    let expertise = match c.mulch_expertise.as_deref().map(str::trim) {
        Some(t) if !t.is_empty() => format!(
            "### Pre-loaded Expertise\n\nThese learnings were recorded by earlier agents in your domains:\n\n{t}"
        ),
        _ => String::new(),
    };
    let can_spawn = if c.can_spawn {
        format!(
            "You may spawn sub-workers:\n\n```bash\nov sling <task-id> --capability builder --name <worker-name> --parent {} --depth {}\n```",
            c.agent_name,
            c.depth + 1
        )
    } else {
        "You may NOT spawn sub-workers.".to_owned()
    };
    let spec_instruction = if c.spec_path.is_some() {
        format!("Read your task spec at `{spec_path}` before you start.")
    } else {
        "No spec file was written for this task: check your mail for instructions.".to_owned()
    };
    let skip_scout = if c.capability == Capability::Lead && c.skip_scout {
        "## Skip Scouting\n\nYou were dispatched with --skip-scout: go straight to planning and building; do not spawn scouts.".to_owned()
    } else {
        String::new()
    };
    let quality = if read_only {
        completion_section(c, terminal, &parent)
    } else {
        quality_section(c, &gates, terminal, &parent)
    };
    let constraints = constraints_section(c, terminal, read_only);
    vec![
        ("AGENT_NAME", c.agent_name.clone()),
        ("CAPABILITY", c.capability.to_string()),
        ("TASK_ID", c.task_id.clone()),
        ("SPEC_PATH", spec_path),
        ("BRANCH_NAME", c.branch_name.clone()),
        ("WORKTREE_PATH", c.worktree_path.display().to_string()),
        ("PARENT_AGENT", parent),
        ("DEPTH", c.depth.to_string()),
        ("FILE_SCOPE", file_scope),
        ("MULCH_DOMAINS", domains),
        ("MULCH_EXPERTISE", expertise),
        ("CAN_SPAWN", can_spawn),
        ("QUALITY_GATES", quality),
        ("CONSTRAINTS", constraints),
        ("SPEC_INSTRUCTION", spec_instruction),
        ("SKIP_SCOUT", skip_scout),
        ("DISPATCH_OVERRIDES", dispatch_overrides(c)),
        (
            "PROFILE_INSTRUCTIONS",
            c.profile_instructions
                .clone()
                .filter(|p| !p.trim().is_empty())
                .unwrap_or_default(),
        ),
        ("QUALITY_GATE_INLINE", gates_inline(&gates)),
        ("QUALITY_GATE_STEPS", gates_steps(&gates)),
        ("QUALITY_GATE_BASH", gates_bash(&gates)),
        ("QUALITY_GATE_CAPABILITIES", gates_capabilities(&gates)),
        ("TRACKER_CLI", c.tracker_cli.clone()),
        ("TRACKER_NAME", c.tracker_name.clone()),
        ("INSTRUCTION_PATH", c.instruction_path.clone()),
        ("TERMINAL_MAIL_TYPE", terminal.to_owned()),
    ]
}

fn completion_section(c: &OverlayConfig, terminal: &str, parent: &str) -> String {
    format!(
        "## Completion\n\n\
         1. Record what you learned: `ml record <domain> --type <type> --description \"...\"`.\n\
         2. Report to your parent: `ov mail send --to {parent} --subject \"{task}: findings\" --body \"<summary>\" --type {terminal} --agent {name}`.\n\
         3. Close the task: `{tracker} close {task}`.\n\n\
         You are read-only: do not modify files and do not commit.",
        task = c.task_id,
        name = c.agent_name,
        tracker = c.tracker_cli,
    )
}

fn quality_section(
    c: &OverlayConfig,
    gates: &[QualityGate],
    terminal: &str,
    parent: &str,
) -> String {
    let mut s = if gates.is_empty() {
        format!(
            "## Quality Gates\n\nThis project has {NO_GATES} (`project.qualityGates` in \
             `.overstory/config.yaml`). Before reporting done:\n\n"
        )
    } else {
        String::from("## Quality Gates\n\nBefore reporting done, all of these must pass:\n\n")
    };
    for (i, g) in gates.iter().enumerate() {
        let _ = writeln!(
            s,
            "{}. **{}:** `{}` — {}",
            i + 1,
            g.name,
            g.command,
            g.description
        );
    }
    let n = gates.len();
    let _ = write!(
        s,
        "{}. **Commit** your work to `{branch}`.\n\
         {}. **Record learnings:** `ml record <domain> --type <type> --description \"...\" --outcome-status success --outcome-agent {name}`.\n\
         {}. **Signal completion:** `ov mail send --to {parent} --subject \"{task}: done\" --body \"<summary>\" --type {terminal} --agent {name}`.\n\
         {}. **Close the task:** `{tracker} close {task}`.\n\n\
         Do not push: the coordinator merges your branch with `ov merge`.",
        n + 1,
        n + 2,
        n + 3,
        n + 4,
        branch = c.branch_name,
        name = c.agent_name,
        task = c.task_id,
        tracker = c.tracker_cli,
    );
    s
}

fn constraints_section(c: &OverlayConfig, terminal: &str, read_only: bool) -> String {
    if read_only {
        format!(
            "- You are read-only: never create, edit or delete files, never commit.\n\
             - Report by closing the task with `{tracker} close {task}` and `ov mail send --type {terminal}`.\n\
             - When blocked, send an urgent `error` mail to your parent at once.",
            tracker = c.tracker_cli,
            task = c.task_id,
        )
    } else {
        format!(
            "- Work only in your worktree `{wt}`; never write to the canonical project root.\n\
             - Touch only the files in your file scope.\n\
             - Commit only to `{branch}`; never push.\n\
             - Report by closing the task with `{tracker} close {task}` and `ov mail send --type {terminal}`.",
            wt = c.worktree_path.display(),
            branch = c.branch_name,
            tracker = c.tracker_cli,
            task = c.task_id,
        )
    }
}

fn dispatch_overrides(c: &OverlayConfig) -> String {
    if c.capability != Capability::Lead {
        return String::new();
    }
    let mut parts = Vec::new();
    if c.skip_review {
        parts.push(
            "**SKIP REVIEW:** do not spawn reviewers; verify the builders' work yourself."
                .to_owned(),
        );
    }
    match c.max_agents {
        Some(1) => parts.push(
            "**MAX AGENTS = 1:** spawn a single builder and verify its work yourself. Leads do not implement."
                .to_owned(),
        ),
        Some(2) => parts.push(
            "**MAX AGENTS = 2:** compressed mode: spawn builders only (no scouts, no reviewers).".to_owned(),
        ),
        Some(n) if n > 0 => parts.push(format!("**MAX AGENTS = {n}:** never run more than {n} workers at once.")),
        _ => {}
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("## Dispatch Overrides\n\n{}", parts.join("\n\n"))
    }
}

/// Replaces `{{KEY}}` from `values` in one pass.
///
/// # Errors
/// [`RuntimeError::Template`] for a placeholder not in `values`.
fn render(
    template: &str,
    values: &[(&'static str, String)],
    source_name: &'static str,
) -> Result<String, RuntimeError> {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) if is_key(&after[..end]) => {
                let key = &after[..end];
                let v = values.iter().find(|(k, _)| *k == key).ok_or_else(|| {
                    RuntimeError::Template {
                        key: key.to_owned(),
                        source_name,
                    }
                })?;
                out.push_str(&v.1);
                rest = &after[end + 2..];
            }
            _ => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_key(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_uppercase() || c == '_')
}

/// Renders the overlay for `config`.
///
/// # Errors
/// [`RuntimeError::Template`] when the base definition holds an unknown
/// placeholder.
pub fn render_overlay(config: &OverlayConfig) -> Result<String, RuntimeError> {
    let mut vals = values(config);
    let base = render(&config.base_definition, &vals, "agent definition")?;
    vals.push(("BASE_DEFINITION", base));
    render(OVERLAY_TEMPLATE, &vals, "overlay")
}

/// Writes the overlay into `worktree/<instruction_path>`, refusing the
/// canonical project root.
///
/// # Errors
/// [`RuntimeError::OverlayAtRoot`] for the root (nothing written);
/// [`RuntimeError::Deploy`] when writing fails.
pub fn write_overlay(
    worktree: &Path,
    content: &str,
    canonical_root: &Path,
    instruction_path: &str,
    agent: &str,
) -> Result<PathBuf, RuntimeError> {
    let same = match (worktree.canonicalize(), canonical_root.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => normalize(worktree) == normalize(canonical_root),
    };
    if same {
        return Err(RuntimeError::OverlayAtRoot {
            root: canonical_root.to_path_buf(),
        });
    }
    write_instruction_file(worktree, instruction_path, content, agent)
}

/// Writes `content` to `worktree/<instruction_path>`, creating directories.
///
/// # Errors
/// [`RuntimeError::Deploy`] when writing fails.
pub fn write_instruction_file(
    worktree: &Path,
    instruction_path: &str,
    content: &str,
    agent: &str,
) -> Result<PathBuf, RuntimeError> {
    let path = worktree.join(instruction_path);
    crate::claude_settings::write_deployed(agent, &path, content.as_bytes())?;
    Ok(path)
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(cap: Capability) -> OverlayConfig {
        let mut c = OverlayConfig::new(
            "agent-1",
            cap,
            "task-7",
            "overstory/agent-1/task-7",
            "/wt/agent-1",
        );
        c.base_definition = "# Base\nUse {{TRACKER_CLI}} ({{TRACKER_NAME}}); read {{INSTRUCTION_PATH}}; gates: {{QUALITY_GATE_INLINE}}; I am {{AGENT_NAME}}".into();
        c
    }

    #[test]
    fn renders_assignment_fields_and_no_placeholders_remain() {
        let mut c = cfg(Capability::Builder);
        c.spec_path = Some(".overstory/specs/task-7.md".into());
        c.parent_agent = Some("lead-1".into());
        c.depth = 2;
        let out = render_overlay(&c).unwrap();
        for needle in [
            "agent-1",
            "task-7",
            "overstory/agent-1/task-7",
            "/wt/agent-1",
            "lead-1",
            ".overstory/specs/task-7.md",
            "Read your task spec",
        ] {
            assert!(out.contains(needle), "{needle}");
        }
        assert!(!out.contains("{{"), "{out}");
        // Every key works inside the base definition.
        assert!(out.contains("Use sd (seeds); read .claude/CLAUDE.md; gates: no quality gates configured; I am agent-1"));
    }

    #[test]
    fn fallbacks_for_spec_parent_scope_and_domains() {
        let out = render_overlay(&cfg(Capability::Builder)).unwrap();
        assert!(out.contains("No spec file provided"));
        assert!(out.contains("check your mail"));
        assert!(out.contains("coordinator"));
        assert!(out.contains("No file scope restrictions"));
        assert!(out.contains("No specific expertise domains configured"));
        assert!(!out.contains("Pre-loaded Expertise"));
        let mut c = cfg(Capability::Builder);
        c.file_scope = vec!["src/a.rs".into()];
        c.mulch_domains = vec!["rust".into(), "cli".into()];
        c.mulch_expertise = Some("know this".into());
        let out = render_overlay(&c).unwrap();
        assert!(out.contains("- `src/a.rs`"));
        assert!(out.contains("```bash\nml prime rust cli\n```"));
        assert!(out.contains("### Pre-loaded Expertise") && out.contains("know this"));
    }

    #[test]
    fn can_spawn_wording() {
        let out = render_overlay(&cfg(Capability::Builder)).unwrap();
        assert!(out.contains("You may NOT spawn sub-workers."));
        let mut c = cfg(Capability::Lead);
        c.depth = 1;
        let out = render_overlay(&c).unwrap();
        assert!(out.contains("ov sling <task-id> --capability builder --name <worker-name> --parent agent-1 --depth 2"));
    }

    #[test]
    fn read_only_capabilities_get_completion_others_get_quality_gates() {
        let mut c = cfg(Capability::Scout);
        c.quality_gates = Some(vec![QualityGate::new("T", "cargo test", "pass")]);
        let out = render_overlay(&c).unwrap();
        assert!(out.contains("## Completion") && !out.contains("## Quality Gates"));
        assert!(out.contains("--type worker_done"));
        for cap in [Capability::Builder, Capability::Lead, Capability::Merger] {
            let out = render_overlay(&cfg(cap)).unwrap();
            assert!(out.contains("## Quality Gates"), "{cap}");
        }
    }

    #[test]
    fn mergers_are_told_merged_everywhere() {
        let out = render_overlay(&cfg(Capability::Merger)).unwrap();
        assert!(out.contains("--type merged"));
        assert!(!out.contains("worker_done"), "{out}");
    }

    #[test]
    fn custom_gates_are_numbered_and_no_gates_means_none_not_bun() {
        let mut c = cfg(Capability::Builder);
        c.quality_gates = Some(vec![
            QualityGate::new("Tests", "cargo test", "all pass"),
            QualityGate::new("Fmt", "cargo fmt --check", "clean"),
        ]);
        let out = render_overlay(&c).unwrap();
        assert!(out.contains("1. **Tests:** `cargo test` — all pass"));
        assert!(out.contains("2. **Fmt:** `cargo fmt --check` — clean"));
        assert!(!out.contains("bun test"));
        for none in [Some(Vec::new()), None] {
            c.quality_gates = none;
            let out = render_overlay(&c).unwrap();
            assert!(!out.contains("bun"), "{out}");
            assert!(
                out.contains("This project has no quality gates configured"),
                "{out}"
            );
            assert!(out.contains("1. **Commit** your work"), "{out}");
        }
    }

    #[test]
    fn tracker_substitution() {
        let mut c = cfg(Capability::Builder);
        c.tracker_cli = "bd".into();
        c.tracker_name = "beads".into();
        let out = render_overlay(&c).unwrap();
        assert!(out.contains("bd close task-7") && out.contains("Use bd (beads)"));
    }

    #[test]
    fn dispatch_overrides_are_lead_only_and_omitted_when_unset() {
        let mut c = cfg(Capability::Lead);
        assert!(!render_overlay(&c).unwrap().contains("Dispatch Overrides"));
        c.max_agents = Some(0);
        assert!(!render_overlay(&c).unwrap().contains("Dispatch Overrides"));
        c.skip_review = true;
        c.max_agents = Some(1);
        let out = render_overlay(&c).unwrap();
        assert!(
            out.contains("SKIP REVIEW")
                && out.contains("MAX AGENTS = 1")
                && out.contains("single builder")
        );
        c.skip_review = false;
        c.max_agents = Some(2);
        assert!(render_overlay(&c).unwrap().contains("compressed mode"));
        c.max_agents = Some(4);
        assert!(render_overlay(&c).unwrap().contains("MAX AGENTS = 4"));
        let mut b = cfg(Capability::Builder);
        b.skip_review = true;
        b.max_agents = Some(1);
        assert!(!render_overlay(&b).unwrap().contains("Dispatch Overrides"));
    }

    #[test]
    fn skip_scout_is_lead_only() {
        let mut c = cfg(Capability::Lead);
        c.skip_scout = true;
        assert!(render_overlay(&c).unwrap().contains("--skip-scout"));
        let mut b = cfg(Capability::Builder);
        b.skip_scout = true;
        assert!(!render_overlay(&b).unwrap().contains("--skip-scout"));
    }

    #[test]
    fn values_are_not_rescanned_and_unknown_placeholders_are_errors() {
        let mut c = cfg(Capability::Builder);
        c.agent_name = "{{AGENT_NAME}}".into();
        let out = render_overlay(&c).unwrap();
        assert!(out.contains("{{AGENT_NAME}}"));
        let mut c = cfg(Capability::Builder);
        c.base_definition = "hello {{NOPE}}".into();
        let err = render_overlay(&c).unwrap_err();
        assert!(err.to_string().contains("{{NOPE}}"), "{err}");
        c.base_definition = "json {{ not a key }} and {{lower}}".into();
        assert!(render_overlay(&c).is_ok());
    }

    #[test]
    fn gate_formatters() {
        let g = vec![
            QualityGate::new("Tests", "bun test", "all tests must pass"),
            QualityGate::new("Lint", "bun run lint", "zero errors"),
        ];
        assert_eq!(gates_inline(&g), "`bun test`, `bun run lint`");
        assert_eq!(
            gates_steps(&g),
            "1. Run `bun test` -- all tests must pass.\n2. Run `bun run lint` -- zero errors."
        );
        assert_eq!(
            gates_bash(&g),
            "```bash\nbun test      # All tests must pass\nbun run lint  # Zero errors\n```"
        );
        assert_eq!(
            gates_capabilities(&g),
            "  - `bun test` (all tests must pass)\n  - `bun run lint` (zero errors)"
        );
    }

    #[test]
    fn write_overlay_refuses_the_canonical_root_and_creates_directories() {
        let root = tempfile::tempdir().unwrap();
        let err =
            write_overlay(root.path(), "x", root.path(), ".claude/CLAUDE.md", "a").unwrap_err();
        assert_eq!(err.code(), "AGENT_ERROR");
        assert!(err.to_string().contains("canonical project root"));
        assert!(!root.path().join(".claude").exists());
        let syntactic = root.path().join("sub/..");
        assert!(write_overlay(&syntactic, "x", root.path(), ".claude/CLAUDE.md", "a").is_err());
        let wt = root.path().join(".overstory/worktrees/a");
        std::fs::create_dir_all(&wt).unwrap();
        let p = write_overlay(&wt, "hello", root.path(), "custom/dir/AGENTS.md", "a").unwrap();
        assert_eq!(std::fs::read_to_string(p).unwrap(), "hello");
    }
}
