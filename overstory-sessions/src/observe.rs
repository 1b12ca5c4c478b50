//! The read side of the timeline: what `ov trace`, `ov feed`, `ov errors`
//! and `ov replay` select from `events.db`.
//!
//! None of these create `events.db`: a missing file gives `None` (the
//! commands print `No events data yet.` or an empty list). Queries that
//! users read as "recent" take the newest N and return them oldest first.

pub mod logs;
pub mod text;

use overstory_core::events::{EventFilter, EventStore, FollowFilter, StoredEvent};
use overstory_core::{Layout, ValidationError, clock};

use crate::error::SessionError;
use crate::legacy::open_sessions;
use crate::runs::current_run_id;

/// Parses a time flag (`--since`, `--until`): RFC 3339 (any offset) or a
/// date `YYYY-MM-DD`; returns it as RFC 3339 UTC with milliseconds.
///
/// # Errors
/// [`ValidationError`] naming the flag when the value is not a time.
pub fn parse_time_flag(flag: &str, value: &str) -> Result<String, ValidationError> {
    let ms = clock::parse_rfc3339(value)
        .or_else(|| clock::parse_rfc3339(&format!("{value}T00:00:00Z")))
        .ok_or_else(|| {
            ValidationError::other(
                Some(flag.to_owned()),
                format!("Invalid --{flag} value: {value} (expected an ISO 8601 time)"),
            )
        })?;
    Ok(clock::format_millis(ms))
}

/// Checks that a count flag is at least `min`.
///
/// # Errors
/// [`ValidationError`] naming the flag otherwise.
pub fn check_min(flag: &str, value: i64, min: i64) -> Result<usize, ValidationError> {
    if value < min {
        return Err(ValidationError::other(
            Some(flag.to_owned()),
            format!("--{flag} must be at least {min} (got {value})"),
        ));
    }
    Ok(usize::try_from(value).unwrap_or(usize::MAX))
}

/// Builds the event filter of the timeline commands (`trace`, `errors`,
/// `replay`) from their `--since`, `--until` and `--limit` flags.
///
/// # Errors
/// [`ValidationError`] naming the flag: a time that does not parse, or a
/// limit below 1.
pub fn window_filter(
    since: Option<&str>,
    until: Option<&str>,
    limit: i64,
) -> Result<EventFilter, ValidationError> {
    let limit = check_min("limit", limit, 1)?;
    Ok(EventFilter {
        since: since.map(|s| parse_time_flag("since", s)).transpose()?,
        until: until.map(|s| parse_time_flag("until", s)).transpose()?,
        limit: Some(limit),
        ..EventFilter::default()
    })
}

/// Where to read events from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventScope {
    /// One run.
    Run(String),
    /// Several agents, merged by time.
    Agents(Vec<String>),
    /// Every agent.
    All,
}

/// Reads `scope` with `filter`; several agents are merged by time and cut
/// to the limit (newest or oldest per the filter).
///
/// # Errors
/// [`SessionError::Db`] when a query fails.
pub fn select(
    store: &EventStore,
    scope: &EventScope,
    filter: &EventFilter,
) -> Result<Vec<StoredEvent>, SessionError> {
    Ok(match scope {
        EventScope::Run(r) => store.by_run(r, filter)?,
        EventScope::All => store.timeline(filter)?,
        EventScope::Agents(agents) => {
            let mut all = Vec::new();
            for a in agents {
                all.extend(store.by_agent(a, filter)?);
            }
            all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
            all.dedup_by_key(|e| e.id);
            if let Some(n) = filter.limit
                && all.len() > n
            {
                if filter.newest {
                    all.drain(..all.len() - n);
                } else {
                    all.truncate(n);
                }
            }
            all
        }
    })
}

/// Returns the agent a `trace` target names: a task id (`overstory-2f10`)
/// that some session works on maps to that agent; anything else is an agent.
///
/// # Errors
/// [`SessionError::Db`] when `sessions.db` cannot be read.
pub fn resolve_trace_target(layout: &Layout, target: &str) -> Result<String, SessionError> {
    if looks_like_task_id(target) {
        let (store, _) = open_sessions(layout)?;
        if let Some(s) = store.by_task(target)? {
            return Ok(s.agent_name.into_string());
        }
    }
    Ok(target.to_owned())
}

