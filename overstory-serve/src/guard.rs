//! The checks every request passes before a handler sees it.
//!
//! In order: the `Host` header must name a loopback host or one of the
//! allowed hosts (403: no DNS rebinding); an `Origin` header, when present,
//! must name one too (403: no cross-site requests or WebSockets); `/api/…`
//! and `/ws` need the token (401), sent as `Authorization: Bearer <token>`,
//! as the `ov_token…` cookie the server sets, or as `?token=` (WebSocket
//! clients that cannot set headers); a POST, PUT or PATCH with a body must
//! say `Content-Type: application/json` (415). A refused request never
//! reaches a handler, so nothing it carried is stored.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use crate::api::ApiError;
use crate::state::ServeState;

/// The cookie name prefix; the full name carries the port, so servers of
/// two projects on one host do not overwrite each other's cookie.
pub(crate) const COOKIE_PREFIX: &str = "ov_token";

/// Returns whether `host` (no port) is a loopback name or address.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") || h.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    h.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// Splits `host[:port]` (or `[v6]:port`) into the host part.
fn host_part(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
        _ => authority,
    }
}

fn port_part(authority: &str) -> Option<&str> {
    let after = match authority.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map(|(_, p)| p)?,
        None => authority,
    };
    after
        .rsplit_once(':')
        .map(|(_, p)| p)
        .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

impl ServeState {
    fn host_allowed(&self, host: &str) -> bool {
        is_loopback_host(host)
            || self
                .allowed_hosts()
                .iter()
                .any(|h| h.eq_ignore_ascii_case(host.trim_start_matches('[').trim_end_matches(']')))
    }
}

/// Returns the token the request carries, if any: the bearer header, then
/// any `ov_token…` cookie, then the `token` query parameter.
fn presented_tokens(headers: &HeaderMap, query: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(t) = v.strip_prefix("Bearer ")
    {
        out.push(t.trim().to_owned());
    }
    for cookie in headers.get_all(header::COOKIE) {
        let Ok(text) = cookie.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((name, value)) = pair.trim().split_once('=')
                && name.starts_with(COOKIE_PREFIX)
            {
                out.push(value.to_owned());
            }
        }
    }
    if let Some(q) = query {
        for pair in q.split('&') {
            if let Some(v) = pair.strip_prefix("token=") {
                out.push(v.to_owned());
            }
        }
    }
    out
}

/// Compares in time independent of where the strings differ.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Returns the cookie name for a request that came in on `headers`' host.
pub(crate) fn cookie_name(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(port_part)
        .map_or_else(
            || COOKIE_PREFIX.to_owned(),
            |p| format!("{COOKIE_PREFIX}_{p}"),
        )
}

/// Returns whether the request carries the server's token.
pub(crate) fn has_token(state: &ServeState, headers: &HeaderMap, query: Option<&str>) -> bool {
    presented_tokens(headers, query)
        .iter()
        .any(|t| same_secret(t, state.token()))
}

/// The middleware; see the [module docs](self).
pub(crate) async fn check(State(state): State<ServeState>, req: Request, next: Next) -> Response {
    match refuse(&state, &req) {
        Some(err) => err.into_response(),
        None => next.run(req).await,
    }
}

fn refuse(state: &ServeState, req: &Request) -> Option<ApiError> {
    let headers = req.headers();
    // HTTP/1.1 always has Host; HTTP/2 has :authority (the URI's).
    let authority = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    match authority {
        Some(a) if state.host_allowed(host_part(&a)) => {}
        Some(a) => {
            return Some(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("Host not allowed: {a}"),
            ));
        }
        None => return Some(ApiError::new(StatusCode::FORBIDDEN, "Missing Host header")),
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let ok = origin
            .to_str()
            .ok()
            .and_then(|o| {
                o.strip_prefix("http://")
                    .or_else(|| o.strip_prefix("https://"))
            })
            .is_some_and(|a| state.host_allowed(host_part(a.trim_end_matches('/'))));
        if !ok {
            return Some(ApiError::new(StatusCode::FORBIDDEN, "Origin not allowed"));
        }
    }
    let path = req.uri().path();
    let protected = path.starts_with("/api/") || path == "/api" || path == "/ws";
    if protected && !has_token(state, headers, req.uri().query()) {
        return Some(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Missing or wrong token: open the URL in .overstory/serve.json",
        ));
    }
    let writes = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
    if writes && has_body(headers) && !is_json(headers) {
        return Some(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Request body must be JSON (Content-Type: application/json)",
        ));
    }
    None
}

fn has_body(headers: &HeaderMap) -> bool {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match length {
        Some(n) => n > 0,
        None => headers.contains_key(header::TRANSFER_ENCODING),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_are_recognised() {
        for h in [
            "localhost",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "app.localhost",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "evil.example",
            "10.0.0.1",
            "0.0.0.0",
            "localhost.evil.example",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn host_and_port_split() {
        assert_eq!(host_part("127.0.0.1:7321"), "127.0.0.1");
        assert_eq!(host_part("[::1]:7321"), "::1");
        assert_eq!(host_part("localhost"), "localhost");
        assert_eq!(port_part("[::1]:7321"), Some("7321"));
        assert_eq!(port_part("localhost"), None);
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
