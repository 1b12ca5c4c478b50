//! The one place that reads the process environment.
//!
//! Reading variables through these functions keeps the set of variables the
//! program honours visible in one file.

use std::ffi::OsString;

/// Overrides project-root discovery (injected into every slung agent).
pub const PROJECT_ROOT: &str = "OVERSTORY_PROJECT_ROOT";
/// The agent name a child process runs as.
pub const AGENT_NAME: &str = "OVERSTORY_AGENT_NAME";
/// The task id a child process works on.
pub const TASK_ID: &str = "OVERSTORY_TASK_ID";
/// The worktree path a child process works in.
pub const WORKTREE_PATH: &str = "OVERSTORY_WORKTREE_PATH";
/// Any non-empty value disables colour.
pub const NO_COLOR: &str = "NO_COLOR";
/// Forces colour on (`0` or `false` forces it off).
pub const FORCE_COLOR: &str = "FORCE_COLOR";
/// `dumb` disables colour.
pub const TERM: &str = "TERM";
/// Set by sandboxes; lets Claude Code run as root with bypassed permissions.
pub const IS_SANDBOX: &str = "IS_SANDBOX";
/// Search path for executables.
pub const PATH: &str = "PATH";
/// The user's home directory.
pub const HOME: &str = "HOME";
/// Set when running inside tmux.
pub const TMUX: &str = "TMUX";
/// Where tmux keeps its `tmux-<uid>/` socket directory (default `/tmp`).
pub const TMUX_TMPDIR: &str = "TMUX_TMPDIR";

/// Returns the variable's value when it is set, valid UTF-8 and not empty.
#[allow(clippy::disallowed_methods, reason = "this is the one accessor")]
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Returns the variable's raw value when it is set (even if empty).
#[allow(clippy::disallowed_methods, reason = "this is the one accessor")]
pub fn var_os(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

/// Returns whether the variable is set to a non-empty value.
pub fn is_set(name: &str) -> bool {
    var(name).is_some()
}
