//! `MailClient`: the operations agents and the CLI perform on the bus.
//!
//! A client wraps one [`MailStore`] and knows the project [`Layout`] (for the
//! side files: nudge markers and debounce state). Every operation validates
//! its input before anything is written, and a failed operation writes
//! nothing.

use overstory_core::events::{EventStore, EventType, NewEvent};
use overstory_core::{AgentName, Layout, clock};

use crate::decode::{MailBatch, Undecodable};
use crate::error::MailError;
use crate::group::{ROLE_NAMES, ReviewCoverage, Roster, is_group_address, resolve_group};
use crate::message::{MailMessage, MessageType, NewMessage, Priority};
use crate::nudge::{self, NudgeMarker};
use crate::protocol::{Payload, ProtocolPayload};
use crate::store::{ListFilter, MailStore, PurgeFilter};

/// The largest subject accepted, in bytes.
pub const MAX_SUBJECT_BYTES: usize = 4 * 1024;
/// The largest body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The largest payload accepted, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;
/// How many messages one hook injection shows at most; the rest stay unread
/// for the next check.
pub const INJECT_LIMIT: usize = 50;

/// Where a message goes: one agent or a group address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// One agent (or a role such as `orchestrator`).
    Agent(AgentName),
    /// A group address, as typed (`@all`, `@Builders`, …).
    Group(String),
}

impl Address {
    /// Parses a recipient: `@…` is a group, anything else must be a valid
    /// agent name.
    ///
    /// # Errors
    /// [`MailError::Invalid`] for an invalid agent name.
    pub fn parse(s: &str) -> Result<Self, MailError> {
        if is_group_address(s) {
            Ok(Self::Group(s.to_owned()))
        } else {
            Ok(Self::Agent(AgentName::new(s)?))
        }
    }

    /// Returns the address as typed.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Agent(a) => a.as_str(),
            Self::Group(g) => g,
        }
    }
}

/// A message to send, before group expansion and validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    /// The sending agent (`ov mail send` defaults to `$OVERSTORY_AGENT_NAME`, then `orchestrator`).
    pub from: AgentName,
    /// One agent, or a `@…` group that [`MailClient::deliver`] expands (`send` refuses groups).
    pub to: Address,
    /// The subject (may be empty).
    pub subject: String,
    /// The body (may be empty).
    pub body: String,
    /// The type (default `status`).
    pub kind: MessageType,
    /// The priority (default `normal`).
    pub priority: Priority,
    /// The thread id (its first message's `msg-…` id), or `None` to start none.
    pub thread_id: Option<String>,
    /// The payload JSON text; checked against `kind`'s shape.
    pub payload: Option<String>,
}

impl SendRequest {
    /// Builds a `status`/`normal` request with no thread and no payload.
    pub fn new(
        from: AgentName,
        to: Address,
        subject: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        Self {
            from,
            to,
            subject: subject.into(),
            body: body.into(),
            kind: MessageType::Status,
            priority: Priority::Normal,
            thread_id: None,
            payload: None,
        }
    }

    /// Sets the type.
    pub fn kind(mut self, kind: MessageType) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the priority.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the thread.
    pub fn thread(mut self, thread_id: impl Into<String>) -> Self {
        self.thread_id = Some(thread_id.into());
        self
    }

    /// Sets the payload JSON text.
    pub fn payload(mut self, payload: impl Into<String>) -> Self {
        self.payload = Some(payload.into());
        self
    }
}

/// One stored message and the nudge marker it queued, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The message as stored, with its generated `msg-…` id and `created_at`.
    pub message: MailMessage,
    /// The marker written for the recipient, if the message qualified.
    pub nudge: Option<NudgeMarker>,
}

/// What [`MailClient::deliver`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// One entry per recipient, in roster order for a group.
    pub sent: Vec<Sent>,
    /// Whether the address was a group.
    pub broadcast: bool,
    /// For a direct send: the recipient has no session and is not a role
    /// name (`orchestrator`, `coordinator`, `operator`, `system`), so it may
    /// be a typo.
    pub unknown_recipient: bool,
    /// For a direct `merge_ready`: the sender's builder and reviewer children.
    pub review_coverage: Option<ReviewCoverage>,
}

