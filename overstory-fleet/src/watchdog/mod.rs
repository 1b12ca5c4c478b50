//! The Tier 0 watchdog: notices stalled and dead agents and heals the
//! fleet, one tick at a time.
//!
//! # The model
//!
//! - [`health`]: the rules, a pure decision table from one session and
//!   what was probed about it ([`Probe`]) to a [`HealthCheck`] (proposed
//!   state and [`HealthAction`]).
//! - [`tick()`]: one pass over the project. It first runs the
//!   [reconciler](crate::reconcile), then probes every session that is not
//!   completed (tmux session only when the row names one; the row pid; the
//!   validated `turn.pid` of a spawn-per-turn agent; the newest event in
//!   `events.db`), applies the rules through the sessions compare-and-swap
//!   (recording a `state_change` event for each state it writes), climbs
//!   the escalation ladder for stalled agents (warn → a nudge *queued* as a
//!   turn → … → terminate), kills dead agents' process groups, sends
//!   `worker_died` to the parent once, and tells the coordinator when the
//!   current run's workers are all done.
//! - [`triage`]: Tier 1, a model's one-word verdict on a stalled agent.
//! - [`daemon`]: one daemon per project under an OS lock, its pid file,
//!   the sequential loop ([`run_daemon`]), and the tick lock
//!   ([`TickLock`]) every tick runs under, so ticks of one project never
//!   overlap (the daemon's and `ov watch --once`'s).
//!
//! # Caveats
//!
//! - A tick blocks (it may wait up to the kill grace per killed agent);
//!   call it from a plain thread or `spawn_blocking`.
//! - Zombies are not re-terminated: a zombie is only looked at again when
//!   something of it is alive (then it is reported, never killed).

pub mod daemon;
pub mod health;
mod tick;
pub mod triage;

pub use daemon::{DaemonLock, TickLock, run_daemon, running_pid, stop_on_signals, stop_running};
pub use health::{HealthAction, HealthCheck, Probe, Thresholds, Topology, evaluate};
pub use tick::{
    Escalation, SessionFailure, StateChange, TickReport, WatchdogMemory, WatchdogOptions,
    completion_message, stall_nudge_text, tick,
};
pub use triage::{TriageResult, Verdict, parse_verdict};
