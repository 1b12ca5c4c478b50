//! The JSON envelope, the error model and pagination of every `/api` route.
//!
//! Success is `{"success":true,"command":"serve","data":…}` plus
//! `nextCursor` when (and only when) there is a next page; failure is
//! `{"success":false,"command":"serve","error":"…"}` with the status the
//! spec maps the error to.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The `command` of every envelope the server writes.
pub const COMMAND: &str = "serve";

/// A refused or failed request: a status and the envelope's `error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The message.
    pub message: String,
}

impl ApiError {
    /// Creates an error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// A 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// A 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// A 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// A 500 carrying the error chain (a domain error: its text helps).
    pub fn internal(err: &(dyn std::error::Error + 'static)) -> Self {
        tracing::warn!(error = %overstory_core::error::chain_text(err), "REST handler error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            overstory_core::error::chain_text(err),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"success": false, "command": COMMAND, "error": self.message})),
        )
            .into_response()
    }
}

/// Answers `data` in the success envelope.
pub fn ok(data: impl Serialize) -> Response {
    page(data, None)
}

/// Answers one page of `data`, with `nextCursor` when there is more.
pub fn page(data: impl Serialize, next: Option<String>) -> Response {
    let mut body = json!({"success": true, "command": COMMAND, "data": data});
    if let (Some(c), Some(map)) = (next, body.as_object_mut()) {
        map.insert("nextCursor".into(), Value::String(c));
    }
    Json(body).into_response()
}

/// Runs blocking store work off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "a request handler panicked");
        Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal server error",
        ))
    })
}

/// A keyset position: the sort time stamp and id of the last item shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The item's time stamp.
    pub ts: String,
    /// The item's id (numbers as text).
    pub id: String,
}

impl Cursor {
    /// Encodes as base64url of `{"ts":…,"id":…}`.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Decodes [`Cursor::encode`]'s output.
    ///
    /// # Errors
    /// 400 `Invalid cursor`.
    pub fn decode(raw: &str) -> Result<Self, ApiError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(raw.trim_end_matches('='))
            .map_err(|_| ApiError::bad_request("Invalid cursor"))?;
        serde_json::from_slice(&bytes).map_err(|_| ApiError::bad_request("Invalid cursor"))
    }
}

/// Parses `limit` (default 100, 1..=500) as the original does: the leading
/// digits count (`12abc` is 12).
///
/// # Errors
/// 400 `Invalid limit: <raw>`.
pub fn parse_limit(raw: Option<&str>) -> Result<usize, ApiError> {
    let Some(raw) = raw else { return Ok(100) };
    let digits: String = raw
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    match digits.parse::<usize>() {
        Ok(n) if (1..=500).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(format!("Invalid limit: {raw}"))),
    }
}

/// Sorts `items` by `(ts, id)` (descending when `desc`), keeps those after
/// `cursor`, and cuts a page of `limit`; returns it with the next cursor.
///
/// For the small tables (one row per agent or run) only: mail, which grows
/// without bound, is paged in SQL by [`overstory_mail::MailStore::page`]
/// with the same cursor.
pub fn keyset<T>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> (String, String),
    desc: bool,
    limit: usize,
    cursor: Option<&Cursor>,
) -> (Vec<T>, Option<String>) {
    items.sort_by(|a, b| {
        let o = key(a).cmp(&key(b));
        if desc { o.reverse() } else { o }
    });
    if let Some(c) = cursor {
        let at = (c.ts.clone(), c.id.clone());
        items.retain(|i| {
            let k = key(i);
            if desc { k < at } else { k > at }
        });
    }
    let more = items.len() > limit;
    items.truncate(limit);
    let next = more
        .then(|| items.last().map(&key))
        .flatten()
        .map(|(ts, id)| Cursor { ts, id }.encode());
    (items, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_like_the_original() {
        assert_eq!(parse_limit(None).unwrap(), 100);
        assert_eq!(parse_limit(Some("12abc")).unwrap(), 12);
        for bad in ["0", "501", "abc", "-3"] {
            assert_eq!(
                parse_limit(Some(bad)).unwrap_err().message,
                format!("Invalid limit: {bad}")
            );
        }
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor {
            ts: "2026-01-01T00:00:00.000Z".into(),
            id: "7".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(Cursor::decode("!!").is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode(b"{\"ts\":1}")).is_err());
    }

    #[test]
    fn keyset_pages_without_duplicates() {
        let items: Vec<(String, String)> = (0..3)
            .map(|i| (format!("t{i}"), format!("id{i}")))
            .collect();
        let (p1, next) = keyset(items.clone(), Clone::clone, true, 2, None);
        assert_eq!(p1.len(), 2);
        let c = Cursor::decode(&next.unwrap()).unwrap();
        let (p2, next) = keyset(items, Clone::clone, true, 2, Some(&c));
        assert_eq!(p2, vec![("t0".to_owned(), "id0".to_owned())]);
        assert!(next.is_none());
    }
}