/// `^[a-z][a-z0-9]*-[a-z0-9]{3,}$`, case-insensitive.
fn looks_like_task_id(s: &str) -> bool {
    let s = s.to_ascii_lowercase();
    let Some((head, tail)) = s.split_once('-') else {
        return false;
    };
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    head.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && head.chars().all(alnum)
        && tail.len() >= 3
        && tail.chars().all(alnum)
}

/// Opens `events.db` only if it exists.
///
/// # Errors
/// [`SessionError::Db`] when the existing file cannot be opened.
pub fn open_events(layout: &Layout) -> Result<Option<EventStore>, SessionError> {
    Ok(EventStore::open_if_exists(&layout.events_db())?)
}

/// Follows `events.db` from a starting point: each [`Follower::poll`]
/// returns every event recorded since the previous one, in order. Used by
/// `ov feed --follow`; any live view can poll it on its own schedule.
///
/// The store is opened lazily, so following a project whose `events.db`
/// does not exist yet waits for it rather than creating it.
#[derive(Debug)]
pub struct Follower {
    layout: Layout,
    filter: FollowFilter,
    store: Option<EventStore>,
    cursor: i64,
}

impl Follower {
    /// Events are read in batches of this many, so a burst is never cut.
    pub const BATCH: usize = 1000;

    /// Starts after the newest event recorded now.
    ///
    /// # Errors
    /// [`SessionError`] when `events.db` exists but cannot be read.
    pub fn from_now(layout: &Layout, filter: FollowFilter) -> Result<Self, SessionError> {
        let store = open_events(layout)?;
        let cursor = store.as_ref().map_or(Ok(0), EventStore::latest_id)?;
        Ok(Self {
            layout: layout.clone(),
            filter,
            store,
            cursor,
        })
    }

    /// Returns the id of the last event returned (or of the newest event at
    /// start).
    pub fn cursor(&self) -> i64 {
        self.cursor
    }

    /// Returns every matching event recorded since the last poll.
    ///
    /// # Errors
    /// [`SessionError`] when the store fails.
    pub fn poll(&mut self) -> Result<Vec<StoredEvent>, SessionError> {
        if self.store.is_none() {
            self.store = open_events(&self.layout)?;
        }
        let Some(store) = self.store.as_ref() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        loop {
            let batch = store.after_id(self.cursor, &self.filter, Self::BATCH)?;
            let full = batch.len() == Self::BATCH;
            if let Some(last) = batch.last() {
                self.cursor = last.id;
            }
            out.extend(batch);
            if !full {
                return Ok(out);
            }
        }
    }
}

/// `ov trace`: one agent's newest `limit` events in a time window.
///
/// # Errors
/// [`SessionError`] when a database fails.
pub fn trace(
    layout: &Layout,
    agent: &str,
    filter: &EventFilter,
) -> Result<Option<Vec<StoredEvent>>, SessionError> {
    let Some(store) = open_events(layout)? else {
        return Ok(None);
    };
    let f = EventFilter {
        newest: true,
        ..filter.clone()
    };
    Ok(Some(store.by_agent(agent, &f)?))
}

/// `ov errors`: error events of an agent (wins) or a run, oldest first, or
/// of everyone, newest first. The limit keeps the newest.
///
/// # Errors
/// [`SessionError`] when a database fails.
pub fn errors(
    layout: &Layout,
    agent: Option<&str>,
    run: Option<&str>,
    filter: &EventFilter,
) -> Result<Option<Vec<StoredEvent>>, SessionError> {
    let Some(store) = open_events(layout)? else {
        return Ok(None);
    };
    let f = EventFilter {
        level: Some(overstory_core::events::EventLevel::Error),
        newest: true,
        ..filter.clone()
    };
    Ok(Some(match (agent, run) {
        (Some(a), _) => store.by_agent(a, &f)?,
        (None, Some(r)) => store.by_run(r, &f)?,
        (None, None) => store.errors(&f)?,
    }))
}

