//! Starting a server for a project: refuse unsafe binds, take the instance
//! lock, bind, publish `serve.json`, serve until told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use overstory_core::Layout;
use tokio::net::TcpListener;

use crate::error::ServeError;
use crate::guard::is_loopback_host;
use crate::instance::{Instance, ServeInfo, base_url, new_token};
use crate::state::{ServeOptions, ServeState};

/// How long a stopping server waits for open requests (an `ask`) to end.
const DRAIN: Duration = Duration::from_secs(2);

/// The choices of [`Server::bind`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BindOptions {
    /// The project.
    pub layout: Layout,
    /// The address to listen on (`127.0.0.1`).
    pub host: String,
    /// The port (`7321`; 0 picks a free one).
    pub port: u16,
    /// Allow a non-loopback `host`.
    pub allow_remote: bool,
    /// The `ov` executable for waking agents (see [`ServeOptions::ov`]).
    pub ov: Option<PathBuf>,
    /// Serve the UI from this directory.
    pub ui_dir: Option<PathBuf>,
}

impl BindOptions {
    /// Loopback on the default port 7321.
    pub fn new(layout: Layout) -> Self {
        Self {
            layout,
            host: "127.0.0.1".into(),
            port: crate::DEFAULT_PORT,
            allow_remote: false,
            ov: None,
            ui_dir: None,
        }
    }
}

/// A bound server that has published `serve.json`; [`Server::run`] serves.
/// Dropping it (or the end of `run`) removes `serve.json`.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    state: ServeState,
    info: ServeInfo,
    instance: Instance,
}

impl Server {
    /// Checks the host, takes the project's instance lock, binds, writes
    /// `serve.json` and starts the change feed, in that order (nothing is
    /// started before the bind succeeded).
    ///
    /// # Errors
    /// [`ServeError::RemoteRefused`], [`ServeError::InvalidHost`],
    /// [`ServeError::AlreadyRunning`], [`ServeError::Bind`],
    /// [`ServeError::State`].
    ///
    /// # Cancel safety
    /// Dropping the future before it completes releases the lock and
    /// leaves no `serve.json`.
    pub async fn bind(opts: BindOptions) -> Result<Self, ServeError> {
        let host = opts.host.trim().to_owned();
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let is_ip = bare.parse::<std::net::IpAddr>().is_ok();
        if !is_ip && !bare.eq_ignore_ascii_case("localhost") {
            return Err(ServeError::InvalidHost { host });
        }
        let loopback = is_loopback_host(&bare);
        if !loopback && !opts.allow_remote {
            return Err(ServeError::RemoteRefused { host });
        }
        let instance = Instance::claim(&opts.layout)?;
        let listener = TcpListener::bind((bare.as_str(), opts.port))
            .await
            .map_err(|source| ServeError::Bind {
                addr: SocketAddr::new(
                    bare.parse().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()),
                    opts.port,
                ),
                source,
            })?;
        let port = listener.local_addr().map_err(ServeError::Io)?.port();
        let token = new_token();
        let unspecified = bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified());
        let url_host = if unspecified {
            "127.0.0.1"
        } else {
            bare.as_str()
        };
        let info = ServeInfo {
            url: format!("{}/#token={token}", base_url(url_host, port)),
            token: token.clone(),
            port,
            host: bare.clone(),
            pid: std::process::id(),
            started_at: overstory_core::clock::now_rfc3339(),
        };
        instance.publish(&info)?;
        let mut serve_opts = ServeOptions::new(opts.layout, token);
        serve_opts.ov = opts.ov;
        serve_opts.ui_dir = opts.ui_dir;
        if !loopback && !unspecified {
            serve_opts.allowed_hosts.push(bare);
        }
        Ok(Self {
            listener,
            state: ServeState::new(serve_opts),
            info,
            instance,
        })
    }

    /// Returns what `serve.json` holds.
    pub fn info(&self) -> &ServeInfo {
        &self.info
    }

    /// Returns the shared state (to mount more routes, or to stop sockets).
    pub fn state(&self) -> &ServeState {
        &self.state
    }

    /// Serves until `shutdown` completes, then closes WebSockets, waits up
    /// to 2 s for open requests, and removes `serve.json`.
    ///
    /// # Errors
    /// [`ServeError::Io`] when accepting connections fails.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let Self {
            listener,
            state,
            info: _,
            instance,
        } = self;
        let router = crate::router(state.clone());
        let result = serve(listener, router, state, shutdown).await;
        drop(instance);
        result.map_err(ServeError::Io)
    }
}

/// Serves `router` on `listener` until `shutdown` completes; then tells
/// `state`'s sockets to close and waits up to 2 s for open requests. For
/// embedders that bind their own listener (no lock, no `serve.json`).
///
/// # Errors
/// The I/O error that stopped accepting connections.
///
/// # Cancel safety
/// Dropping the future closes the listener and every connection.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    state: ServeState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let graceful =
        axum::serve(listener, router.into_make_service()).with_graceful_shutdown(async move {
            let _ = stop_rx.await;
        });
    let mut graceful = std::pin::pin!(graceful.into_future());
    tokio::select! {
        r = &mut graceful => return r,
        () = shutdown => {}
    }
    state.begin_shutdown();
    let _ = stop_tx.send(());
    match tokio::time::timeout(DRAIN, graceful).await {
        Ok(r) => r,
        Err(_) => Ok(()),
    }
}
