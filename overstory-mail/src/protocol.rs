//! Protocol payloads: the JSON each protocol message type carries.
//!
//! Each protocol type has one struct here whose serde names are the
//! original's keys (`taskId`, `filesModified`, …). [`validate_payload`]
//! checks a payload's text against its type's struct before anything is
//! stored; semantic types (`status`, `question`, `result`, `error`) accept any
//! JSON value.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use overstory_core::{Capability, clock};

use crate::error::MailError;
use crate::message::MessageType;

/// A payload struct bound to its message type.
pub trait ProtocolPayload: Serialize + DeserializeOwned {
    /// The message type this payload travels with.
    const TYPE: MessageType;
}

macro_rules! bind {
    ($t:ty => $kind:ident) => {
        impl ProtocolPayload for $t {
            const TYPE: MessageType = MessageType::$kind;
        }
    };
}

/// `worker_done`: a worker finished its task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerDone {
    /// The task the worker was spawned for (`overstory-2f10`).
    pub task_id: String,
    /// The branch holding the worker's commits (`overstory/<agent>/<task>`).
    pub branch: String,
    /// The exit code the worker reports, 0 for success.
    pub exit_code: i64,
    /// Files the worker changed, as paths in the repository (`src/parser.rs`).
    pub files_modified: Vec<String>,
}
bind!(WorkerDone => WorkerDone);

/// Which layer declared a worker dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TerminatedBy {
    /// The watchdog's mechanical tier.
    Tier0,
    /// The watchdog's triage tier.
    Tier1,
    /// The turn runner, when a worker's turn ended without its terminal mail.
    Runner,
}

/// `worker_died`: a worker stopped without finishing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerDied {
    /// The name of the dead worker (`builder-1`).
    pub agent_name: String,
    /// The worker's capability (`builder`, `scout`, …).
    pub capability: String,
    /// The task the worker was spawned for.
    pub task_id: String,
    /// Why it was declared dead.
    pub reason: String,
    /// Its last activity (RFC 3339).
    pub last_activity: String,
    /// Who declared it dead.
    pub terminated_by: TerminatedBy,
}
bind!(WorkerDied => WorkerDied);

impl WorkerDied {
    /// The `worker_died` mail from the dead worker to `parent`: priority
    /// `high`, subject `[RUNNER] worker_died: <agent>` or `[WATCHDOG] …` by
    /// [`terminated_by`](Self::terminated_by), and the body `Worker "<agent>"
    /// (<capability>) on task <task> <what>. Reason: … Last activity: …`
    /// asking the parent to retry, escalate or report. `what` says what
    /// happened ("ended without sending its terminal mail", "was terminated
    /// by the watchdog"). The turn runner, the dispatcher and the watchdog
    /// all send theirs through here.
    pub fn to_parent(&self, parent: &str, what: &str) -> crate::message::NewMessage {
        let tag = match self.terminated_by {
            TerminatedBy::Runner => "RUNNER",
            TerminatedBy::Tier0 | TerminatedBy::Tier1 => "WATCHDOG",
        };
        let Self {
            agent_name: agent,
            capability,
            task_id,
            reason,
            last_activity,
            ..
        } = self;
        crate::message::NewMessage {
            from: agent.clone(),
            to: parent.to_owned(),
            subject: format!("[{tag}] worker_died: {agent}"),
            body: format!(
                "Worker \"{agent}\" ({capability}) on task {task_id} {what}. Reason: {reason}. Last activity: {last_activity}. Decide whether to retry the work, escalate, or report the failure upstream."
            ),
            kind: MessageType::WorkerDied,
            priority: crate::message::Priority::High,
            payload: serde_json::to_string(self).ok(),
            ..crate::message::NewMessage::default()
        }
    }
}

/// `merge_ready`: a branch is ready for the merger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeReady {
    /// The branch to merge, normally `overstory/<agent>/<task>`.
    pub branch: String,
    /// The task the branch implements.
    pub task_id: String,
    /// The agent whose commits the branch holds (`builder-1`).
    pub agent_name: String,
    /// Files changed on the branch.
    pub files_modified: Vec<String>,
}
bind!(MergeReady => MergeReady);

