//! Mail routes: list, thread, send, reply, read, delete (§4, §5).
//!
//! Sending goes through the same path as `ov mail send`
//! ([`overstory_turn::wake::send_and_wake`]): groups resolve against the real
//! fleet, an ended recipient is refused, and a headless recipient is woken
//! (a dispatcher or its host), so mail sent from the browser starts the
//! recipient's next turn whether or not this server keeps running.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use overstory_core::{AgentName, Layout};
use overstory_mail::{
    Address, ListFilter, MailClient, MailError, MailStore, MessageType, PageKey, Priority,
    ROLE_NAMES, ReplyRequest, SendRequest, is_group_address,
};
use overstory_turn::wake::{reply_and_wake, send_and_wake};
use serde_json::{Map, Value, json};

use crate::api::{self, ApiError, Cursor, blocking, parse_limit};
use crate::state::ServeState;

/// 404 for a message id that names no row.
fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Message not found: {id}"))
}

/// The message `id`, or 404.
fn existing(store: &MailStore, id: &str) -> Result<overstory_mail::MailMessage, ApiError> {
    store
        .get(id)
        .map_err(mail_err)?
        .ok_or_else(|| not_found(id))
}

/// The sender when a request names none.
const OPERATOR: &str = "operator";

pub(crate) fn mail_err(e: MailError) -> ApiError {
    match &e {
        MailError::NotFound { id } => not_found(id),
        MailError::TerminalRecipient { .. }
        | MailError::UnknownGroup { .. }
        | MailError::EmptyGroup { .. }
        | MailError::InvalidPayload { .. }
        | MailError::TooLarge { .. }
        | MailError::Invalid(_) => ApiError::bad_request(overstory_core::error::chain_text(&e)),
        _ => ApiError::internal(&e),
    }
}

fn store(layout: &Layout) -> Result<MailStore, ApiError> {
    MailStore::open(layout.mail_db()).map_err(mail_err)
}

/// Parses a JSON object body with the original's messages.
pub(crate) fn object_body(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    let text = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    match serde_json::from_slice::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("Request body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!("Invalid JSON body: {e}"))),
    }
}

/// A required non-empty string field.
pub(crate) fn required(map: &Map<String, Value>, field: &str) -> Result<String, ApiError> {
    match map.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(ApiError::bad_request(format!(
            "Missing or empty field: {field}"
        ))),
    }
}

/// An optional string field; `null` and `""` count as absent.
pub(crate) fn optional(map: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request(format!(
            "Invalid field: {field} must be a string"
        ))),
    }
}

