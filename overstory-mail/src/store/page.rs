//! Keyset pages of the newest-first mail listing, cut in SQL.
//!
//! A page is ordered by `(created_at, id)`, newest first, and starts after a
//! [`PageKey`] (the last message of the previous page):
//! `WHERE (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC
//! LIMIT n + 1`. The `idx_time_id`, `idx_to_time_id` and `idx_from_time_id`
//! indexes let SQLite walk the rows in that order, so a page reads about
//! `n` rows however large the table is. The extra row only says whether
//! there is a next page.

use crate::decode::{SELECT, Undecodable};
use crate::error::MailError;
use crate::message::MailMessage;

use super::{ListFilter, MailStore, where_clause};

/// Where a page starts: the `created_at` and `id` of the last message
/// already shown (the page holds what sorts strictly before it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageKey {
    /// The message's `created_at`.
    pub created_at: String,
    /// The message's `id`.
    pub id: String,
}

/// One page from [`MailStore::page`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailPage {
    /// Up to the requested number of messages, newest first.
    pub messages: Vec<MailMessage>,
    /// Rows read while cutting the page that could not be decoded
    /// (skipped: they never count towards the page size).
    pub undecodable: Vec<Undecodable>,
    /// Whether more messages follow the last one.
    pub more: bool,
}

impl MailPage {
    /// Returns the key the next page starts after, when there is one.
    pub fn next_key(&self) -> Option<PageKey> {
        self.more
            .then(|| self.messages.last())
            .flatten()
            .map(|m| PageKey {
                created_at: m.created_at.clone(),
                id: m.id.clone(),
            })
    }
}

impl MailStore {
    /// Returns up to `limit` messages matching `filter` (its own `limit` is
    /// ignored), newest first by `(created_at, id)`, starting after `after`,
    /// and whether more follow. Rows that cannot be decoded are skipped and
    /// returned in [`MailPage::undecodable`]; they never shorten a page.
    ///
    /// # Errors
    /// [`MailError::Db`].
    pub fn page(
        &self,
        filter: &ListFilter,
        after: Option<&PageKey>,
        limit: usize,
    ) -> Result<MailPage, MailError> {
        let (clause, mut args) = where_clause(filter);
        let mut conds = clause;
        if let Some(k) = after {
            args.push(k.created_at.clone());
            args.push(k.id.clone());
            let n = args.len();
            conds.push_str(if conds.is_empty() { " WHERE " } else { " AND " });
            conds.push_str(&format!("(created_at, id) < (?{}, ?{n})", n - 1));
        }
        let sql = format!(
            "{SELECT}{conds} ORDER BY created_at DESC, id DESC LIMIT ?{}",
            args.len() + 1
        );
        let want = limit.saturating_add(1);
        // Bad rows are rare: read `want` rows, and only when some of them
        // were bad (and the table holds more) read again with room for them.
        let mut fetch = want;
        loop {
            let n = i64::try_from(fetch).unwrap_or(i64::MAX);
            let mut refs: Vec<&dyn rusqlite::ToSql> = args.iter().map(|a| a as _).collect();
            refs.push(&n);
            let batch = self.query(&sql, &refs, "page messages")?;
            let read = batch.messages.len() + batch.undecodable.len();
            if batch.messages.len() >= want || read < fetch {
                let mut messages = batch.messages;
                let more = messages.len() > limit;
                messages.truncate(limit);
                return Ok(MailPage {
                    messages,
                    undecodable: batch.undecodable,
                    more,
                });
            }
            fetch = want.saturating_add(batch.undecodable.len());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::message::NewMessage;

    fn store() -> (tempfile::TempDir, MailStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = MailStore::open(dir.path().join("mail.db")).unwrap();
        (dir, s)
    }

    /// The plan of a page query, with placeholders bound to text.
    fn plan(s: &MailStore, filter: &ListFilter, after: bool) -> String {
        let (mut conds, mut args) = where_clause(filter);
        if after {
            args.push("2026-01-01T00:00:00.000Z".into());
            args.push("msg-x".into());
            let n = args.len();
            conds.push_str(if conds.is_empty() { " WHERE " } else { " AND " });
            conds.push_str(&format!("(created_at, id) < (?{}, ?{n})", n - 1));
        }
        args.push("101".into());
        let sql = format!(
            "EXPLAIN QUERY PLAN {SELECT}{conds} ORDER BY created_at DESC, id DESC LIMIT ?{}",
            args.len()
        );
        let mut stmt = s.connection().prepare(&sql).unwrap();
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                r.get::<_, String>(3)
            })
            .unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn pages_walk_an_index_in_order_under_each_filter() {
        let (_d, s) = store();
        let f = |from: Option<&str>, to: Option<&str>, unread: Option<bool>| ListFilter {
            from: from.map(str::to_owned),
            to: to.map(str::to_owned),
            unread,
            ..ListFilter::default()
        };
        for filter in [
            f(None, None, None),
            f(None, Some("a"), None),
            f(Some("a"), None, None),
            f(None, None, Some(true)),
            f(None, Some("a"), Some(true)),
            f(Some("a"), Some("b"), None),
        ] {
            for after in [false, true] {
                let p = plan(&s, &filter, after);
                assert!(p.contains("USING"), "{filter:?}: uses an index\n{p}");
                assert!(
                    !p.contains("TEMP B-TREE FOR ORDER BY"),
                    "{filter:?} after={after}: no sort of every match\n{p}"
                );
            }
        }
    }

    #[test]
    fn an_older_database_gets_the_paging_indexes_on_open() {
        let (dir, s) = store();
        s.connection()
            .execute_batch("DROP INDEX idx_time_id; DROP INDEX idx_to_time_id;")
            .unwrap();
        drop(s);
        let s = MailStore::open(dir.path().join("mail.db")).unwrap();
        assert!(super::super::has_our_indexes(s.connection()).unwrap());
    }

    #[test]
    fn bad_rows_never_shorten_a_page() {
        let (_d, s) = store();
        for i in 0..5 {
            s.insert(&NewMessage {
                id: format!("m{i}"),
                from: "a".into(),
                to: "b".into(),
                subject: "s".into(),
                body: "b".into(),
                ..NewMessage::default()
            })
            .unwrap();
        }
        s.connection()
            .execute_batch(
                "UPDATE messages SET created_at = '2026-01-01T00:00:00.000Z';
                 INSERT INTO messages (id, from_agent, to_agent, subject, body, created_at)
                 VALUES ('m35', 'a', 'b', 's', x'00', '2026-01-01T00:00:00.000Z'),
                        ('m36', 'a', 'b', 's', x'00', '2026-01-01T00:00:00.000Z');",
            )
            .unwrap();
        let p1 = s.page(&ListFilter::default(), None, 2).unwrap();
        let ids: Vec<&str> = p1.messages.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["m4", "m3"], "the two bad rows sort between");
        assert_eq!(p1.undecodable.len(), 2);
        assert!(p1.more);
        let p2 = s
            .page(&ListFilter::default(), p1.next_key().as_ref(), 3)
            .unwrap();
        let ids: Vec<&str> = p2.messages.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["m2", "m1", "m0"]);
        assert!(!p2.more);
        assert_eq!(p2.next_key(), None);
    }
}
