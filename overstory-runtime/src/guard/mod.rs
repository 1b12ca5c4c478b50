//! PreToolUse guards, evaluated by `ov guard <capability>`.
//!
//! Claude Code runs the deployed hook before every guarded tool call and
//! passes the call as JSON on stdin (`tool_name`, `tool_input`, `cwd`). The
//! guard answers with [`Decision`]; [`Decision::hook_output`] renders a denial
//! in the current hook protocol
//! (`hookSpecificOutput.permissionDecision: "deny"` with a reason). Allowing
//! prints nothing.
//!
//! The rule families and their order follow the original's shell guards
//! ([`capability_guards`] lists them per capability), but every Bash command
//! is parsed by [`crate::shell`] and every simple command in it is checked,
//! so `git status && git push`, `env X=1 git push`, `sh -c "…"` and `$(…)`
//! no longer slip through. Paths are normalised and symlinks resolved before
//! boundary checks.
//!
//! # The guard fails closed
//!
//! A denylist of spellings cannot win against a shell, so for an agent (a
//! session with `OVERSTORY_AGENT_NAME`):
//!
//! - **An unknown capability denies every guarded call**, naming what the
//!   hook said ([`GuardContext::capability_arg`]); it never falls back to
//!   another capability's rules.
//! - **What the lexer cannot resolve is denied** ([`shell::Script::unresolved`]):
//!   a variable or substitution as a command name (`g=git; $g push`),
//!   `eval`, a shell or interpreter reading its program from a pipe,
//!   here-string or heredoc (`echo git push | sh`, `bash <<< …`,
//!   `python3 - <<EOF`), a runner whose command comes from its input
//!   (`parallel < cmds`), a variable holding literal command text, and
//!   nesting deeper than [`shell::MAX_DEPTH`]. Runners (`xargs`,
//!   `find -exec`, `env`, `nohup`, `timeout`, `nice`, `time`, `stdbuf`,
//!   `setsid`, `chroot`, `sudo`, `doas`, `watch`, `parallel`, `command`,
//!   `exec`, …) are unwrapped and their target judged like any command.
//! - **Push is blocked in every spelling the guard can read** (the danger
//!   family, every capability): `git push`, `send-pack` and `http-push`
//!   after any global options (`-C`, `--git-dir`, `-c`); `-c` settings other
//!   than harmless display and identity keys (so `-c alias.x=push` and
//!   `-c core.hooksPath=…` are denied); subcommands git does not ship
//!   (aliases); `git config` setting such keys; `GIT_CONFIG_*`,
//!   `GIT_EXEC_PATH` and `GIT_SSH*` assignments; `--no-verify` on
//!   commit/merge/rebase/am; git subcommands that run commands
//!   (`rebase --exec`, `submodule foreach`, `bisect run`, …); and inline
//!   interpreter code that mentions `git … push`. Behind this, agent
//!   worktrees refuse pushes at the git level
//!   ([`overstory_core::push_block`]).
//! - **Read-only capabilities (scout, reviewer) run on an allowlist**:
//!   [`READ_ONLY_PROGRAMS`] run with any arguments; the programs in
//!   [`READ_ONLY_CHECKED_PROGRAMS`] only with arguments that cannot write
//!   (`sort` without `-o`, `sed` without `-i` or `w`/`e` commands, `awk`
//!   without output redirection, pipes or `system`, `curl` to stdout, `wget
//!   -O -`, `tar` listing, `find` without `-delete`/`-fprint`, `git`
//!   read-only subcommands and listing forms of `branch`/`tag`/`stash`/
//!   `worktree`, `ov mail`/`status`/`prime`/…, the tracker's read commands);
//!   [`READ_ONLY_RUNNERS`] in front of them; the quality gates; display and
//!   locale variables. Anything else is denied, and so are arguments only
//!   known at run time for programs whose arguments are checked.
//!
//! Outside agent sessions only the universal push guard applies.
//! Coordination capabilities and leads keep the original's file denylist
//! (they run `ov sling`, `ov merge`, `git add`/`commit`), plus the danger
//! family above.

use std::path::{Component, Path, PathBuf};

use overstory_core::{Capability, GuardClass, Layout};
use overstory_mail::{ListFilter, MailError, MailStore, MessageType};
use serde_json::{Value, json};

use crate::shell::{self, Script, SimpleCommand};

mod allowlist;
mod git;

pub use allowlist::{
    CHECKED as READ_ONLY_CHECKED_PROGRAMS, READERS as READ_ONLY_PROGRAMS,
    RUNNERS as READ_ONLY_RUNNERS,
};
#[cfg(test)]
mod proptests;

/// Native team tools every agent is denied (use `ov sling`).
pub const TEAM_TOOLS: [&str; 10] = [
    "Task",
    "TeamCreate",
    "TeamDelete",
    "SendMessage",
    "TaskCreate",
    "TaskUpdate",
    "TaskList",
    "TaskGet",
    "TaskOutput",
    "TaskStop",
];

/// Interactive tools every agent is denied (no human is watching).
pub const INTERACTIVE_TOOLS: [&str; 3] = ["AskUserQuestion", "EnterPlanMode", "EnterWorktree"];

/// Tools that write files.
pub const WRITE_TOOLS: [&str; 3] = ["Write", "Edit", "NotebookEdit"];

/// Command prefixes the coordination capabilities and leads may always run
/// (read-only capabilities use the allowlist instead: [`READ_ONLY_PROGRAMS`]).
pub const SAFE_PREFIXES: [&str; 12] = [
    "ov",
    "overstory",
    "bd",
    "sd",
    "mulch",
    "ml",
    "git status",
    "git log",
    "git diff",
    "git show",
    "git blame",
    "git branch",
];

/// Extra prefixes coordination capabilities may run.
pub const COORDINATION_PREFIXES: [&str; 2] = ["git add", "git commit"];

/// One guard of a capability's set (the original's per-guard hook entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardRule {
    /// `Write`/`Edit`/`NotebookEdit` must stay inside the worktree.
    PathBoundary(&'static str),
    /// `git push`, `git reset --hard`, off-convention branches.
    Danger,
    /// A native team tool is blocked.
    TeamTool(&'static str),
    /// An interactive tool is blocked.
    InteractiveTool(&'static str),
    /// A write tool is blocked (read-only capabilities).
    WriteTool(&'static str),
    /// Bash may not modify files (read-only capabilities).
    BashFileGuard,
    /// File-modifying Bash must stay inside the worktree (implementation).
    BashPathBoundary,
    /// A lead may close its task only after merge_ready mail and a merge.
    LeadCloseGate,
    /// Only the agent's own task may be closed or have its status changed.
    TrackerClose,
}

/// Returns the capability-specific guards, in order (without the path
/// boundary, danger and tracker guards every capability gets).
///
/// Sizes: read-only and coordination 17, lead 18, implementation 14.
pub fn capability_guards(capability: Capability) -> Vec<GuardRule> {
    let mut g: Vec<GuardRule> = TEAM_TOOLS.iter().map(|t| GuardRule::TeamTool(t)).collect();
    g.extend(
        INTERACTIVE_TOOLS
            .iter()
            .map(|t| GuardRule::InteractiveTool(t)),
    );
    match capability.props().guard_class {
        GuardClass::Implementation => g.push(GuardRule::BashPathBoundary),
        GuardClass::ReadOnly | GuardClass::Coordination | GuardClass::LeadCloseGate => {
            g.extend(WRITE_TOOLS.iter().map(|t| GuardRule::WriteTool(t)));
            g.push(GuardRule::BashFileGuard);
            if capability.props().guard_class == GuardClass::LeadCloseGate {
                g.push(GuardRule::LeadCloseGate);
            }
        }
    }
    g
}

/// Returns every guard of a capability in evaluation order: path boundary,
/// danger, capability guards, tracker close.
pub fn all_guards(capability: Capability) -> Vec<GuardRule> {
    let mut g: Vec<GuardRule> = WRITE_TOOLS
        .iter()
        .map(|t| GuardRule::PathBoundary(t))
        .collect();
    g.push(GuardRule::Danger);
    g.extend(capability_guards(capability));
    g.push(GuardRule::TrackerClose);
    g
}

/// Returns the tools no overstory agent may use (team and interactive
/// tools), for a runtime-level deny list such as `--disallowedTools`.
pub fn always_denied_tools() -> Vec<String> {
    TEAM_TOOLS
        .iter()
        .chain(&INTERACTIVE_TOOLS)
        .map(|t| (*t).to_owned())
        .collect()
}

/// Returns the tool names the guard hook must be registered for (its matcher).
pub fn guarded_tools(capability: Capability) -> Vec<&'static str> {
    let mut tools = vec!["Bash"];
    for rule in all_guards(capability) {
        let t = match rule {
            GuardRule::PathBoundary(t)
            | GuardRule::TeamTool(t)
            | GuardRule::InteractiveTool(t)
            | GuardRule::WriteTool(t) => t,
            _ => continue,
        };
        if !tools.contains(&t) {
            tools.push(t);
        }
    }
    tools
}

/// The guard's answer to one tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Let the call run.
    Allow,
    /// Block it, telling the agent why.
    Deny(String),
}

impl Decision {
    /// Returns whether the call is blocked.
    pub fn is_deny(&self) -> bool {
        matches!(self, Self::Deny(_))
    }

    /// Returns the reason of a denial.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Deny(r) => Some(r),
            Self::Allow => None,
        }
    }

    /// Returns the hook's stdout JSON: `None` to allow, the PreToolUse
    /// `hookSpecificOutput` denial otherwise.
    pub fn hook_output(&self) -> Option<Value> {
        self.reason().map(|reason| {
            json!({
                "hookSpecificOutput": {
                    "hookEventName": "PreToolUse",
                    "permissionDecision": "deny",
                    "permissionDecisionReason": reason,
                }
            })
        })
    }

    /// Returns the legacy `{"decision":"block","reason":…}` form (older
    /// Claude Code releases), `None` to allow.
    pub fn legacy_output(&self) -> Option<Value> {
        self.reason()
            .map(|reason| json!({"decision": "block", "reason": reason}))
    }
}

