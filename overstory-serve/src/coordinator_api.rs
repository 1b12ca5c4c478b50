//! Coordinator routes (§6): state, send, ask, check-complete, start, stop.
//!
//! Each calls the same library function as `ov coordinator …`, with no
//! output of its own. `headless` comes from the session row (no tmux
//! session), not from what this process happens to remember, and a mail
//! sent here is delivered to a headless coordinator by waking its host.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use overstory_core::Layout;
use overstory_core::config::Config;
use overstory_fleet::FleetError;
use overstory_fleet::persistent::{self, COORDINATOR, PersistentStopOptions, StartOptions};
use overstory_mail::MailStore;
use overstory_sessions::SessionStore;
use serde_json::{Value, json};

use crate::api::{self, ApiError, blocking};
use crate::mail_api::{mail_err, object_body};
use crate::state::ServeState;

const NAME: &str = "coordinator";

fn active_row(layout: &Layout) -> Result<Option<overstory_sessions::Session>, ApiError> {
    if !layout.sessions_db().is_file() {
        return Ok(None);
    }
    let store = SessionStore::open(&layout.sessions_db()).map_err(|e| ApiError::internal(&e))?;
    Ok(store
        .get(NAME)
        .map_err(|e| ApiError::internal(&e))?
        .filter(|s| !s.state.is_terminal()))
}

fn fleet_err(e: FleetError) -> ApiError {
    match &e {
        FleetError::NotActive { .. }
        | FleetError::NotRunning { .. }
        | FleetError::NoSession { .. } => ApiError::conflict("Coordinator is not running"),
        FleetError::AlreadyRunning { .. } => ApiError::conflict(e.to_string()),
        FleetError::Validation(_) => ApiError::bad_request(overstory_core::error::chain_text(&e)),
        _ => ApiError::internal(&e),
    }
}

/// 409 `Coordinator is not running` unless an active row exists.
async fn require_active(state: &ServeState) -> Result<(), ApiError> {
    let layout = state.layout().clone();
    match blocking(move || active_row(&layout)).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::conflict("Coordinator is not running")),
    }
}

fn ov(state: &ServeState) -> Result<std::path::PathBuf, ApiError> {
    state.ov().map(ToOwned::to_owned).ok_or_else(|| {
        ApiError::conflict(
            "This server cannot reach agents: it was started without an ov executable",
        )
    })
}

/// `GET /api/coordinator/state`.
pub(crate) async fn state(State(state): State<ServeState>) -> Result<Response, ApiError> {
    let layout = state.layout().clone();
    let row = blocking(move || active_row(&layout)).await?;
    let data = match row {
        None => json!({
            "running": false, "agentName": NAME, "pid": null, "tmuxSession": null,
            "runId": null, "startedAt": null, "lastActivityAt": null, "headless": false,
        }),
        Some(s) => json!({
            "running": true,
            "agentName": NAME,
            "pid": s.pid,
            "tmuxSession": (!s.tmux_session.is_empty()).then_some(&s.tmux_session),
            "runId": s.run_id,
            "startedAt": s.started_at,
            "lastActivityAt": s.last_activity,
            "headless": s.tmux_session.is_empty(),
            "state": s.state,
        }),
    };
    Ok(api::ok(data))
}

fn subject_and_body(
    body: &Bytes,
) -> Result<(String, String, serde_json::Map<String, Value>), ApiError> {
    let map = object_body(body).map_err(|e| {
        if e.message.starts_with("Request body") {
            ApiError::bad_request("Body must be a JSON object")
        } else {
            ApiError::bad_request("Invalid JSON body")
        }
    })?;
    let field = |f: &str| match map.get(f) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(ApiError::bad_request(format!(
            "Missing or invalid '{f}' (string)"
        ))),
    };
    Ok((field("subject")?, field("body")?, map))
}

/// `POST /api/coordinator/send`: `{subject, body}` → `{messageId}`.
pub(crate) async fn send(
    State(state): State<ServeState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (subject, text, _) = subject_and_body(&body)?;
    require_active(&state).await?;
    let ov = ov(&state)?;
    let layout = state.layout().clone();
    let id = blocking(move || {
        persistent::send(&layout, &COORDINATOR, &subject, &text, &ov)
            .map(|r| r.id)
            .map_err(fleet_err)
    })
    .await?;
    Ok(api::ok(json!({"messageId": id})))
}

