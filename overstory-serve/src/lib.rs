//! The REST + WebSocket surface of overstory and its embedded web UI.
//!
//! # The model
//!
//! [`router`] returns an axum [`Router`] over one project's databases that
//! an embedding program can mount in its own server; [`Server`] is the
//! whole `ov serve`: it refuses a non-loopback bind unless asked, takes the
//! project's instance lock (one server per project), binds, writes
//! `.overstory/serve.json` (mode 0600: `token`, `port`, `url`, `pid`) and
//! serves until its shutdown future completes, then removes the file.
//!
//! - **REST** (`/api/…`) has the original's routes and wire shapes: runs,
//!   agents, events, mail with threads, mail actions and coordinator
//!   actions, in the envelope `{"success":…,"command":"serve",…}`.
//! - **WebSocket** (`/ws?mail=true|run=<id>|agent=<name>|fleet=true`)
//!   pushes `event`, `mail`, `mail_update`, `agent_state` and `run` frames.
//!   Changes are found by asking SQLite (`PRAGMA data_version`) every few
//!   milliseconds and read by row id, so nothing is lost and an idle server
//!   costs next to nothing; `afterEventId`/`afterMailId` resume losslessly.
//! - **UI**: every other path serves the embedded single-page app (or
//!   `ui_dir`).
//! - **Safety**: `Host` must be loopback or an allowed host and an `Origin`
//!   must match (403); `/api` and `/ws` need the token as a bearer header,
//!   cookie or `?token=` (401); a POST body must be JSON (415).
//!
//! The server only shows the fleet and takes input: mail sent through it
//! is stored and its headless recipient woken exactly as `ov mail send`
//! does, so agents do not depend on a server running.
//!
//! # Example
//!
//! Mounting the surface in an embedding program's own server, next to its
//! own routes (the UI uses absolute paths: merge it at the root):
//!
//! ```
//! use overstory_core::Layout;
//! use overstory_serve::{ServeOptions, ServeState, router, serve};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let layout = Layout::new(dir.path());
//! std::fs::create_dir_all(layout.dir())?;
//! let state = ServeState::new(ServeOptions::new(layout, "a-long-random-token"));
//! let app: axum::Router = axum::Router::new()
//!     .route("/mine", axum::routing::get(|| async { "my route" }))
//!     .merge(router(state.clone()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! // Serves until the shutdown future completes (here: at once).
//! serve(listener, app, state, async {}).await?;
//! # Ok(())
//! # }
//! ```
//!
//! `ov serve` itself is [`Server::bind`] then [`Server::run`] with a
//! future that completes on SIGINT or SIGTERM.
//!
//! # Caveats
//!
//! - [`ServeState::new`] starts one thread (the change feed); it stops when
//!   the last clone of the state is dropped. No async runtime is started:
//!   the caller's runs the server.
//! - Coordinator `start`, `send` and `ask` need the `ov` executable
//!   ([`ServeOptions::ov`]); without it they answer 409.
#![deny(missing_docs)]

mod api;
mod coordinator_api;
mod error;
mod feed;
mod guard;
mod instance;
mod mail_api;
mod rest;
mod server;
mod state;
mod ui;
mod ws;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};

pub use api::{ApiError, COMMAND};
pub use error::ServeError;
pub use guard::is_loopback_host;
pub use instance::{Instance, ServeInfo, lock_path, new_token};
pub use server::{BindOptions, Server, serve};
pub use state::{ServeOptions, ServeState};

/// The default port (`DEFAULT_SERVE_PORT` of the original).
pub const DEFAULT_PORT: u16 = 7321;

/// `POST /api/session`: a page that has the token (from the URL fragment)
/// trades it for the `HttpOnly` cookie, so its WebSockets and fetches carry
/// it without the script holding it.
async fn session(State(state): State<ServeState>, headers: HeaderMap) -> Response {
    let mut r = api::ok(serde_json::json!({"authenticated": true}));
    if let Some(c) = ui::token_cookie(&state, &headers) {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    r
}

async fn method_not_allowed() -> Response {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
    )
    .into_response()
}

/// Returns the whole surface over `state`'s project: `/healthz`, `/api/…`,
/// `/ws` and the UI, behind the Host/Origin/token/content-type checks.
pub fn router(state: ServeState) -> Router {
    Router::new()
        .route("/healthz", axum::routing::any(rest::healthz))
        .route("/ws", get(ws::upgrade))
        .route("/api/session", post(session))
        .route("/api/runs", get(rest::list_runs))
        .route("/api/runs/{id}", get(rest::get_run))
        .route("/api/agents", get(rest::list_agents))
        .route("/api/agents/{name}", get(rest::get_agent))
        .route("/api/events", get(rest::list_events))
        .route("/api/mail", get(mail_api::list).post(mail_api::send))
        .route(
            "/api/mail/{id}",
            get(mail_api::get).delete(mail_api::delete),
        )
        .route("/api/mail/{id}/read", post(mail_api::mark_read))
        .route("/api/mail/{id}/reply", post(mail_api::reply))
        .route("/api/coordinator/state", get(coordinator_api::state))
        .route("/api/coordinator/send", post(coordinator_api::send))
        .route("/api/coordinator/ask", post(coordinator_api::ask))
        .route(
            "/api/coordinator/check-complete",
            post(coordinator_api::check_complete),
        )
        .route("/api/coordinator/start", post(coordinator_api::start))
        .route("/api/coordinator/stop", post(coordinator_api::stop))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(ui::serve)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::check,
        ))
        .with_state(state)
}