/// The tool call, as Claude Code sends it on the hook's stdin.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolCall {
    /// The tool being called (`tool_name`: `Bash`, `Write`, …).
    pub tool_name: String,
    /// The call's arguments (`tool_input`: `command` for Bash, `file_path`
    /// for the write tools).
    pub tool_input: Value,
    /// `cwd` of the session, when reported.
    pub cwd: Option<PathBuf>,
}

impl ToolCall {
    /// Parses the hook's stdin. Anything unparseable yields an empty call
    /// (which every guard allows), except that raw text is kept as a Bash
    /// command so a broken payload cannot hide a `git push`.
    pub fn from_hook_json(text: &str) -> Self {
        let Ok(v) = serde_json::from_str::<Value>(text.trim()) else {
            return Self {
                tool_name: "Bash".into(),
                tool_input: json!({ "command": text }),
                cwd: None,
            };
        };
        Self {
            tool_name: v
                .get("tool_name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            tool_input: v.get("tool_input").cloned().unwrap_or(Value::Null),
            cwd: v.get("cwd").and_then(Value::as_str).map(PathBuf::from),
        }
    }

    /// Builds a Bash call (tests, tooling).
    pub fn bash(command: &str) -> Self {
        Self {
            tool_name: "Bash".into(),
            tool_input: json!({ "command": command }),
            cwd: None,
        }
    }

    /// Builds a file tool call with `file_path` (or `notebook_path`).
    pub fn file(tool: &str, path: &str) -> Self {
        let key = if tool == "NotebookEdit" {
            "notebook_path"
        } else {
            "file_path"
        };
        Self {
            tool_name: tool.into(),
            tool_input: json!({ key: path }),
            cwd: None,
        }
    }

    fn str_field(&self, key: &str) -> Option<&str> {
        self.tool_input.get(key).and_then(Value::as_str)
    }
}

/// What the guard knows about the agent (from its environment).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuardContext {
    /// The capability the hook was deployed for; `None` when the hook named
    /// none or an unknown one, and every guarded call of an agent is denied.
    pub capability: Option<Capability>,
    /// The capability as the hook spelled it (`ov guard <capability>`), for
    /// the denial when it is unknown.
    pub capability_arg: Option<String>,
    /// `OVERSTORY_AGENT_NAME`; without it only the universal push guard runs.
    pub agent_name: Option<String>,
    /// `OVERSTORY_WORKTREE_PATH`; without it boundary checks are skipped.
    pub worktree: Option<PathBuf>,
    /// `OVERSTORY_TASK_ID`; without it tracker guards are inert.
    pub task_id: Option<String>,
    /// Quality-gate commands whitelisted for read-only agents.
    pub quality_gates: Vec<String>,
    /// `$HOME`, for `~` and `$HOME` in paths.
    pub home: Option<PathBuf>,
    /// Fallback working directory when the call has none.
    pub cwd: PathBuf,
}

/// Answers questions the lead close gate needs from outside (mail, git).
pub trait GateProbe {
    /// Returns how many `merge_ready` mails the agent sent and how many
    /// `worker_done` mails it received.
    ///
    /// # Errors
    /// [`MailError`] when the mail cannot be read; the gate then denies
    /// (it fails closed: an unreadable mailbox proves nothing was sent).
    fn mail_counts(&self, agent: &str) -> Result<(usize, usize), MailError>;
    /// Returns whether `HEAD` of the worktree is merged into the session
    /// branch; `None` when that cannot be determined (fail open).
    fn head_merged(&self, worktree: &Path) -> Option<bool>;
}

/// A probe that always allows (for callers without mail or git).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProbe;

impl GateProbe for NoProbe {
    fn mail_counts(&self, _: &str) -> Result<(usize, usize), MailError> {
        Ok((1, 0))
    }
    fn head_merged(&self, _: &Path) -> Option<bool> {
        None
    }
}

/// Decides one tool call.
pub fn evaluate(ctx: &GuardContext, call: &ToolCall, probe: &dyn GateProbe) -> Decision {
    let cwd = call.cwd.clone().unwrap_or_else(|| ctx.cwd.clone());
    let script = if call.tool_name == "Bash" {
        call.str_field("command")
            .map(shell::parse)
            .unwrap_or_default()
    } else {
        Script::default()
    };
    let cmds = &script.commands;
    let Some(agent) = ctx.agent_name.as_deref() else {
        // Not an overstory agent: only the universal push guard applies.
        return cmds
            .iter()
            .find_map(|c| git_push(c).then(push_denial))
            .unwrap_or(Decision::Allow);
    };
    let Some(capability) = ctx.capability else {
        return unknown_capability(ctx);
    };
    let cap = capability.as_str();
    for rule in all_guards(capability) {
        let d = match rule {
            GuardRule::PathBoundary(tool) if call.tool_name == tool => {
                path_boundary(ctx, call, &cwd)
            }
            GuardRule::Danger => danger(&script, agent, cap),
            GuardRule::TeamTool(tool) if call.tool_name == tool => Decision::Deny(format!(
                "{tool} is blocked for overstory agents ({cap}): native team tools bypass the fleet. Spawn workers with ov sling and talk through ov mail"
            )),
            GuardRule::InteractiveTool(tool) if call.tool_name == tool => Decision::Deny(format!(
                "{tool} is blocked for overstory agents ({cap}): nobody is watching this session. Escalate with ov mail send --type question to your parent"
            )),
            GuardRule::WriteTool(tool) if call.tool_name == tool => Decision::Deny(format!(
                "{cap} agents cannot use {tool}: the {cap} capability is read-only"
            )),
            GuardRule::BashFileGuard => bash_file_guard(ctx, capability, cmds),
            GuardRule::BashPathBoundary => bash_path_boundary(ctx, cmds, &cwd),
            GuardRule::LeadCloseGate => lead_close_gate(ctx, agent, cmds, probe),
            GuardRule::TrackerClose => tracker_close(ctx, cmds),
            _ => Decision::Allow,
        };
        if d.is_deny() {
            return d;
        }
    }
    Decision::Allow
}

/// The hook names a capability that does not exist: deny everything, since
/// no rule set can be chosen.
fn unknown_capability(ctx: &GuardContext) -> Decision {
    let raw = ctx.capability_arg.as_deref().unwrap_or_default();
    let valid: Vec<&str> = Capability::ALL.iter().map(|c| c.as_str()).collect();
    Decision::Deny(format!(
        "Unknown capability \"{raw}\" in the guard hook (ov guard {raw}): every guarded tool call is denied. Valid capabilities: {}. Redeploy the agent's hooks (ov sling) with a valid one",
        valid.join(", ")
    ))
}

fn push_denial() -> Decision {
    Decision::Deny(
        "git push is blocked: agents never push. Commit to your branch; the coordinator merges with ov merge".into(),
    )
}

/// Returns whether `c` pushes (`git push`, `git send-pack`, `git http-push`,
/// after any global options).
fn git_push(c: &SimpleCommand) -> bool {
    git::git_call(c).is_some_and(|g| g.sub.is_some_and(|s| git::PUSHES.contains(&s)))
}

/// Environment variables that change what git runs or which configuration
/// it reads (aliases, hooks, ssh, exec path).
fn git_steering_variable(name: &str) -> bool {
    (name.starts_with("GIT_CONFIG") && name != "GIT_CONFIG_NOSYSTEM")
        || matches!(
            name,
            "GIT_EXEC_PATH"
                | "GIT_SSH"
                | "GIT_SSH_COMMAND"
                | "GIT_PROXY_COMMAND"
                | "GIT_EXTERNAL_DIFF"
                | "GIT_TEMPLATE_DIR"
                | "GIT_ASKPASS"
        )
}

/// Interpreters whose inline program text is searched for `git push`.
fn runs_inline_code(prog: &str) -> bool {
    prog.starts_with("python")
        || matches!(
            prog,
            "perl"
                | "ruby"
                | "node"
                | "nodejs"
                | "php"
                | "lua"
                | "luajit"
                | "Rscript"
                | "awk"
                | "gawk"
                | "mawk"
                | "nawk"
                | "sed"
                | "deno"
                | "bun"
                | "tclsh"
                | "osascript"
                | "pwsh"
        )
}

