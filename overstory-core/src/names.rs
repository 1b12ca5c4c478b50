//! Validated names: the only way a user-supplied agent name, task id or
//! branch name enters the program.
//!
//! Every name is checked once, at the edge, before any path, git ref, tmux
//! target or SQL row is built from it. The rules are strict enough that a
//! valid name joined onto a directory can never leave that directory and can
//! never be mistaken for a command-line option.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// The longest agent name accepted, in bytes.
pub const MAX_AGENT_NAME_LEN: usize = 64;
/// The longest task id accepted, in bytes.
pub const MAX_TASK_ID_LEN: usize = 128;
/// The longest branch name accepted, in bytes.
pub const MAX_BRANCH_NAME_LEN: usize = 255;

/// Checks the rules every kind of name shares and returns the reason it fails.
fn common_problem(value: &str, max: usize) -> Option<String> {
    if value.is_empty() {
        return Some("must not be empty".into());
    }
    if value.len() > max {
        return Some(format!("must be at most {max} bytes long"));
    }
    if value.starts_with('-') {
        return Some("must not start with '-'".into());
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Some(format!("must not contain control characters (found {c:?})"));
    }
    if value.chars().any(char::is_whitespace) {
        return Some("must not contain whitespace".into());
    }
    if value.contains("..") {
        return Some("must not contain '..'".into());
    }
    if value.contains('\\') {
        return Some("must not contain '\\'".into());
    }
    None
}

fn invalid(field: &'static str, value: &str, reason: String) -> ValidationError {
    ValidationError::InvalidName {
        field,
        value: value.to_owned(),
        reason,
    }
}

