//! `ov group`: named sets of tracker issues (`.overstory/groups.json`).
//!
//! The file is a tab-indented JSON array of [`Group`]s. Every change is a
//! read-modify-write under an exclusive OS lock on `groups.json.lock`,
//! written to a temporary file and renamed into place, so concurrent `ov
//! group` calls never lose an update and a crash never leaves half a file.
//! A missing or malformed file reads as no groups.
//!
//! Groups are found by id, else by unique name, else by the one active
//! group among those sharing the name; anything else is an error naming the
//! candidates. Creating a group whose name an existing active group already
//! uses is refused, so a name never finds two active groups.

use std::path::Path;

use overstory_core::lockfile::FileLock;
use overstory_core::{Layout, clock, ids, process};
use overstory_mail::{MailClient, SendRequest};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{FleetError, GroupError};

/// A group of issues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// `group-<8 hex>`.
    pub id: String,
    /// The group's name, as given at creation.
    pub name: String,
    /// The member issue ids.
    pub member_issue_ids: Vec<String>,
    /// `active` or `completed`.
    pub status: String,
    /// Creation time.
    pub created_at: String,
    /// Completion time.
    pub completed_at: Option<String>,
}

/// Looks issues up in the task tracker.
pub trait IssueLookup {
    /// Returns the issue's status (`open`, `in_progress`, `blocked`,
    /// `closed`), or `None` when it cannot be found.
    fn status(&self, id: &str) -> Option<String>;
}

/// The task tracker's CLI (`sd` for seeds, `bd` for beads), run in the
/// project root.
#[derive(Debug, Clone)]
pub struct TrackerCli {
    program: &'static str,
    root: std::path::PathBuf,
}

impl TrackerCli {
    /// Picks the tracker by the configured backend (`auto` ⇒ beads when
    /// `.beads/` exists, else seeds).
    pub fn for_project(root: &Path, backend: &str) -> Self {
        let program = match backend {
            "beads" => "bd",
            "seeds" => "sd",
            _ if root.join(".beads").is_dir() => "bd",
            _ => "sd",
        };
        Self {
            program,
            root: root.to_owned(),
        }
    }

    /// Returns the tracker's program name (`bd` or `sd`).
    pub fn program(&self) -> &'static str {
        self.program
    }
}

impl IssueLookup for TrackerCli {
    fn status(&self, id: &str) -> Option<String> {
        let out = process::foreground_command(self.program)
            .args(["show", id, "--json"])
            .current_dir(&self.root)
            .stdin(std::process::Stdio::null())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let start = text.find(['{', '['])?;
        let v: Value = serde_json::from_str(text[start..].trim()).ok()?;
        let issue = match &v {
            Value::Array(a) => a.first()?.clone(),
            Value::Object(o) => o.get("issue").cloned().unwrap_or_else(|| v.clone()),
            _ => return None,
        };
        issue
            .get("status")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
}

/// Accepts every issue as `open` (`--skip-validation`).
#[derive(Debug, Clone, Copy)]
pub struct NoValidation;

impl IssueLookup for NoValidation {
    fn status(&self, _id: &str) -> Option<String> {
        Some("open".into())
    }
}

/// The status counts of a group.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupStatus {
    /// The group (after any auto-close).
    pub group: Group,
    /// Members.
    pub total: usize,
    /// Closed members.
    pub completed: usize,
    /// In-progress members.
    pub in_progress: usize,
    /// Blocked members.
    pub blocked: usize,
    /// Everything else (including lookup failures).
    pub open: usize,
    /// Whether this call closed the group.
    #[serde(skip)]
    pub auto_closed: bool,
}

/// The groups file of a project.
#[derive(Debug, Clone)]
pub struct Groups {
    layout: Layout,
}

fn clean_ids(ids: &[String]) -> Result<Vec<String>, FleetError> {
    let ids: Vec<String> = ids.iter().map(|s| s.trim().to_owned()).collect();
    if ids.is_empty() || ids.iter().any(String::is_empty) {
        return Err(FleetError::invalid(
            "issueIds",
            "At least one issue id is required",
        ));
    }
    Ok(ids)
}

