//! Property tests of the guard's security boundary: the lexer never panics
//! on any text, and wrapping a denied command in substitutions, shells,
//! separators, subshells or runners never makes it allowed.

use std::path::{Path, PathBuf};

use overstory_core::Capability;
use proptest::prelude::*;

use super::{Decision, GuardContext, NoProbe, ToolCall, evaluate};
use crate::shell::{self, shell_quote};

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

fn decide(cap: Capability, cmd: &str) -> Decision {
    evaluate(
        &ctx(cap, Path::new("/var/tmp/ov-guard-proptest-wt")),
        &ToolCall::bash(cmd),
        &NoProbe,
    )
}

/// Commands denied for at least one of builder, scout and coordinator.
const DENIED: &[&str] = &[
    "git push",
    "git push origin main",
    "git -C . push",
    "git -c alias.x=push x",
    "git send-pack origin main",
    "git commit --no-verify -m x",
    "git reset --hard HEAD~1",
    "rm -rf /etc",
    "echo x > /etc/passwd",
    "rm notes.txt",
    "git branch -D main",
    "sort -o out in",
    "ov stop builder-1",
    "sd close task-9",
];

/// One way of dressing a command up.
fn wrap(kind: u8, inner: &str) -> String {
    let q = shell_quote(inner);
    match kind % 28 {
        16 => format!("watch -n 1 {q}"),
        17 => format!("find . -name x -exec bash -c {q} \\;"),
        18 => format!("xargs -I{{}} sh -c {q} < list"),
        19 => format!("trap {q} EXIT"),
        20 => format!("time -p bash -c {q}"),
        21 => format!("sudo -u me bash -c {q}"),
        22 => format!("su -c {q} me"),
        23 => format!("flock /tmp/l -c {q}"),
        24 => format!("parallel bash -c {} ::: 1", shell_quote(&q)),
        25 => format!("bash -euo pipefail -c {q}"),
        26 => format!("stdbuf -oL setsid -w doas bash -c {q}"),
        27 => format!("case x in x) {inner} ;; esac"),
        0 => format!("echo $( {inner} )"),
        1 => format!("echo \"$( {inner} )\""),
        2 => format!("bash -c {}", shell_quote(inner)),
        3 => format!("sh -lc {}", shell_quote(inner)),
        4 => format!("true; {inner}"),
        5 => format!("true && {inner}"),
        6 => format!("false || {inner}"),
        7 => format!("({inner})"),
        8 => format!("{{ {inner}; }}"),
        9 => format!("echo hi | {inner}"),
        10 => format!("timeout 5 bash -c {}", shell_quote(inner)),
        11 => format!("env A=1 nice -n 2 bash -c {}", shell_quote(inner)),
        12 => format!("nohup sh -c {} &", shell_quote(inner)),
        13 => format!("if true; then {inner}; fi"),
        14 => format!("X=$( {inner} ) true"),
        _ => format!("cat <(  {inner}  )"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn lexing_any_text_never_panics(src in "[a-z0-9 $(){}\\[\\]\"'`;&|<>\\\\\n#=*?!~.,:+-]{0,120}") {
        let parsed = shell::parse(&src);
        for c in &parsed.commands {
            prop_assert_eq!(c.words.len(), c.dynamic.len());
        }
        for cap in [Capability::Builder, Capability::Scout, Capability::Lead] {
            let _ = decide(cap, &src);
        }
    }

    #[test]
    fn wrapping_a_denied_command_never_allows_it(
        base in 0..DENIED.len(),
        kinds in proptest::collection::vec(any::<u8>(), 0..6),
    ) {
        let base = DENIED[base];
        let mut cmd = base.to_owned();
        for k in &kinds {
            cmd = wrap(*k, &cmd);
        }
        for cap in [Capability::Builder, Capability::Scout, Capability::Coordinator] {
            if decide(cap, base).is_deny() {
                prop_assert!(decide(cap, &cmd).is_deny(), "{} allowed for {}", cmd, cap);
            }
        }
    }

    #[test]
    fn joining_anything_with_a_denied_command_never_allows_it(
        base in 0..DENIED.len(),
        other in "[a-z .-]{0,20}",
        sep in prop::sample::select(vec![";", "&&", "||", "|", "&", "\n"]),
        before in any::<bool>(),
    ) {
        let base = DENIED[base];
        let cmd = if before { format!("{other} {sep} {base}") } else { format!("{base} {sep} {other}") };
        for cap in [Capability::Builder, Capability::Scout, Capability::Coordinator] {
            if decide(cap, base).is_deny() {
                prop_assert!(decide(cap, &cmd).is_deny(), "{:?} allowed for {}", cmd, cap);
            }
        }
    }
}
