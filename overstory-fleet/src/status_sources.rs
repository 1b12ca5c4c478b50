//! What `ov status` reads beside `sessions.db`: unread mail and the last
//! mail of each agent from `mail.db`, and the merge queue's pending count
//! from `merge-queue.db` through overstory-merge.
//!
//! Read-only: nothing here ever creates a database. `mail.db` is opened at
//! most once per [`ProjectSources`], on first use. A database that exists
//! but cannot be read (a corrupt `mail.db`) is not taken for an empty one:
//! the first such failure is kept for [`ProjectSources::take_error`], so the
//! caller can report it instead of printing "0 unread".

use std::cell::{OnceCell, RefCell};
use std::path::PathBuf;

use overstory_core::Layout;
use overstory_mail::{ListFilter, MailStore};
use overstory_merge::MergeQueue;
use overstory_sessions::status::StatusSources;

use crate::error::FleetError;

/// The [`StatusSources`] of a project: mail counts through overstory-mail,
/// the merge queue's pending count through overstory-merge. It never
/// creates a database.
#[derive(Debug)]
pub struct ProjectSources {
    mail_db: PathBuf,
    merge_db: PathBuf,
    mail: OnceCell<Option<MailStore>>,
    error: RefCell<Option<FleetError>>,
}

impl ProjectSources {
    /// Reads the project's stores (`mail.db` opened lazily, at most once).
    pub fn new(layout: &Layout) -> Self {
        Self {
            mail_db: layout.mail_db(),
            merge_db: layout.merge_queue_db(),
            mail: OnceCell::new(),
            error: RefCell::new(None),
        }
    }

    /// Returns the first failure met while reading an existing database
    /// (and forgets it), or `None` when every read succeeded or found no
    /// database. The counts reported meanwhile for that store are zero and
    /// must not be shown as real.
    pub fn take_error(&self) -> Option<FleetError> {
        self.error.borrow_mut().take()
    }

    fn keep_error(&self, e: impl Into<FleetError>) {
        let mut slot = self.error.borrow_mut();
        if slot.is_none() {
            *slot = Some(e.into());
        }
    }

    fn mail(&self) -> Option<&MailStore> {
        self.mail
            .get_or_init(|| {
                // Never create mail.db from a read command.
                if !self.mail_db.is_file() {
                    return None;
                }
                MailStore::open(&self.mail_db)
                    .map_err(|e| self.keep_error(e))
                    .ok()
            })
            .as_ref()
    }

    fn newest(&self, filter: ListFilter) -> Option<String> {
        let filter = ListFilter {
            limit: Some(1),
            ..filter
        };
        let msgs = self
            .mail()?
            .list(&filter)
            .map_err(|e| self.keep_error(e))
            .ok()?;
        msgs.into_iter().map(|m| m.created_at).max()
    }
}

impl StatusSources for ProjectSources {
    fn unread_mail(&self, agent: &str) -> u64 {
        let filter = ListFilter {
            to: Some(agent.to_owned()),
            unread: Some(true),
            ..ListFilter::default()
        };
        self.mail()
            .and_then(|m| m.count(&filter).map_err(|e| self.keep_error(e)).ok())
            .map_or(0, |n| u64::try_from(n).unwrap_or(0))
    }

    fn merge_queue_pending(&self) -> u64 {
        // MergeQueue::open creates the file: never from a read command.
        if !self.merge_db.is_file() {
            return 0;
        }
        MergeQueue::open(&self.merge_db)
            .and_then(|q| q.counts())
            .map_err(|e| self.keep_error(e))
            .map_or(0, |c| u64::try_from(c.pending).unwrap_or(0))
    }

    fn last_mail(&self, agent: &str) -> (Option<String>, Option<String>) {
        (
            self.newest(ListFilter {
                from: Some(agent.to_owned()),
                ..ListFilter::default()
            }),
            self.newest(ListFilter {
                to: Some(agent.to_owned()),
                ..ListFilter::default()
            }),
        )
    }
}
