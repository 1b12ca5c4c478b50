//! `GET /api/mail` paging over a real `mail.db` of a few thousand rows:
//! every matching row exactly once, newest first, under every filter.

use std::collections::HashSet;

use overstory_mail::{MailStore, NewMessage};
use serde_json::Value;

use crate::support::Fixture;

const ROWS: usize = 3000;
const AGENTS: [&str; 3] = ["lead-1", "builder-1", "scout-1"];

/// One stored row as the test expects to see it.
#[derive(Debug, Clone)]
struct Row {
    id: String,
    from: String,
    to: String,
    read: bool,
    created_at: String,
}

/// Fills `mail.db` with `ROWS` messages whose `created_at` repeat (40 rows
/// share each millisecond, so the id decides ties) and whose ids are not in
/// time order, plus one row no decoder can read.
fn fill(f: &Fixture) -> Vec<Row> {
    let mut store = MailStore::open(f.layout.mail_db()).unwrap();
    let new: Vec<NewMessage> = (0..ROWS)
        .map(|i| NewMessage {
            // Scrambled ids: insertion order, time order and id order differ.
            id: format!("msg-{:06}", (i * 7919) % 100_003),
            from: AGENTS[i % 3].to_owned(),
            to: AGENTS[(i / 3) % 3].to_owned(),
            subject: format!("s{i}"),
            body: "b".into(),
            ..NewMessage::default()
        })
        .collect();
    let stored = store.insert_all(&new).unwrap();
    let conn = store.connection();
    let mut rows = Vec::new();
    for (i, m) in stored.iter().enumerate() {
        let created_at = format!("2026-01-01T00:00:{:02}.{:03}Z", (i / 40) % 60, i / 2400);
        let read = i % 4 == 0;
        conn.execute(
            "UPDATE messages SET created_at = ?1, read = ?2 WHERE id = ?3",
            rusqlite::params![created_at, read, m.id],
        )
        .unwrap();
        rows.push(Row {
            id: m.id.clone(),
            from: m.from.clone(),
            to: m.to.clone(),
            read,
            created_at,
        });
    }
    conn.execute(
        "INSERT INTO messages (id, from_agent, to_agent, subject, body, created_at)
         VALUES ('msg-bad', 'lead-1', 'builder-1', 's', x'00ff', '2026-01-01T00:00:30.000Z')",
        [],
    )
    .unwrap();
    rows
}

/// Follows `nextCursor` from the first page to the last and returns the
/// ids in the order served, checking the envelope on the way.
async fn all_pages(f: &Fixture, query: &str, limit: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if query.is_empty() { "" } else { "&" };
        let path = match &cursor {
            Some(c) => format!("/api/mail?{query}{sep}limit={limit}&cursor={c}"),
            None => format!("/api/mail?{query}{sep}limit={limit}"),
        };
        let (status, page) = f.get(&path).await;
        assert_eq!(status, 200, "{path}: {page}");
        let data = page["data"].as_array().unwrap();
        ids.extend(data.iter().map(|m| m["id"].as_str().unwrap().to_owned()));
        match page.get("nextCursor") {
            Some(Value::String(c)) => {
                assert_eq!(data.len(), limit, "{path}: a page before the last is full");
                cursor = Some(c.clone());
            }
            None => {
                assert!(data.len() <= limit, "{path}");
                return ids;
            }
            Some(other) => panic!("{path}: nextCursor is {other}"),
        }
    }
}

/// Which stored rows a query should return.
type Keep = Box<dyn Fn(&Row) -> bool>;

fn expected(rows: &[Row], keep: impl Fn(&Row) -> bool) -> Vec<String> {
    let mut kept: Vec<&Row> = rows.iter().filter(|r| keep(r)).collect();
    kept.sort_by(|a, b| (&b.created_at, &b.id).cmp(&(&a.created_at, &a.id)));
    kept.into_iter().map(|r| r.id.clone()).collect()
}

#[tokio::test]
async fn every_row_once_in_order_under_every_filter() {
    let f = Fixture::start().await;
    let rows = fill(&f);
    let cases: Vec<(&str, Keep)> = vec![
        ("", Box::new(|_| true)),
        ("to=builder-1", Box::new(|r| r.to == "builder-1")),
        ("from=scout-1", Box::new(|r| r.from == "scout-1")),
        ("unread=true", Box::new(|r| !r.read)),
        (
            "to=lead-1&unread=true",
            Box::new(|r| r.to == "lead-1" && !r.read),
        ),
        (
            "from=lead-1&to=scout-1",
            Box::new(|r| r.from == "lead-1" && r.to == "scout-1"),
        ),
        ("to=nobody", Box::new(|_| false)),
    ];
    for (query, keep) in &cases {
        let want = expected(&rows, keep);
        for limit in [97, 500] {
            let got = all_pages(&f, query, limit).await;
            let unique: HashSet<&String> = got.iter().collect();
            assert_eq!(unique.len(), got.len(), "{query} limit {limit}: no repeats");
            assert_eq!(
                got, want,
                "{query} limit {limit}: every row once, newest first"
            );
        }
    }
}

#[tokio::test]
async fn a_page_that_ends_on_the_last_row_has_no_cursor() {
    let f = Fixture::start().await;
    let rows = fill(&f);
    let n = rows.iter().filter(|r| r.to == "builder-1").count();
    assert_eq!(n % 3, 0, "the fixture gives builder-1 a multiple of 3");
    let limit = n / 3;
    let mut cursor = String::new();
    for page_no in 1..=3 {
        let (_, page) = f
            .get(&format!("/api/mail?to=builder-1&limit={limit}{cursor}"))
            .await;
        assert_eq!(page["data"].as_array().unwrap().len(), limit);
        match page.get("nextCursor") {
            Some(c) if page_no < 3 => cursor = format!("&cursor={}", c.as_str().unwrap()),
            None if page_no == 3 => {}
            other => panic!("page {page_no} of 3: nextCursor {other:?}"),
        }
    }
}