/// What a reply does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyRequest {
    /// The id of the message being answered (`msg-…`).
    pub id: String,
    /// The reply's body; the subject is always `Re: <original subject>`.
    pub body: String,
    /// The replying agent; if it sent the original, the reply goes to the original's recipient.
    pub from: AgentName,
    /// The reply's type. `None` chooses [`reply_type`] of the original.
    pub kind: Option<MessageType>,
}

/// Returns the type a reply gets by default: the original's semantic,
/// non-terminal type (`status`, `question`, `error`), otherwise `status`.
///
/// The original copied every type, so a lead answering a builder's
/// `worker_done` produced a `worker_done` from the lead, which the turn
/// runner then took as the lead's own completion. A reply never inherits a
/// protocol type (it carries no payload) or a terminal type.
pub fn reply_type(original: MessageType) -> MessageType {
    if original.is_semantic() && !original.is_terminal_for_any_capability() {
        original
    } else {
        MessageType::Status
    }
}

/// Options for [`MailClient::check_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CheckOptions {
    /// Skip the check when this agent was checked less than this many
    /// milliseconds ago (and record this check's time).
    pub debounce_ms: Option<u64>,
    /// Consume the agent's pending-nudge marker (hook injection).
    pub take_marker: bool,
    /// Claim at most this many messages; the rest stay unread.
    pub limit: Option<usize>,
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Debounced: nothing was read and nothing was marked.
    Debounced,
    /// The check ran and claimed the agent's unread mail (possibly none).
    Checked {
        /// The consumed marker, when `take_marker` was set and one existed.
        marker: Option<NudgeMarker>,
        /// The claimed messages, oldest first, now marked read.
        messages: Vec<MailMessage>,
        /// Unread rows that cannot be decoded; they were left unread.
        undecodable: Vec<Undecodable>,
        /// Unread messages left because of `limit` (bad rows not counted).
        remaining: usize,
    },
}

impl CheckOutcome {
    /// Returns the claimed messages (none when debounced).
    pub fn messages(&self) -> &[MailMessage] {
        match self {
            Self::Debounced => &[],
            Self::Checked { messages, .. } => messages,
        }
    }

    /// Returns the unread rows the check could not decode (and left unread).
    pub fn undecodable(&self) -> &[Undecodable] {
        match self {
            Self::Debounced => &[],
            Self::Checked { undecodable, .. } => undecodable,
        }
    }

    /// Returns the ids of the claimed messages (to put them back with
    /// [`MailClient::unclaim`] when they could not be delivered).
    pub fn ids(&self) -> Vec<String> {
        self.messages().iter().map(|m| m.id.clone()).collect()
    }

    /// Returns the hook injection text (`""` when there is nothing to say).
    pub fn inject_text(&self) -> String {
        match self {
            Self::Debounced => String::new(),
            Self::Checked {
                marker,
                messages,
                remaining,
                ..
            } => crate::framing::inject_text(marker.as_ref(), messages, *remaining),
        }
    }
}

/// One project's mail bus.
#[derive(Debug)]
pub struct MailClient {
    store: MailStore,
    layout: Layout,
    record_events: bool,
}

impl MailClient {
    /// Opens the bus of the project at `layout` (`.overstory/mail.db`).
    ///
    /// # Errors
    /// As [`MailStore::open`].
    pub fn open(layout: &Layout) -> Result<Self, MailError> {
        Ok(Self {
            store: MailStore::open(layout.mail_db())?,
            layout: layout.clone(),
            record_events: true,
        })
    }

    /// Turns recording of `mail_sent` events in `.overstory/events.db` on
    /// (the default) or off, for [`MailClient::deliver`] and
    /// [`MailClient::reply`].
    pub fn record_events(mut self, on: bool) -> Self {
        self.record_events = on;
        self
    }

    /// Returns the underlying store.
    pub fn store(&self) -> &MailStore {
        &self.store
    }

    /// Returns the underlying store for operations that need `&mut`.
    pub fn store_mut(&mut self) -> &mut MailStore {
        &mut self.store
    }

