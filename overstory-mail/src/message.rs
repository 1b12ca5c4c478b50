//! The message model: types, priorities and the stored message.
//!
//! The wire and disk names (`worker_done`, `urgent`, `threadId`, …) are the
//! original's, so JSON written here is read by the TypeScript `ov` and back.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use overstory_core::ValidationError;

macro_rules! string_enum {
    (
        $(#[$m:meta])* $name:ident, $field:literal {
            $( $(#[$vm:meta])* $variant:ident => $s:literal ),+ $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vm])* #[serde(rename = $s)] $variant ),+
        }

        impl $name {
            /// Every value, in the original's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Returns the name used on disk and on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }

            /// Returns every name, comma separated (for error messages).
            pub fn list() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| ValidationError::NotOneOf {
                        field: $field,
                        value: s.to_owned(),
                        expected: Self::list(),
                    })
            }
        }
    };
}

string_enum! {
    /// What a message means. The first four are semantic; the rest are
    /// protocol types whose payload has a fixed shape (see [`crate::protocol`]).
    MessageType, "type" {
        /// A progress report (the default).
        Status => "status",
        /// A question that expects an answer.
        Question => "question",
        /// The answer to requested work; like `worker_done`, it ends a worker's task.
        Result => "result",
        /// Something went wrong.
        Error => "error",
        /// A worker finished its task (payload [`crate::protocol::WorkerDone`]).
        WorkerDone => "worker_done",
        /// A worker died without finishing.
        WorkerDied => "worker_died",
        /// A branch is ready for the merger (payload [`crate::protocol::MergeReady`]).
        MergeReady => "merge_ready",
        /// The merger merged a branch (payload [`crate::protocol::Merged`]).
        Merged => "merged",
        /// The merger could not merge a branch (payload [`crate::protocol::MergeFailed`]).
        MergeFailed => "merge_failed",
        /// A problem needs attention higher up.
        Escalation => "escalation",
        /// A liveness or readiness probe.
        HealthCheck => "health_check",
        /// Work handed to an agent.
        Dispatch => "dispatch",
        /// A worker was assigned to a task (payload [`crate::protocol::Assign`]).
        Assign => "assign",
        /// A choice that needs a decision.
        DecisionGate => "decision_gate",
    }
}

impl MessageType {
    /// Returns whether this is one of the four semantic types.
    pub fn is_semantic(self) -> bool {
        matches!(
            self,
            Self::Status | Self::Question | Self::Result | Self::Error
        )
    }

    /// Returns whether this is a protocol type (its payload has a fixed shape).
    pub fn is_protocol(self) -> bool {
        !self.is_semantic()
    }

    /// Returns whether some capability treats this type as "I am finished"
    /// (`worker_done`, `result`, `merged`, `merge_failed`), per the capability
    /// table in `overstory-core`.
    pub fn is_terminal_for_any_capability(self) -> bool {
        overstory_core::Capability::ALL
            .iter()
            .any(|c| c.terminal_mail_types().contains(&self.as_str()))
    }
}

#[allow(clippy::derivable_impls, reason = "the enum is declared by a macro")]
impl Default for MessageType {
    fn default() -> Self {
        Self::Status
    }
}

string_enum! {
    /// How urgently a message should be read.
    Priority, "priority" {
        /// Can wait.
        Low => "low",
        /// The default; queues no nudge by itself.
        Normal => "normal",
        /// Read soon; queues a nudge.
        High => "high",
        /// Read now; queues a nudge.
        Urgent => "urgent",
    }
}

#[allow(clippy::derivable_impls, reason = "the enum is declared by a macro")]
impl Default for Priority {
    fn default() -> Self {
        Self::Normal
    }
}

