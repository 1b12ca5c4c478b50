//! One server per project: the instance lock and `.overstory/serve.json`.
//!
//! Starting takes an OS lock on `.overstory/serve.lock` (released by the
//! kernel if the server dies, so a crash never blocks the next start) and
//! then writes `serve.json` with mode 0600 through a temporary file and a
//! rename, so no reader ever sees half of it and no other user can read the
//! token. Dropping the [`Instance`] removes `serve.json` before it releases
//! the lock.

use std::path::{Path, PathBuf};

use overstory_core::Layout;
use overstory_core::lockfile::{self, FileLock};
use serde::{Deserialize, Serialize};

use crate::error::ServeError;

/// What `.overstory/serve.json` holds while a server runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServeInfo {
    /// The per-start secret every `/api` and `/ws` request must carry.
    pub token: String,
    /// The bound port (the real one when 0 was asked for).
    pub port: u16,
    /// The bound host.
    pub host: String,
    /// What a person opens: the UI with the token in the fragment.
    pub url: String,
    /// The server's process id.
    pub pid: u32,
    /// When it started (RFC 3339).
    pub started_at: String,
}

impl ServeInfo {
    /// Reads `serve.json` of `layout`, if it exists and parses.
    pub fn read(layout: &Layout) -> Option<Self> {
        let text = std::fs::read_to_string(layout.serve_state()).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Returns the base URL without the token (`http://host:port`).
    pub fn base_url(&self) -> String {
        base_url(&self.host, self.port)
    }
}

/// Returns `http://host:port`, bracketing an IPv6 host.
pub fn base_url(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("http://[{host}]:{port}")
    } else {
        format!("http://{host}:{port}")
    }
}

/// The lock file next to `serve.json`.
pub fn lock_path(layout: &Layout) -> PathBuf {
    layout.dir().join("serve.lock")
}

/// This process's claim to serve a project; see the [module docs](self).
#[derive(Debug)]
pub struct Instance {
    lock: Option<FileLock>,
    state: PathBuf,
}

impl Instance {
    /// Takes the project's instance lock without waiting.
    ///
    /// # Errors
    /// [`ServeError::AlreadyRunning`] naming the holder's pid when another
    /// server holds it; [`ServeError::Fs`] when the lock file cannot be made.
    pub fn claim(layout: &Layout) -> Result<Self, ServeError> {
        let path = lock_path(layout);
        match FileLock::try_acquire(&path)? {
            Some(lock) => {
                lock.record_pid();
                Ok(Self {
                    lock: Some(lock),
                    state: layout.serve_state(),
                })
            }
            None => Err(ServeError::AlreadyRunning {
                pid: lockfile::holder_pid(&path),
                url: ServeInfo::read(layout).map(|i| i.base_url()),
            }),
        }
    }

    /// Writes `serve.json` (mode 0600, atomically).
    ///
    /// # Errors
    /// [`ServeError::State`] when it cannot be written.
    pub fn publish(&self, info: &ServeInfo) -> Result<(), ServeError> {
        let mut text = serde_json::to_string_pretty(info).map_err(|e| ServeError::State {
            path: self.state.clone(),
            source: std::io::Error::other(e),
        })?;
        text.push('\n');
        overstory_core::fsio::write_atomic_private(&self.state, text).map_err(|e| {
            ServeError::State {
                path: e.path,
                source: e.source,
            }
        })
    }

    /// Returns the path of `serve.json`.
    pub fn state_path(&self) -> &Path {
        &self.state
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.state);
        if let Some(lock) = self.lock.take() {
            lock.release_clearing();
        }
    }
}

/// Returns a new random token: 32 bytes as 64 hex digits.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: fall back to the id generator rather than a
        // constant (it mixes time and process id).
        return overstory_core::ids::random_alnum(64);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn serve_json_is_private_and_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.dir()).unwrap();
        let inst = Instance::claim(&layout).unwrap();
        let info = ServeInfo {
            token: new_token(),
            port: 1,
            host: "127.0.0.1".into(),
            url: "http://127.0.0.1:1/#token=x".into(),
            pid: std::process::id(),
            started_at: overstory_core::clock::now_rfc3339(),
        };
        inst.publish(&info).unwrap();
        let mode = std::fs::metadata(layout.serve_state())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(ServeInfo::read(&layout).unwrap(), info);
        drop(inst);
        assert!(!layout.serve_state().exists());
    }

    #[test]
    fn tokens_are_long_and_distinct() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        assert_eq!(base_url("::1", 7), "http://[::1]:7");
        assert_eq!(base_url("127.0.0.1", 7), "http://127.0.0.1:7");
    }
}