/// `ov feed`: the newest events of a run, some agents, or everyone since
/// `since` (default five minutes ago).
///
/// # Errors
/// [`SessionError`] when a database fails.
pub fn feed(
    layout: &Layout,
    scope: &EventScope,
    filter: &EventFilter,
) -> Result<Option<Vec<StoredEvent>>, SessionError> {
    let Some(store) = open_events(layout)? else {
        return Ok(None);
    };
    let f = EventFilter {
        since: filter
            .since
            .clone()
            .or_else(|| Some(clock::format_millis(clock::now_millis() - 5 * 60_000))),
        newest: true,
        ..filter.clone()
    };
    Ok(Some(select(&store, scope, &f)?))
}

/// `ov replay`: a run, some agents, or (neither given) the current run,
/// else everyone since `since` (default 24 hours ago); oldest first, the
/// limit keeps the oldest (a replay starts at the beginning).
///
/// # Errors
/// [`SessionError`] when a database fails.
pub fn replay(
    layout: &Layout,
    run: Option<&str>,
    agents: &[String],
    filter: &EventFilter,
) -> Result<Option<Vec<StoredEvent>>, SessionError> {
    let Some(store) = open_events(layout)? else {
        return Ok(None);
    };
    let mut f = EventFilter {
        newest: false,
        ..filter.clone()
    };
    let scope = match (run, agents.is_empty()) {
        (Some(r), _) => EventScope::Run(r.to_owned()),
        (None, false) => EventScope::Agents(agents.to_vec()),
        (None, true) => match current_run_id(layout) {
            Some(r) => EventScope::Run(r),
            None => {
                if f.since.is_none() {
                    f.since = Some(clock::format_millis(clock::now_millis() - 24 * 3_600_000));
                }
                EventScope::All
            }
        },
    };
    Ok(Some(select(&store, &scope, &f)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_id_shape() {
        assert!(looks_like_task_id("overstory-2f10"));
        assert!(looks_like_task_id("OV-abc"));
        assert!(!looks_like_task_id("builder-1"));
        assert!(!looks_like_task_id("builder"));
    }

    #[test]
    fn time_flags_accept_iso_and_dates() {
        assert_eq!(
            parse_time_flag("since", "2026-03-05").unwrap(),
            "2026-03-05T00:00:00.000Z"
        );
        assert_eq!(
            parse_time_flag("since", "2026-03-05T15:00:00+01:00").unwrap(),
            "2026-03-05T14:00:00.000Z"
        );
        assert!(parse_time_flag("since", "yesterday").is_err());
    }
}

/// Parses an age such as `7d`, `12h`, `30m`, `45s` or `500ms` into milliseconds.
///
/// # Errors
/// [`ValidationError`] naming the flag when the value is not an age.
pub fn parse_age(flag: &str, value: &str) -> Result<i64, ValidationError> {
    let bad = || {
        ValidationError::other(
            Some(flag.to_owned()),
            format!(
                "Invalid --{flag} value: {value} (expected a number followed by ms, s, m, h or d, e.g. 7d)"
            ),
        )
    };
    let v = value.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (num, unit) = v.split_at(split);
    let n: i64 = num.parse().map_err(|_| bad())?;
    let mult = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

/// What [`prune`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneReport {
    /// Events deleted from `events.db`.
    pub events: usize,
    /// Token snapshots deleted from `metrics.db`.
    pub snapshots: usize,
}

/// Retention: deletes events (and, by age or for all, token snapshots) by
/// the AND of the given filters. Missing databases count as empty.
///
/// # Errors
/// [`SessionError`] when a database fails.
pub fn prune(
    layout: &Layout,
    purge: &overstory_core::events::EventPurge,
) -> Result<PruneReport, SessionError> {
    let mut report = PruneReport::default();
    if let Some(store) = open_events(layout)? {
        report.events = store.purge(purge)?;
    }
    if (purge.all || purge.older_than_ms.is_some()) && purge.agent_name.is_none() {
        let path = layout.metrics_db();
        if path.is_file() {
            let m = crate::metrics::MetricsStore::open(&path)?;
            report.snapshots = m.purge_snapshots(&crate::metrics::MetricsPurge {
                all: purge.all,
                agent: None,
                older_than_ms: purge.older_than_ms,
            })?;
        }
    }
    Ok(report)
}
