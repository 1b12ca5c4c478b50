//! The per-agent turn lock.
//!
//! At most one turn runs per agent at a time, across threads and processes.
//! The authority is an OS advisory lock (`flock`) on
//! `.overstory/agents/<name>/turn.lock`: the kernel releases it when the
//! holder's file is closed, including when the holder dies, so there is no
//! stale-lock guessing and no pid-reuse hazard. Because each acquisition
//! opens the file anew, two acquisitions in one process exclude each other
//! exactly like two processes do.
//!
//! The holder writes `<pid> <acquired_at>` into the file so [`read_turn_lock`]
//! can say who holds it, and empties it before letting go. The `flock` itself
//! is [`overstory_core::lockfile::FileLock`]; this module adds the agent's
//! path, the holder note, and waiting with a timeout. (The original kept a
//! `turn_locks` table in `turn-locks.db` as its lock; that lease is not used
//! or written here: it cost two database round trips per turn and decided
//! nothing.)

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use overstory_core::lockfile::{self, FileLock};
use overstory_core::{AgentName, FsError, Layout, clock};

/// How long [`acquire`] waits by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Taking or reading a turn lock failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TurnLockError {
    /// Another turn held the lock for the whole timeout.
    #[error("turn-lock: timed out after {}ms acquiring lock for \"{agent}\"{}", timeout.as_millis(), holder_note(*holder))]
    Timeout {
        /// The agent.
        agent: AgentName,
        /// How long we waited.
        timeout: Duration,
        /// The pid written by the holder, when readable.
        holder: Option<i32>,
    },
    /// The lock file could not be created, locked or written.
    #[error("Failed to take the turn lock of \"{agent}\"")]
    File {
        /// The agent.
        agent: AgentName,
        /// What failed, on which file.
        #[source]
        source: FsError,
    },
}

fn holder_note(holder: Option<i32>) -> String {
    holder.map_or_else(String::new, |p| format!(" (held by pid {p})"))
}

/// Who holds an agent's turn lock.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TurnLockInfo {
    /// The holder's pid, or `None` when the lock is free.
    pub held_by_pid: Option<i32>,
    /// When the holder took it (RFC 3339), or `None` when free.
    pub acquired_at: Option<String>,
}

/// A held turn lock. Dropping it releases the lock.
#[derive(Debug)]
pub struct TurnLock {
    agent: AgentName,
    path: PathBuf,
    lock: Option<FileLock>,
}

impl TurnLock {
    /// Returns the agent whose lock this is.
    pub fn agent(&self) -> &AgentName {
        &self.agent
    }

    /// Returns the lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Releases the lock. Idempotent; also done on drop.
    pub fn release(&mut self) {
        // The holder note is cleared while still holding the lock so a
        // reader never sees our pid on a free lock.
        if let Some(lock) = self.lock.take() {
            lock.release_clearing();
        }
    }
}

impl Drop for TurnLock {
    fn drop(&mut self) {
        self.release();
    }
}

/// Tries to take the lock without waiting. Returns `None` when it is held.
///
/// # Errors
/// [`TurnLockError::File`] when the lock file cannot be opened, locked or
/// written.
pub fn try_acquire(layout: &Layout, agent: &AgentName) -> Result<Option<TurnLock>, TurnLockError> {
    let file_error = |source| TurnLockError::File {
        agent: agent.clone(),
        source,
    };
    let path = layout.agent_turn_lock(agent);
    let Some(lock) = FileLock::try_acquire(&path).map_err(file_error)? else {
        return Ok(None);
    };
    let note = format!("{} {}\n", std::process::id(), clock::now_rfc3339());
    lock.write_note(&note).map_err(file_error)?;
    Ok(Some(TurnLock {
        agent: agent.clone(),
        path,
        lock: Some(lock),
    }))
}

/// Takes the lock, waiting up to `timeout` for the current holder.
///
/// Waiting polls with a short backoff (1 ms rising to 25 ms), so the call can
/// be abandoned at any point without leaving anything behind.
///
/// # Errors
/// [`TurnLockError::Timeout`] naming the holder's pid, or [`TurnLockError::File`].
pub fn acquire(
    layout: &Layout,
    agent: &AgentName,
    timeout: Duration,
) -> Result<TurnLock, TurnLockError> {
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(1);
    loop {
        if let Some(lock) = try_acquire(layout, agent)? {
            return Ok(lock);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(TurnLockError::Timeout {
                agent: agent.clone(),
                timeout,
                holder: read_turn_lock(layout, agent).held_by_pid,
            });
        }
        std::thread::sleep(delay.min(deadline - now));
        delay = (delay * 2).min(Duration::from_millis(25));
    }
}

