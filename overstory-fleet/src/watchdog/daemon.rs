//! The watchdog daemon: one per project, ticking until told to stop.
//!
//! The authority is an OS lock on `.overstory/watchdog.lock`, so the
//! kernel frees it when the daemon dies (even by SIGKILL) and a second
//! daemon of the same project is refused while the first lives. The
//! holder writes its pid into the lock and into `.overstory/watchdog.pid`
//! (`<pid>\n`, the file other tools read) and removes the pid file when it
//! stops. A pid file left by a killed daemon is simply overwritten by the
//! next one (the lock, not the file, decides).
//!
//! [`run_daemon`] ticks one after another: it sleeps the interval *after*
//! each tick, so its own ticks never overlap however long one takes.
//!
//! Ticks of one project never overlap either, whoever runs them: every
//! tick — the daemon's and `ov watch --once`'s, which may run while a
//! daemon does — is run under the project's [`TickLock`] (an OS lock on
//! `.overstory/watchdog-tick.lock`, held for the tick's duration). The
//! daemon lock says who *the* daemon is; the tick lock says who ticks now.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use overstory_core::lockfile::{self, FileLock};
use overstory_core::{Config, FsError, Layout, process};

use super::tick::{TickReport, WatchdogMemory, WatchdogOptions, tick};
use crate::error::FleetError;

/// The held daemon lock of a project. Dropping it removes the pid file
/// (when it still names this process) and frees the lock.
#[derive(Debug)]
pub struct DaemonLock {
    lock: Option<FileLock>,
    layout: Layout,
}

impl DaemonLock {
    /// Takes the project's daemon lock for this process and writes the pid
    /// file. Returns `Err(pid)` with the running daemon's pid (when it can
    /// be read) if another process holds it.
    ///
    /// # Errors
    /// [`FsError`] when the lock or pid file cannot be written.
    pub fn try_acquire(layout: &Layout) -> Result<Result<Self, Option<i32>>, FsError> {
        let Some(lock) = FileLock::try_acquire(&layout.watchdog_lock())? else {
            return Ok(Err(running_pid(layout)));
        };
        lock.record_pid();
        overstory_core::fsio::write_atomic(
            &layout.watchdog_pid(),
            format!("{}\n", std::process::id()),
        )?;
        Ok(Ok(Self {
            lock: Some(lock),
            layout: layout.clone(),
        }))
    }
}

impl Drop for DaemonLock {
    fn drop(&mut self) {
        let own = i32::try_from(std::process::id()).ok();
        let path = self.layout.watchdog_pid();
        if process::read_pid_file(&path) == own {
            let _ = process::remove_pid_file(&path);
        }
        if let Some(lock) = self.lock.take() {
            lock.release_clearing();
        }
    }
}

/// The held tick lock of a project: whoever holds it is running a tick, so
/// no other tick of the project starts until it is dropped (or its holder
/// dies: the kernel frees the lock). The holder's pid is noted in the file.
#[derive(Debug)]
pub struct TickLock {
    lock: Option<FileLock>,
}

impl TickLock {
    /// Takes the project's tick lock, waiting up to `wait` for the tick
    /// that holds it to end (`Duration::MAX`: as long as it takes), and
    /// giving up early once `stop` is set. Returns `Err(pid)` with the
    /// holder's pid (when it can be read) if the lock is still held.
    ///
    /// # Errors
    /// [`FsError`] when the lock file cannot be created or locked.
    pub fn acquire(
        layout: &Layout,
        wait: Duration,
        stop: Option<&AtomicBool>,
    ) -> Result<Result<Self, Option<i32>>, FsError> {
        let path = layout.watchdog_tick_lock();
        let deadline = Instant::now().checked_add(wait);
        loop {
            if let Some(lock) = FileLock::try_acquire(&path)? {
                lock.record_pid();
                return Ok(Ok(Self { lock: Some(lock) }));
            }
            let stopped = stop.is_some_and(|s| s.load(Ordering::Relaxed));
            let now = Instant::now();
            if stopped || deadline.is_some_and(|d| now >= d) {
                return Ok(Err(lockfile::holder_pid(&path)));
            }
            let left = deadline.map_or(TICK_LOCK_POLL, |d| d - now);
            std::thread::sleep(left.min(TICK_LOCK_POLL));
        }
    }

