//! Shared test support for overstory's integration tests.
//!
//! - [`TempRepo`]: a real git repository in a temporary directory, with one
//!   commit on `main`, ready for `ov init`.
//! - [`TempDir`]: a temporary directory that is removed on drop (also while
//!   a test panics) together with every process still working in it, so
//!   tests leave nothing in `/tmp`.
//! - [`ov`]: a `Command` for the built `ov` binary with a clean environment.
//! - [`mock_api::MockApi`]: a local Anthropic Messages API whose replies each
//!   test scripts, so the real `claude` binary runs offline.
//! - [`require_claude`]: finds the `claude` binary, or skips loudly (and
//!   fails when `CI` is set).
//! - [`wait_until`], [`holds_within`] and [`wait_until_async`]: wait for a
//!   condition that a real process or another task makes true, up to a
//!   deadline.
//!
//! Used from `tests/` only (a dev-dependency), never from unit tests.
#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::print_stderr,
    clippy::missing_panics_doc,
    reason = "test support"
)]

mod deadline;
pub mod mock_api;
mod temp;

pub use deadline::{POLL_INTERVAL, holds_within, wait_until, wait_until_async};
pub use temp::{TempDir, processes_under, remove_tree_and_its_processes};

use std::path::{Path, PathBuf};
use std::process::Command;

/// A real git repository in a temporary directory.
#[derive(Debug)]
pub struct TempRepo {
    dir: TempDir,
}

impl TempRepo {
    /// Creates a repository on branch `main` with one commit holding `README.md`.
    pub fn new() -> Self {
        let dir = TempDir::with_prefix("ov-test-");
        let repo = Self { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.email", "test@example.invalid"]);
        repo.git(&["config", "user.name", "Overstory Test"]);
        repo.git(&["config", "commit.gpgsign", "false"]);
        std::fs::write(repo.path().join("README.md"), "# test repo\n").unwrap();
        repo.git(&["add", "README.md"]);
        repo.git(&["commit", "-q", "-m", "initial"]);
        repo
    }

    /// Returns the repository's root directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs git in the repository and returns trimmed stdout; panics on failure.
    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(self.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Default for TempRepo {
    fn default() -> Self {
        Self::new()
    }
}

/// Returns the path of the `ov` binary built for this test run.
///
/// Integration tests of `overstory-cli` get it from `CARGO_BIN_EXE_ov`; other
/// crates find it next to the test executable's `deps/` directory.
pub fn ov_path() -> PathBuf {
    if let Some(p) = option_env!("CARGO_BIN_EXE_ov") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap();
    let dir = if dir.ends_with("deps") {
        dir.parent().unwrap()
    } else {
        dir
    };
    dir.join("ov")
}

/// The Messages API address every `ov` under test sees unless a test points
/// it at a [`mock_api::MockApi`]: a closed port on this machine, so a real
/// `claude` started by accident (say, a dispatcher waking an agent that has
/// no recorded runtime) fails at once instead of reaching the network.
pub const NO_MODEL_URL: &str = "http://127.0.0.1:9";

/// Returns a command for `ov` running in `cwd`, with colour off, no
/// inherited overstory variables, and the model API pointed at
/// [`NO_MODEL_URL`] (override with `.env(...)` after this call).
pub fn ov(bin: &Path, cwd: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.current_dir(cwd)
        .env_remove("OVERSTORY_PROJECT_ROOT")
        .env_remove("OVERSTORY_AGENT_NAME")
        .env_remove("FORCE_COLOR")
        .env("NO_COLOR", "1")
        .env("ANTHROPIC_BASE_URL", NO_MODEL_URL)
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
    cmd
}

/// Returns the `claude` binary (`$OVERSTORY_TEST_CLAUDE`, else `claude` on
/// `PATH`), or `None` so the caller can skip, after a loud notice, when it is
/// missing or cannot run here: as root without `IS_SANDBOX=1`, Claude Code
/// refuses the bypassed permissions every headless agent runs with. With `CI`
/// set, a skip is a failure instead.
///
/// The notice is written straight to the process's stderr, not through
/// `eprintln!`: libtest captures the print macros of test threads (shown
/// only with `--nocapture` or on failure), but not writes to the stderr
/// handle, so a skip is visible under a plain `cargo test`.
pub fn require_claude(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("OVERSTORY_TEST_CLAUDE")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join("claude"))
                    .find(|p| p.is_file())
            })
        });
    let why = match &found {
        None => Some(
            "the real `claude` binary is not installed; install it with: npm install -g @anthropic-ai/claude-code",
        ),
        Some(_)
            if overstory_core::process::is_root()
                && !overstory_core::env::is_set(overstory_core::env::IS_SANDBOX) =>
        {
            Some(
                "running as root without IS_SANDBOX=1, where Claude Code refuses bypassed permissions; run the tests with IS_SANDBOX=1 (in a sandbox) or as a normal user",
            )
        }
        Some(_) => None,
    };
    let Some(why) = why else {
        return found;
    };
    skip_notice(&format!("SKIPPED {test}: {why}"));
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("{test}: cannot run the real `claude` in CI (CI is set): {why}");
    }
    None
}

/// Writes `text` as a framed notice to the real stderr, past libtest's
/// capture of the print macros (see [`require_claude`]).
pub fn skip_notice(text: &str) {
    use std::io::Write as _;
    let bar = "!".repeat(78);
    let framed = format!("\n{bar}\n!!! {text}\n{bar}\n");
    let _ = std::io::stderr().lock().write_all(framed.as_bytes());
}
