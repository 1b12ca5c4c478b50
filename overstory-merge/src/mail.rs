//! The merge protocol on the mail bus: `merge_ready` mail feeds the queue,
//! `merged` / `merge_failed` mail reports the outcome.
//!
//! A lead sends `merge_ready` to the coordinator (the original's
//! convention). [`ingest_merge_ready`] reads the unread `merge_ready` mail of
//! the given recipients, enqueues each branch and marks exactly those
//! messages read — every other message stays unread, and a `merge_ready`
//! whose payload cannot be used stays unread too (reported as a warning).

use overstory_core::AgentName;
use overstory_mail::protocol::{MergeFailed, MergeReady, Merged};
use overstory_mail::{
    Address, ListFilter, MailClient, MailMessage, MessageType, Priority, SendRequest,
};
use serde::Serialize;

use crate::engine::MergeReport;
use crate::error::MergeError;
use crate::queue::{EnqueueRequest, MergeEntry, MergeQueue, tier_str};

/// Who receives `merge_ready` by convention.
pub const MERGE_READY_RECIPIENTS: [&str; 2] = ["coordinator", "orchestrator"];

/// What [`ingest_merge_ready`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ingested {
    /// Entries enqueued (or found already queued) from mail.
    pub entries: Vec<MergeEntry>,
    /// Ids of the messages consumed (marked read).
    pub message_ids: Vec<String>,
    /// Messages left unread because their payload was unusable.
    pub warnings: Vec<String>,
}

/// Enqueues the branch of every unread `merge_ready` message addressed to
/// one of `recipients`, oldest first, and marks those messages read.
///
/// # Errors
/// [`MergeError::Mail`] or [`MergeError::Db`]. A message is marked read
/// only after its branch is in the queue.
pub fn ingest_merge_ready(
    mail: &MailClient,
    queue: &mut MergeQueue,
    recipients: &[&str],
) -> Result<Ingested, MergeError> {
    let mut out = Ingested::default();
    for to in recipients {
        let mut msgs = mail.list(&ListFilter {
            to: Some((*to).to_owned()),
            unread: Some(true),
            kind: Some(MessageType::MergeReady),
            ..ListFilter::default()
        })?;
        msgs.reverse(); // oldest first
        for m in msgs {
            let payload = match m.payload_as::<MergeReady>() {
                Some(Ok(p)) if !p.branch.trim().is_empty() => p,
                Some(Err(e)) => {
                    out.warnings.push(format!(
                        "merge_ready {} left unread: its payload is not a MergeReady ({e})",
                        m.id
                    ));
                    continue;
                }
                _ => {
                    out.warnings.push(format!(
                        "merge_ready {} left unread: it names no branch",
                        m.id
                    ));
                    continue;
                }
            };
            let queued = queue.enqueue(&EnqueueRequest {
                branch_name: payload.branch,
                task_id: payload.task_id,
                agent_name: payload.agent_name,
                files_modified: payload.files_modified,
            })?;
            mail.store().mark_read(&m.id)?;
            out.message_ids.push(m.id);
            if !out.entries.iter().any(|e| e.id == queued.entry.id) {
                out.entries.push(queued.entry);
            }
        }
    }
    Ok(out)
}

/// Sends the outcome of `report`: `merged` (payload `branch`, `taskId`,
/// `tier`) on success, `merge_failed` (urgent; `branch`, `taskId`,
/// `conflictFiles`, `errorMessage`) otherwise, to the branch's agent and
/// to `parent` when given. Recipients that are not valid agent names
/// (`unknown`) are skipped. Returns the messages stored.
///
/// # Errors
/// [`MergeError::Mail`] when a message cannot be stored.
pub fn notify(
    mail: &MailClient,
    from: &AgentName,
    report: &MergeReport,
    parent: Option<&str>,
) -> Result<Vec<MailMessage>, MergeError> {
    let e = &report.entry;
    let mut to: Vec<AgentName> = Vec::new();
    for name in std::iter::once(e.agent_name.as_str()).chain(parent) {
        if name == "unknown" || name == from.as_str() {
            continue;
        }
        if let Ok(a) = AgentName::new(name)
            && !to.contains(&a)
        {
            to.push(a);
        }
    }
    let mut ids = Vec::new();
    for agent in to {
        let addr = Address::Agent(agent);
        let msg = if report.success {
            let tier = report
                .tier
                .unwrap_or(overstory_mail::protocol::MergeTier::CleanMerge);
            let req = SendRequest::new(
                from.clone(),
                addr,
                format!("Merged: {}", e.branch_name),
                format!(
                    "Branch {} was merged. Tier: {}.",
                    e.branch_name,
                    tier_str(tier)
                ),
            );
            mail.send_protocol(
                req,
                &Merged {
                    branch: e.branch_name.clone(),
                    task_id: e.task_id.clone(),
                    tier,
                },
            )?
        } else {
            let error = report
                .error_message
                .clone()
                .unwrap_or_else(|| "merge failed".into());
            let req = SendRequest::new(
                from.clone(),
                addr,
                format!("Merge failed: {}", e.branch_name),
                format!(
                    "Branch {} could not be merged: {error}\nFix the branch (rebase onto the target or resolve the conflicts) and report merge_ready again.",
                    e.branch_name
                ),
            )
            .priority(Priority::Urgent);
            mail.send_protocol(
                req,
                &MergeFailed {
                    branch: e.branch_name.clone(),
                    task_id: e.task_id.clone(),
                    conflict_files: report.conflict_files.clone(),
                    error_message: error,
                },
            )?
        };
        ids.push(msg);
    }
    Ok(ids)
}

/// Sends the outcome of every report ([`notify`]) with the parent that
/// `parent_of` finds for the branch's agent. Returns the messages stored
/// and, as warnings, the outcomes that could not be stored (nothing is
/// retried).
pub fn notify_all(
    mail: &MailClient,
    from: &AgentName,
    reports: &[MergeReport],
    parent_of: impl Fn(&str) -> Option<String>,
) -> (Vec<MailMessage>, Vec<String>) {
    let mut ids = Vec::new();
    let mut warnings = Vec::new();
    for r in reports {
        let parent = parent_of(&r.entry.agent_name);
        match notify(mail, from, r, parent.as_deref()) {
            Ok(mut v) => ids.append(&mut v),
            Err(e) => warnings.push(format!(
                "could not send the outcome of {}: {}",
                r.entry.branch_name,
                overstory_core::error::chain_text(&e)
            )),
        }
    }
    (ids, warnings)
}
