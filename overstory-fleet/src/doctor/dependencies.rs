//! Category `dependencies`: the programs overstory runs. Only git is
//! required; tmux (tmux-mode agents only), the runtime's CLI, the task
//! tracker and mulch warn when missing, since a project can work without
//! each of them.

use std::process::Stdio;
use std::time::{Duration, Instant};

use overstory_core::doctor::{Check, Finding};
use overstory_core::process;

use super::Probe;
use crate::groups::TrackerCli;

const CATEGORY: &str = "dependencies";

/// How long a `--version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) fn findings(p: &Probe<'_>) -> Vec<Finding> {
    let config = &p.config;
    let mut out = vec![tool(
        "git",
        true,
        "install git: worktrees, branches and merges all need it",
    )];
    out.push(tool(
        "tmux",
        false,
        "install tmux only if you run agents with --tmux (headless is the default)",
    ));
    match runtime_program(&config.runtime.default) {
        Some(bin) => out.push(tool(
            bin,
            false,
            &format!(
                "install the {bin} CLI: agents on runtime \"{}\" cannot start without it",
                config.runtime.default
            ),
        )),
        None => out.push(Check::pass(
            CATEGORY,
            "runtime",
            format!(
                "runtime \"{}\" needs no external program",
                config.runtime.default
            ),
        )),
    }
    let tracker = TrackerCli::for_project(p.layout.root(), &config.task_tracker.backend).program();
    if config.task_tracker.enabled {
        out.push(tool(
            tracker,
            false,
            "install the task tracker CLI, or set taskTracker.enabled: false",
        ));
    }
    if config.mulch.enabled {
        out.push(tool(
            "mulch",
            false,
            "install mulch (npm i -g @os-eco/mulch-cli), or set mulch.enabled: false",
        ));
    }
    out.push(
        match process::which("ov").or_else(|| process::which("overstory")) {
            Some(path) => Check::pass(
                CATEGORY,
                "ov",
                format!("ov is on PATH ({})", path.display()),
            ),
            None => Check::warn(
                CATEGORY,
                "ov",
                "ov is not on PATH: agents run `ov mail`, `ov status` and friends by name; \
             add the directory holding ov to PATH",
            ),
        },
    );
    out.into_iter().map(Finding::of).collect()
}

/// The program a runtime runs, when it runs one.
fn runtime_program(runtime: &str) -> Option<&str> {
    match runtime {
        "scripted" => None,
        other => Some(other),
    }
}

/// Checks that `program` is on PATH and answers `--version`.
fn tool(program: &str, required: bool, remedy: &str) -> Check {
    match process::which(program) {
        None if required => {
            Check::fail(CATEGORY, program, format!("{program} not found: {remedy}"))
        }
        None => Check::warn(CATEGORY, program, format!("{program} not found: {remedy}")),
        Some(path) => match version_of(&path) {
            Some(v) if v.contains(program) => Check::pass(CATEGORY, program, v),
            Some(v) => Check::pass(CATEGORY, program, format!("{program} {v}")),
            None => Check::warn(
                CATEGORY,
                program,
                format!(
                    "{} does not answer --version within {}s: reinstall it",
                    path.display(),
                    VERSION_TIMEOUT.as_secs()
                ),
            ),
        },
    }
}

/// Runs `<program> --version` (`-V` for tmux; bounded, the child's process
/// group is killed on timeout) and returns its first non-empty line.
pub(super) fn version_of(program: &std::path::Path) -> Option<String> {
    let flag = if program.file_name().is_some_and(|n| n == "tmux") {
        "-V"
    } else {
        "--version"
    };
    let mut child = process::command(program)
        .arg(flag)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + VERSION_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                if let Ok(pgid) = i32::try_from(child.id()) {
                    let _ = process::terminate_group(pgid, Duration::from_millis(200));
                }
                let _ = child.wait();
                return None;
            }
        }
    }
    let out = child.wait_with_output().ok()?;
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
}
