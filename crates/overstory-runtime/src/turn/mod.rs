//! The turn runner: one headless user turn at a time per agent.

pub mod child;
pub mod lock;
pub mod shim;
