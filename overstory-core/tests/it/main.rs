//! Integration tests of overstory-core, on real files.
#![allow(clippy::unwrap_used, reason = "tests")]

mod events;
mod tailer;