/// The danger family (every capability): what the lexer could not resolve,
/// pushes in every spelling, hook bypasses, git settings that define
/// aliases or move hooks, `git reset --hard` and off-convention branches.
fn danger(script: &Script, agent: &str, cap: &str) -> Decision {
    if let Some(u) = script.unresolved.first() {
        return Decision::Deny(format!(
            "Blocked: {u}. The guard only allows {cap} agents commands it can read without running them: write the command out plainly (no $var or $(…) as a command name, no eval, no script piped into a shell or interpreter)"
        ));
    }
    for c in &script.commands {
        for a in c.assignments.iter().map(String::as_str).chain(
            // `export GIT_CONFIG_COUNT=1` and friends.
            matches!(
                c.program(),
                Some("export" | "declare" | "typeset" | "local" | "readonly")
            )
            .then(|| c.words[1..].iter().map(String::as_str))
            .into_iter()
            .flatten(),
        ) {
            let name = a.split('=').next().unwrap_or(a);
            if git_steering_variable(name) {
                return Decision::Deny(format!(
                    "Setting {name} is blocked: it can define git aliases or change which programs git runs. Run git with its plain configuration"
                ));
            }
        }
        if let Some(prog) = c.program()
            && runs_inline_code(prog)
            && c.words[1..].iter().any(|w| git::mentions_push(w))
        {
            return push_denial();
        }
        if let Some(d) = git_danger(c, agent) {
            return d;
        }
    }
    Decision::Allow
}

fn git_danger(c: &SimpleCommand, agent: &str) -> Option<Decision> {
    let g = git::git_call(c)?;
    let shown = c.display();
    if g.sub_dynamic {
        return Some(Decision::Deny(format!(
            "Blocked: the git subcommand in \"{shown}\" is only known at run time. Write it out plainly"
        )));
    }
    if let Some(k) = g.config_keys.iter().find(|k| !git::harmless_config(k)) {
        return Some(Decision::Deny(format!(
            "git -c {k} is blocked: settings given on the command line can define aliases, move or skip hooks, or name programs git runs"
        )));
    }
    if g.exec_path {
        return Some(Decision::Deny(
            "git --exec-path=… is blocked: it changes which programs git runs".into(),
        ));
    }
    let Some(sub) = g.sub else {
        return c.appended_args.then(|| {
            Decision::Deny(format!(
                "Blocked: \"{shown}\" gets its git subcommand from its input at run time. Write the git command out plainly"
            ))
        });
    };
    if git::PUSHES.contains(&sub) {
        return Some(push_denial());
    }
    if !git::is_known(sub) {
        return Some(Decision::Deny(format!(
            "git {sub} is blocked: it is not a git command the guard knows (aliases and extensions are not followed). Use the git command it stands for"
        )));
    }
    if let Some(why) = git::runs_commands(&g) {
        return Some(Decision::Deny(format!(
            "Blocked: {why} the guard cannot check (in \"{shown}\")"
        )));
    }
    let hooks_matter = matches!(
        sub,
        "commit" | "merge" | "pull" | "am" | "rebase" | "cherry-pick" | "revert"
    );
    let skips = if sub == "commit" {
        git::commit_skips_hooks(g.args)
    } else {
        hooks_matter && g.has(&["--no-verify"])
    };
    if skips {
        return Some(Decision::Deny(format!(
            "git {sub} --no-verify is blocked: it skips the repository's hooks. Run it without --no-verify and fix what the hooks report"
        )));
    }
    if hooks_matter && c.appended_args {
        return Some(Decision::Deny(format!(
            "Blocked: \"{shown}\" gets arguments from its input at run time, so the guard cannot tell whether hooks are skipped. Run git {sub} directly"
        )));
    }
    if sub == "config"
        && let git::ConfigUse::Write(key) = git::config_use(g.args)
        && !key.as_deref().is_some_and(git::harmless_config)
    {
        let key = key.unwrap_or_else(|| "a section".into());
        return Some(Decision::Deny(format!(
            "git config setting {key} is blocked: agents may not define aliases, move hooks or name programs git runs"
        )));
    }
    let args = g.args;
    match sub {
        "reset" if args.iter().any(|a| a == "--hard") => Some(Decision::Deny(
            "git reset --hard is blocked: it destroys uncommitted work. Use git stash or a new commit instead".into(),
        )),
        "checkout" | "switch" => {
            let flags: &[&str] = if sub == "checkout" { &["-b", "-B"] } else { &["-c", "-C", "--create"] };
            let pos = args.iter().position(|a| flags.contains(&a.as_str()))?;
            let branch = args.get(pos + 1)?;
            let prefix = format!("overstory/{agent}/");
            (!branch.starts_with(&prefix)).then(|| {
                Decision::Deny(format!(
                    "Branch must follow overstory/{agent}/{{task-id}} convention (got \"{branch}\")"
                ))
            })
        }
        _ => None,
    }
}

/// Commands that write files (beyond redirections and git).
const FILE_MODIFYING: &[&str] = &[
    "rm", "rmdir", "mv", "cp", "mkdir", "touch", "chmod", "chown", "chgrp", "ln", "tee", "install",
    "rsync", "truncate", "shred", "unlink", "dd", "patch",
];
const EDITORS: &[&str] = &["vim", "vi", "nvim", "nano", "emacs", "ed"];
const GIT_WRITES: &[&str] = &[
    "add",
    "commit",
    "merge",
    "push",
    "reset",
    "checkout",
    "rebase",
    "stash",
    "rm",
    "mv",
    "restore",
    "switch",
    "clean",
    "apply",
    "am",
    "cherry-pick",
    "revert",
    "pull",
];

fn is_in_place_edit(c: &SimpleCommand) -> bool {
    let short_i = |a: &String| a.starts_with('-') && !a.starts_with("--") && a.contains('i');
    match c.program() {
        Some("sed") => c.words[1..]
            .iter()
            .any(|a| a == "--in-place" || a.starts_with("--in-place=") || short_i(a)),
        Some("perl") => c.words[1..].iter().any(short_i),
        _ => false,
    }
}

/// Returns why a simple command modifies files, by the denylist the
/// coordination capabilities and leads still use.
fn denylist_violation(c: &SimpleCommand) -> Option<String> {
    if c.redirects
        .iter()
        .any(|r| r.writes_file() && !is_dev_sink(&r.target))
    {
        return Some("output redirection to a file".into());
    }
    let prog = c.program()?;
    let arg = |i: usize| c.words.get(i).map(String::as_str);
    let has = |flags: &[&str]| c.words[1..].iter().any(|a| flags.contains(&a.as_str()));
    if FILE_MODIFYING.contains(&prog) || EDITORS.contains(&prog) {
        return Some(prog.to_owned());
    }
    if is_in_place_edit(c) {
        return Some(format!("{prog} in-place edit"));
    }
    if prog == "find" && has(&["-delete", "-fprint", "-fprintf", "-fls"]) {
        return Some("find writing or deleting files".to_owned());
    }
    if let Some(sub) = git::git_call(c).and_then(|g| g.sub)
        && GIT_WRITES.contains(&sub)
    {
        return Some(format!("git {sub}"));
    }
    let installs = match prog {
        "npm" | "pnpm" | "yarn" | "bun" => matches!(
            arg(1),
            Some("install" | "i" | "add" | "ci" | "remove" | "uninstall" | "link")
        ),
        "pip" | "pip3" | "cargo" | "gem" | "go" => {
            matches!(arg(1), Some("install" | "uninstall" | "add"))
        }
        _ => false,
    };
    if installs {
        return Some(format!("{prog} {}", arg(1).unwrap_or_default()));
    }
    let eval = match prog {
        "bun" | "node" => has(&["-e", "--eval", "-p", "--print"]),
        "deno" => arg(1) == Some("eval"),
        "python" | "python3" | "python2" => has(&["-c"]),
        "perl" => c.words[1..]
            .iter()
            .any(|a| a.starts_with("-e") || a.starts_with("-E")),
        "ruby" => has(&["-e"]),
        _ => false,
    };
    eval.then(|| format!("{prog} code evaluation"))
}

fn is_dev_sink(target: &str) -> bool {
    matches!(target, "/dev/null" | "/dev/stdout" | "/dev/stderr")
}

fn starts_with_words(words: &[String], prefix: &str) -> bool {
    let p: Vec<&str> = prefix.split_whitespace().collect();
    !p.is_empty()
        && words.len() >= p.len()
        && words.iter().zip(&p).enumerate().all(|(i, (w, q))| {
            if i == 0 {
                w.rsplit('/').next().unwrap_or(w) == *q
            } else {
                w == q
            }
        })
}