fn validate_exist(ids: &[String], lookup: &dyn IssueLookup) -> Result<(), FleetError> {
    for id in ids {
        if lookup.status(id).is_none() {
            return Err(GroupError::IssueNotFound { issue: id.clone() }.into());
        }
    }
    Ok(())
}

fn no_duplicates(ids: &[String]) -> Result<(), FleetError> {
    for (i, id) in ids.iter().enumerate() {
        if ids[..i].contains(id) {
            return Err(FleetError::invalid(
                "issueIds",
                format!("Duplicate issue id \"{id}\""),
            ));
        }
    }
    Ok(())
}

impl Groups {
    /// Opens the groups of the project.
    pub fn new(layout: &Layout) -> Self {
        Self {
            layout: layout.clone(),
        }
    }

    /// Reads every group; a missing or malformed file is empty.
    pub fn list(&self) -> Vec<Group> {
        std::fs::read_to_string(self.layout.groups())
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// Finds a group by id, unique name, or the single active group of a name.
    ///
    /// # Errors
    /// [`FleetError::Group`] when nothing matches or the name is ambiguous.
    pub fn resolve(&self, key: &str) -> Result<Group, FleetError> {
        resolve_in(&self.list(), key).cloned()
    }

    fn update<T>(
        &self,
        f: impl FnOnce(&mut Vec<Group>) -> Result<T, FleetError>,
    ) -> Result<T, FleetError> {
        let _lock = self.lock()?;
        let mut groups = self.list();
        let out = f(&mut groups)?;
        self.save(&groups)?;
        Ok(out)
    }

    fn lock(&self) -> Result<FileLock, FleetError> {
        Ok(FileLock::acquire(&self.layout.groups_lock())?)
    }

    fn save(&self, groups: &[Group]) -> Result<(), FleetError> {
        let path = self.layout.groups();
        let value = serde_json::to_value(groups).unwrap_or(Value::Array(Vec::new()));
        let text = overstory_core::json::to_tab_string(&value);
        overstory_core::fsio::write_atomic(&path, text)?;
        Ok(())
    }

    /// Creates a group.
    ///
    /// # Errors
    /// [`FleetError::Validation`] for an empty name, no ids or duplicate ids;
    /// [`FleetError::Group`] for an unknown issue or a name already used by
    /// an active group.
    pub fn create(
        &self,
        name: &str,
        ids: &[String],
        lookup: &dyn IssueLookup,
    ) -> Result<Group, FleetError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(FleetError::invalid("name", "Group name is required"));
        }
        let ids = clean_ids(ids)?;
        validate_exist(&ids, lookup)?;
        no_duplicates(&ids)?;
        self.update(|groups| {
            if let Some(g) = groups
                .iter()
                .find(|g| g.name == name && g.status == "active")
            {
                return Err(GroupError::NameTaken {
                    name: name.to_owned(),
                    group_id: g.id.clone(),
                }
                .into());
            }
            let group = Group {
                id: format!("group-{}", hex8()),
                name: name.to_owned(),
                member_issue_ids: ids,
                status: "active".into(),
                created_at: clock::now_rfc3339(),
                completed_at: None,
            };
            groups.push(group.clone());
            Ok(group)
        })
    }

    /// Adds issues to a group, reopening it if it was completed.
    ///
    /// # Errors
    /// [`FleetError::Group`] for an unknown group or issue, or an existing member.
    pub fn add(
        &self,
        key: &str,
        ids: &[String],
        lookup: &dyn IssueLookup,
    ) -> Result<Group, FleetError> {
        let ids = clean_ids(ids)?;
        no_duplicates(&ids)?;
        self.update(|groups| {
            let idx = index_of(groups, key)?;
            let g = &mut groups[idx];
            if let Some(dup) = ids.iter().find(|i| g.member_issue_ids.contains(i)) {
                return Err(GroupError::AlreadyMember {
                    issue: dup.clone(),
                    group: g.name.clone(),
                }
                .into());
            }
            validate_exist(&ids, lookup)?;
            g.member_issue_ids.extend(ids);
            if g.status == "completed" {
                g.status = "active".into();
                g.completed_at = None;
            }
            Ok(g.clone())
        })
    }

    /// Removes issues from a group; it can never become empty.
    ///
    /// # Errors
    /// [`FleetError::Group`] for an unknown group, a non-member, or removing all.
    pub fn remove(&self, key: &str, ids: &[String]) -> Result<Group, FleetError> {
        let ids = clean_ids(ids)?;
        self.update(|groups| {
            let idx = index_of(groups, key)?;
            let g = &mut groups[idx];
            if let Some(missing) = ids.iter().find(|i| !g.member_issue_ids.contains(i)) {
                return Err(GroupError::NotMember {
                    issue: missing.clone(),
                    group: g.name.clone(),
                }
                .into());
            }
            if g.member_issue_ids.iter().all(|m| ids.contains(m)) {
                return Err(GroupError::WouldBeEmpty {
                    group: g.name.clone(),
                }
                .into());
            }
            g.member_issue_ids.retain(|m| !ids.contains(m));
            Ok(g.clone())
        })
    }

    /// Counts member statuses; closes an active group whose members are all
    /// closed (and, when `mail.db` exists, tells the coordinator).
    ///
    /// # Errors
    /// [`FleetError::Group`] for an unknown group; file errors.
    pub fn status(&self, key: &str, lookup: &dyn IssueLookup) -> Result<GroupStatus, FleetError> {
        let group = self.resolve(key)?;
        let mut st = GroupStatus {
            total: group.member_issue_ids.len(),
            completed: 0,
            in_progress: 0,
            blocked: 0,
            open: 0,
            auto_closed: false,
            group,
        };
        for id in &st.group.member_issue_ids {
            match lookup.status(id).as_deref() {
                Some("closed") => st.completed += 1,
                Some("in_progress") => st.in_progress += 1,
                Some("blocked") => st.blocked += 1,
                _ => st.open += 1,
            }
        }
        if st.group.status == "active" && st.total > 0 && st.completed == st.total {
            let id = st.group.id.clone();
            st.group = self.update(|groups| {
                let idx = index_of(groups, &id)?;
                groups[idx].status = "completed".into();
                groups[idx].completed_at = Some(clock::now_rfc3339());
                Ok(groups[idx].clone())
            })?;
            st.auto_closed = true;
            self.notify_closed(&st.group);
        }
        Ok(st)
    }

    fn notify_closed(&self, group: &Group) {
        if !self.layout.mail_db().exists() {
            return;
        }
        let (Ok(from), Ok(to)) = (
            overstory_core::AgentName::new("system"),
            overstory_core::AgentName::new("coordinator"),
        ) else {
            return;
        };
        if let Ok(client) = MailClient::open(&self.layout) {
            let req = SendRequest::new(
                from,
                overstory_mail::Address::Agent(to),
                format!("Group auto-closed: {}", group.name),
                format!(
                    "All {} issues of group \"{}\" ({}) are closed.",
                    group.member_issue_ids.len(),
                    group.name,
                    group.id
                ),
            )
            .kind(overstory_mail::MessageType::Status);
            let _ = client.send(&req);
        }
    }
}

