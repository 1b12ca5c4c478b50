//! Read routes: health, runs, agents and events (§4 of the serve chapter).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use overstory_core::Layout;
use overstory_core::events::{EventFilter, EventStore, FollowFilter, StoredEvent};
use overstory_sessions::{Run, RunStore, Session, SessionStore};
use serde::Serialize;
use serde_json::json;

use crate::api::{self, ApiError, Cursor, blocking, keyset, parse_limit};
use crate::state::ServeState;

type Params = Query<HashMap<String, String>>;

/// `/healthz`: `{status:"ok", uptimeMs, version}`, no token needed.
pub(crate) async fn healthz(State(state): State<ServeState>) -> Response {
    api::ok(json!({
        "status": "ok",
        "uptimeMs": state.uptime_ms(),
        "version": overstory_core::VERSION,
    }))
}

fn db_err(e: overstory_core::DbError) -> ApiError {
    ApiError::internal(&e)
}

pub(crate) fn sessions(layout: &Layout) -> Result<Vec<Session>, ApiError> {
    if !layout.sessions_db().is_file() {
        return Ok(Vec::new());
    }
    let store = SessionStore::open(&layout.sessions_db()).map_err(db_err)?;
    let (rows, _unreadable) = store.all_readable().map_err(db_err)?;
    Ok(rows)
}

fn runs(layout: &Layout) -> Result<Vec<Run>, ApiError> {
    if !layout.sessions_db().is_file() {
        return Ok(Vec::new());
    }
    RunStore::open(&layout.sessions_db())
        .and_then(|s| s.list(None, None))
        .map_err(db_err)
}

fn cursor_of(q: &HashMap<String, String>) -> Result<Option<Cursor>, ApiError> {
    q.get("cursor").map(|c| Cursor::decode(c)).transpose()
}

fn started_key(s: &Session) -> (String, String) {
    (s.started_at.clone(), s.id.clone())
}

/// `GET /api/runs`: newest first.
pub(crate) async fn list_runs(
    State(state): State<ServeState>,
    Query(q): Params,
) -> Result<Response, ApiError> {
    let limit = parse_limit(q.get("limit").map(String::as_str))?;
    let cursor = cursor_of(&q)?;
    let layout = state.layout().clone();
    let all = blocking(move || runs(&layout)).await?;
    let (items, next) = keyset(
        all,
        |r| (r.started_at.clone(), r.id.clone()),
        true,
        limit,
        cursor.as_ref(),
    );
    Ok(api::page(items, next))
}

#[derive(Serialize)]
struct RunWithAgents {
    #[serde(flatten)]
    run: Run,
    agents: Vec<Session>,
}

/// `GET /api/runs/:id`: the run and its agents, oldest first.
pub(crate) async fn get_run(
    State(state): State<ServeState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let layout = state.layout().clone();
    let found = blocking(move || {
        let Some(run) = runs(&layout)?.into_iter().find(|r| r.id == id) else {
            return Err(ApiError::not_found(format!("Run not found: {id}")));
        };
        let mut agents: Vec<Session> = sessions(&layout)?
            .into_iter()
            .filter(|s| s.run_id.as_deref() == Some(run.id.as_str()))
            .collect();
        agents.sort_by_key(started_key);
        Ok(RunWithAgents { run, agents })
    })
    .await?;
    Ok(api::ok(found))
}

/// `GET /api/agents`: oldest first, optionally of one run.
pub(crate) async fn list_agents(
    State(state): State<ServeState>,
    Query(q): Params,
) -> Result<Response, ApiError> {
    let limit = parse_limit(q.get("limit").map(String::as_str))?;
    let cursor = cursor_of(&q)?;
    let run = q.get("run").cloned();
    let layout = state.layout().clone();
    let mut all = blocking(move || sessions(&layout)).await?;
    if let Some(run) = run {
        all.retain(|s| s.run_id.as_deref() == Some(run.as_str()));
    }
    let (items, next) = keyset(all, started_key, false, limit, cursor.as_ref());
    Ok(api::page(items, next))
}

