//! Category `watchdog` (chapter 07 §8): the daemon's pid file names a live
//! process, there is one daemon for this project, and the tier-1 and tier-2
//! settings have what they need.
//!
//! `ov watch` is being written beside this; these checks read only what it
//! leaves on disk (`.overstory/watchdog.pid`) and the process table.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use overstory_core::doctor::{Check, Finding, Fix};
use overstory_core::process;
use overstory_sessions::{RunMode, SessionStore};
use overstory_turn::host;

use super::Probe;
use crate::persistent::MONITOR;
use crate::tmux::Tmux;

const CATEGORY: &str = "watchdog";
const OLD_PID_FILE: Duration = Duration::from_secs(24 * 60 * 60);

pub(super) fn findings(p: &Probe<'_>) -> Vec<Finding> {
    let config = &p.config;
    if !config.watchdog.tier0_enabled {
        return vec![
            Check::pass(
                CATEGORY,
                "watchdog disabled",
                "watchdog.tier0Enabled is false: no watchdog checks",
            )
            .into(),
        ];
    }
    let layout = p.layout;
    let pid_file = layout.watchdog_pid();
    let mut out = vec![pid_file_finding(&pid_file)];
    if let Some(age) = std::fs::metadata(&pid_file)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        && age > OLD_PID_FILE
        && process::read_pid_file(&pid_file).is_some_and(process::is_alive)
    {
        out.push(
            Check::warn(
                CATEGORY,
                "watchdog pid staleness",
                format!(
                    "watchdog.pid is {} h old: if the daemon was not meant to run that long, restart it",
                    age.as_secs() / 3600
                ),
            )
            .into(),
        );
    }
    out.push(daemons(layout.root(), process::read_pid_file(&pid_file)));
    if config.watchdog.tier2_enabled {
        out.push(monitor_check(layout).into());
    }
    if config.watchdog.tier1_enabled {
        out.push(triage_check(config).into());
    }
    out
}

fn pid_file_finding(path: &Path) -> Finding {
    const NAME: &str = "watchdog process";
    let Ok(text) = std::fs::read_to_string(path) else {
        return Check::warn(
            CATEGORY,
            NAME,
            "The watchdog is not running (no .overstory/watchdog.pid): start it with ov watch --background, \
             or ov coordinator start --watchdog",
        )
        .into();
    };
    let Some(pid) = text.trim().parse::<i32>().ok().filter(|p| *p > 0) else {
        return Finding::fixable(
            Check::fail(
                CATEGORY,
                NAME,
                format!(
                    "watchdog.pid holds \"{}\", not a pid: run ov doctor --fix to remove it",
                    text.trim()
                ),
            ),
            vec![Fix::RemoveFile(path.to_owned())],
        );
    };
    if process::is_alive(pid) {
        Check::pass(CATEGORY, NAME, format!("The watchdog runs (pid {pid})")).into()
    } else {
        Finding::fixable(
            Check::warn(
                CATEGORY,
                NAME,
                format!(
                    "Stale watchdog.pid: pid {pid} is not running; run ov doctor --fix to remove it, \
                     then start the watchdog with ov watch --background"
                ),
            ),
            vec![Fix::RemoveFile(path.to_owned())],
        )
    }
}

/// `ov watch` processes of this project: those whose `--project` or
/// working directory is the project root.
fn daemons(root: &Path, owner: Option<i32>) -> Finding {
    const NAME: &str = "watchdog multi-daemon";
    let Some(found) = scan(root) else {
        return Check::pass(
            CATEGORY,
            NAME,
            "No process table to scan (/proc); a second watchdog is refused by its lock anyway",
        )
        .into();
    };
    if found.len() <= 1 {
        return Check::pass(CATEGORY, NAME, "At most one watchdog runs for this project").into();
    }
    let list: Vec<String> = found.iter().map(ToString::to_string).collect();
    // Keep the pid file's owner, else the oldest (lowest pid).
    let keep = owner.filter(|o| found.contains(o)).unwrap_or(found[0]);
    let extra: Vec<i32> = found.iter().copied().filter(|p| *p != keep).collect();
    Finding::fixable(
        Check::fail(
            CATEGORY,
            NAME,
            format!(
                "{} watchdogs run for this project (pids {}; watchdog.pid names {}): \
                 run ov doctor --fix to stop all but one",
                found.len(),
                list.join(", "),
                owner.map_or_else(|| "none".to_owned(), |o| o.to_string())
            ),
        ),
        extra
            .into_iter()
            .map(|pid| Fix::Terminate {
                pid,
                what: "extra watchdog".to_owned(),
            })
            .collect(),
    )
}

/// Pids of `ov watch` / `overstory watch` processes for `root`; `None`
/// without `/proc`.
fn scan(root: &Path) -> Option<Vec<i32>> {
    let entries = std::fs::read_dir("/proc").ok()?;
    let root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    let me = i32::try_from(std::process::id()).unwrap_or(-1);
    let mut found = Vec::new();
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(raw) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let argv: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let Some(program) = argv.first().map(|a| {
            Path::new(a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        }) else {
            continue;
        };
        if !(program == "ov" || program == "overstory")
            || !argv.iter().skip(1).any(|a| a == "watch")
        {
            continue;
        }
        let project: Option<PathBuf> = argv
            .iter()
            .position(|a| a == "--project")
            .and_then(|i| argv.get(i + 1))
            .map(PathBuf::from)
            .or_else(|| std::fs::read_link(e.path().join("cwd")).ok());
        let same = project
            .map(|p| p.canonicalize().unwrap_or(p))
            .is_some_and(|p| p == root);
        if same {
            found.push(pid);
        }
    }
    found.sort_unstable();
    Some(found)
}