fn hex8() -> String {
    let raw = ids::random_alnum(32);
    // Map the random characters onto hex digits.
    raw.bytes()
        .take(8)
        .map(|b| char::from_digit(u32::from(b) % 16, 16).unwrap_or('0'))
        .collect()
}

fn index_of(groups: &[Group], key: &str) -> Result<usize, FleetError> {
    let g = resolve_in(groups, key)?;
    groups.iter().position(|x| x.id == g.id).ok_or_else(|| {
        GroupError::NotFound {
            key: key.to_owned(),
        }
        .into()
    })
}

fn resolve_in<'a>(groups: &'a [Group], key: &str) -> Result<&'a Group, FleetError> {
    let key = key.trim();
    if let Some(g) = groups.iter().find(|g| g.id == key) {
        return Ok(g);
    }
    let named: Vec<&Group> = groups.iter().filter(|g| g.name == key).collect();
    match named.as_slice() {
        [] => Err(GroupError::NotFound {
            key: key.to_owned(),
        }
        .into()),
        [one] => Ok(one),
        many => {
            let active: Vec<&&Group> = many.iter().filter(|g| g.status == "active").collect();
            if let [one] = active.as_slice() {
                return Ok(one);
            }
            Err(GroupError::Ambiguous {
                key: key.to_owned(),
                ids: many.iter().map(|g| g.id.clone()).collect(),
            }
            .into())
        }
    }
}
