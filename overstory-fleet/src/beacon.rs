//! Starting an interactive (tmux) agent after its pane exists: wait for the
//! TUI, deliver the beacon, and make sure it arrived.
//!
//! Sling creates the session with [`Tmux::create_session`], records the
//! session row (state `booting`, pid = pane pid) and only then calls
//! [`deliver_beacon`], so no keystroke can reach an agent that has no row.
//! On failure the caller marks the row `zombie` and rolls the worktree back.

use std::time::Duration;

use crate::tmux::{SessionState, Tmux, TmuxError};
use overstory_runtime::runtime::ReadyState;

/// The waits of [`deliver_beacon`].
///
/// The defaults: no shell delay, up to 30 s for the TUI polled every
/// 500 ms, 1 s to settle, follow-up Enters after 1, 1, 1 and 2 s, and up
/// to 5 checks 2 s apart.
#[derive(Debug, Clone)]
pub struct BeaconTiming {
    /// Wait before polling the pane (`runtime.shellInitDelayMs`).
    pub shell_init_delay: Duration,
    /// How long to wait for the TUI to become ready.
    pub ready_timeout: Duration,
    /// How often the pane is polled while waiting.
    pub poll: Duration,
    /// Pause between "ready" and typing the beacon, and after a resend.
    pub settle: Duration,
    /// Bare Enters sent after the beacon, each after waiting this long
    /// (some TUIs drop the first Enter while they redraw).
    pub follow_up_enters: Vec<Duration>,
    /// How many times the beacon is checked (and resent when the agent
    /// still sits idle at its prompt); 0 skips verification.
    pub verify_attempts: u32,
    /// Wait before each check.
    pub verify_wait: Duration,
}

impl Default for BeaconTiming {
    fn default() -> Self {
        Self {
            shell_init_delay: Duration::ZERO,
            ready_timeout: Duration::from_secs(30),
            poll: Duration::from_millis(500),
            settle: Duration::from_secs(1),
            follow_up_enters: [1, 1, 1, 2].map(Duration::from_secs).to_vec(),
            verify_attempts: 5,
            verify_wait: Duration::from_secs(2),
        }
    }
}

impl BeaconTiming {
    /// The defaults, with the project's `runtime.shellInitDelayMs`.
    pub fn from_config(config: &overstory_core::Config) -> Self {
        Self {
            shell_init_delay: Duration::from_millis(config.runtime.shell_init_delay_ms),
            ..Self::default()
        }
    }
}

/// Waits for the agent's TUI in session `name`, answering startup dialogs,
/// then types `beacon` and presses Enter, follows up with bare Enters, and
/// (when `timing.verify_attempts > 0`) resends the beacon while the pane
/// still shows an idle prompt. Returns once the agent is busy or the checks
/// are used up.
///
/// # Errors
/// [`TmuxError::NotReady`] when the TUI never became ready (the session is
/// killed first); [`TmuxError::DiedDuringStartup`] when the session went
/// away (with whether the whole tmux server was gone); send failures.
pub fn deliver_beacon(
    tmux: &Tmux,
    name: &str,
    beacon: &str,
    mut detect: impl FnMut(&str) -> ReadyState,
    timing: &BeaconTiming,
) -> Result<(), TmuxError> {
    std::thread::sleep(timing.shell_init_delay);
    let ready = tmux.wait_for_tui_ready(name, &mut detect, timing.ready_timeout, timing.poll);
    if !ready {
        return match tmux.check_state(name) {
            SessionState::Alive => {
                let _ = tmux.kill_session(name, Duration::from_secs(2));
                Err(TmuxError::NotReady {
                    name: name.to_owned(),
                    waited_ms: u64::try_from(timing.ready_timeout.as_millis()).unwrap_or(u64::MAX),
                })
            }
            state => Err(TmuxError::DiedDuringStartup {
                name: name.to_owned(),
                no_server: state == SessionState::NoServer,
            }),
        };
    }
    std::thread::sleep(timing.settle);
    tmux.send_keys(name, beacon, 3)?;
    for wait in &timing.follow_up_enters {
        std::thread::sleep(*wait);
        tmux.send_keys(name, "", 3)?;
    }
    for _ in 0..timing.verify_attempts {
        std::thread::sleep(timing.verify_wait);
        let pane = tmux.capture_pane(name, 50).unwrap_or_default();
        if !pane.is_empty() && detect(&pane) != ReadyState::Ready {
            // Busy (or anything but an idle prompt): the beacon arrived.
            return Ok(());
        }
        tmux.send_keys(name, beacon, 3)?;
        std::thread::sleep(timing.settle);
        tmux.send_keys(name, "", 3)?;
    }
    Ok(())
}