/// `GET /api/agents/:name`.
pub(crate) async fn get_agent(
    State(state): State<ServeState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let layout = state.layout().clone();
    let found = blocking(move || {
        sessions(&layout)?
            .into_iter()
            .find(|s| s.agent_name.as_str() == name)
            .ok_or_else(|| ApiError::not_found(format!("Agent not found: {name}")))
    })
    .await?;
    Ok(api::ok(found))
}

fn check_time(name: &str, raw: &str) -> Result<String, ApiError> {
    if overstory_core::clock::parse_rfc3339(raw).is_some() {
        return Ok(raw.to_owned());
    }
    // A bare date is a valid JS date too.
    let date = raw.len() == 10
        && overstory_core::clock::parse_rfc3339(&format!("{raw}T00:00:00.000Z")).is_some();
    if date {
        return Ok(format!("{raw}T00:00:00.000Z"));
    }
    Err(ApiError::bad_request(format!("Invalid {name}: {raw}")))
}

/// `GET /api/events`: oldest first, by `agent` (wins) or `run`; `since`,
/// `until`, `limit`, `cursor`; `tail=N` returns the newest N instead.
pub(crate) async fn list_events(
    State(state): State<ServeState>,
    Query(q): Params,
) -> Result<Response, ApiError> {
    let limit = parse_limit(q.get("limit").map(String::as_str))?;
    let cursor = cursor_of(&q)?;
    let since = q.get("since").map(|s| check_time("since", s)).transpose()?;
    let until = q.get("until").map(|s| check_time("until", s)).transpose()?;
    let tail = q.get("tail").map(|t| parse_limit(Some(t))).transpose()?;
    let before: Option<i64> = match q.get("before") {
        Some(b) => Some(
            b.parse()
                .map_err(|_| ApiError::bad_request(format!("Invalid before: {b}")))?,
        ),
        None => None,
    };
    let agent = q.get("agent").cloned();
    let run = if agent.is_none() {
        q.get("run").cloned()
    } else {
        None
    };
    let layout = state.layout().clone();
    let (items, next) = blocking(move || {
        let Some(store) = EventStore::open_if_exists(&layout.events_db()).map_err(db_err)? else {
            return Ok((Vec::new(), None));
        };
        let scope = |f: &EventFilter| -> Result<Vec<StoredEvent>, ApiError> {
            match (&agent, &run) {
                (Some(a), _) => store.by_agent(a, f),
                (None, Some(r)) => store.by_run(r, f),
                (None, None) => store.timeline(f),
            }
            .map_err(db_err)
        };
        if let Some(n) = tail {
            // The newest n (older than `before`), still oldest first.
            let mut rows = scope(&EventFilter {
                since: since.clone(),
                until: until.clone(),
                limit: before.is_none().then_some(n),
                newest: true,
                ..EventFilter::default()
            })?;
            if let Some(b) = before {
                rows.retain(|e| e.id < b);
                let skip = rows.len().saturating_sub(n);
                rows.drain(..skip);
            }
            return Ok((rows, None));
        }
        let mut rows = match &cursor {
            Some(c) => {
                let after: i64 =
                    c.id.parse()
                        .map_err(|_| ApiError::bad_request("Invalid cursor"))?;
                let filter = FollowFilter {
                    agents: agent.iter().cloned().collect(),
                    run_id: run.clone(),
                };
                let mut rows = store.after_id(after, &filter, limit + 1).map_err(db_err)?;
                if let Some(s) = &since {
                    rows.retain(|e| e.created_at >= *s);
                }
                rows
            }
            None => scope(&EventFilter {
                since: since.clone(),
                until: until.clone(),
                limit: Some(limit + 1),
                ..EventFilter::default()
            })?,
        };
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = more.then(|| rows.last()).flatten().map(|e| {
            Cursor {
                ts: e.created_at.clone(),
                id: e.id.to_string(),
            }
            .encode()
        });
        Ok((rows, next))
    })
    .await?;
    Ok(api::page(items, next))
}