/// Takes the lock from async code without blocking the executor.
///
/// # Errors
/// As [`acquire`].
///
/// # Cancel safety
/// Dropping the future before it completes never leaves the lock held.
pub async fn acquire_async(
    layout: &Layout,
    agent: &AgentName,
    timeout: Duration,
) -> Result<TurnLock, TurnLockError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut delay = Duration::from_millis(1);
    loop {
        if let Some(lock) = try_acquire(layout, agent)? {
            return Ok(lock);
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(TurnLockError::Timeout {
                agent: agent.clone(),
                timeout,
                holder: read_turn_lock(layout, agent).held_by_pid,
            });
        }
        tokio::time::sleep(delay.min(deadline - now)).await;
        delay = (delay * 2).min(Duration::from_millis(25));
    }
}

/// Reports who holds an agent's turn lock, without taking it for longer than
/// a probe.
pub fn read_turn_lock(layout: &Layout, agent: &AgentName) -> TurnLockInfo {
    let Some(note) = lockfile::holder_note(&layout.agent_turn_lock(agent)) else {
        return TurnLockInfo::default();
    };
    let mut parts = note.split_whitespace();
    TurnLockInfo {
        held_by_pid: parts.next().and_then(|p| p.parse().ok()),
        acquired_at: parts.next().map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};

    fn setup() -> (tempfile::TempDir, Layout, AgentName) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        (dir, layout, AgentName::new("builder-1").unwrap())
    }

    #[test]
    fn acquire_records_holder_pid_and_time() {
        let (_d, layout, agent) = setup();
        let lock = acquire(&layout, &agent, DEFAULT_TIMEOUT).unwrap();
        let info = read_turn_lock(&layout, &agent);
        assert_eq!(info.held_by_pid, Some(std::process::id() as i32));
        let at = info.acquired_at.unwrap();
        assert!(clock::parse_rfc3339(&at).is_some(), "{at}");
        let note = std::fs::read_to_string(lock.path()).unwrap();
        assert!(
            note.starts_with(&format!("{} ", std::process::id())),
            "{note}"
        );
        drop(lock);
    }

    #[test]
    fn release_twice_is_harmless_and_clears_holder() {
        let (_d, layout, agent) = setup();
        let mut lock = acquire(&layout, &agent, DEFAULT_TIMEOUT).unwrap();
        lock.release();
        lock.release();
        assert_eq!(read_turn_lock(&layout, &agent), TurnLockInfo::default());
        assert_eq!(
            std::fs::read_to_string(lock.path()).unwrap(),
            "",
            "holder note cleared"
        );
    }

    #[test]
    fn same_agent_acquisitions_never_overlap() {
        let (_d, layout, agent) = setup();
        let inside = Arc::new(AtomicUsize::new(0));
        let max_seen = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(4));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (layout, agent, inside, max_seen, start) = (
                    layout.clone(),
                    agent.clone(),
                    inside.clone(),
                    max_seen.clone(),
                    start.clone(),
                );
                std::thread::spawn(move || {
                    start.wait();
                    for _ in 0..10 {
                        let lock = acquire(&layout, &agent, DEFAULT_TIMEOUT).unwrap();
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        max_seen.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                        drop(lock);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(max_seen.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn different_agents_hold_locks_at_once() {
        let (_d, layout, _) = setup();
        let a = acquire(&layout, &AgentName::new("a").unwrap(), DEFAULT_TIMEOUT).unwrap();
        let b = try_acquire(&layout, &AgentName::new("b").unwrap()).unwrap();
        assert!(b.is_some(), "a lock on one agent must not block another");
        drop(a);
    }

    #[test]
    fn held_lock_times_out_naming_the_holder() {
        let (_d, layout, agent) = setup();
        let _held = acquire(&layout, &agent, DEFAULT_TIMEOUT).unwrap();
        let started = Instant::now();
        let err = acquire(&layout, &agent, Duration::from_millis(150)).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(150));
        let msg = err.to_string();
        assert!(msg.contains("timed out after 150ms"), "{msg}");
        assert!(
            msg.contains(&format!("held by pid {}", std::process::id())),
            "{msg}"
        );
    }

    #[test]
    fn lock_of_a_killed_holder_is_free_at_once() {
        // A real process (util-linux flock) holds the lock; SIGKILL it and the
        // kernel frees the lock with no stale-lock detection on our side.
        let (_d, layout, agent) = setup();
        let path = layout.agent_turn_lock(&agent);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "").unwrap();
        let mut child = overstory_core::process::command("flock")
            .arg(&path)
            .args(["sh", "-c", "echo locked; exec sleep 30"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("util-linux flock must be installed");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "locked");
        assert!(
            try_acquire(&layout, &agent).unwrap().is_none(),
            "held by the child"
        );
        overstory_core::process::signal_group(
            child.id() as i32,
            overstory_core::process::Sig::Kill,
        )
        .unwrap();
        child.wait().unwrap();
        // The grandchild holding the fd exits asynchronously; the kernel frees
        // the lock as soon as it is gone, which `acquire` observes.
        let lock = acquire(&layout, &agent, Duration::from_secs(5));
        assert!(lock.is_ok(), "the kernel must release a dead holder's lock");
    }
}