    /// Returns the pid of the process running a tick of the project now,
    /// if one does (and its pid can be read).
    pub fn holder(layout: &Layout) -> Option<i32> {
        lockfile::holder_pid(&layout.watchdog_tick_lock())
    }
}

impl Drop for TickLock {
    fn drop(&mut self) {
        if let Some(lock) = self.lock.take() {
            lock.release_clearing();
        }
    }
}

/// How often a waiter looks whether the running tick has ended.
const TICK_LOCK_POLL: Duration = Duration::from_millis(20);

/// Returns the pid of the project's running daemon, if one runs (it holds
/// the lock; its pid comes from the lock, else the pid file).
pub fn running_pid(layout: &Layout) -> Option<i32> {
    let path = layout.watchdog_lock();
    if !path.is_file() {
        return None;
    }
    if let Some(pid) = lockfile::holder_pid(&path) {
        return Some(pid);
    }
    let held = matches!(FileLock::try_acquire(&path), Ok(None));
    held.then(|| process::read_pid_file(&layout.watchdog_pid()))
        .flatten()
}

/// Stops this project's running daemon (and only this project's): SIGTERM
/// to the lock holder, then SIGKILL if the lock is not free after `grace`.
/// Returns the pid that was stopped.
pub fn stop_running(layout: &Layout, grace: Duration) -> Option<i32> {
    let pid = running_pid(layout)?;
    if i64::from(pid) == i64::from(std::process::id()) {
        return None;
    }
    let _ = process::signal_process(pid, process::Sig::Term);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if running_pid(layout).is_none() {
            return Some(pid);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = process::signal_process(pid, process::Sig::Kill);
    let deadline = Instant::now() + Duration::from_secs(2);
    while running_pid(layout).is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = process::remove_pid_file(&layout.watchdog_pid());
    Some(pid)
}

/// Returns a flag that SIGTERM and SIGINT set, for [`run_daemon`]'s `stop`.
///
/// # Errors
/// The OS error when a handler cannot be installed.
pub fn stop_on_signals() -> std::io::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&flag))?;
    }
    Ok(flag)
}

/// Runs ticks until `stop` is set: a tick, then `interval` of sleep
/// (checked for `stop` every 50 ms), then the next. Each tick runs under
/// the project's [`TickLock`] (waiting, as long as it takes or until
/// `stop`, for a tick someone else runs). Each report goes to `on_tick`; a
/// tick that fails as a whole is reported to `on_error` and the loop goes
/// on.
///
/// The caller holds the [`DaemonLock`].
pub fn run_daemon(
    layout: &Layout,
    config: &Config,
    opts: &WatchdogOptions,
    interval: Duration,
    stop: &AtomicBool,
    mut on_tick: impl FnMut(&TickReport),
    mut on_error: impl FnMut(&FleetError),
) {
    let mut memory = WatchdogMemory::default();
    while !stop.load(Ordering::Relaxed) {
        match TickLock::acquire(layout, Duration::MAX, Some(stop)) {
            Ok(Ok(_ticking)) => match tick(layout, config, opts, &mut memory) {
                Ok(report) => on_tick(&report),
                Err(e) => on_error(&e),
            },
            // Only `stop` ends an unbounded wait.
            Ok(Err(_)) => break,
            Err(e) => on_error(&FleetError::Fs(e)),
        }
        let until = Instant::now() + interval;
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now >= until {
                break;
            }
            std::thread::sleep((until - now).min(Duration::from_millis(50)));
        }
    }
}
