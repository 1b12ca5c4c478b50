//! Waiting for a condition that another process or task makes true.
//!
//! Integration tests drive real processes (`ov`, dispatchers, tmux, the
//! scripted agent) and can only observe them through files, databases and
//! `/proc`. These helpers poll such a condition every [`POLL_INTERVAL`] until
//! it holds or a deadline passes, so a test waits exactly as long as it has
//! to, and a hang becomes a failure that says what never happened.
//!
//! Deadlines are measured on the wall clock, so they hold under tokio's
//! paused clock too. Logic that is itself about time (timeouts, watchdogs)
//! belongs on the paused clock, not here.

use std::time::{Duration, Instant};

/// How long the helpers wait between two checks of the condition.
pub const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Waits until `cond` holds, checking it every [`POLL_INTERVAL`]; panics
/// with "timed out after … waiting for {what}" when `timeout` passes first.
///
/// `cond` is checked once more at the deadline, so a condition that becomes
/// true while the last sleep runs still counts.
///
/// ```
/// use std::time::Duration;
/// let mut calls = 0;
/// overstory_testkit::wait_until(Duration::from_secs(5), "the third call", || {
///     calls += 1;
///     calls == 3
/// });
/// assert_eq!(calls, 3);
/// ```
///
/// # Panics
/// When `cond` still does not hold after `timeout`.
#[track_caller]
pub fn wait_until(timeout: Duration, what: &str, cond: impl FnMut() -> bool) {
    if !holds_within(timeout, cond) {
        panic!("timed out after {timeout:?} waiting for {what}");
    }
}

/// Returns whether `cond` holds within `timeout`, checking it every
/// [`POLL_INTERVAL`]; returns `false` at the deadline instead of panicking,
/// so the caller can report what it saw (logs, the processes still alive).
///
/// ```
/// use std::time::Duration;
/// assert!(!overstory_testkit::holds_within(Duration::from_millis(30), || false));
/// assert!(overstory_testkit::holds_within(Duration::ZERO, || true));
/// ```
pub fn holds_within(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Waits until `cond` holds, like [`wait_until`], but sleeps with
/// [`tokio::time::sleep`] so the tasks that make it true keep running on
/// the same runtime.
///
/// # Panics
/// When `cond` still does not hold after `timeout`.
///
/// # Cancel safety
/// Dropping the future only stops the polling; `cond` is never left half
/// run.
pub async fn wait_until_async(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_as_soon_as_the_condition_holds() {
        let started = Instant::now();
        let mut n = 0;
        wait_until(Duration::from_secs(10), "n to reach 2", || {
            n += 1;
            n >= 2
        });
        assert_eq!(n, 2);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    #[should_panic(expected = "waiting for the impossible")]
    fn panics_naming_what_it_waited_for() {
        wait_until(Duration::from_millis(20), "the impossible", || false);
    }

    #[test]
    fn checks_once_more_at_the_deadline() {
        let mut n = 0;
        assert!(holds_within(Duration::ZERO, || {
            n += 1;
            n == 1
        }));
        let mut n = 0;
        assert!(!holds_within(Duration::from_millis(15), || {
            n += 1;
            false
        }));
        assert!(n >= 2, "{n}");
    }

    #[tokio::test]
    async fn async_variant_lets_other_tasks_run() {
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let setter = flag.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            setter.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        wait_until_async(Duration::from_secs(10), "the flag", || {
            flag.load(std::sync::atomic::Ordering::SeqCst)
        })
        .await;
    }
}
