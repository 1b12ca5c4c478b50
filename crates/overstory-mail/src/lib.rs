//! The overstory mail bus (see issue 3; not implemented yet).
#![deny(missing_docs)]