fn bash_file_guard(ctx: &GuardContext, capability: Capability, cmds: &[SimpleCommand]) -> Decision {
    let class = capability.props().guard_class;
    let coordination = class == GuardClass::Coordination;
    // Only the project's own gates: a project without any gets no extra
    // commands allowed (never a guessed `bun test`).
    let gates: Vec<&str> = ctx.quality_gates.iter().map(String::as_str).collect();
    let cap = capability.as_str();
    for c in cmds {
        if class == GuardClass::ReadOnly {
            if let Some(what) = allowlist::violation(c, &gates) {
                return Decision::Deny(format!(
                    "{cap} agents cannot modify files — blocked {what} in: {}. The {cap} capability runs only read-only commands (see ov guard's allowlist); report findings with ov mail instead",
                    c.display()
                ));
            }
            continue;
        }
        let safe = SAFE_PREFIXES
            .iter()
            .chain(gates.iter())
            .chain(if coordination {
                COORDINATION_PREFIXES.iter()
            } else {
                [].iter()
            })
            .any(|p| starts_with_words(&c.words, p));
        let violation = if safe {
            // A whitelisted command may still not redirect into files.
            c.redirects
                .iter()
                .any(|r| r.writes_file() && !is_dev_sink(&r.target))
                .then(|| "output redirection to a file".to_owned())
        } else {
            denylist_violation(c)
        };
        if let Some(what) = violation {
            return Decision::Deny(format!(
                "{cap} agents cannot modify files — blocked {what} in: {}. Report findings with ov mail instead",
                c.display()
            ));
        }
    }
    Decision::Allow
}

/// Returns the words of a file-modifying command that name paths to check.
fn modified_paths(c: &SimpleCommand) -> Option<Vec<String>> {
    let mut paths: Vec<String> = c
        .redirects
        .iter()
        .filter(|r| r.writes_file())
        .map(|r| r.target.clone())
        .collect();
    let prog = c.program().unwrap_or_default();
    if matches!(prog, "cp" | "rsync" | "install" | "ln" | "scp") {
        // Sources are only read: check the destination (`-t DIR` or the last
        // operand).
        let args = &c.words[1..];
        let target = args.iter().enumerate().find_map(|(i, a)| {
            a.strip_prefix("--target-directory=")
                .map(str::to_owned)
                .or_else(|| (a == "-t").then(|| args.get(i + 1).cloned()).flatten())
        });
        match target {
            Some(t) => paths.push(t),
            None => {
                if let Some(last) = args.iter().rev().find(|a| !a.starts_with('-')) {
                    paths.push(last.clone());
                }
            }
        }
    } else if FILE_MODIFYING.contains(&prog) || is_in_place_edit(c) {
        for w in &c.words[1..] {
            if let Some(v) = w.strip_prefix("of=") {
                paths.push(v.to_owned());
            } else if !(w.starts_with('-') || prog == "dd" && w.contains('=')) {
                paths.push(w.clone());
            }
        }
    }
    (!paths.is_empty()).then_some(paths)
}

fn bash_path_boundary(ctx: &GuardContext, cmds: &[SimpleCommand], cwd: &Path) -> Decision {
    let Some(wt) = ctx.worktree.as_deref() else {
        return Decision::Allow;
    };
    let mut cwd = cwd.to_path_buf();
    for c in cmds {
        if c.program() == Some("cd") {
            if let Some(dir) = c.words.get(1).and_then(|d| expand(ctx, d)) {
                cwd = absolute(&cwd, &dir);
            }
            continue;
        }
        let Some(paths) = modified_paths(c) else {
            continue;
        };
        for p in paths {
            if is_dev_sink(&p) {
                continue;
            }
            let Some(expanded) = expand(ctx, &p) else {
                return Decision::Deny(format!(
                    "Bash path boundary violation: cannot verify \"{p}\" (unexpanded variable or substitution) in: {}",
                    c.display()
                ));
            };
            let abs = absolute(&cwd, &expanded);
            if !inside(&abs, wt)
                && !inside(&abs, Path::new("/dev"))
                && !inside(&abs, Path::new("/tmp"))
            {
                return Decision::Deny(format!(
                    "Bash path boundary violation: \"{p}\" is outside your worktree {} (allowed: the worktree, /dev, /tmp)",
                    wt.display()
                ));
            }
        }
    }
    Decision::Allow
}

fn path_boundary(ctx: &GuardContext, call: &ToolCall, cwd: &Path) -> Decision {
    let Some(wt) = ctx.worktree.as_deref() else {
        return Decision::Allow;
    };
    let key = if call.tool_name == "NotebookEdit" {
        "notebook_path"
    } else {
        "file_path"
    };
    let Some(p) = call.str_field(key).filter(|p| !p.is_empty()) else {
        return Decision::Allow;
    };
    let abs = absolute(cwd, Path::new(p));
    if inside(&abs, wt) {
        Decision::Allow
    } else {
        Decision::Deny(format!(
            "Path boundary violation: {} may only write inside its worktree {} (got \"{p}\")",
            call.tool_name,
            wt.display()
        ))
    }
}

/// Expands `~` and `$HOME`; `None` for any other expansion.
fn expand(ctx: &GuardContext, word: &str) -> Option<PathBuf> {
    let home = ctx.home.as_deref();
    let rest = if let Some(r) = word.strip_prefix("~/") {
        Some((home?, r))
    } else if word == "~" || word == "$HOME" || word == "${HOME}" {
        return home.map(Path::to_path_buf);
    } else if let Some(r) = word
        .strip_prefix("$HOME/")
        .or_else(|| word.strip_prefix("${HOME}/"))
    {
        Some((home?, r))
    } else {
        None
    };
    let path = match rest {
        Some((h, r)) => h.join(r),
        None => PathBuf::from(word),
    };
    let s = path.to_string_lossy();
    if s.contains('$') || s.contains('`') || s.starts_with('~') {
        return None;
    }
    Some(path)
}

fn absolute(cwd: &Path, p: &Path) -> PathBuf {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    };
    normalize(&joined)
}

/// Removes `.` and `..` lexically.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Resolves symlinks in the longest existing ancestor of `p`.
fn canonical(p: &Path) -> PathBuf {
    let mut existing = p.to_path_buf();
    let mut tail = Vec::new();
    loop {
        if let Ok(c) = existing.canonicalize() {
            let mut out = c;
            for t in tail.iter().rev() {
                out.push(t);
            }
            return normalize(&out);
        }
        match (
            existing.file_name().map(ToOwned::to_owned),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                tail.push(name);
                existing = parent.to_path_buf();
            }
            _ => return p.to_path_buf(),
        }
    }
}

fn inside(path: &Path, root: &Path) -> bool {
    let root_n = normalize(root);
    let path_n = normalize(path);
    if path_n.starts_with(&root_n) && canonical(&path_n).starts_with(canonical(&root_n)) {
        return true;
    }
    canonical(&path_n).starts_with(canonical(&root_n))
}

/// Returns `(verb, id, rest)` for `sd|bd <verb> <id> …`.
fn tracker_call(c: &SimpleCommand) -> Option<(&str, &str, &[String])> {
    if !matches!(c.program(), Some("sd" | "bd")) {
        return None;
    }
    let verb = c.words.get(1)?.as_str();
    let id = c.words.get(2)?.as_str();
    Some((verb, id, &c.words[3..]))
}

fn tracker_close(ctx: &GuardContext, cmds: &[SimpleCommand]) -> Decision {
    let Some(task) = ctx.task_id.as_deref() else {
        return Decision::Allow;
    };
    for c in cmds {
        let Some((verb, id, rest)) = tracker_call(c) else {
            continue;
        };
        let status_change = verb == "update"
            && rest
                .iter()
                .any(|a| a == "--status" || a.starts_with("--status="));
        if (verb == "close" || status_change) && id != task {
            return Decision::Deny(format!(
                "Cannot {verb} task {id}: this agent owns task {task} only. Report completion to your parent with ov mail send --type worker_done instead"
            ));
        }
    }
    Decision::Allow
}

fn lead_close_gate(
    ctx: &GuardContext,
    agent: &str,
    cmds: &[SimpleCommand],
    probe: &dyn GateProbe,
) -> Decision {
    let Some(task) = ctx.task_id.as_deref() else {
        return Decision::Allow;
    };
    let closes_own = cmds
        .iter()
        .any(|c| matches!(tracker_call(c), Some(("close", id, _)) if id == task));
    if !closes_own {
        return Decision::Allow;
    }
    let (mr, wd) = match probe.mail_counts(agent) {
        Ok(counts) => counts,
        Err(e) => {
            let cause = overstory_core::error::chain_text(&e);
            return Decision::Deny(format!(
                "Cannot close {task}: the mail database could not be read to count merge_ready and worker_done mail ({cause}). Fix the mail database, then close"
            ));
        }
    };
    if mr == 0 {
        return Decision::Deny(format!(
            "Cannot close {task}: no merge_ready mail sent yet. Send ov mail send --type merge_ready for each finished builder branch first"
        ));
    }
    if mr < wd {
        return Decision::Deny(format!(
            "Cannot close {task}: {mr} merge_ready mail(s) sent but {wd} worker_done received. Send merge_ready for every finished worker first"
        ));
    }
    if let Some(wt) = ctx.worktree.as_deref()
        && probe.head_merged(wt) == Some(false)
    {
        return Decision::Deny(format!(
            "Cannot close {task}: your branch is not merged into the session branch yet. Wait for the merge, then close"
        ));
    }
    Decision::Allow
}

