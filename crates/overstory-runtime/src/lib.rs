//! How overstory agents run (see issues 5–7; not implemented yet).
#![deny(missing_docs)]

pub mod turn;
