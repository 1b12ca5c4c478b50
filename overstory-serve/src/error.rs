//! `ServeError`: what can stop a server from starting.

use std::net::SocketAddr;
use std::path::PathBuf;

use overstory_core::FsError;

/// Why a server could not start (requests never fail with this: they get a
/// JSON error envelope).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A non-loopback bind address was asked for without allowing remote access.
    #[error("Refusing to listen on non-loopback address \"{host}\" without allow_remote")]
    RemoteRefused {
        /// The address that was asked for.
        host: String,
    },
    /// The host is not an address this server can bind.
    #[error("Invalid host \"{host}\"")]
    InvalidHost {
        /// The host as given.
        host: String,
    },
    /// Another server already serves this project.
    #[error("A server already runs for this project (pid {})", pid.map_or_else(|| "unknown".to_owned(), |p| p.to_string()))]
    AlreadyRunning {
        /// Its pid, when it recorded one.
        pid: Option<i32>,
        /// Its URL, when `serve.json` names one.
        url: Option<String>,
    },
    /// The address could not be bound (in use, no permission).
    #[error("Failed to listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The instance lock or `serve.json` could not be written.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// `serve.json` could not be written.
    #[error("Failed to write \"{path}\"")]
    State {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The server stopped with an I/O error.
    #[error("The server failed")]
    Io(#[source] std::io::Error),
}

impl ServeError {
    /// Returns the error code of the spec's JSON envelope.
    pub fn code(&self) -> &'static str {
        match self {
            Self::RemoteRefused { .. } | Self::InvalidHost { .. } => "VALIDATION_ERROR",
            Self::AlreadyRunning { .. } => "AGENT_ERROR",
            _ => "SERVE_ERROR",
        }
    }
}