/// Which resolution tier a merge needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MergeTier {
    /// No conflicts.
    CleanMerge,
    /// Conflicts resolved mechanically.
    AutoResolve,
    /// Conflicts resolved by an agent.
    AiResolve,
    /// The change was redone on top of the target.
    Reimagine,
}

/// `merged`: a branch was merged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Merged {
    /// The branch that was merged (`overstory/<agent>/<task>`).
    pub branch: String,
    /// The task the merged branch implemented.
    pub task_id: String,
    /// Which resolution tier the merge needed, from `clean-merge` up to `reimagine`.
    pub tier: MergeTier,
}
bind!(Merged => Merged);

/// `merge_failed`: a merge could not be completed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeFailed {
    /// The branch that could not be merged (`overstory/<agent>/<task>`).
    pub branch: String,
    /// The task the unmerged branch implements.
    pub task_id: String,
    /// Files left in conflict.
    pub conflict_files: Vec<String>,
    /// What went wrong.
    pub error_message: String,
}
bind!(MergeFailed => MergeFailed);

/// How bad an escalation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Warning,
    /// Needs action.
    Error,
    /// Needs action now.
    Critical,
}

/// `escalation`: a problem for someone higher up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Escalation {
    /// How bad it is.
    pub severity: Severity,
    /// The task concerned (`null` when none).
    #[serde(default)]
    pub task_id: Option<String>,
    /// What happened.
    pub context: String,
}
bind!(Escalation => Escalation);

/// Which health probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckType {
    /// Is the agent alive.
    Liveness,
    /// Is the agent ready for work.
    Readiness,
}

/// `health_check`: a probe of an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// The name of the agent whose health is asked about.
    pub agent_name: String,
    /// Whether the sender asks if the agent is alive or if it can take work.
    pub check_type: CheckType,
}
bind!(HealthCheck => HealthCheck);

/// `dispatch`: work handed to an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dispatch {
    /// The task to work on (`overstory-2f10`); its spec is at `spec_path`.
    pub task_id: String,
    /// The task's spec file, normally `.overstory/specs/<task>.md`.
    pub spec_path: String,
    /// The capability the task calls for (`builder`, `lead`, …).
    pub capability: Capability,
    /// Files the work may touch.
    pub file_scope: Vec<String>,
    /// Skip the scouting phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_scouts: Option<bool>,
    /// Skip review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_review: Option<bool>,
    /// The most agents the recipient may start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_agents: Option<u32>,
}
bind!(Dispatch => Dispatch);

/// The payload `ov coordinator ask` attaches to a `dispatch`: only a
/// correlation id for matching the answer. Accepted on `dispatch` messages
/// alongside [`Dispatch`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Correlation {
    /// A UUID that the answer's thread carries.
    pub correlation_id: String,
}

/// `assign`: a worker was assigned to a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assign {
    /// The task the worker is assigned to.
    pub task_id: String,
    /// The task's spec file, normally `.overstory/specs/<task>.md`.
    pub spec_path: String,
    /// The name of the assigned worker (`builder-1`).
    pub worker_name: String,
    /// The branch the worker commits on (`overstory/<agent>/<task>`).
    pub branch: String,
}
bind!(Assign => Assign);

/// `decision_gate`: a choice someone must make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionGate {
    /// The options to choose from, as free text, in the order the sender offers them.
    pub options: Vec<String>,
    /// What the decision is about.
    pub context: String,
    /// When the decision is needed by (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
}
bind!(DecisionGate => DecisionGate);

/// Any protocol payload, tagged by its type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Payload {
    /// `worker_done`.
    WorkerDone(WorkerDone),
    /// `worker_died`.
    WorkerDied(WorkerDied),
    /// `merge_ready`.
    MergeReady(MergeReady),
    /// `merged`.
    Merged(Merged),
    /// `merge_failed`.
    MergeFailed(MergeFailed),
    /// `escalation`.
    Escalation(Escalation),
    /// `health_check`.
    HealthCheck(HealthCheck),
    /// `dispatch`.
    Dispatch(Dispatch),
    /// `dispatch` carrying only a correlation id.
    Correlation(Correlation),
    /// `assign`.
    Assign(Assign),
    /// `decision_gate`.
    DecisionGate(DecisionGate),
}