    /// Returns the project layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Stores one message to one agent and returns it. Checks sizes and the
    /// payload's shape; does not consult sessions or write markers (see
    /// [`MailClient::deliver`] for the full send).
    ///
    /// # Errors
    /// [`MailError::InvalidPayload`], [`MailError::TooLarge`],
    /// [`MailError::UnknownGroup`] for a group address, or a store error.
    pub fn send(&self, req: &SendRequest) -> Result<MailMessage, MailError> {
        validate(req)?;
        let Address::Agent(to) = &req.to else {
            return Err(MailError::UnknownGroup {
                address: req.to.as_str().to_owned(),
            });
        };
        self.store.insert(&new_message(req, to.as_str()))
    }

    /// Stores a protocol message: `req` with its type set to `P`'s and its
    /// payload set to the typed `payload` (serialised with the original's
    /// keys). Priority and thread come from `req`.
    ///
    /// # Errors
    /// As [`MailClient::send`].
    pub fn send_protocol<P: ProtocolPayload>(
        &self,
        req: SendRequest,
        payload: &P,
    ) -> Result<MailMessage, MailError> {
        let text = serde_json::to_string(payload).map_err(|e| MailError::InvalidPayload {
            kind: P::TYPE,
            reason: e.to_string(),
        })?;
        self.send(&req.kind(P::TYPE).payload(text))
    }

    /// Sends as `ov mail send` does: resolves a group address against
    /// `roster` (excluding the sender) and stores one row per recipient in
    /// one transaction; for a direct send, refuses a recipient whose session
    /// has ended. Writes a nudge marker per recipient when the message
    /// qualifies ([`nudge::nudge_reason`]).
    ///
    /// # Errors
    /// [`MailError::TerminalRecipient`] (nothing stored), group errors,
    /// validation errors, or a store error (nothing stored). A marker that
    /// cannot be written is logged, not returned: the mail is already stored.
    pub fn deliver(&mut self, req: &SendRequest, roster: &Roster) -> Result<Delivery, MailError> {
        validate(req)?;
        match &req.to {
            Address::Group(address) => {
                let names = resolve_group(address, req.from.as_str(), roster)?;
                let rows: Vec<NewMessage> = names.iter().map(|n| new_message(req, n)).collect();
                let stored = self.store.insert_all(&rows)?;
                let sent: Vec<Sent> = stored.into_iter().map(|m| self.mark(m)).collect();
                self.record_sent(&sent, true);
                Ok(Delivery {
                    sent,
                    broadcast: true,
                    unknown_recipient: false,
                    review_coverage: None,
                })
            }
            Address::Agent(to) => {
                refuse_terminal(to.as_str(), roster)?;
                let message = self.store.insert(&new_message(req, to.as_str()))?;
                let review_coverage = (req.kind == MessageType::MergeReady)
                    .then(|| ReviewCoverage::of(req.from.as_str(), roster));
                let sent = vec![self.mark(message)];
                self.record_sent(&sent, false);
                Ok(Delivery {
                    sent,
                    broadcast: false,
                    unknown_recipient: roster.find(to.as_str()).is_none()
                        && !ROLE_NAMES.contains(&to.as_str()),
                    review_coverage,
                })
            }
        }
    }

    /// Records one `mail_sent` event per message, in one transaction of
    /// `events.db`. Failures are logged, never returned: the mail is stored.
    fn record_sent(&self, sent: &[Sent], broadcast: bool) {
        if !self.record_events || sent.is_empty() {
            return;
        }
        let run_id = self.layout.current_run_id();
        let events: Vec<NewEvent> = sent
            .iter()
            .map(|s| {
                let m = &s.message;
                let mut data = serde_json::json!({
                    "to": m.to,
                    "subject": m.subject,
                    "type": m.kind,
                    "priority": m.priority,
                    "messageId": m.id,
                });
                if broadcast {
                    data["broadcast"] = serde_json::Value::Bool(true);
                }
                NewEvent::new(m.from.clone(), EventType::MailSent)
                    .run(run_id.clone())
                    .data(&data)
            })
            .collect();
        let res =
            EventStore::open(&self.layout.events_db()).and_then(|mut s| s.insert_many(&events));
        if let Err(e) = res {
            tracing::warn!(error = %e, "could not record mail_sent events");
        }
    }

    fn mark(&self, message: MailMessage) -> Sent {
        let nudge = NudgeMarker::for_message(&message).and_then(|marker| {
            let agent = AgentName::new(&message.to).ok()?;
            match nudge::write_marker(&self.layout, &agent, &marker) {
                Ok(()) => Some(marker),
                Err(e) => {
                    tracing::warn!(error = %e, agent = %agent, "could not write nudge marker");
                    None
                }
            }
        });
        Sent { message, nudge }
    }

