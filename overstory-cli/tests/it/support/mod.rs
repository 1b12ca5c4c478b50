//! Running `ov` and reading what it printed.

use std::path::{Path, PathBuf};
use std::process::Command;

pub use overstory_testkit::TempRepo;

/// The result of one `ov` run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts exit 0 and returns self.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self
    }

    /// Asserts exit 1 and returns self.
    #[track_caller]
    pub fn fails(self) -> Self {
        assert_eq!(self.code, 1, "expected exit 1: {self:#?}");
        self
    }

    /// Parses stdout as exactly one JSON document on one line.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        assert_eq!(
            self.stdout.matches('\n').count(),
            1,
            "stdout must be one line: {self:#?}"
        );
        serde_json::from_str(self.stdout.trim_end())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ov"))
}

/// A command for `ov` in `cwd` with colour off and no inherited overstory
/// variables.
pub fn command(cwd: &Path) -> Command {
    overstory_testkit::ov(&bin(), cwd)
}

/// Runs `ov <args>` in `cwd`.
pub fn ov(cwd: &Path, args: &[&str]) -> Run {
    run(command(cwd).args(args))
}

/// Runs a prepared command.
pub fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A temp git repository with `ov init` already run.
pub fn initialized_repo() -> TempRepo {
    let repo = TempRepo::new();
    ov(repo.path(), &["init"]).ok();
    repo
}

/// Processes in group `pgid` that are not zombies.
pub fn live_group_members(pgid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the parenthesised command: state ppid pgrp …
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[2] == pgid.to_string() && fields[0] != "Z" {
            out.push(pid);
        }
    }
    out
}

/// A directory for `PATH` holding only `git`: everything a dispatcher or
/// sling needs, and no `claude`.
pub fn path_without_claude() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let git = overstory_core::process::which("git").expect("git on PATH");
    std::os::unix::fs::symlink(git, dir.path().join("git")).unwrap();
    dir
}

/// Registers a headless session named `name` working in `root` (branch
/// `main`, task `task-<name>`) that runs on `runtime`.
pub fn register_headless(
    layout: &overstory_core::Layout,
    root: &Path,
    name: &str,
    capability: &str,
    parent: Option<&str>,
    state: overstory_sessions::AgentState,
    runtime: &str,
) {
    let mut s =
        overstory_sessions::Session::new(name.parse().unwrap(), capability.parse().unwrap());
    s.worktree_path = root.display().to_string();
    s.branch_name = "main".into();
    s.task_id = Some(format!("task-{name}").parse().unwrap());
    s.parent_agent = parent.map(|p| p.parse().unwrap());
    s.state = state;
    overstory_sessions::SessionStore::open(&layout.sessions_db())
        .unwrap()
        .upsert(&s)
        .unwrap();
    overstory_turn::factory::RuntimeChoice {
        runtime: runtime.into(),
        script: None,
    }
    .save(layout, &overstory_core::AgentName::new(name).unwrap())
    .unwrap();
}
