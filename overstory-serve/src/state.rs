//! `ServeState`: what every handler shares.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use overstory_core::Layout;
use overstory_turn::wake::Waker;
use tokio::sync::{Semaphore, watch};

use crate::feed::Feed;

/// How many `coordinator/ask` long-polls may wait at once.
const MAX_ASKS: usize = 4;
/// How many WebSockets may be open at once.
const MAX_SOCKETS: usize = 256;

/// The choices of a server. Build with [`ServeOptions::new`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServeOptions {
    /// The project.
    pub layout: Layout,
    /// The secret `/api` and `/ws` requests must carry.
    pub token: String,
    /// The `ov` executable that woken agents' dispatchers and persistent
    /// agents run as; `None` stores mail without waking anyone.
    pub ov: Option<PathBuf>,
    /// Host names accepted in `Host` and `Origin` besides loopback names
    /// (the bound non-loopback address, a name it is reached by).
    pub allowed_hosts: Vec<String>,
    /// Serve the UI from this directory instead of the embedded one.
    pub ui_dir: Option<PathBuf>,
    /// How often the change feed asks SQLite whether a database changed.
    pub poll_interval: Duration,
    /// How many frames a socket may fall behind before it is closed (1013).
    pub queue_frames: usize,
}

impl ServeOptions {
    /// Options for `layout` with `token`, loopback only, the embedded UI,
    /// a 5 ms change check and 1024 queued frames per socket.
    pub fn new(layout: Layout, token: impl Into<String>) -> Self {
        Self {
            layout,
            token: token.into(),
            ov: None,
            allowed_hosts: Vec::new(),
            ui_dir: None,
            poll_interval: Duration::from_millis(5),
            queue_frames: 1024,
        }
    }
}

/// What the handlers share: the project, the token, the change feed. Cheap
/// to clone.
#[derive(Debug, Clone)]
pub struct ServeState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    opts: ServeOptions,
    started: Instant,
    feed: Feed,
    shutdown_tx: watch::Sender<bool>,
    shutdown_rx: watch::Receiver<bool>,
    asks: Semaphore,
    sockets: Arc<Semaphore>,
}

impl ServeState {
    /// Creates the state and starts the change feed (a thread that watches
    /// the project's databases; it stops when the last clone is dropped).
    pub fn new(opts: ServeOptions) -> Self {
        let feed = Feed::start(opts.layout.clone(), opts.poll_interval, opts.queue_frames);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                opts,
                started: Instant::now(),
                feed,
                shutdown_tx,
                shutdown_rx,
                asks: Semaphore::new(MAX_ASKS),
                sockets: Arc::new(Semaphore::new(MAX_SOCKETS)),
            }),
        }
    }

    /// Returns the project.
    pub fn layout(&self) -> &Layout {
        &self.inner.opts.layout
    }

    /// Returns the token.
    pub fn token(&self) -> &str {
        &self.inner.opts.token
    }

    pub(crate) fn allowed_hosts(&self) -> &[String] {
        &self.inner.opts.allowed_hosts
    }

    pub(crate) fn ui_dir(&self) -> Option<&Path> {
        self.inner.opts.ui_dir.as_deref()
    }

    pub(crate) fn ov(&self) -> Option<&Path> {
        self.inner.opts.ov.as_deref()
    }

    pub(crate) fn waker(&self) -> Waker {
        let layout = self.layout().clone();
        match self.ov() {
            Some(ov) => Waker::new(layout, ov),
            None => Waker::without_ov(layout, "this server was started without an ov executable"),
        }
    }

    pub(crate) fn uptime_ms(&self) -> u128 {
        self.inner.started.elapsed().as_millis()
    }

    pub(crate) fn feed(&self) -> &Feed {
        &self.inner.feed
    }

    pub(crate) fn asks(&self) -> &Semaphore {
        &self.inner.asks
    }

    pub(crate) fn socket_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.inner.sockets.clone().try_acquire_owned().ok()
    }

    /// Tells open WebSockets to close, so a graceful shutdown can finish.
    pub fn begin_shutdown(&self) {
        let _ = self.inner.shutdown_tx.send(true);
    }

    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown_rx.clone()
    }
}
