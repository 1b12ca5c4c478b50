//! The overstory mail bus: typed messages between agents in one SQLite file.
//!
//! # The model
//!
//! Every project has one mail database, `.overstory/mail.db`, with one table,
//! `messages`, in exactly the TypeScript original's schema, so both programs
//! can share a project. Mail is stored, not pushed: a recipient pulls its
//! unread messages when it checks.
//!
//! - [`MailStore`] owns the table: insert, list with filters, threads,
//!   read flags, purge, and an atomic claim of unread mail
//!   ([`MailStore::claim_unread`], one `BEGIN IMMEDIATE` transaction) with
//!   its undo ([`MailStore::unclaim`]) for a delivery that failed.
//! - Every row is decoded on its own. A row another program wrote badly (a
//!   BLOB body, a NULL id, an unknown type or priority) comes back as an
//!   [`Undecodable`] in a [`MailBatch`], next to the good messages: a check
//!   delivers the good ones and leaves the bad one unread, and a listing
//!   still lists.
//! - [`MailClient`] is what agents and the CLI use: [`MailClient::send`],
//!   typed [`MailClient::send_protocol`], [`MailClient::deliver`] (the full
//!   `ov mail send`: groups, refusing ended recipients, nudge markers),
//!   [`MailClient::check`], [`MailClient::reply`], [`MailClient::list`],
//!   [`MailClient::read`] and [`MailClient::purge`].
//! - [`MessageType`] and [`Priority`] are the original's enums; protocol
//!   types carry payloads whose shapes are the structs in [`protocol`], and
//!   a payload is checked against its type before it is stored.
//! - Group addresses (`@all`, `@builders`, …) resolve against a [`Roster`]
//!   the caller supplies (normally the active sessions), so this crate does
//!   not depend on the sessions store.
//! - [`framing`] turns mail into text for agents, escaping metadata so a
//!   subject can never forge a line.
//!
//! Any number of processes may use one database at once: SQLite's WAL
//! journal and a 5 s busy timeout serialise writers, and a check claims each
//! message exactly once.
//!
//! # Example
//!
//! ```
//! use overstory_core::{AgentName, Layout};
//! use overstory_mail::{Address, MailClient, Priority, SendRequest};
//! use overstory_mail::protocol::WorkerDone;
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir(dir.path().join(".overstory"))?;
//! let layout = Layout::new(dir.path());
//! let client = MailClient::open(&layout)?;
//!
//! let lead = AgentName::new("lead-1")?;
//! let builder = AgentName::new("builder-1")?;
//! client.send(&SendRequest::new(
//!     lead.clone(),
//!     Address::Agent(builder.clone()),
//!     "Start",
//!     "Implement the parser",
//! ))?;
//!
//! // The builder checks: the message is returned once and marked read.
//! let batch = client.check(&builder)?;
//! assert!(batch.undecodable.is_empty(), "no row is unreadable");
//! let inbox = batch.messages;
//! assert_eq!(inbox.len(), 1);
//! assert_eq!(inbox[0].subject, "Start");
//! assert!(client.check(&builder)?.is_empty());
//!
//! // A typed protocol message; the payload is stored as the original's JSON.
//! let done = WorkerDone {
//!     task_id: "task-1".into(),
//!     branch: "overstory/builder-1/task-1".into(),
//!     exit_code: 0,
//!     files_modified: vec!["src/parser.rs".into()],
//! };
//! let req = SendRequest::new(builder, Address::Agent(lead.clone()), "Done", "")
//!     .priority(Priority::High);
//! let sent = client.send_protocol(req, &done)?;
//! assert_eq!(sent.payload_as::<WorkerDone>().unwrap()?, done);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Caveats
//!
//! - The `.overstory/` directory must exist; the store does not create it.
//! - [`MailClient::check`] marks mail read as it returns it. A caller whose
//!   delivery then fails puts it back with [`MailClient::unclaim`]; or read
//!   with [`MailClient::peek_unread`] and mark with
//!   [`MailClient::acknowledge`] after the mail was handled.
//! - Views that return only messages ([`MailStore::list`],
//!   [`MailStore::unread`], [`MailStore::since`], [`MailStore::thread`])
//!   skip undecodable rows with a `tracing` warning; the `*_batch` forms
//!   return them.
//! - Ordering is by `created_at` (millisecond text) with insertion order as
//!   the tie-breaker; use [`MailStore::since`] to tail without gaps.
#![deny(missing_docs)]

mod client;
mod decode;
pub mod doctor;
mod error;
pub mod framing;
mod group;
mod message;
pub mod nudge;
pub mod protocol;
mod store;
mod terminal;

pub use client::{
    Address, CheckOptions, CheckOutcome, Delivery, INJECT_LIMIT, MAX_BODY_BYTES, MAX_PAYLOAD_BYTES,
    MAX_SUBJECT_BYTES, MailClient, ReplyRequest, SendRequest, Sent, reply_type,
};
pub use decode::{MailBatch, Undecodable};
pub use error::{EmptyGroupReason, InsertFailure, MailError};
pub use group::{
    ROLE_NAMES, ReviewCoverage, Roster, RosterEntry, is_group_address, resolve_group,
    valid_groups_list,
};
pub use message::{MailMessage, MessageType, NewMessage, Priority};
pub use store::{COLUMNS, ListFilter, MailPage, MailStore, PageKey, PurgeFilter, create_table_sql};
