//! `ov watch`: the Tier 0 watchdog daemon (or one tick with `--once`).
//!
//! One daemon per project, held by an OS lock (`.overstory/watchdog.lock`);
//! its pid is in `.overstory/watchdog.pid` while it runs. SIGTERM and SIGINT
//! stop it after the current tick and remove the pid file. `--background`
//! starts a detached copy (a new session, no terminal) that logs to
//! `.overstory/logs/watchdog.log`. Every tick runs under the project's tick
//! lock (`.overstory/watchdog-tick.lock`), so `--once` may run beside a
//! daemon: it waits (bounded by `--wait`) for the daemon's tick to end.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use overstory_core::{Layout, process};
use overstory_fleet::watchdog::{
    self, DaemonLock, HealthAction, HealthCheck, TickLock, TickReport, WatchdogMemory,
    WatchdogOptions,
};
use serde_json::json;

use crate::context::Context;
use crate::error::CliError;
use crate::output::{self, Output};

/// The arguments of `ov watch` (its help text is on `Command::Watch`).
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Milliseconds between ticks [default: watchdog.tier0IntervalMs, 30000]
    #[arg(long, value_name = "MS")]
    pub interval: Option<u64>,
    /// Run detached in a new session, logging to .overstory/logs/watchdog.log
    #[arg(long, conflicts_with = "once")]
    pub background: bool,
    /// Stop this project's running watchdog first (other projects' are never touched)
    #[arg(long)]
    pub kill_others: bool,
    /// Run one tick and exit (also while a daemon runs)
    #[arg(long)]
    pub once: bool,
    /// With --once: milliseconds to wait for a tick in progress to end
    #[arg(long, value_name = "MS", requires = "once", default_value_t = 60_000)]
    pub wait: u64,
    /// Internal: the detached child started by --background
    #[arg(long, hide = true)]
    pub detached: bool,
}

/// Runs `ov watch`.
pub fn run(ctx: &Context, args: WatchArgs) -> Result<Output, CliError> {
    let layout = ctx.layout()?;
    let config = ctx.config()?;
    let interval_ms = args.interval.unwrap_or(config.watchdog.tier0_interval_ms);
    if interval_ms == 0 {
        return Err(CliError::validation(
            "--interval must be a positive number of milliseconds",
        ));
    }
    if !args.once && !config.watchdog.tier0_enabled {
        return Err(CliError::with_code(
            "WATCHDOG_ERROR",
            "The Tier 0 watchdog is disabled",
        )
        .hint("Set watchdog.tier0Enabled: true in .overstory/config.yaml, or run 'ov watch --once'"));
    }
    let mut killed = Vec::new();
    if args.kill_others
        && let Some(pid) = watchdog::stop_running(&layout, Duration::from_secs(2))
    {
        killed.push(pid);
        if !ctx.json {
            output::print_raw(&format!("Killed the running watchdog (PID: {pid})\n"));
        }
    }
    let ov = ctx.ov_exe()?;
    let opts = WatchdogOptions::from_config(&config, Some(ov.clone()));
    if args.background && !args.detached {
        return start_background(&layout, &ov, interval_ms, killed);
    }
    if args.detached {
        // Best effort: without a new session the daemon still runs.
        let _ = process::detach_session();
    }
    if args.once {
        let ticking = tick_lock(&layout, Duration::from_millis(args.wait))?;
        let report = watchdog::tick(&layout, &config, &opts, &mut WatchdogMemory::default())?;
        drop(ticking);
        let text = report_lines(&report);
        return Ok(Output::new("watch")
            .data_of(&report)?
            .raw(if text.is_empty() {
                "No sessions to check".to_owned()
            } else {
                text
            }));
    }
    let lock = match DaemonLock::try_acquire(&layout)? {
        Ok(lock) => lock,
        Err(pid) => return Err(already_running(pid)),
    };
    let stop = watchdog::stop_on_signals()
        .map_err(|e| CliError::new("Failed to install the signal handlers").caused_by(e))?;
    let pid = std::process::id();
    if ctx.json {
        output::print_raw(&output::envelope_line(
            "watch",
            &json!({"pid": pid, "intervalMs": interval_ms, "mode": "foreground"}),
        ));
    } else {
        output::print_raw(&format!(
            "Watchdog running (PID: {pid})\n  interval: {interval_ms}ms\n  Press Ctrl+C to stop.\n"
        ));
    }
    let json = ctx.json;
    watchdog::run_daemon(
        &layout,
        &config,
        &opts,
        Duration::from_millis(interval_ms),
        &stop,
        |report| {
            let text = if json {
                output::envelope_line("watch", &json!({ "tick": report }))
            } else {
                let mut t = report_lines(report);
                if !t.is_empty() {
                    t.push('\n');
                }
                t
            };
            if !text.is_empty() {
                output::print_raw(&text);
            }
        },
        |e| output::eprint_line(&format!("[watchdog] tick failed: {e}")),
    );
    drop(lock);
    Ok(Output::new("watch")
        .field("stopped", true)
        .raw("Watchdog stopped."))
}

