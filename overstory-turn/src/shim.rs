//! The turn shim: a small guardian between the runner and an agent process.
//!
//! A turn's agent (Claude Code, or the scripted agent) starts tool
//! subprocesses of its own. If the runner that owns the turn is killed with
//! SIGKILL it cannot clean up, and the original left those processes running
//! with a stale `turn.pid`. The shim closes that hole without `unsafe` code:
//!
//! 1. the runner starts `ov turn-shim --parent-pid <runner> -- <argv…>` as the
//!    leader of a new process group;
//! 2. the shim asks the kernel to send it SIGUSR2 when its parent dies
//!    (`PR_SET_PDEATHSIG`), then checks the parent has not already gone;
//! 3. it runs the agent in its own process group, with the shim's stdin,
//!    stdout and stderr (the runner's pipes) inherited as they are;
//! 4. when the parent dies, the shim kills the whole group with SIGKILL,
//!    itself included; when the agent exits, the shim exits with its status.
//!
//! SIGTERM, SIGINT and SIGHUP sent to the shim alone are forwarded to the
//! agent; sent to the group, the agent gets them directly and the shim keeps
//! waiting, so the runner's grace period before SIGKILL still applies.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt as _;

use overstory_core::process::{self, Sig};
use rustix::process::Signal;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR2};
use signal_hook::iterator::Signals;

/// The exit code the shim uses when it cannot start the agent.
pub const SPAWN_FAILED: i32 = 127;

/// Runs `argv` under the shim's guard and returns the exit code to exit with.
///
/// `parent_pid` is the runner's pid as the runner saw it; if the shim's
/// parent is already someone else, the runner died before the guard was in
/// place and the shim exits at once without starting anything.
pub fn run(parent_pid: i32, argv: &[OsString]) -> i32 {
    let Some((program, args)) = argv.split_first() else {
        tracing::error!("turn-shim: no command given");
        return SPAWN_FAILED;
    };
    // Catch the signals before arming the death signal, so its default
    // action (terminate) can never kill the shim without the group.
    let mut signals = match Signals::new([SIGUSR2, SIGTERM, SIGINT, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "turn-shim: cannot install signal handlers");
            return SPAWN_FAILED;
        }
    };
    if let Err(e) = rustix::process::set_parent_process_death_signal(Some(Signal::USR2)) {
        tracing::error!(error = %e, "turn-shim: cannot arm the parent-death signal");
        return SPAWN_FAILED;
    }
    let ppid = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get());
    if ppid != parent_pid {
        // The runner is already gone: nothing may be started on its behalf.
        return SPAWN_FAILED;
    }
    let mut child = match process::foreground_command(program).args(args).spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, program = ?program, "turn-shim: cannot start the agent");
            return SPAWN_FAILED;
        }
    };
    let child_pid = child.id() as i32;
    let own_group = rustix::process::getpgrp().as_raw_nonzero().get();
    let handle = signals.handle();
    let watcher = std::thread::spawn(move || {
        for sig in signals.forever() {
            match sig {
                SIGUSR2 => {
                    // The runner died: take the whole turn down with it.
                    let _ = process::signal_group(own_group, Sig::Kill);
                }
                SIGTERM => {
                    let _ = process::signal_process(child_pid, Sig::Term);
                }
                SIGINT => {
                    let _ = process::signal_process(child_pid, Sig::Int);
                }
                _ => {}
            }
        }
    });
    let status = child.wait();
    handle.close();
    let _ = watcher.join();
    match status {
        Ok(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)),
        Err(_) => SPAWN_FAILED,
    }
}
