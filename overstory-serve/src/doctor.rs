//! The `serve` category of `ov doctor`: is a server up, and is it ours?
//!
//! Two checks. `serve ui` passes: the UI is embedded in the binary, so there
//! is nothing to build. `serve port` reads `serve.json` and probes the port
//! it names with `GET /healthz` (1 s): a running server must answer with a
//! `command:"serve"` envelope; a `serve.json` whose process is gone is
//! stale (left by a kill -9) and harmless; no `serve.json` means no server.

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::time::Duration;

use overstory_core::Layout;
use overstory_core::doctor::Check;

use crate::instance::ServeInfo;

const CATEGORY: &str = "serve";

/// Returns the `serve` checks for `layout`.
pub fn checks(layout: &Layout) -> Vec<Check> {
    vec![
        Check::pass(CATEGORY, "serve ui", "The web UI is embedded in the binary"),
        port_check(layout),
    ]
}

fn port_check(layout: &Layout) -> Check {
    let name = "serve port";
    let Some(info) = ServeInfo::read(layout) else {
        return Check::pass(
            CATEGORY,
            name,
            "ov serve is not running (no .overstory/serve.json)",
        );
    };
    let alive = i32::try_from(info.pid).is_ok_and(overstory_core::process::is_alive);
    if !alive {
        return Check::warn(
            CATEGORY,
            name,
            format!(
                "serve.json is stale: pid {} is gone; start ov serve again or delete .overstory/serve.json",
                info.pid
            ),
        );
    }
    match probe(&info.host, info.port) {
        Some(body) if body.contains("\"command\":\"serve\"") => Check::pass(
            CATEGORY,
            name,
            format!(
                "ov serve (pid {}) is reachable on {}",
                info.pid,
                info.base_url()
            ),
        ),
        Some(_) => Check::warn(
            CATEGORY,
            name,
            format!("{} answers, but not as ov serve", info.base_url()),
        ),
        None => Check::warn(
            CATEGORY,
            name,
            format!(
                "ov serve (pid {}) does not answer on {}",
                info.pid,
                info.base_url()
            ),
        ),
    }
}

/// `GET /healthz` with a 1 s budget; returns the response text.
fn probe(host: &str, port: u16) -> Option<String> {
    let host = if host == "0.0.0.0" || host == "::" {
        "127.0.0.1"
    } else {
        host
    };
    let addr = (host, port).to_socket_addrs().ok()?.next()?;
    let timeout = Duration::from_secs(1);
    let mut s = TcpStream::connect_timeout(&addr, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    let req =
        format!("GET /healthz HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.take(64 * 1024).read_to_string(&mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_serve_json_means_no_server_and_a_dead_pid_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.dir()).unwrap();
        let c = checks(&layout);
        assert_eq!(c.len(), 2);
        assert!(c.iter().all(|c| c.category == "serve"));
        assert_eq!(c[1].status, overstory_core::doctor::CheckStatus::Pass);
        let info = ServeInfo {
            token: "t".into(),
            port: 9,
            host: "127.0.0.1".into(),
            url: String::new(),
            pid: 999_999_999,
            started_at: String::new(),
        };
        std::fs::write(layout.serve_state(), serde_json::to_string(&info).unwrap()).unwrap();
        let c = checks(&layout);
        assert_eq!(c[1].status, overstory_core::doctor::CheckStatus::Warn);
        assert!(c[1].message.contains("stale"), "{}", c[1].message);
    }
}