macro_rules! name_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Returns the name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Returns the owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<std::path::Path> for $name {
            fn as_ref(&self) -> &std::path::Path {
                std::path::Path::new(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::new(&s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ValidationError;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl rusqlite::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                self.0.to_sql()
            }
        }

        /// Reading a column validates it: a row another program wrote with
        /// an invalid value is a conversion error naming the value.
        impl rusqlite::types::FromSql for $name {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                let text = value.as_str()?;
                Self::new(text).map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_type! {
    /// An agent's name, such as `builder-overstory-2f10` or `coordinator`.
    ///
    /// Accepted: 1 to 64 ASCII letters, digits, `_` and `-`, not starting with
    /// `-` (the rule the original's `ov doctor` applies to identities). Such a
    /// name is a single path component, a safe git ref component, and a safe
    /// tmux target.
    ///
    /// ```
    /// use overstory_core::AgentName;
    /// assert!(AgentName::new("builder-1").is_ok());
    /// assert!(AgentName::new("../etc").is_err());
    /// assert!(AgentName::new("-rf").is_err());
    /// ```
    AgentName
}

impl AgentName {
    /// Validates `value` as an agent name.
    ///
    /// # Errors
    /// Returns [`ValidationError::InvalidName`] with field `name` saying which rule failed.
    pub fn new(value: &str) -> Result<Self, ValidationError> {
        if let Some(reason) = common_problem(value, MAX_AGENT_NAME_LEN) {
            return Err(invalid("name", value, reason));
        }
        if let Some(c) = value
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            return Err(invalid(
                "name",
                value,
                format!("may contain only letters, digits, '_' and '-' (found {c:?})"),
            ));
        }
        Ok(Self(value.to_owned()))
    }
}

name_type! {
    /// A task id, such as `overstory-2f10` or `PROJ-12.3`.
    ///
    /// Accepted: 1 to 128 bytes from `[A-Za-z0-9._-]`, starting with a letter or
    /// digit, with no `..` and no trailing `.lock` (a git-ref-safe set). A task
    /// id is used as a file name under `.overstory/specs/` and inside branch
    /// names, so it can never contain a path separator.
    ///
    /// ```
    /// use overstory_core::TaskId;
    /// assert!(TaskId::new("overstory-2f10").is_ok());
    /// assert!(TaskId::new("a/b").is_err());
    /// ```
    TaskId
}

impl TaskId {
    /// Validates `value` as a task id.
    ///
    /// # Errors
    /// Returns [`ValidationError::InvalidName`] with field `taskId` saying which rule failed.
    pub fn new(value: &str) -> Result<Self, ValidationError> {
        if let Some(reason) = common_problem(value, MAX_TASK_ID_LEN) {
            return Err(invalid("taskId", value, reason));
        }
        let first_ok = value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        if !first_ok {
            return Err(invalid(
                "taskId",
                value,
                "must start with a letter or digit".into(),
            ));
        }
        if let Some(c) = value
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(invalid(
                "taskId",
                value,
                format!("may contain only letters, digits, '.', '_' and '-' (found {c:?})"),
            ));
        }
        if value.ends_with(".lock") || value.ends_with('.') {
            return Err(invalid(
                "taskId",
                value,
                "must not end with '.lock' or '.'".into(),
            ));
        }
        Ok(Self(value.to_owned()))
    }
}

name_type! {
    /// A git branch name, such as `main`, `release/1.2` or `overstory/builder-1/task-9`.
    ///
    /// Branch names may contain `/` between components (they are refs, not
    /// paths on their own), but every component obeys git's ref rules: no
    /// empty component, none starting with `.` or `-`, no `..`, no `.lock`
    /// suffix, no whitespace, control characters or any of `~^:?*[\`, and no
    /// `@{`.
    ///
    /// ```
    /// use overstory_core::BranchName;
    /// assert!(BranchName::new("release/1.2").is_ok());
    /// assert!(BranchName::new("--force").is_err());
    /// assert!(BranchName::new("a//b").is_err());
    /// ```
    BranchName
}

impl BranchName {
    /// Validates `value` as a branch name.
    ///
    /// # Errors
    /// Returns [`ValidationError::InvalidName`] with field `branch` saying which rule failed.
    pub fn new(value: &str) -> Result<Self, ValidationError> {
        if let Some(reason) = common_problem(value, MAX_BRANCH_NAME_LEN) {
            return Err(invalid("branch", value, reason));
        }
        if let Some(c) = value
            .chars()
            .find(|c| matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\u{7f}'))
        {
            return Err(invalid("branch", value, format!("must not contain {c:?}")));
        }
        if value.contains("@{") || value == "@" {
            return Err(invalid("branch", value, "must not contain '@{'".into()));
        }
        for component in value.split('/') {
            if component.is_empty() {
                return Err(invalid(
                    "branch",
                    value,
                    "must not have empty components (leading, trailing or doubled '/')".into(),
                ));
            }
            if component.starts_with('.') || component.starts_with('-') {
                return Err(invalid(
                    "branch",
                    value,
                    "components must not start with '.' or '-'".into(),
                ));
            }
            if component.ends_with(".lock") || component.ends_with('.') {
                return Err(invalid(
                    "branch",
                    value,
                    "components must not end with '.lock' or '.'".into(),
                ));
            }
        }
        Ok(Self(value.to_owned()))
    }

    /// The prefix of every agent branch.
    pub const AGENT_PREFIX: &'static str = "overstory/";

    /// Returns the branch an agent works on: `overstory/<agent>/<task>`.
    pub fn for_agent(agent: &AgentName, task: &TaskId) -> Self {
        // Both parts are validated single components, so the result is valid.
        Self(format!("{}{agent}/{task}", Self::AGENT_PREFIX))
    }

    /// Returns whether `branch` is an agent branch (`overstory/…`).
    pub fn is_agent_branch(branch: &str) -> bool {
        branch.starts_with(Self::AGENT_PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::{Component, Path};

    #[test]
    fn agent_name_accepts_typical_names() {
        for n in [
            "builder",
            "builder-2",
            "lead_overstory-2f10",
            "A9",
            "coordinator",
        ] {
            assert!(AgentName::new(n).is_ok(), "{n}");
        }
    }

    #[test]
    fn agent_name_rejects_each_bad_shape_with_a_reason() {
        let cases = [
            ("", "empty"),
            ("a/b", "only letters"),
            ("..", "'..'"),
            ("a b", "whitespace"),
            ("a\tb", "control"),
            ("-x", "start with '-'"),
            ("a.b", "only letters"),
            ("\u{1b}[31m", "control"),
        ];
        for (value, needle) in cases {
            let err = AgentName::new(value).unwrap_err();
            assert!(err.to_string().contains(needle), "{value:?}: {err}");
            assert_eq!(err.field(), Some("name"));
        }
        let long = "a".repeat(MAX_AGENT_NAME_LEN + 1);
        assert!(AgentName::new(&long).is_err());
        assert!(AgentName::new(&"a".repeat(MAX_AGENT_NAME_LEN)).is_ok());
    }

    #[test]
    fn task_id_rules() {
        assert!(TaskId::new("overstory-2f10").is_ok());
        assert!(TaskId::new("v1.2.3").is_ok());
        for bad in [
            "", ".hidden", "a/b", "a..b", "x.lock", "a b", "_x", "a\\b", "-a",
        ] {
            assert!(TaskId::new(bad).is_err(), "{bad:?}");
        }
        assert_eq!(TaskId::new("a/b").unwrap_err().field(), Some("taskId"));
    }

    #[test]
    fn branch_rules() {
        for ok in ["main", "release/x", "overstory/b-1/t-2", "feature/ABC_1.2"] {
            assert!(BranchName::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "-f", "a//b", "/a", "a/", "a..b", "a.lock", "x/.y", "a b", "a~1", "a^", "a:b",
            "a@{1}", "@", "a\nb", "a/-b",
        ] {
            assert!(BranchName::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn agent_branch_is_valid() {
        let a = AgentName::new("builder-1").unwrap();
        let t = TaskId::new("task.9").unwrap();
        let b = BranchName::for_agent(&a, &t);
        assert_eq!(b.as_str(), "overstory/builder-1/task.9");
        assert!(BranchName::new(b.as_str()).is_ok());
    }

    #[test]
    fn names_deserialize_with_validation() {
        let ok: AgentName = serde_json::from_str("\"scout-1\"").unwrap();
        assert_eq!(ok, "scout-1");
        assert!(serde_json::from_str::<AgentName>("\"../x\"").is_err());
    }

    fn stays_inside(name: &str) -> bool {
        let base = Path::new("/p/.overstory/agents");
        let joined = base.join(name);
        joined.starts_with(base)
            && joined.components().count() == base.components().count() + 1
            && Path::new(name)
                .components()
                .all(|c| matches!(c, Component::Normal(_)))
    }

    proptest! {
        #[test]
        fn accepted_agent_names_never_escape_or_look_like_options(s in "\\PC{0,80}|[-./a-z\\\\ ]{0,10}") {
            if let Ok(n) = AgentName::new(&s) {
                prop_assert!(stays_inside(n.as_str()));
                prop_assert!(!n.as_str().starts_with('-'));
                prop_assert!(!n.as_str().chars().any(|c| c.is_whitespace() || c.is_control()));
            }
        }

        #[test]
        fn accepted_task_ids_never_escape_or_look_like_options(s in "\\PC{0,80}|[-./a-z\\\\ ]{0,10}") {
            if let Ok(t) = TaskId::new(&s) {
                prop_assert!(stays_inside(t.as_str()));
                prop_assert!(!t.as_str().starts_with('-'));
                let spec = format!("{}.md", t.as_str());
                prop_assert!(stays_inside(&spec));
            }
        }

        #[test]
        fn accepted_branches_never_look_like_options(s in "\\PC{0,80}|[-./a-z@{}]{0,12}") {
            if let Ok(b) = BranchName::new(&s) {
                prop_assert!(!b.as_str().starts_with('-'));
                prop_assert!(!b.as_str().contains(".."));
                prop_assert!(b.as_str().split('/').all(|c| !c.is_empty() && !c.starts_with('-')));
            }
        }

        #[test]
        fn valid_agent_name_shapes_are_accepted(s in "[A-Za-z0-9_][A-Za-z0-9_-]{0,63}") {
            prop_assert!(AgentName::new(&s).is_ok());
        }
    }
}