impl Payload {
    /// Returns the message type this payload travels with.
    pub fn message_type(&self) -> MessageType {
        match self {
            Self::WorkerDone(_) => MessageType::WorkerDone,
            Self::WorkerDied(_) => MessageType::WorkerDied,
            Self::MergeReady(_) => MessageType::MergeReady,
            Self::Merged(_) => MessageType::Merged,
            Self::MergeFailed(_) => MessageType::MergeFailed,
            Self::Escalation(_) => MessageType::Escalation,
            Self::HealthCheck(_) => MessageType::HealthCheck,
            Self::Dispatch(_) | Self::Correlation(_) => MessageType::Dispatch,
            Self::Assign(_) => MessageType::Assign,
            Self::DecisionGate(_) => MessageType::DecisionGate,
        }
    }

    /// Returns the payload as compact JSON text, as it is stored.
    pub fn to_json(&self) -> String {
        let v = match self {
            Self::WorkerDone(p) => serde_json::to_string(p),
            Self::WorkerDied(p) => serde_json::to_string(p),
            Self::MergeReady(p) => serde_json::to_string(p),
            Self::Merged(p) => serde_json::to_string(p),
            Self::MergeFailed(p) => serde_json::to_string(p),
            Self::Escalation(p) => serde_json::to_string(p),
            Self::HealthCheck(p) => serde_json::to_string(p),
            Self::Dispatch(p) => serde_json::to_string(p),
            Self::Correlation(p) => serde_json::to_string(p),
            Self::Assign(p) => serde_json::to_string(p),
            Self::DecisionGate(p) => serde_json::to_string(p),
        };
        // Serialising these plain structs cannot fail.
        v.unwrap_or_default()
    }

    /// Parses `text` as the payload of a `kind` message. Returns `Ok(None)`
    /// for semantic types, whose payload may be any JSON.
    ///
    /// # Errors
    /// [`MailError::InvalidPayload`] when `text` is not JSON or lacks the
    /// type's shape.
    pub fn parse(kind: MessageType, text: &str) -> Result<Option<Self>, MailError> {
        fn de<T: DeserializeOwned>(kind: MessageType, text: &str) -> Result<T, MailError> {
            serde_json::from_str(text).map_err(|e| MailError::InvalidPayload {
                kind,
                reason: e.to_string(),
            })
        }
        let p = match kind {
            MessageType::Status
            | MessageType::Question
            | MessageType::Result
            | MessageType::Error => {
                de::<serde_json::Value>(kind, text)?;
                return Ok(None);
            }
            MessageType::WorkerDone => Self::WorkerDone(de(kind, text)?),
            MessageType::WorkerDied => {
                let p: WorkerDied = de(kind, text)?;
                check_time(kind, "lastActivity", &p.last_activity)?;
                Self::WorkerDied(p)
            }
            MessageType::MergeReady => Self::MergeReady(de(kind, text)?),
            MessageType::Merged => Self::Merged(de(kind, text)?),
            MessageType::MergeFailed => Self::MergeFailed(de(kind, text)?),
            MessageType::Escalation => Self::Escalation(de(kind, text)?),
            MessageType::HealthCheck => Self::HealthCheck(de(kind, text)?),
            MessageType::Dispatch => match de::<Dispatch>(kind, text) {
                Ok(d) => Self::Dispatch(d),
                Err(full) => match serde_json::from_str::<Correlation>(text) {
                    Ok(c) => Self::Correlation(c),
                    Err(_) => return Err(full),
                },
            },
            MessageType::Assign => Self::Assign(de(kind, text)?),
            MessageType::DecisionGate => {
                let p: DecisionGate = de(kind, text)?;
                if let Some(d) = &p.deadline {
                    check_time(kind, "deadline", d)?;
                }
                Self::DecisionGate(p)
            }
        };
        Ok(Some(p))
    }
}

fn check_time(kind: MessageType, field: &str, value: &str) -> Result<(), MailError> {
    if clock::parse_rfc3339(value).is_none() {
        return Err(MailError::InvalidPayload {
            kind,
            reason: format!("{field} \"{value}\" is not an ISO 8601 time"),
        });
    }
    Ok(())
}