/// `POST /api/coordinator/ask`: sends, then waits up to `timeoutSec`
/// (default 120, 1..=600) for the coordinator's answer to `operator`.
pub(crate) async fn ask(
    State(state): State<ServeState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (subject, text, map) = subject_and_body(&body)?;
    let timeout = match map.get("timeoutSec") {
        None | Some(Value::Null) => 120.0,
        Some(v) => v
            .as_f64()
            .filter(|t| t.is_finite() && (1.0..=600.0).contains(t))
            .ok_or_else(|| {
                ApiError::bad_request("Invalid 'timeoutSec' (must be a number 1..600)")
            })?,
    };
    require_active(&state).await?;
    let ov = ov(&state)?;
    let Ok(_permit) = state.asks().try_acquire() else {
        return Err(ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "Too many questions are waiting for the coordinator; try again when one is answered",
        ));
    };
    let layout = state.layout().clone();
    let mut shutdown = state.shutdown_signal();
    let sent = blocking({
        let layout = layout.clone();
        move || {
            persistent::send(&layout, &COORDINATOR, &subject, &text, &ov)
                .map(|r| r.id)
                .map_err(fleet_err)
        }
    })
    .await?;
    let deadline = Instant::now() + Duration::from_secs_f64(timeout);
    loop {
        let probe_layout = layout.clone();
        let question = sent.clone();
        let reply = blocking(move || find_reply(&probe_layout, &question)).await?;
        if let Some(r) = reply {
            return Ok(api::ok(
                json!({"messageId": sent, "reply": r, "timedOut": false}),
            ));
        }
        if Instant::now() >= deadline || *shutdown.borrow() {
            return Ok(api::ok(
                json!({"messageId": sent, "reply": null, "timedOut": true}),
            ));
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// The coordinator's answer to `question`: a mail from it to `operator` in
/// the question's thread, else the first one stored after the question.
fn find_reply(layout: &Layout, question: &str) -> Result<Option<Value>, ApiError> {
    let store = MailStore::open(layout.mail_db()).map_err(mail_err)?;
    let from_coord = |m: &overstory_mail::MailMessage| m.from == NAME && m.to == "operator";
    let thread = store.thread(question).map_err(mail_err)?;
    let found = thread
        .into_iter()
        .find(|m| m.id != question && from_coord(m));
    let found = match found {
        Some(m) => Some(m),
        None => {
            let seq: Option<i64> = store
                .connection()
                .query_row(
                    "SELECT rowid FROM messages WHERE id = ?1",
                    [question],
                    |r| r.get(0),
                )
                .ok();
            match seq {
                Some(seq) => store
                    .since(seq, 500)
                    .map_err(mail_err)?
                    .into_iter()
                    .map(|(_, m)| m)
                    .find(from_coord),
                None => None,
            }
        }
    };
    Ok(found.map(|m| json!({"id": m.id, "body": m.body, "subject": m.subject})))
}

/// `POST /api/coordinator/check-complete`.
pub(crate) async fn check_complete(State(state): State<ServeState>) -> Result<Response, ApiError> {
    let layout = state.layout().clone();
    let report = blocking(move || {
        let config = Config::load(layout.root())
            .map_err(|e| ApiError::internal(&e))?
            .config;
        persistent::check_complete(&layout, &config).map_err(|e| ApiError::internal(&e))
    })
    .await?;
    Ok(api::ok(report))
}

/// `POST /api/coordinator/start` (idempotent): headless, no watchdog or
/// monitor. The coordinator outlives this server (it runs under its own
/// agent host).
pub(crate) async fn start(State(state): State<ServeState>) -> Result<Response, ApiError> {
    let layout = state.layout().clone();
    let probe = layout.clone();
    if let Some(row) = blocking(move || active_row(&probe)).await? {
        return Ok(api::ok(json!({
            "started": false, "alreadyRunning": true, "pid": row.pid, "runId": row.run_id,
        })));
    }
    let ov = ov(&state)?;
    // `persistent::start` must not run inside an async runtime's context.
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let result = (|| {
            if let Some(row) = active_row(&layout)? {
                return Ok(
                    json!({"started": false, "alreadyRunning": true, "pid": row.pid, "runId": row.run_id}),
                );
            }
            let config = Config::load(layout.root())
                .map_err(|e| ApiError::internal(&e))?
                .config;
            let opts = StartOptions::new(COORDINATOR, ov);
            match persistent::start(&layout, &config, &opts) {
                Ok(r) => Ok(
                    json!({"started": true, "alreadyRunning": false, "pid": r.pid, "runId": r.run_id}),
                ),
                Err(FleetError::AlreadyRunning { .. }) => {
                    let row = active_row(&layout)?;
                    Ok(json!({
                        "started": false, "alreadyRunning": true,
                        "pid": row.as_ref().and_then(|r| r.pid),
                        "runId": row.and_then(|r| r.run_id),
                    }))
                }
                Err(e) => Err(fleet_err(e)),
            }
        })();
        let _ = tx.send(result);
    });
    let data = rx.await.map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "Internal server error",
        )
    })??;
    Ok(api::ok(data))
}

/// `POST /api/coordinator/stop`.
pub(crate) async fn stop(State(state): State<ServeState>) -> Result<Response, ApiError> {
    let layout = state.layout().clone();
    let stopped = blocking(move || {
        if active_row(&layout)?.is_none() {
            return Ok(false);
        }
        match persistent::stop(&layout, &COORDINATOR, &PersistentStopOptions::default()) {
            Ok(r) => Ok(r.stopped),
            Err(FleetError::NotActive { .. } | FleetError::NoSession { .. }) => Ok(false),
            Err(e) => Err(fleet_err(e)),
        }
    })
    .await?;
    Ok(api::ok(json!({"stopped": stopped})))
}
