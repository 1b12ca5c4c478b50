//! The shape of one `ov doctor` check, shared by every crate that reports on
//! its own part of a project.
//!
//! Each crate that owns a part (fleet, merge, serve, …) returns its checks as
//! [`Check`] values; the CLI concatenates them, prints them and exits non-zero
//! when any has [`CheckStatus::Fail`].
//!
//! ```
//! use overstory_core::doctor::{Check, CheckStatus};
//!
//! let c = Check::fail("databases", "mail.db", "mail.db is not a database: restore it or run `ov clean --mail`");
//! assert_eq!(c.status, CheckStatus::Fail);
//! assert_eq!(serde_json::to_value(&c).unwrap()["status"], "fail");
//! ```

use serde::{Deserialize, Serialize};

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// Nothing to do.
    Pass,
    /// Works, but something deserves attention.
    Warn,
    /// Broken: `ov doctor` exits non-zero.
    Fail,
}

impl CheckStatus {
    /// The wire string: `pass`, `warn` or `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "fail",
        }
    }
}

/// One check's result, as `ov doctor --json` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The category, one of the original's thirteen (`dependencies`,
    /// `structure`, `config`, `databases`, `consistency`, `agents`, `merge`,
    /// `logs`, `version`, `ecosystem`, `providers`, `watchdog`, `serve`).
    pub category: String,
    /// A short name for what was checked.
    pub name: String,
    /// How it ended.
    pub status: CheckStatus,
    /// What was found and, unless it passed, what to do about it.
    pub message: String,
    /// Whether `ov doctor --fix` repaired what this check found.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fixed: bool,
}

impl Check {
    fn new(category: &str, name: &str, status: CheckStatus, message: impl Into<String>) -> Check {
        Check {
            category: category.to_owned(),
            name: name.to_owned(),
            status,
            message: message.into(),
            fixed: false,
        }
    }

    /// A check that passed.
    pub fn pass(category: &str, name: &str, message: impl Into<String>) -> Check {
        Check::new(category, name, CheckStatus::Pass, message)
    }

    /// A check that warns.
    pub fn warn(category: &str, name: &str, message: impl Into<String>) -> Check {
        Check::new(category, name, CheckStatus::Warn, message)
    }

    /// A check that failed.
    pub fn fail(category: &str, name: &str, message: impl Into<String>) -> Check {
        Check::new(category, name, CheckStatus::Fail, message)
    }
}