/// Checks that `text` is a valid payload for a `kind` message: JSON for
/// semantic types, the type's shape for protocol types.
///
/// # Errors
/// [`MailError::InvalidPayload`] saying what is wrong.
pub fn validate_payload(kind: MessageType, text: &str) -> Result<(), MailError> {
    Payload::parse(kind, text).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_died_mail_to_the_parent_follows_the_spec() {
        let died = WorkerDied {
            agent_name: "builder-1".into(),
            capability: "builder".into(),
            task_id: "task-7".into(),
            reason: "Parser stalled (no events within timeout)".into(),
            last_activity: "2026-01-01T00:00:00.000Z".into(),
            terminated_by: TerminatedBy::Runner,
        };
        let m = died.to_parent("lead-1", "ended without sending its terminal mail");
        assert_eq!((m.from.as_str(), m.to.as_str()), ("builder-1", "lead-1"));
        assert_eq!(m.subject, "[RUNNER] worker_died: builder-1");
        assert_eq!(
            m.body,
            "Worker \"builder-1\" (builder) on task task-7 ended without sending its terminal mail. \
             Reason: Parser stalled (no events within timeout). Last activity: 2026-01-01T00:00:00.000Z. \
             Decide whether to retry the work, escalate, or report the failure upstream."
        );
        assert_eq!(m.kind, MessageType::WorkerDied);
        assert_eq!(m.priority, crate::message::Priority::High);
        let payload: serde_json::Value =
            serde_json::from_str(m.payload.as_deref().unwrap()).unwrap();
        assert_eq!(payload["terminatedBy"], "runner");
        assert_eq!(payload["agentName"], "builder-1");
        for by in [TerminatedBy::Tier0, TerminatedBy::Tier1] {
            let w = WorkerDied {
                terminated_by: by,
                ..died.clone()
            };
            let m = w.to_parent("lead-1", "was terminated by the watchdog");
            assert_eq!(m.subject, "[WATCHDOG] worker_died: builder-1");
            assert!(
                m.body
                    .contains("task-7 was terminated by the watchdog. Reason:"),
                "{}",
                m.body
            );
        }
    }

    #[test]
    fn worker_done_uses_the_original_keys() {
        let p = WorkerDone {
            task_id: "t-1".into(),
            branch: "b".into(),
            exit_code: 0,
            files_modified: vec!["a.rs".into()],
        };
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"taskId":"t-1","branch":"b","exitCode":0,"filesModified":["a.rs"]}"#
        );
    }

    #[test]
    fn shape_mismatch_names_the_type_and_the_field() {
        let e = validate_payload(MessageType::WorkerDone, r#"{"taskId":"t"}"#).unwrap_err();
        assert_eq!(e.code(), "VALIDATION_ERROR");
        let s = e.to_string();
        assert!(s.contains("worker_done") && s.contains("branch"), "{s}");
    }

    #[test]
    fn semantic_types_accept_any_json_but_not_garbage() {
        validate_payload(MessageType::Status, "[1,2]").unwrap();
        validate_payload(MessageType::Question, "\"x\"").unwrap();
        assert!(validate_payload(MessageType::Status, "{nope").is_err());
    }

    #[test]
    fn dispatch_accepts_a_correlation_only_payload() {
        let p = Payload::parse(MessageType::Dispatch, r#"{"correlationId":"c-1"}"#)
            .unwrap()
            .unwrap();
        assert!(matches!(p, Payload::Correlation(_)));
        assert!(validate_payload(MessageType::Dispatch, r#"{"taskId":"t"}"#).is_err());
    }

    #[test]
    fn enums_use_the_original_strings() {
        let m = Merged {
            branch: "b".into(),
            task_id: "t".into(),
            tier: MergeTier::AiResolve,
        };
        assert!(
            serde_json::to_string(&m)
                .unwrap()
                .contains("\"ai-resolve\"")
        );
        let e = Escalation {
            severity: Severity::Critical,
            task_id: None,
            context: "c".into(),
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"severity":"critical","taskId":null,"context":"c"}"#
        );
    }
}