/// A stored message, as the original's `MailMessage` object.
///
/// Serialises with the original's keys, in its order: `id`, `from`, `to`,
/// `subject`, `body`, `type`, `priority`, `threadId`, `payload` (raw JSON
/// text, not parsed), `read`, `createdAt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MailMessage {
    /// `msg-` and 12 characters from `[a-z0-9]` (or any id a caller chose).
    pub id: String,
    /// The sender's agent name, or a role such as `orchestrator` (the CLI's default sender).
    pub from: String,
    /// The recipient's agent name; [`crate::MailClient`] stores a group send as one row per member.
    pub to: String,
    /// The subject line (may be empty).
    pub subject: String,
    /// The body (may be empty).
    pub body: String,
    /// What the message means; protocol types also fix the payload's shape.
    #[serde(rename = "type")]
    pub kind: MessageType,
    /// How urgently to read it; `high` and `urgent` queue a nudge marker.
    pub priority: Priority,
    /// The thread this message belongs to, if any.
    pub thread_id: Option<String>,
    /// The payload as stored: JSON text, or `None`.
    pub payload: Option<String>,
    /// Whether the recipient has read it.
    pub read: bool,
    /// When it was stored: `YYYY-MM-DDTHH:MM:SS.sssZ` (legacy rows may hold
    /// SQLite's `YYYY-MM-DD HH:MM:SS`).
    pub created_at: String,
}

impl MailMessage {
    /// Parses the payload as JSON. Returns `None` when there is no payload or
    /// it is not valid JSON (never fails, never checks the shape), as the
    /// original's `parsePayload`.
    pub fn parse_payload(&self) -> Option<serde_json::Value> {
        self.payload
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok())
    }

    /// Parses the payload as the protocol type `P`. Returns `None` when the
    /// message has a different type or no payload.
    ///
    /// # Errors
    /// The JSON error when the payload does not have `P`'s shape.
    pub fn payload_as<P: crate::protocol::ProtocolPayload>(
        &self,
    ) -> Option<Result<P, serde_json::Error>> {
        if self.kind != P::TYPE {
            return None;
        }
        self.payload.as_deref().map(serde_json::from_str)
    }
}

/// A message to store. `id` empty means "generate one".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewMessage {
    /// The id to use verbatim, or empty to generate `msg-…`.
    pub id: String,
    /// The sender's agent name, stored verbatim.
    pub from: String,
    /// The recipient's agent name, stored verbatim (one agent per row, never a group).
    pub to: String,
    /// The subject line, stored as given (may be empty).
    pub subject: String,
    /// The body text, stored as given (may be empty).
    pub body: String,
    /// The type (default `status`).
    pub kind: MessageType,
    /// The priority (default `normal`).
    pub priority: Priority,
    /// The thread id (its first message's `msg-…` id); replies fill it in.
    pub thread_id: Option<String>,
    /// The payload JSON text, if any.
    pub payload: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_in_the_original_order() {
        let names: Vec<_> = MessageType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(
            names,
            [
                "status",
                "question",
                "result",
                "error",
                "worker_done",
                "worker_died",
                "merge_ready",
                "merged",
                "merge_failed",
                "escalation",
                "health_check",
                "dispatch",
                "assign",
                "decision_gate"
            ]
        );
        assert_eq!(Priority::list(), "low, normal, high, urgent");
    }

    #[test]
    fn unknown_type_names_the_value_and_the_choices() {
        let e = "bogus".parse::<MessageType>().unwrap_err();
        assert!(e.to_string().contains("\"bogus\""), "{e}");
        assert!(e.to_string().contains("decision_gate"), "{e}");
    }

    #[test]
    fn terminal_types_come_from_the_capability_table() {
        assert!(MessageType::WorkerDone.is_terminal_for_any_capability());
        assert!(MessageType::Result.is_terminal_for_any_capability());
        assert!(MessageType::Merged.is_terminal_for_any_capability());
        assert!(!MessageType::Status.is_terminal_for_any_capability());
        assert!(!MessageType::Question.is_terminal_for_any_capability());
    }

    #[test]
    fn message_json_uses_the_original_keys_in_order() {
        let m = MailMessage {
            id: "msg-1".into(),
            from: "a".into(),
            to: "b".into(),
            subject: "s".into(),
            body: "b".into(),
            kind: MessageType::WorkerDone,
            priority: Priority::High,
            thread_id: None,
            payload: Some("{\"x\":1}".into()),
            read: false,
            created_at: "2026-01-01T00:00:00.000Z".into(),
        };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"id":"msg-1","from":"a","to":"b","subject":"s","body":"b","type":"worker_done","priority":"high","threadId":null,"payload":"{\"x\":1}","read":false,"createdAt":"2026-01-01T00:00:00.000Z"}"#
        );
    }
}
