//! Running Claude Code as root: the `IS_SANDBOX` rule.
//!
//! Claude Code refuses bypass-permissions mode for UID 0 unless
//! `IS_SANDBOX=1` is set, and it accepts exactly `1` (`yes` or `true` are
//! refused). So as root, starting an agent on a runtime other than the
//! scripted one needs the variable: unset or false-like values refuse with
//! both ways out ([`root_refusal`]), and a true-like value (`1`, `yes`,
//! `true`, `on`) reaches Claude as `1` ([`requested`], used by the Claude
//! adapter's environment).

use overstory_core::{env, process};

/// Whether the operator declared a sandbox with a true-like `IS_SANDBOX`.
pub fn requested() -> bool {
    env::var(env::IS_SANDBOX).is_some_and(|v| is_true_like(&v))
}

/// The refusal message when starting an agent on `runtime_id` as root
/// without a declared sandbox; `None` when starting is fine. `doing` names
/// the refused action ("sling", "start the coordinator").
pub fn root_refusal(runtime_id: &str, doing: &str) -> Option<String> {
    if runtime_id == "scripted" || !process::is_root() || requested() {
        return None;
    }
    let found = env::var(env::IS_SANDBOX)
        .map(|v| format!(" (IS_SANDBOX is \"{v}\", which does not count)"))
        .unwrap_or_default();
    Some(format!(
        "Refusing to {doing} as root: Claude Code rejects bypass-permissions mode for UID 0{found}. \
         Either run ov as a regular user, or, inside a sandbox or container, set IS_SANDBOX=1 \
         (it is passed through to the agent)"
    ))
}

fn is_true_like(v: &str) -> bool {
    ["1", "yes", "true", "on"]
        .iter()
        .any(|t| v.trim().eq_ignore_ascii_case(t))
}

#[cfg(test)]
mod tests {
    use super::is_true_like;

    #[test]
    fn only_true_like_values_count() {
        for v in ["1", "yes", "YES", "true", "On", " 1 "] {
            assert!(is_true_like(v), "{v}");
        }
        for v in ["", "0", "no", "false", "off", "sandbox"] {
            assert!(!is_true_like(v), "{v}");
        }
    }
}
