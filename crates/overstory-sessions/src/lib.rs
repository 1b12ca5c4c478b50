//! Agent sessions, runs and the state machine (see issue 4; not implemented yet).
#![deny(missing_docs)]
