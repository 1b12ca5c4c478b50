//! Group addresses (`@all`, `@builders`, …) and the roster they resolve against.
//!
//! The mail bus does not read `sessions.db` itself: the caller passes a
//! [`Roster`], a snapshot of the known agents (name, capability, state,
//! parent) in session start order. This keeps `overstory-mail` independent
//! of `overstory-sessions`.

use overstory_core::Capability;

use crate::error::{EmptyGroupReason, MailError};

/// One agent the caller knows about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    /// The agent's name as stored in its session (`builder-1`).
    pub name: String,
    /// Its capability as stored (free text, normally `builder`, `scout`, …).
    pub capability: String,
    /// Its session state as stored (`booting`, `working`, `stalled`,
    /// `completed`, `zombie`).
    pub state: String,
    /// The agent that spawned it, if any.
    pub parent: Option<String>,
}

impl RosterEntry {
    /// Builds an entry with no parent.
    pub fn new(
        name: impl Into<String>,
        capability: impl Into<String>,
        state: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            capability: capability.into(),
            state: state.into(),
            parent: None,
        }
    }

    /// Sets the parent.
    pub fn with_parent(mut self, parent: impl Into<String>) -> Self {
        self.parent = Some(parent.into());
        self
    }

    /// Returns whether the session is active (`booting`, `working`, `stalled`).
    pub fn is_active(&self) -> bool {
        matches!(self.state.as_str(), "booting" | "working" | "stalled")
    }

    /// Returns whether the session has ended (`completed`, `zombie`): mail to
    /// it would never be read.
    pub fn is_terminal(&self) -> bool {
        matches!(self.state.as_str(), "completed" | "zombie")
    }
}

/// The agents known to the caller, in session start order (oldest first).
/// An empty roster is valid: no sessions yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roster {
    entries: Vec<RosterEntry>,
}

impl Roster {
    /// Builds a roster from entries already in start order.
    pub fn new(entries: Vec<RosterEntry>) -> Self {
        Self { entries }
    }

    /// Returns every entry.
    pub fn entries(&self) -> &[RosterEntry] {
        &self.entries
    }

    /// Returns the entry for `name` (exact match), if any.
    pub fn find(&self, name: &str) -> Option<&RosterEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Returns the active entries, in order.
    pub fn active(&self) -> impl Iterator<Item = &RosterEntry> {
        self.entries.iter().filter(|e| e.is_active())
    }
}

/// Names that are always valid recipients though they have no session.
pub const ROLE_NAMES: [&str; 4] = ["orchestrator", "coordinator", "operator", "system"];

/// The capabilities that have a group, in the order the error message lists them.
const GROUP_CAPABILITIES: [Capability; 8] = [
    Capability::Builder,
    Capability::Scout,
    Capability::Reviewer,
    Capability::Lead,
    Capability::Merger,
    Capability::Supervisor,
    Capability::Coordinator,
    Capability::Monitor,
];

/// Returns whether `address` is a group address (starts with `@`).
pub fn is_group_address(address: &str) -> bool {
    address.starts_with('@')
}

/// Returns `@all, @builder, @builders, …` as listed in the unknown-group error.
pub fn valid_groups_list() -> String {
    let mut out = vec!["@all".to_owned()];
    for c in GROUP_CAPABILITIES {
        out.push(format!("@{c}"));
        out.push(format!("@{c}s"));
    }
    out.join(", ")
}

/// Resolves a group address to recipient names, in roster order, leaving
/// out `sender`. The address is case-insensitive; the capability match is
/// exact (`Builder` is not `builder`).
///
/// # Errors
/// [`MailError::UnknownGroup`] for an address that is not a group;
/// [`MailError::EmptyGroup`] when nobody is left.
pub fn resolve_group(
    address: &str,
    sender: &str,
    roster: &Roster,
) -> Result<Vec<String>, MailError> {
    let lower = address.to_lowercase();
    let Some(group) = lower.strip_prefix('@') else {
        return Err(MailError::UnknownGroup {
            address: address.to_owned(),
        });
    };
    let others = roster.active().filter(|e| e.name != sender);
    if group == "all" {
        let names: Vec<String> = others.map(|e| e.name.clone()).collect();
        if names.is_empty() {
            return Err(MailError::EmptyGroup {
                address: address.to_owned(),
                reason: EmptyGroupReason::SenderExcluded,
            });
        }
        return Ok(names);
    }
    let cap = GROUP_CAPABILITIES
        .iter()
        .find(|c| group == c.as_str() || group.strip_suffix('s') == Some(c.as_str()))
        .ok_or_else(|| MailError::UnknownGroup {
            address: address.to_owned(),
        })?;
    let names: Vec<String> = others
        .filter(|e| e.capability == cap.as_str())
        .map(|e| e.name.clone())
        .collect();
    if names.is_empty() {
        return Err(MailError::EmptyGroup {
            address: address.to_owned(),
            reason: EmptyGroupReason::NoActiveAgents {
                capability: cap.as_str().to_owned(),
            },
        });
    }
    Ok(names)
}

/// The merge_ready reviewer advisory: how many builders and reviewers a lead
/// spawned (sessions in any state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewCoverage {
    /// How many builder sessions name the sender as parent.
    pub builders: usize,
    /// How many reviewer sessions name the sender as parent.
    pub reviewers: usize,
}

impl ReviewCoverage {
    /// Counts `sender`'s builder and reviewer children in `roster`.
    pub fn of(sender: &str, roster: &Roster) -> Self {
        let children = roster
            .entries()
            .iter()
            .filter(|e| e.parent.as_deref() == Some(sender));
        let (mut builders, mut reviewers) = (0, 0);
        for c in children {
            match c.capability.as_str() {
                "builder" => builders += 1,
                "reviewer" => reviewers += 1,
                _ => {}
            }
        }
        Self {
            builders,
            reviewers,
        }
    }

    /// Returns whether builders exist but no reviewer does.
    pub fn is_unreviewed(&self) -> bool {
        self.builders > 0 && self.reviewers == 0
    }

    /// Returns whether some but fewer reviewers than builders exist.
    pub fn is_partial(&self) -> bool {
        self.reviewers > 0 && self.reviewers < self.builders
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roster() -> Roster {
        Roster::new(vec![
            RosterEntry::new("b1", "builder", "working"),
            RosterEntry::new("s1", "scout", "booting"),
            RosterEntry::new("b2", "builder", "stalled"),
            RosterEntry::new("done", "builder", "completed"),
        ])
    }

    #[test]
    fn group_list_has_all_and_sixteen_aliases() {
        let l = valid_groups_list();
        assert!(l.starts_with("@all, @builder, @builders, @scout, @scouts"));
        assert_eq!(l.split(", ").count(), 17);
    }

    #[test]
    fn inactive_sessions_are_not_group_members() {
        let r = resolve_group("@builders", "x", &roster()).unwrap();
        assert_eq!(r, ["b1", "b2"]);
    }
}