/// Builds the guard context from the agent's environment
/// (`OVERSTORY_AGENT_NAME`, `OVERSTORY_WORKTREE_PATH`, `OVERSTORY_TASK_ID`,
/// `HOME`). An unknown capability string leaves [`GuardContext::capability`]
/// empty, so every guarded call of an agent is denied.
pub fn context_from_env(capability: &str, quality_gates: Vec<String>, cwd: &Path) -> GuardContext {
    use overstory_core::env;
    GuardContext {
        capability: capability.parse().ok(),
        capability_arg: Some(capability.to_owned()),
        agent_name: env::var(env::AGENT_NAME),
        worktree: env::var(env::WORKTREE_PATH).map(PathBuf::from),
        task_id: env::var(env::TASK_ID),
        quality_gates,
        home: env::var(env::HOME).map(PathBuf::from),
        cwd: cwd.to_path_buf(),
    }
}

/// Decides a hook invocation: parses Claude's PreToolUse JSON from `stdin`
/// and evaluates it, reading the project's mail and git for the lead gate.
/// `project_root` is the project the agent belongs to; without one no mail
/// counts, so the lead gate denies closing.
pub fn decide_hook(ctx: &GuardContext, stdin: &str, project_root: Option<&Path>) -> Decision {
    let probe = ProjectProbe {
        project_root: project_root.map(Path::to_path_buf),
    };
    evaluate(ctx, &ToolCall::from_hook_json(stdin), &probe)
}

/// A [`GateProbe`] that reads the project's `mail.db` for mail counts and
/// asks git for ancestry.
///
/// Mail is read through [`MailStore`]; a missing `mail.db` (or no project)
/// counts 0 and is never created, while a database that exists but cannot
/// be opened or queried is an error, so the gate denies.
#[derive(Debug, Clone)]
pub struct ProjectProbe {
    /// The project root: where `.overstory/mail.db` and
    /// `.overstory/session-branch.txt` are read.
    pub project_root: Option<PathBuf>,
}

impl GateProbe for ProjectProbe {
    fn mail_counts(&self, agent: &str) -> Result<(usize, usize), MailError> {
        let Some(root) = self.project_root.as_deref() else {
            return Ok((0, 0));
        };
        let path = Layout::new(root).mail_db();
        // Opening would create the file; a project without mail has sent none.
        if !path.exists() {
            return Ok((0, 0));
        }
        let store = MailStore::open(&path)?;
        let merge_ready = store.count(&ListFilter {
            from: Some(agent.to_owned()),
            kind: Some(MessageType::MergeReady),
            ..ListFilter::default()
        })?;
        let worker_done = store.count(&ListFilter {
            to: Some(agent.to_owned()),
            kind: Some(MessageType::WorkerDone),
            ..ListFilter::default()
        })?;
        Ok((merge_ready, worker_done))
    }

