//! The web UI: embedded in the binary, or served from `--ui-dir`.
//!
//! Every path that is not `/api/…`, `/ws` or `/healthz` is the UI. A named
//! file is served with its type; anything else gets `index.html` (the
//! single-page app routes on the client). A page opened with `?token=…`
//! gets the token as a `SameSite=Strict`, `HttpOnly` cookie and is
//! redirected to the same path without it.

use std::path::{Component, Path, PathBuf};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};

use crate::api::ApiError;
use crate::guard;
use crate::state::ServeState;

/// The embedded files: path, content type, bytes.
const EMBEDDED: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../ui/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../ui/app.css"),
    ),
];

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "map" => "application/json",
        _ => "application/octet-stream",
    }
}

fn file(ctype: &str, bytes: Vec<u8>) -> Response {
    let mut r = bytes.into_response();
    if let Ok(v) = HeaderValue::from_str(ctype) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        ),
    );
    r
}

/// Returns the token cookie for `state`, named for the request's port.
pub(crate) fn token_cookie(
    state: &ServeState,
    headers: &axum::http::HeaderMap,
) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{}={}; Path=/; HttpOnly; SameSite=Strict",
        guard::cookie_name(headers),
        state.token()
    ))
    .ok()
}

/// The UI handler (the router's fallback for non-API paths).
pub(crate) async fn serve(State(state): State<ServeState>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if path.starts_with("/api/") || path == "/api" {
        return ApiError::not_found("Not found").into_response();
    }
    // `?token=` exchanges the token for the cookie, then drops it from the URL.
    if let Some(q) = req.uri().query()
        && q.split('&').any(|p| p.starts_with("token="))
    {
        if !guard::has_token(&state, req.headers(), Some(q)) {
            return ApiError::new(StatusCode::UNAUTHORIZED, "Wrong token").into_response();
        }
        let mut r = (StatusCode::SEE_OTHER, ()).into_response();
        if let Ok(loc) = HeaderValue::from_str(&path) {
            r.headers_mut().insert(header::LOCATION, loc);
        }
        if let Some(c) = token_cookie(&state, req.headers()) {
            r.headers_mut().insert(header::SET_COOKIE, c);
        }
        return r;
    }
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "index.html" } else { rel };
    match state.ui_dir() {
        Some(dir) => from_dir(dir, rel),
        None => embedded(rel),
    }
}

fn embedded(rel: &str) -> Response {
    let found = EMBEDDED
        .iter()
        .find(|(p, _, _)| *p == rel)
        .or_else(|| EMBEDDED.iter().find(|(p, _, _)| *p == "index.html"));
    match found {
        Some((_, ctype, bytes)) => file(ctype, bytes.to_vec()),
        None => (StatusCode::NOT_FOUND, "Not found").into_response(),
    }
}

fn from_dir(dir: &Path, rel: &str) -> Response {
    let escapes = Path::new(rel)
        .components()
        .any(|c| !matches!(c, Component::Normal(_)));
    if escapes {
        return ApiError::new(StatusCode::FORBIDDEN, "Forbidden").into_response();
    }
    let candidate: PathBuf = dir.join(rel);
    // Symlinks must not lead out of the directory either.
    let inside = |p: &Path| match (p.canonicalize(), dir.canonicalize()) {
        (Ok(p), Ok(d)) => p.starts_with(d),
        _ => false,
    };
    if candidate.is_file() {
        if !inside(&candidate) {
            return ApiError::new(StatusCode::FORBIDDEN, "Forbidden").into_response();
        }
        return match std::fs::read(&candidate) {
            Ok(b) => file(content_type(&candidate), b),
            Err(_) => (StatusCode::NOT_FOUND, "Not found").into_response(),
        };
    }
    let index = dir.join("index.html");
    match std::fs::read(&index) {
        Ok(b) => file("text/html; charset=utf-8", b),
        Err(_) => (StatusCode::NOT_FOUND, "Not found").into_response(),
    }
}