    /// Claims `agent`'s unread mail: returns it oldest first, marked read in
    /// the same transaction (two concurrent checks never both get a
    /// message). Rows that cannot be decoded stay unread and are returned
    /// in [`MailBatch::undecodable`].
    ///
    /// # Errors
    /// [`MailError::Db`] when the database is locked or corrupt.
    pub fn check(&self, agent: &AgentName) -> Result<MailBatch, MailError> {
        self.store.claim_unread(agent.as_str(), None)
    }

    /// Puts claimed messages back (unread) after their delivery failed, so
    /// the next check delivers them again. Returns how many were put back.
    ///
    /// # Errors
    /// [`MailError::Db`] when the database is locked or corrupt.
    pub fn unclaim(&self, ids: &[String]) -> Result<usize, MailError> {
        self.store.unclaim(ids)
    }

    /// Checks as `ov mail check` does: optionally debounced, optionally
    /// consuming the nudge marker, optionally limited.
    ///
    /// # Errors
    /// A store error, or [`MailError::Fs`] for the side files.
    pub fn check_with(
        &self,
        agent: &AgentName,
        opts: CheckOptions,
    ) -> Result<CheckOutcome, MailError> {
        if let Some(window) = opts.debounce_ms {
            let path = self.layout.mail_check_state();
            if !nudge::claim_debounce(&path, agent, window, clock::now_millis())? {
                return Ok(CheckOutcome::Debounced);
            }
        }
        let marker = if opts.take_marker {
            nudge::take_marker(&self.layout, agent)?
        } else {
            None
        };
        let MailBatch {
            messages,
            undecodable,
        } = self.store.claim_unread(agent.as_str(), opts.limit)?;
        let remaining = match opts.limit {
            Some(n) if messages.len() >= n => self
                .store
                .count(&ListFilter {
                    to: Some(agent.to_string()),
                    unread: Some(true),
                    ..ListFilter::default()
                })?
                .saturating_sub(undecodable.len()),
            _ => 0,
        };
        Ok(CheckOutcome::Checked {
            marker,
            messages,
            undecodable,
            remaining,
        })
    }

    /// Checks for hook injection: consumes the marker, claims at most
    /// [`INJECT_LIMIT`] messages, and returns the formatted text (`""` when
    /// there is nothing). Undecodable rows stay unread and are logged; a
    /// caller that must deliver or report everything uses
    /// [`MailClient::check_with`].
    ///
    /// # Errors
    /// As [`MailClient::check_with`].
    pub fn check_inject(&self, agent: &AgentName) -> Result<String, MailError> {
        let outcome = self.check_with(
            agent,
            CheckOptions {
                take_marker: true,
                limit: Some(INJECT_LIMIT),
                ..CheckOptions::default()
            },
        )?;
        for u in outcome.undecodable() {
            tracing::warn!(seq = u.seq, id = ?u.id, problem = %u.problem, "check: left a mail row that cannot be read unread");
        }
        Ok(outcome.inject_text())
    }

    /// Returns `agent`'s unread mail without marking it (for at-least-once
    /// delivery: mark it with [`MailClient::acknowledge`] once handled).
    ///
    /// # Errors
    /// [`MailError::Db`] when the database is locked or corrupt.
    pub fn peek_unread(&self, agent: &AgentName) -> Result<Vec<MailMessage>, MailError> {
        self.store.unread(agent.as_str())
    }

    /// Marks delivered messages read, in one transaction.
    ///
    /// # Errors
    /// [`MailError::Db`] when the database is locked or corrupt.
    pub fn acknowledge(&mut self, ids: &[String]) -> Result<usize, MailError> {
        self.store.mark_read_all(ids)
    }

    /// Lists messages, newest first. Never marks anything read. Rows that
    /// cannot be decoded are skipped and logged.
    ///
    /// # Errors
    /// [`MailError::Db`] when the database is locked or corrupt.
    pub fn list(&self, filter: &ListFilter) -> Result<Vec<MailMessage>, MailError> {
        self.store.list(filter)
    }