    fn head_merged(&self, worktree: &Path) -> Option<bool> {
        let target = self
            .project_root
            .as_deref()
            .map(|r| overstory_core::Layout::new(r).session_branch())
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "main".to_owned());
        let git = |args: &[&str]| {
            overstory_core::process::command("git")
                .args(args)
                .current_dir(worktree)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .ok()
                .and_then(|s| s.code())
        };
        if git(&["rev-parse", "--verify", "--quiet", &target]) != Some(0) {
            return None;
        }
        match git(&["merge-base", "--is-ancestor", "HEAD", &target]) {
            Some(0) => Some(true),
            Some(1) => Some(false),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(cap: Capability, wt: &Path) -> GuardContext {
        GuardContext {
            capability: Some(cap),
            capability_arg: Some(cap.as_str().to_owned()),
            agent_name: Some("agent-1".into()),
            worktree: Some(wt.to_path_buf()),
            task_id: Some("task-1".into()),
            quality_gates: Vec::new(),
            home: Some(PathBuf::from("/root")),
            cwd: wt.to_path_buf(),
        }
    }

    fn decide(cap: Capability, wt: &Path, cmd: &str) -> Decision {
        evaluate(&ctx(cap, wt), &ToolCall::bash(cmd), &NoProbe)
    }

    /// A worktree outside /tmp, so that `..` escapes are not excused by the
    /// /tmp allowance.
    fn wt() -> tempfile::TempDir {
        tempfile::tempdir_in("/var/tmp").unwrap()
    }

    #[test]
    fn guard_counts_per_capability_match_the_original() {
        let n = |c: Capability| capability_guards(c).len();
        assert_eq!(n(Capability::Scout), 17);
        assert_eq!(n(Capability::Reviewer), 17);
        assert_eq!(n(Capability::Lead), 18);
        assert_eq!(n(Capability::Builder), 14);
        assert_eq!(n(Capability::Merger), 14);
        assert_eq!(n(Capability::Coordinator), 17);
        assert_eq!(n(Capability::Supervisor), 17);
        assert_eq!(n(Capability::Orchestrator), 17);
        assert_eq!(n(Capability::Monitor), 17);
        assert_eq!(
            capability_guards(Capability::Scout),
            capability_guards(Capability::Reviewer)
        );
        assert_eq!(
            capability_guards(Capability::Builder),
            capability_guards(Capability::Merger)
        );
        assert_eq!(
            capability_guards(Capability::Coordinator),
            capability_guards(Capability::Supervisor)
        );
    }

    #[test]
    fn guard_order_is_path_then_danger_then_capability_then_tracker() {
        let g = all_guards(Capability::Builder);
        assert_eq!(
            &g[..4],
            &[
                GuardRule::PathBoundary("Write"),
                GuardRule::PathBoundary("Edit"),
                GuardRule::PathBoundary("NotebookEdit"),
                GuardRule::Danger
            ]
        );
        let danger = g.iter().position(|r| *r == GuardRule::Danger).unwrap();
        let bpb = g
            .iter()
            .position(|r| *r == GuardRule::BashPathBoundary)
            .unwrap();
        assert!(bpb > danger);
        assert_eq!(*g.last().unwrap(), GuardRule::TrackerClose);
        let lead = all_guards(Capability::Lead);
        let gate = lead
            .iter()
            .position(|r| *r == GuardRule::LeadCloseGate)
            .unwrap();
        assert_eq!(gate, lead.len() - 2);
    }

    #[test]
    fn only_implementation_capabilities_get_bash_path_boundary_and_only_leads_the_gate() {
        for c in Capability::ALL {
            let g = capability_guards(c);
            let impl_ = matches!(c, Capability::Builder | Capability::Merger);
            assert_eq!(g.contains(&GuardRule::BashPathBoundary), impl_, "{c}");
            assert_eq!(g.contains(&GuardRule::BashFileGuard), !impl_, "{c}");
            assert_eq!(
                g.contains(&GuardRule::LeadCloseGate),
                c == Capability::Lead,
                "{c}"
            );
        }
    }

    #[test]
    fn pattern_lists_have_no_duplicates_or_overlap() {
        let mut all: Vec<&str> = TEAM_TOOLS
            .iter()
            .chain(&INTERACTIVE_TOOLS)
            .chain(&WRITE_TOOLS)
            .copied()
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
        assert_eq!(TEAM_TOOLS.len(), 10);
        for p in SAFE_PREFIXES {
            for verb in ["push", "reset", "checkout", "rebase", "merge", "stash"] {
                assert!(!p.contains(verb), "{p}");
            }
        }
    }

    #[test]
    fn every_capability_blocks_team_and_interactive_tools_naming_tool_and_capability() {
        let d = wt();
        for c in Capability::ALL {
            for tool in TEAM_TOOLS.iter().chain(&INTERACTIVE_TOOLS) {
                let call = ToolCall {
                    tool_name: (*tool).into(),
                    ..ToolCall::default()
                };
                let r = evaluate(&ctx(c, d.path()), &call, &NoProbe);
                let reason = r.reason().unwrap_or_else(|| panic!("{c} {tool}"));
                assert!(
                    reason.contains(tool) && reason.contains(c.as_str()),
                    "{reason}"
                );
            }
        }
    }

    #[test]
    fn without_agent_env_only_git_push_is_blocked() {
        let c = GuardContext {
            cwd: PathBuf::from("/"),
            ..GuardContext::default()
        };
        assert!(evaluate(&c, &ToolCall::bash("git status && git push"), &NoProbe).is_deny());
        assert!(!evaluate(&c, &ToolCall::bash("rm -rf /x"), &NoProbe).is_deny());
        let task = ToolCall {
            tool_name: "Task".into(),
            ..ToolCall::default()
        };
        assert!(!evaluate(&c, &task, &NoProbe).is_deny());
    }

    /// (command, blocked for builder, blocked for scout, blocked for coordinator)
    const TABLE: &[(&str, bool, bool, bool)] = &[
        ("ls -la", false, false, false),
        ("cat README.md", false, false, false),
        ("grep -r foo src | head -5", false, false, false),
        ("git status", false, false, false),
        ("git log --oneline -5", false, false, false),
        ("git diff HEAD~1", false, false, false),
        ("git push", true, true, true),
        ("git push origin main", true, true, true),
        ("git -C /x push", true, true, true),
        ("git status && git push", true, true, true),
        ("git status; git push", true, true, true),
        ("false || git push", true, true, true),
        ("echo hi | git push", true, true, true),
        ("(git push)", true, true, true),
        ("echo $(git push)", true, true, true),
        ("echo `git push`", true, true, true),
        ("env X=1 git push", true, true, true),
        ("X=1 git push", true, true, true),
        ("sh -c \"git push\"", true, true, true),
        ("bash -c 'cd x && git push'", true, true, true),
        ("eval 'git push'", true, true, true),
        ("nohup git push &", true, true, true),
        ("echo 'git push'", false, false, false),
        ("git reset --hard HEAD~1", true, true, true),
        ("git reset --soft HEAD~1", false, true, true),
        ("git checkout -b feature", true, true, true),
        (
            "git checkout -b overstory/agent-1/task-1",
            false,
            true,
            true,
        ),
        ("git add -A", false, true, false),
        ("git commit -m 'x'", false, true, false),
        ("git add . && git commit -m x", false, true, false),
        (
            "ov mail send --to lead --subject s --body b",
            false,
            false,
            false,
        ),
        ("ov status; rm -rf src", false, true, true),
        ("git status && rm -rf x", false, true, true),
        ("ov x; echo hi > f", false, true, true),
        ("echo hi > notes.txt", false, true, true),
        ("echo hi >> notes.txt", false, true, true),
        ("echo hi >notes.txt", false, true, true),
        ("ls > /dev/null 2>&1", false, false, false),
        ("sed -i 's/a/b/' f.txt", false, true, true),
        ("sed --in-place 's/a/b/' f.txt", false, true, true),
        ("sed 's/a/b/' f.txt", false, false, false),
        ("tee out.txt", false, true, true),
        ("mv a b", false, true, true),
        ("cp a b", false, true, true),
        ("rm a", false, true, true),
        ("mkdir d", false, true, true),
        ("touch f", false, true, true),
        ("chmod +x f", false, true, true),
        ("chown me f", false, true, true),
        ("npm install left-pad", false, true, true),
        ("bun add zod", false, true, true),
        ("bun install", false, true, true),
        (
            "node -e 'require(\"fs\").writeFileSync(\"x\",\"y\")'",
            false,
            true,
            true,
        ),
        ("python3 -c 'open(\"x\",\"w\")'", false, true, true),
        ("perl -e 'print 1'", false, true, true),
        ("ruby -e 'puts 1'", false, true, true),
        ("deno eval 'x'", false, true, true),
        ("bun -e 'x'", false, true, true),
        ("vim f", false, true, true),
        ("find . -name '*.tmp' -exec rm {} \\;", false, true, true),
        ("xargs rm < list", false, true, true),
        ("find . -name '*.log' -delete", false, true, true),
        ("find . -name '*.rs' | head", false, false, false),
        ("rm -rf /etc/passwd", true, true, true),
        ("echo x > /abs/outside", true, true, true),
        ("echo x >/abs/outside", true, true, true),
        ("cp a /tmp/b", false, true, true),
        ("echo x > /dev/null", false, false, false),
        ("rm ../other/file", true, true, true),
        ("rm src/../../escape", true, true, true),
        ("rm $SOMEVAR/x", true, true, true),
        ("cd / && rm -rf etc", true, true, true),
        ("sd close task-2", true, true, true),
        ("bd close task-2", true, true, true),
        ("sd update task-2 --status done", true, true, true),
        ("sd close task-1", false, false, false),
        ("sd update task-2 --title x", false, false, false),
        // Unresolvable: denied for every agent.
        ("g=git; $g push", true, true, true),
        ("$(echo git) push", true, true, true),
        ("`echo git` status", true, true, true),
        ("${G:-git} push", true, true, true),
        ("eval 'git status'", true, true, true),
        ("echo git push | sh", true, true, true),
        ("echo git push | bash -s", true, true, true),
        ("bash <<< \"git push\"", true, true, true),
        ("bash - < script.sh", true, true, true),
        (
            "python3 - <<EOF\nimport os\nos.system('git push')\nEOF",
            true,
            true,
            true,
        ),
        ("cat prog.py | python3", true, true, true),
        ("node < prog.js", true, true, true),
        ("bash -c \"$CMD\"", true, true, true),
        ("source <(echo git push)", true, true, true),
        ("parallel < commands.txt", true, true, true),
        ("alias p='git push'", true, true, true),
        ("for s in push; do git $s; done", true, true, true),
        ("echo push | xargs git", true, true, true),
        ("echo -m x | xargs git commit", true, true, true),
        // Runners are unwrapped and their target judged.
        ("find . -exec git push \\;", true, true, true),
        ("find . -execdir git push \\;", true, true, true),
        ("parallel git push ::: a", true, true, true),
        ("env -S 'git push'", true, true, true),
        ("env -i PATH=/usr/bin git push", true, true, true),
        ("nohup git push", true, true, true),
        ("timeout --signal=KILL 5 git push", true, true, true),
        ("nice -n 5 git push", true, true, true),
        ("stdbuf -o L git push", true, true, true),
        ("setsid -w git push", true, true, true),
        ("chroot / git push", true, true, true),
        ("sudo -u root git push", true, true, true),
        ("doas git push", true, true, true),
        ("watch -n 1 git push", true, true, true),
        ("watch -n 1 'git status; git push'", true, true, true),
        ("time -p git push", true, true, true),
        ("time git push", true, true, true),
        ("command -p git push", true, true, true),
        ("exec git push", true, true, true),
        ("su -c 'git push' me", true, true, true),
        ("flock /tmp/l -c 'git push'", true, true, true),
        ("strace -f git push", true, true, true),
        // Push in every spelling.
        ("git -c alias.x=push x", true, true, true),
        ("git -c alias.st=status st", true, true, true),
        (
            "git -c core.hooksPath=/dev/null commit -m x",
            true,
            true,
            true,
        ),
        ("git send-pack origin main", true, true, true),
        ("git http-push https://h/r.git main", true, true, true),
        (
            "git -C /x --git-dir=/x/.git -c color.ui=never push",
            true,
            true,
            true,
        ),
        (
            "git --git-dir /x/.git --work-tree /x push",
            true,
            true,
            true,
        ),
        ("git --no-pager -P push", true, true, true),
        ("/usr/bin/git push", true, true, true),
        ("g\\it pu\\sh", true, true, true),
        ("git $'push'", true, true, true),
        ("git $'\\x70ush'", true, true, true),
        ("git {push,status}", true, true, true),
        ("git p", true, true, true),
        ("git commit --no-verify -m x", true, true, true),
        ("git commit -nm x", true, true, true),
        ("git commit -am x", false, true, false),
        ("git merge --no-verify feature", true, true, true),
        ("git config alias.p push", true, true, true),
        (
            "git config --worktree core.hooksPath /tmp/h",
            true,
            true,
            true,
        ),
        ("git config --unset core.hooksPath", true, true, true),
        (
            "GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=alias.p GIT_CONFIG_VALUE_0=push git p",
            true,
            true,
            true,
        ),
        ("export GIT_CONFIG_COUNT=1", true, true, true),
        ("env GIT_SSH_COMMAND=x git fetch", true, true, true),
        (
            "python3 -c 'import os; os.system(\"git push\")'",
            true,
            true,
            true,
        ),
        ("perl -e 'system(\"git\", \"push\")'", true, true, true),
        ("awk 'BEGIN{system(\"git push\")}'", true, true, true),
        ("git rebase -x 'git push' main", true, true, true),
        ("git submodule foreach git push", true, true, true),
        ("git bisect run ./test.sh", true, true, true),
        // Read-only capabilities run on an allowlist.
        ("git branch -D main", false, true, false),
        ("git branch new-feature", false, true, false),
        ("git tag v1.0", false, true, false),
        ("git tag -d v1.0", false, true, false),
        ("git config user.name x", false, true, false),
        ("git update-ref refs/heads/main HEAD", false, true, false),
        ("git worktree add ../x", false, true, false),
        ("git stash", false, true, true),
        ("git fetch origin", false, true, false),
        ("git log --output=out.txt", false, true, false),
        ("awk '{print > \"f\"}' in.txt", false, true, false),
        ("awk '{print | \"sh\"}' in.txt", false, true, false),
        ("sort -o out.txt in.txt", false, true, false),
        ("sort -ro out.txt in.txt", false, true, false),
        ("curl -o out.html https://example.com", false, true, false),
        ("curl -sLo out.html https://example.com", false, true, false),
        ("curl -d x=1 https://example.com", false, true, false),
        ("wget https://example.com/f", false, true, false),
        ("tar xf a.tar", false, true, false),
        ("tar -czf a.tgz src", false, true, false),
        ("sed 's/a/b/w out.txt' f", false, true, false),
        ("sed -n '1e id' f", false, true, false),
        ("uniq in.txt out.txt", false, true, false),
        ("tree -o out.txt", false, true, false),
        ("ov clean --all", false, true, false),
        ("ov stop builder-1", false, true, false),
        ("ov sling task-2 --capability builder", false, true, false),
        ("ov mail purge --all", false, true, false),
        ("python3 script.py", false, true, false),
        ("make", false, true, false),
        ("cargo test", false, true, false),
        ("sudo cat /etc/shadow", false, true, false),
        ("PATH=/tmp/x:$PATH ls", false, true, false),
        ("sort $OPTS f", false, true, false),
        ("git log $RANGE", false, true, false),
        // Ordinary read-only work passes for everyone.
        ("rg -n 'fn main' src", false, false, false),
        ("git show HEAD~1 --stat", false, false, false),
        ("git branch -a", false, false, false),
        ("git branch --list 'overstory/*'", false, false, false),
        ("git branch --show-current", false, false, false),
        ("git tag", false, false, false),
        ("git tag -l 'v*'", false, false, false),
        ("git config --get user.name", false, false, false),
        ("git -C sub log --oneline -3", false, false, false),
        (
            "git --no-pager diff --stat main...HEAD",
            false,
            false,
            false,
        ),
        ("git rev-parse --show-toplevel", false, false, false),
        ("git ls-files | wc -l", false, false, false),
        ("git blame -L 1,20 src/lib.rs", false, false, false),
        ("git worktree list", false, false, false),
        ("git stash list", false, false, true),
        (
            "cat a.txt | grep -v b | sort | uniq -c | sort -rn | head",
            false,
            false,
            false,
        ),
        ("awk '{print $1}' f", false, false, false),
        (
            "awk -F: '$3 > 100 {print $1}' /etc/passwd",
            false,
            false,
            false,
        ),
        ("awk '/a|b/ {n++} END {print n}' f", false, false, false),
        ("sort -k2 -t, f.csv", false, false, false),
        ("sed -n '1,20p' f", false, false, false),
        ("sed -e 's/a/b/g' -e '/^#/d' f", false, false, false),
        ("curl -sL https://example.com", false, false, false),
        ("wget -qO- https://example.com", false, false, false),
        ("tar tzf a.tgz", false, false, false),
        ("tar -tvf a.tar", false, false, false),
        (
            "find src -name '*.rs' -exec grep -l foo {} +",
            false,
            false,
            false,
        ),
        (
            "find . -type f -newer x | xargs grep -l todo",
            false,
            false,
            false,
        ),
        ("timeout 10 grep -r foo .", false, false, false),
        ("wc -l $(git ls-files)", false, false, false),
        ("diff <(git show HEAD:a) a", false, false, false),
        ("jq .name package.json", false, false, false),
        ("LC_ALL=C sort f", false, false, false),
        ("[ -f Cargo.toml ] && cat Cargo.toml", false, false, false),
        ("if test -d src; then ls src; fi", false, false, false),
        (
            "for f in src/*.rs; do wc -l \"$f\"; done",
            false,
            false,
            false,
        ),
        ("cd src && ls -la", false, false, false),
        ("command -v rg", false, false, false),
        ("ov status", false, false, false),
        ("ov mail check --agent agent-1", false, false, false),
        (
            "ov mail send --to lead --subject s --body \"$(cat notes.md)\" --type result",
            false,
            false,
            false,
        ),
        ("ov --json mail list", false, false, false),
        ("sd show task-1", false, false, false),
        ("ml prime", false, false, false),
        ("echo $(( 1 + 2 ))", false, false, false),
        ("printf '%s\\n' \"$HOME\"", false, false, false),
        ("git status 2>&1 | head", false, false, false),
        (
            "ov mail send --to lead --subject s --body \"$(cat <<'EOF'\nIt's done (mostly\nEOF\n)\" --type result",
            false,
            false,
            false,
        ),
        (
            "git commit -m \"$(cat <<'EOF'\nguard: don't (yet)\n\nBody.\nEOF\n)\"",
            false,
            true,
            false,
        ),
        (
            "echo \"$(cat <<EOF\nit's $(git push)\nEOF\n)\"",
            true,
            true,
            true,
        ),
        (
            "grep -rn 'foo' --include='*.rs' . | head -20",
            false,
            false,
            false,
        ),
        ("sed -n '/start/,/end/p' f", false, false, false),
        ("awk 'NR>1 {print $2}' f", false, false, false),
        ("find . -name '*.rs' | xargs wc -l", false, false, false),
        ("git log -p -- src | less", false, false, false),
        ("sudo -Es", true, true, true),
        ("bash -euo pipefail -c 'git push'", true, true, true),
        ("bash -c -x 'git push'", true, true, true),
        ("sh -e -c 'git push'", true, true, true),
        ("bash -o errexit script.sh", false, true, false),
        ("trap 'git push' EXIT", true, true, true),
        ("hub push origin main", true, true, true),
        ("fd -e rs | head", false, false, false),
        ("fd -e rs -x rm", false, true, false),
        ("tokei src", false, false, false),
        ("cloc --report-file=r.txt src", false, true, false),
    ];

    #[test]
    fn an_unknown_capability_denies_and_names_it() {
        let d = wt();
        let c = GuardContext {
            capability: "scuot".parse().ok(),
            capability_arg: Some("scuot".into()),
            ..ctx(Capability::Scout, d.path())
        };
        assert!(c.capability.is_none());
        for call in [
            ToolCall::bash("ls"),
            ToolCall::file("Write", &format!("{}/a.rs", d.path().display())),
        ] {
            let r = evaluate(&c, &call, &NoProbe);
            let reason = r.reason().unwrap_or_else(|| panic!("{call:?} allowed"));
            assert!(
                reason.contains("\"scuot\"") && reason.contains("scout, builder"),
                "{reason}"
            );
        }
        // Outside agent sessions the capability does not matter.
        let human = GuardContext {
            agent_name: None,
            ..c
        };
        assert!(!evaluate(&human, &ToolCall::bash("ls"), &NoProbe).is_deny());
    }

    #[test]
    fn nesting_deeper_than_the_lexer_follows_is_denied() {
        let d = wt();
        for levels in [1, 7, 10, 20] {
            let mut subst = "git push".to_owned();
            let mut shells = "git push".to_owned();
            let mut runners = "git push".to_owned();
            for i in 0..levels {
                subst = format!("echo $({subst})");
                // Quoting grows fourfold per level: ten is the issue's case.
                if i < 10 {
                    shells = format!("bash -c {}", shell::shell_quote(&shells));
                }
                runners = format!("timeout 5 nice {runners}");
            }
            for cmd in [&subst, &shells, &runners] {
                for cap in [Capability::Builder, Capability::Scout] {
                    assert!(
                        decide(cap, d.path(), cmd).is_deny(),
                        "{cap} {levels}: {cmd}"
                    );
                }
            }
        }
        let deep = (0..12).fold("ls".to_owned(), |s, _| format!("echo $({s})"));
        let r = decide(Capability::Builder, d.path(), &deep);
        assert!(
            r.reason().unwrap().contains("nesting deeper than 8"),
            "{r:?}"
        );
    }

    #[test]
    fn denials_say_what_was_found() {
        let d = wt();
        let r = decide(Capability::Builder, d.path(), "g=git; $g push");
        assert!(
            r.reason()
                .unwrap()
                .contains("\"$g\" is used as a command name"),
            "{r:?}"
        );
        let r = decide(Capability::Builder, d.path(), "echo git push | sh");
        assert!(
            r.reason()
                .unwrap()
                .contains("sh reads its script from standard input"),
            "{r:?}"
        );
        let r = decide(Capability::Builder, d.path(), "git -c alias.x=push x");
        assert!(
            r.reason().unwrap().starts_with("git -c alias.x is blocked"),
            "{r:?}"
        );
        let r = decide(Capability::Builder, d.path(), "git commit --no-verify -m x");
        assert!(
            r.reason().unwrap().contains("skips the repository's hooks"),
            "{r:?}"
        );
        let r = decide(Capability::Scout, d.path(), "git branch -D main");
        let reason = r.reason().unwrap();
        assert!(
            reason.starts_with("scout agents cannot modify files") && reason.contains("branch -D"),
            "{reason}"
        );
        let r = decide(Capability::Reviewer, d.path(), "ov stop builder-1");
        assert!(r.reason().unwrap().contains("ov stop"), "{r:?}");
    }

    #[test]
    fn builders_do_ordinary_work() {
        let d = wt();
        for ok in [
            "cargo test -p overstory-runtime --lib",
            "cargo build && cargo clippy --all-targets -- -D warnings",
            "git add -A && git commit -m 'guard: tests'",
            "git commit -am 'wip'",
            "git diff --cached | head",
            "git checkout -b overstory/agent-1/task-2",
            "git stash && git stash pop",
            "git rebase main",
            "git merge --ff-only main",
            "git fetch origin && git log origin/main --oneline",
            "git config user.email me@example.com",
            "mkdir -p src/guard && mv a.rs src/guard/mod.rs",
            "echo 'hello' > notes.txt",
            "sed -i 's/a/b/' src/lib.rs",
            "python3 scripts/gen.py > out.rs",
            "bash scripts/check.sh",
            "npm test",
            "make -j2",
            "RUST_LOG=debug cargo run -- --help",
            "find . -name '*.orig' -delete",
            "xargs -n1 echo < list",
        ] {
            let r = decide(Capability::Builder, d.path(), ok);
            assert!(!r.is_deny(), "{ok}: {r:?}");
        }
    }

    #[test]
    fn bash_decision_table_per_capability() {
        let d = wt();
        let mut failures = Vec::new();
        for (cmd, builder, scout, coord) in TABLE {
            for (cap, want) in [
                (Capability::Builder, builder),
                (Capability::Scout, scout),
                (Capability::Coordinator, coord),
            ] {
                let got = decide(cap, d.path(), cmd);
                if got.is_deny() != *want {
                    failures.push(format!("{cap}: {cmd:?} want blocked={want} got {got:?}"));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn reasons_carry_the_original_phrases() {
        let d = wt();
        let r = decide(Capability::Builder, d.path(), "git push");
        assert!(r.reason().unwrap().starts_with("git push is blocked"));
        let r = decide(Capability::Builder, d.path(), "git reset --hard");
        assert!(r.reason().unwrap().contains("git reset --hard"));
        let r = decide(Capability::Builder, d.path(), "git checkout -b x");
        assert!(
            r.reason()
                .unwrap()
                .starts_with("Branch must follow overstory/agent-1/{task-id} convention")
        );
        let r = decide(Capability::Builder, d.path(), "rm /etc/x");
        assert!(
            r.reason()
                .unwrap()
                .starts_with("Bash path boundary violation")
        );
        let r = decide(Capability::Scout, d.path(), "rm x");
        assert!(
            r.reason()
                .unwrap()
                .starts_with("scout agents cannot modify files")
        );
        let r = decide(Capability::Scout, d.path(), "sd close task-9");
        let reason = r.reason().unwrap();
        assert!(
            reason.contains("task-9")
                && reason.contains("task-1")
                && reason.contains("worker_done")
        );
    }

    #[test]
    fn bash_path_boundary_allows_dev_tmp_relative_and_strips_quotes() {
        let d = wt();
        for ok in [
            "rm /tmp/x",
            "echo > /dev/null",
            "touch rel/file",
            "cp a \"/tmp/b\";",
            "ls /etc",
            "cp -r /usr/share/doc/x ./vendor",
            "rsync -a /etc/skel/ ./skel",
            "dd if=/dev/zero of=./blob bs=1 count=1",
        ] {
            assert!(!decide(Capability::Builder, d.path(), ok).is_deny(), "{ok}");
        }
        let inside = format!("rm {}/file", d.path().display());
        assert!(!decide(Capability::Builder, d.path(), &inside).is_deny());
        let dotdot = format!("rm {}/../other/file", d.path().display());
        assert!(decide(Capability::Builder, d.path(), &dotdot).is_deny());
        for bad in [
            "cp a /etc/x",
            "cp -t /etc a b",
            "mv /etc/x ./x",
            "dd if=a of=/etc/x",
        ] {
            assert!(
                decide(Capability::Builder, d.path(), bad).is_deny(),
                "{bad}"
            );
        }
    }

    #[test]
    fn symlinks_out_of_the_worktree_are_caught() {
        let d = wt();
        let outside = tempfile::tempdir_in("/var/tmp").unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("link")).unwrap();
        let r = evaluate(
            &ctx(Capability::Builder, d.path()),
            &ToolCall::file("Write", &format!("{}/link/f.txt", d.path().display())),
            &NoProbe,
        );
        assert!(
            r.reason().unwrap().starts_with("Path boundary violation"),
            "{r:?}"
        );
    }

    #[test]
    fn write_tools_respect_the_worktree_and_read_only_capabilities() {
        let d = wt();
        let inside = format!("{}/src/a.rs", d.path().display());
        for tool in WRITE_TOOLS {
            let call = ToolCall::file(tool, &inside);
            assert!(!evaluate(&ctx(Capability::Builder, d.path()), &call, &NoProbe).is_deny());
            let r = evaluate(&ctx(Capability::Scout, d.path()), &call, &NoProbe);
            let reason = r.reason().unwrap();
            assert!(
                reason.contains("scout") && reason.contains(tool),
                "{reason}"
            );
            let out = ToolCall::file(tool, "/etc/passwd");
            let r = evaluate(&ctx(Capability::Builder, d.path()), &out, &NoProbe);
            assert!(r.reason().unwrap().starts_with("Path boundary violation"));
        }
        // Relative paths resolve against the session cwd.
        let rel = ToolCall {
            cwd: Some(d.path().to_path_buf()),
            ..ToolCall::file("Write", "src/x.rs")
        };
        assert!(!evaluate(&ctx(Capability::Builder, d.path()), &rel, &NoProbe).is_deny());
        let esc = ToolCall {
            cwd: Some(d.path().to_path_buf()),
            ..ToolCall::file("Write", "../x.rs")
        };
        assert!(evaluate(&ctx(Capability::Builder, d.path()), &esc, &NoProbe).is_deny());
    }

    #[test]
    fn path_guards_fail_open_without_worktree_env() {
        let mut c = ctx(Capability::Builder, Path::new("/w"));
        c.worktree = None;
        assert!(!evaluate(&c, &ToolCall::file("Write", "/etc/x"), &NoProbe).is_deny());
        assert!(!evaluate(&c, &ToolCall::bash("rm /etc/x"), &NoProbe).is_deny());
    }

    #[test]
    fn quality_gates_are_whitelisted_for_read_only_agents() {
        let d = wt();
        let mut c = ctx(Capability::Reviewer, d.path());
        c.quality_gates = vec!["cargo test".into(), "make check".into()];
        assert!(!evaluate(&c, &ToolCall::bash("cargo test -p x"), &NoProbe).is_deny());
        assert!(!evaluate(&c, &ToolCall::bash("make check"), &NoProbe).is_deny());
        assert!(evaluate(&c, &ToolCall::bash("cargo test && rm x"), &NoProbe).is_deny());
    }

    #[test]
    fn without_configured_gates_no_guessed_gate_command_is_allowed() {
        let d = wt();
        for cap in [Capability::Scout, Capability::Reviewer] {
            let mut c = ctx(cap, d.path());
            assert!(c.quality_gates.is_empty());
            for cmd in ["bun test", "bun run lint"] {
                assert!(
                    evaluate(&c, &ToolCall::bash(cmd), &NoProbe).is_deny(),
                    "{cap}: {cmd}"
                );
            }
            c.quality_gates = vec!["bun test".into(), "bun run lint".into()];
            for cmd in ["bun test", "bun run lint"] {
                assert!(
                    !evaluate(&c, &ToolCall::bash(cmd), &NoProbe).is_deny(),
                    "{cap}: {cmd}"
                );
            }
        }
        let c = ctx(Capability::Builder, d.path());
        assert!(!evaluate(&c, &ToolCall::bash("bun test"), &NoProbe).is_deny());
    }

    #[test]
    fn tracker_guard_is_inert_without_task_id() {
        let d = wt();
        let mut c = ctx(Capability::Builder, d.path());
        c.task_id = None;
        assert!(!evaluate(&c, &ToolCall::bash("sd close other"), &NoProbe).is_deny());
    }

    struct Probe(usize, usize, Option<bool>);
    impl GateProbe for Probe {
        fn mail_counts(&self, _: &str) -> Result<(usize, usize), MailError> {
            Ok((self.0, self.1))
        }
        fn head_merged(&self, _: &Path) -> Option<bool> {
            self.2
        }
    }

    #[test]
    fn lead_gate_requires_merge_ready_and_merge() {
        let d = wt();
        let c = ctx(Capability::Lead, d.path());
        let close = ToolCall::bash("sd close task-1");
        assert!(
            evaluate(&c, &close, &Probe(0, 0, None))
                .reason()
                .unwrap()
                .contains("merge_ready")
        );
        assert!(evaluate(&c, &ToolCall::bash("bd close task-1"), &Probe(0, 0, None)).is_deny());
        assert!(!evaluate(&c, &close, &Probe(1, 0, None)).is_deny());
        assert!(evaluate(&c, &close, &Probe(1, 2, None)).is_deny());
        assert!(!evaluate(&c, &close, &Probe(2, 2, Some(true))).is_deny());
        assert!(evaluate(&c, &close, &Probe(2, 2, Some(false))).is_deny());
        // Silent for other commands and foreign ids (the tracker guard handles those).
        assert!(!evaluate(&c, &ToolCall::bash("sd show task-1"), &Probe(0, 0, None)).is_deny());
        // Builders never get the gate.
        let b = ctx(Capability::Builder, d.path());
        assert!(!evaluate(&b, &close, &Probe(0, 0, Some(false))).is_deny());
    }

    #[test]
    fn hook_output_uses_permission_decision_deny() {
        let v = Decision::Deny("no".into()).hook_output().unwrap();
        assert_eq!(v["hookSpecificOutput"]["hookEventName"], "PreToolUse");
        assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny");
        assert_eq!(v["hookSpecificOutput"]["permissionDecisionReason"], "no");
        assert!(Decision::Allow.hook_output().is_none());
        assert_eq!(
            Decision::Deny("r".into()).legacy_output().unwrap()["decision"],
            "block"
        );
    }

    #[test]
    fn hook_stdin_is_parsed_and_garbage_is_treated_as_a_command() {
        let c = ToolCall::from_hook_json(
            r#"{"session_id":"s","cwd":"/w","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"git push"}}"#,
        );
        assert_eq!(c.tool_name, "Bash");
        assert_eq!(c.cwd.as_deref(), Some(Path::new("/w")));
        let g = ToolCall::from_hook_json("git push {");
        let cx = GuardContext {
            cwd: PathBuf::from("/"),
            ..GuardContext::default()
        };
        assert!(evaluate(&cx, &g, &NoProbe).is_deny());
    }
}