pub(crate) fn sender(map: &Map<String, Value>) -> Result<AgentName, ApiError> {
    let from = optional(map, "from")?.unwrap_or_else(|| OPERATOR.to_owned());
    AgentName::new(&from).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// `GET /api/mail`: newest first; `to`, `from`, `unread=true`.
pub(crate) async fn list(
    State(state): State<ServeState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let limit = parse_limit(q.get("limit").map(String::as_str))?;
    let cursor = q.get("cursor").map(|c| Cursor::decode(c)).transpose()?;
    // `unread=true` filters to unread mail; any other value (the original
    // read it as "read only") means no filter.
    let filter = ListFilter {
        from: q.get("from").cloned(),
        to: q.get("to").cloned(),
        unread: (q.get("unread").map(String::as_str) == Some("true")).then_some(true),
        ..ListFilter::default()
    };
    let after = cursor.map(|c| PageKey {
        created_at: c.ts,
        id: c.id,
    });
    let layout = state.layout().clone();
    // The page is cut in SQL (an indexed keyset query), so a request reads
    // about `limit` rows however much mail the project holds.
    let page = blocking(move || {
        store(&layout)?
            .page(&filter, after.as_ref(), limit)
            .map_err(mail_err)
    })
    .await?;
    for u in &page.undecodable {
        tracing::warn!(seq = u.seq, id = ?u.id, problem = %u.problem, "list mail: skipped a mail row that cannot be read");
    }
    let next = page.next_key().map(|k| {
        Cursor {
            ts: k.created_at,
            id: k.id,
        }
        .encode()
    });
    Ok(api::page(page.messages, next))
}

/// `GET /api/mail/:id`: the message and its whole thread, root included.
pub(crate) async fn get(
    State(state): State<ServeState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let layout = state.layout().clone();
    let data = blocking(move || {
        let store = store(&layout)?;
        let message = existing(&store, &id)?;
        let root = message
            .thread_id
            .clone()
            .unwrap_or_else(|| message.id.clone());
        let mut thread = store.thread(&root).map_err(mail_err)?;
        if thread.is_empty() {
            thread.push(message.clone());
        }
        Ok(json!({"message": message, "thread": thread}))
    })
    .await?;
    Ok(api::ok(data))
}

/// `POST /api/mail`: `{to, subject, body, from?, type?, priority?, payload?}`.
pub(crate) async fn send(
    State(state): State<ServeState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let map = object_body(&body)?;
    let to = required(&map, "to")?;
    let subject = required(&map, "subject")?;
    let text = required(&map, "body")?;
    let from = sender(&map)?;
    let kind = match optional(&map, "type")? {
        None => MessageType::Status,
        Some(t) => t.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid type: \"{t}\". Must be one of: {}",
                MessageType::list()
            ))
        })?,
    };
    let priority = match optional(&map, "priority")? {
        None => Priority::Normal,
        Some(p) => p.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid priority: \"{p}\". Must be one of: {}",
                Priority::list()
            ))
        })?,
    };
    let payload = optional(&map, "payload")?;
    if let Some(p) = &payload
        && serde_json::from_str::<Value>(p).is_err()
    {
        return Err(ApiError::bad_request("Invalid payload: must be JSON text"));
    }
    let address = Address::parse(&to).map_err(mail_err)?;
    let waker = state.waker();
    let layout = state.layout().clone();
    let data = blocking(move || {
        if !is_group_address(&to) && !ROLE_NAMES.contains(&to.as_str()) {
            let roster =
                overstory_turn::roster::roster(&layout).map_err(|e| ApiError::internal(&e))?;
            if roster.find(&to).is_none() {
                return Err(ApiError::bad_request(format!(
                    "Unknown recipient: \"{to}\""
                )));
            }
        }
        let mut req = SendRequest::new(from, address, subject, text)
            .kind(kind)
            .priority(priority);
        req.payload = payload;
        let mut client = MailClient::open(&layout).map_err(mail_err)?;
        let posted = send_and_wake(&mut client, &req, &waker).map_err(mail_err)?;
        let ids: Vec<String> = posted
            .delivery
            .sent
            .iter()
            .map(|s| s.message.id.clone())
            .collect();
        Ok(if posted.delivery.broadcast {
            json!({"messageIds": ids})
        } else {
            json!({"messageId": ids.first()})
        })
    })
    .await?;
    Ok(api::ok(data))
}

/// `POST /api/mail/:id/reply`: `{body, from?}`.
pub(crate) async fn reply(
    State(state): State<ServeState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let layout = state.layout().clone();
    let probe = id.clone();
    let exists = blocking(move || store(&layout)?.get(&probe).map_err(mail_err)).await?;
    if exists.is_none() {
        return Err(not_found(&id));
    }
    let map = object_body(&body)?;
    let text = required(&map, "body")?;
    let from = sender(&map)?;
    let waker = state.waker();
    let layout = state.layout().clone();
    let data = blocking(move || {
        let client = MailClient::open(&layout).map_err(mail_err)?;
        let req = ReplyRequest {
            id,
            body: text,
            from,
            kind: None,
        };
        let (sent, _wakeups) = reply_and_wake(&client, &req, &waker).map_err(mail_err)?;
        Ok(json!({"messageId": sent.message.id}))
    })
    .await?;
    Ok(api::ok(data))
}

/// `POST /api/mail/:id/read` (idempotent).
pub(crate) async fn mark_read(
    State(state): State<ServeState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let layout = state.layout().clone();
    let feed = state.feed().publisher();
    let data = blocking(move || {
        let store = store(&layout)?;
        let message = existing(&store, &id)?;
        store.mark_read(&id).map_err(mail_err)?;
        feed.mail_update(&message, json!({"id": id, "read": true}));
        Ok(json!({"id": id, "read": true}))
    })
    .await?;
    Ok(api::ok(data))
}

/// `DELETE /api/mail/:id`: removes exactly that row.
pub(crate) async fn delete(
    State(state): State<ServeState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let layout = state.layout().clone();
    let feed = state.feed().publisher();
    let data = blocking(move || {
        let store = store(&layout)?;
        let message = existing(&store, &id)?;
        if !store.delete(&id).map_err(mail_err)? {
            return Err(not_found(&id));
        }
        feed.mail_update(&message, json!({"id": id, "deleted": true}));
        Ok(json!({"id": id, "deleted": true}))
    })
    .await?;
    Ok(api::ok(data))
}