    /// Lists messages, newest first, with the matching rows that cannot be
    /// decoded. Never marks anything read.
    ///
    /// # Errors
    /// [`MailError::Db`] when the database is locked or corrupt.
    pub fn list_batch(&self, filter: &ListFilter) -> Result<MailBatch, MailError> {
        self.store.list_batch(filter)
    }

    /// Counts the messages `filter` selects.
    ///
    /// # Errors
    /// [`MailError::Db`] when the database is locked or corrupt.
    pub fn count(&self, filter: &ListFilter) -> Result<usize, MailError> {
        self.store.count(filter)
    }

    /// Marks a message read; returns whether it already was.
    ///
    /// # Errors
    /// [`MailError::NotFound`] for an unknown id, or a store error.
    pub fn read(&self, id: &str) -> Result<bool, MailError> {
        self.store
            .mark_read(id)?
            .ok_or_else(|| MailError::NotFound { id: id.to_owned() })
    }

    /// Replies to a message. The reply goes to the original's sender, or to
    /// its recipient when the original's sender is replying; its subject is
    /// `Re: <subject>`; its thread is the original's thread, or the
    /// original's id; it keeps the original's priority; its type is
    /// `req.kind` or [`reply_type`]. Like a send, it refuses a recipient
    /// whose session has ended and queues a nudge marker when it qualifies.
    ///
    /// # Errors
    /// [`MailError::NotFound`], [`MailError::TerminalRecipient`], or a store error.
    pub fn reply(&self, req: &ReplyRequest, roster: &Roster) -> Result<Sent, MailError> {
        let original = self
            .store
            .get(&req.id)?
            .ok_or_else(|| MailError::NotFound { id: req.id.clone() })?;
        let to = if req.from.as_str() == original.from {
            original.to.clone()
        } else {
            original.from.clone()
        };
        refuse_terminal(&to, roster)?;
        let msg = NewMessage {
            id: String::new(),
            from: req.from.to_string(),
            to,
            subject: format!("Re: {}", original.subject),
            body: req.body.clone(),
            kind: req.kind.unwrap_or_else(|| reply_type(original.kind)),
            priority: original.priority,
            thread_id: Some(original.thread_id.unwrap_or(original.id)),
            payload: None,
        };
        check_size("body", &msg.body, MAX_BODY_BYTES)?;
        if let Some(kind) = req.kind.filter(|k| k.is_protocol()) {
            return Err(MailError::InvalidPayload {
                kind,
                reason: "a reply carries no payload, so it cannot have a protocol type".into(),
            });
        }
        let message = self.store.insert(&msg)?;
        let sent = self.mark(message);
        self.record_sent(std::slice::from_ref(&sent), false);
        Ok(sent)
    }

    /// Deletes matching messages; returns how many.
    ///
    /// # Errors
    /// [`MailError::Db`] when the database is locked or corrupt.
    pub fn purge(&self, filter: &PurgeFilter) -> Result<usize, MailError> {
        self.store.purge(filter)
    }
}

fn refuse_terminal(to: &str, roster: &Roster) -> Result<(), MailError> {
    match roster.find(to) {
        Some(e) if e.is_terminal() => Err(MailError::TerminalRecipient {
            recipient: to.to_owned(),
            state: e.state.clone(),
        }),
        _ => Ok(()),
    }
}

fn check_size(field: &'static str, value: &str, max: usize) -> Result<(), MailError> {
    if value.len() > max {
        return Err(MailError::TooLarge {
            field,
            len: value.len(),
            max,
        });
    }
    Ok(())
}

fn validate(req: &SendRequest) -> Result<(), MailError> {
    check_size("subject", &req.subject, MAX_SUBJECT_BYTES)?;
    check_size("body", &req.body, MAX_BODY_BYTES)?;
    if let Some(p) = &req.payload {
        check_size("payload", p, MAX_PAYLOAD_BYTES)?;
        Payload::parse(req.kind, p)?;
    }
    Ok(())
}

fn new_message(req: &SendRequest, to: &str) -> NewMessage {
    NewMessage {
        id: String::new(),
        from: req.from.to_string(),
        to: to.to_owned(),
        subject: req.subject.clone(),
        body: req.body.clone(),
        kind: req.kind,
        priority: req.priority,
        thread_id: req.thread_id.clone(),
        payload: req.payload.clone(),
    }
}