/// Takes the project's tick lock for `--once`: at once when no tick runs,
/// else after saying so on stderr and waiting up to `wait` for it to end.
fn tick_lock(layout: &Layout, wait: Duration) -> Result<TickLock, CliError> {
    let busy = match TickLock::acquire(layout, Duration::ZERO, None)? {
        Ok(lock) => return Ok(lock),
        Err(pid) => pid,
    };
    let who = busy.map_or_else(String::new, |p| format!(" (PID {p})"));
    output::eprint_line(&format!(
        "Waiting up to {}ms for the watchdog tick in progress{who} to finish…",
        wait.as_millis()
    ));
    match TickLock::acquire(layout, wait, None)? {
        Ok(lock) => Ok(lock),
        Err(pid) => {
            let shown = pid.map_or_else(|| "unknown".to_owned(), |p| p.to_string());
            Err(CliError::with_code(
                "WATCHDOG_ERROR",
                format!(
                    "Another watchdog tick of this project is still running after {}ms",
                    wait.as_millis()
                ),
            )
            .field(
                "pid",
                pid.map_or(serde_json::Value::Null, serde_json::Value::from),
            )
            .hint(format!(
                "PID {shown} holds {}; try again later, or wait longer with --wait <ms>",
                layout.watchdog_tick_lock().display()
            )))
        }
    }
}

fn already_running(pid: Option<i32>) -> CliError {
    let shown = pid.map_or_else(|| "unknown".to_owned(), |p| p.to_string());
    CliError::with_code("WATCHDOG_ERROR", "Watchdog already running")
        .field("running", true)
        .field(
            "pid",
            pid.map_or(serde_json::Value::Null, serde_json::Value::from),
        )
        .hint(format!(
            "PID {shown} holds it; stop it first or run 'ov watch --kill-others'"
        ))
}

/// Starts the detached daemon and waits until it holds the lock.
fn start_background(
    layout: &Layout,
    ov: &PathBuf,
    interval_ms: u64,
    killed: Vec<i32>,
) -> Result<Output, CliError> {
    if let Some(pid) = watchdog::running_pid(layout) {
        return Err(already_running(Some(pid)));
    }
    let log_path = layout.watchdog_log();
    let log = log_path
        .parent()
        .map(std::fs::create_dir_all)
        .transpose()
        .and_then(|_| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
        })
        .map_err(|e| {
            CliError::new(format!("Failed to open \"{}\"", log_path.display())).caused_by(e)
        })?;
    let err_log = log
        .try_clone()
        .map_err(|e| CliError::new("Failed to open the watchdog log").caused_by(e))?;
    // Not a group leader, so the child can start its own session.
    let mut child = process::foreground_command(ov)
        .arg("watch")
        .arg("--detached")
        .arg("--interval")
        .arg(interval_ms.to_string())
        .arg("--project")
        .arg(layout.root())
        .env_remove(overstory_core::env::PROJECT_ROOT)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err_log))
        .spawn()
        .map_err(|e| CliError::new("Failed to start the background watchdog").caused_by(e))?;
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if watchdog::running_pid(layout) == i32::try_from(pid).ok() {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(CliError::with_code(
                "WATCHDOG_ERROR",
                format!("The background watchdog exited at start ({status})"),
            )
            .hint(format!("See {}", log_path.display())));
        }
        if Instant::now() >= deadline {
            let _ = process::signal_process(i32::try_from(pid).unwrap_or(0), process::Sig::Term);
            return Err(CliError::with_code(
                "WATCHDOG_ERROR",
                "The background watchdog did not start within 10s",
            )
            .hint(format!("See {}", log_path.display())));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid_file = layout.watchdog_pid();
    let mut out = Output::new("watch")
        .field("pid", pid)
        .field("intervalMs", interval_ms)
        .field("pidFile", pid_file.to_string_lossy().into_owned())
        .field("logFile", log_path.to_string_lossy().into_owned())
        .success(format!(
            "Watchdog started in background — PID: {pid}, interval: {interval_ms}ms"
        ))
        .hint(format!("PID file: {}", pid_file.display()));
    if !killed.is_empty() {
        out = out.field("killed", killed);
    }
    Ok(out)
}

/// One line per health check that calls for something (`[HH:MM:SS] <icon>
/// <agent>: <state> (tmux=…, pid=…) [<note>]`; healthy agents are counted,
/// not listed, so a background log stays small), then what the reconciler
/// did, errors and warnings.
fn report_lines(report: &TickReport) -> String {
    let mut lines: Vec<String> = report
        .checks
        .iter()
        .filter(|c| c.action != HealthAction::None || c.reconciliation_note.is_some())
        .map(check_line)
        .collect();
    if !report.checks.is_empty() {
        let time = report.timestamp.get(11..19).unwrap_or(&report.timestamp);
        lines.push(format!(
            "[{time}] {} session(s) checked, {} state change(s)",
            report.checks.len(),
            report.changes.len()
        ));
    }
    if let Some(r) = &report.reconcile {
        lines.extend(r.actions.iter().map(|a| {
            let status = if a.applied { "fixed" } else { "found" };
            format!("[reconcile] {status}: {}", a.detail)
        }));
    }
    lines.extend(
        report
            .errors
            .iter()
            .map(|e| format!("[error] {}: {}", e.agent_name, e.error)),
    );
    lines.extend(report.warnings.iter().cloned());
    lines.join("\n")
}

fn check_line(c: &HealthCheck) -> String {
    let icon = match c.action {
        HealthAction::Terminate => "x",
        HealthAction::Escalate => "!",
        HealthAction::Investigate => ">",
        HealthAction::Complete => "✓",
        HealthAction::None => "·",
    };
    let time = c.timestamp.get(11..19).unwrap_or(&c.timestamp);
    let pid = match c.pid_alive {
        Some(true) => "up",
        Some(false) => "down",
        None => "n/a",
    };
    let tmux = if c.tmux_alive { "up" } else { "down" };
    let note = c
        .reconciliation_note
        .as_ref()
        .map(|n| format!(" [{n}]"))
        .unwrap_or_default();
    format!(
        "[{time}] {icon} {}: {} (tmux={tmux}, pid={pid}){note}",
        c.agent_name, c.state
    )
}