fn monitor_check(layout: &overstory_core::Layout) -> Check {
    const NAME: &str = "tier2 monitor";
    let not_running =
        "watchdog.tier2Enabled is on but no monitor runs: start it with ov monitor start";
    let sessions_db = layout.sessions_db();
    if !sessions_db.is_file() {
        return Check::warn(CATEGORY, NAME, not_running);
    }
    match SessionStore::open(&sessions_db).and_then(|s| s.get(MONITOR.agent_name)) {
        Ok(Some(row)) if !row.state.is_terminal() => {
            let alive = match row.mode() {
                RunMode::Tmux => Tmux::default().is_alive(&row.tmux_session),
                _ => host::live_host(layout, &row.agent_name).is_some(),
            };
            if alive {
                Check::pass(
                    CATEGORY,
                    NAME,
                    format!("The monitor is {} (since {})", row.state, row.started_at),
                )
            } else {
                Check::warn(
                    CATEGORY,
                    NAME,
                    format!(
                        "The monitor's session is {} but its process is gone: \
                         restart it with ov monitor start (it reclaims the dead session)",
                        row.state
                    ),
                )
            }
        }
        Ok(_) => Check::warn(CATEGORY, NAME, not_running),
        Err(e) => Check::warn(
            CATEGORY,
            NAME,
            format!(
                "Cannot read the monitor's session ({}): see the databases category",
                overstory_core::error::chain_text(&e)
            ),
        ),
    }
}

/// Tier-1 triage runs the print-mode runtime: its program must exist.
fn triage_check(config: &overstory_core::Config) -> Check {
    const NAME: &str = "tier1 triage";
    let registry = overstory_runtime::registry::Registry::default();
    let name = config.runtime.print_command.as_deref();
    let runtime = match registry.get(name, Some(config), None) {
        Ok(r) => r,
        Err(e) => {
            return Check::warn(
                CATEGORY,
                NAME,
                format!(
                    "watchdog.tier1Enabled is on but the triage runtime cannot be resolved ({}): \
                     set runtime.printCommand to an installed runtime",
                    overstory_core::error::chain_text(&e)
                ),
            );
        }
    };
    let argv = runtime.print_command("ping", None);
    let Some(program) = argv.first() else {
        return Check::warn(
            CATEGORY,
            NAME,
            format!("Runtime \"{}\" has no print mode for triage", runtime.id()),
        );
    };
    let found = if Path::new(program).is_absolute() {
        Path::new(program).is_file()
    } else {
        process::which(program).is_some()
    };
    if found {
        Check::pass(
            CATEGORY,
            NAME,
            format!("Triage runs {program} (runtime {})", runtime.id()),
        )
    } else {
        Check::warn(
            CATEGORY,
            NAME,
            format!(
                "watchdog.tier1Enabled is on but {program} (runtime {}) is not installed: \
                 install it or set runtime.printCommand",
                runtime.id()
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use overstory_core::Layout;
    use overstory_core::doctor::CheckStatus;

    fn process_check(layout: &Layout) -> Finding {
        let probe = Probe::with_defaults(layout);
        findings(&probe)
            .into_iter()
            .find(|f| f.check.name == "watchdog process")
            .unwrap()
    }

    fn dead_pid() -> u32 {
        let mut child = process::command("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn the_pid_file_is_judged_by_its_content_and_process() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.dir()).unwrap();

        let none = process_check(&layout);
        assert_eq!(none.check.status, CheckStatus::Warn);
        assert!(none.check.message.contains("not running"));
        assert!(none.fixes.is_empty());

        std::fs::write(layout.watchdog_pid(), "garbage\n").unwrap();
        let bad = process_check(&layout);
        assert_eq!(bad.check.status, CheckStatus::Fail);
        assert!(matches!(bad.fixes[..], [Fix::RemoveFile(_)]));

        std::fs::write(layout.watchdog_pid(), format!("{}\n", dead_pid())).unwrap();
        let stale = process_check(&layout);
        assert_eq!(stale.check.status, CheckStatus::Warn);
        assert!(stale.check.message.starts_with("Stale watchdog.pid"));
        stale.fixes[0].apply().unwrap();
        assert!(!layout.watchdog_pid().exists());

        std::fs::write(layout.watchdog_pid(), format!("{}\n", std::process::id())).unwrap();
        let live = process_check(&layout);
        assert_eq!(live.check.status, CheckStatus::Pass);
    }

    #[test]
    fn tier_checks_appear_only_when_enabled() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let mut probe = Probe::with_defaults(&layout);
        let names = |p: &Probe<'_>| -> Vec<String> {
            findings(p).into_iter().map(|f| f.check.name).collect()
        };
        assert!(!names(&probe).iter().any(|n| n.starts_with("tier")));
        probe.config.watchdog.tier2_enabled = true;
        let monitor = findings(&probe)
            .into_iter()
            .find(|f| f.check.name == "tier2 monitor")
            .unwrap();
        assert_eq!(monitor.check.status, CheckStatus::Warn);
        assert!(monitor.check.message.contains("ov monitor start"));
        probe.config.watchdog.tier0_enabled = false;
        assert_eq!(names(&probe), ["watchdog disabled"]);
    }
}
