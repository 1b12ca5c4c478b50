//! Category `serve` (chapter 08 §10 and §14.15): the running `ov serve`
//! found through `.overstory/serve.json` (pid, port, token; mode 0600) is
//! alive and answers `/healthz`.
//!
//! The checks read only the file `ov serve` leaves and the port it names
//! (`overstory-serve` depends on this crate, so its own types are not used
//! here). Its UI is embedded in the binary, so there is no `ui/dist` to
//! look for.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use overstory_core::doctor::{Check, Finding, Fix};
use overstory_core::process;

use super::Probe;

const CATEGORY: &str = "serve";
const TIMEOUT: Duration = Duration::from_secs(1);

pub(super) fn findings(p: &Probe<'_>) -> Vec<Finding> {
    let path = p.layout.serve_state();
    let Ok(text) = std::fs::read_to_string(&path) else {
        return vec![
            Check::pass(
                CATEGORY,
                "serve",
                "ov serve is not running (no .overstory/serve.json); start it with ov serve when you want the web UI",
            )
            .into(),
        ];
    };
    let parsed: Option<(i32, u16)> = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            let pid = i32::try_from(v.get("pid")?.as_i64()?).ok()?;
            let port = u16::try_from(v.get("port")?.as_u64()?).ok()?;
            Some((pid, port))
        });
    let Some((pid, port)) = parsed else {
        return vec![Finding::fixable(
            Check::fail(
                CATEGORY,
                "serve",
                ".overstory/serve.json does not hold a pid and a port: run ov doctor --fix to remove it, then restart ov serve",
            ),
            vec![Fix::RemoveFile(path)],
        )];
    };
    if !process::is_alive(pid) {
        return vec![Finding::fixable(
            Check::warn(
                CATEGORY,
                "serve",
                format!(
                    "Stale .overstory/serve.json: ov serve (pid {pid}) is not running; run ov doctor --fix to remove it"
                ),
            ),
            vec![Fix::RemoveFile(path)],
        )];
    }
    let mut out = vec![Finding::of(health(pid, port))];
    out.push(permissions(&path).into());
    out
}

/// `GET /healthz` on the loopback port: a 2xx `command: "serve"` envelope passes.
fn health(pid: i32, port: u16) -> Check {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let answer = TcpStream::connect_timeout(&addr, TIMEOUT).and_then(|mut s| {
        s.set_read_timeout(Some(TIMEOUT))?;
        s.set_write_timeout(Some(TIMEOUT))?;
        s.write_all(
            format!("GET /healthz HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )?;
        let mut body = String::new();
        let _ = s.take(64 * 1024).read_to_string(&mut body);
        Ok(body)
    });
    match answer {
        Err(e) => Check::warn(
            CATEGORY,
            "serve",
            format!("ov serve (pid {pid}) does not answer on 127.0.0.1:{port} ({e}); restart it"),
        ),
        Ok(reply) => {
            let ok = reply
                .split_whitespace()
                .nth(1)
                .is_some_and(|code| code.starts_with('2'));
            // ov serve's health reply is its `command: "serve"` envelope.
            if ok && reply.contains("\"command\":\"serve\"") {
                Check::pass(
                    CATEGORY,
                    "serve",
                    format!("ov serve (pid {pid}) answers on 127.0.0.1:{port}"),
                )
            } else {
                let first = reply.lines().next().unwrap_or("no reply").to_owned();
                Check::warn(
                    CATEGORY,
                    "serve",
                    format!(
                        "Port {port} answers /healthz with \"{first}\", not ov serve's health reply: \
                         another program may hold the port; restart ov serve"
                    ),
                )
            }
        }
    }
}

/// `serve.json` holds the access token: nobody else may read it.
fn permissions(path: &Path) -> Check {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).map_or(0, |m| m.permissions().mode());
    if mode & 0o077 == 0 {
        Check::pass(
            CATEGORY,
            "serve token",
            "serve.json is readable by its owner only",
        )
    } else {
        Check::warn(
            CATEGORY,
            "serve token",
            format!(
                "serve.json (it holds the access token) has mode {:o}: chmod 600 .overstory/serve.json",
                mode & 0o777
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use overstory_core::Layout;
    use overstory_core::doctor::CheckStatus;
    use std::net::TcpListener;
    use std::os::unix::fs::PermissionsExt as _;

    fn checks(layout: &Layout) -> Vec<Finding> {
        findings(&Probe::with_defaults(layout))
    }

    fn write_state(layout: &Layout, text: &str, mode: u32) {
        let path = layout.serve_state();
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn no_serve_json_passes_and_garbage_fails() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.dir()).unwrap();
        let f = checks(&layout);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].check.status, CheckStatus::Pass);
        write_state(&layout, "{not json", 0o600);
        let f = checks(&layout);
        assert_eq!(f[0].check.status, CheckStatus::Fail);
        assert!(matches!(f[0].fixes[..], [Fix::RemoveFile(_)]));
    }

    #[test]
    fn a_live_server_must_answer_healthz_and_guard_its_token() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.dir()).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 32\r\n\r\n{\"success\":true,\"command\":\"serve\"}")
                .unwrap();
        });
        let me = std::process::id();
        write_state(
            &layout,
            &format!("{{\"pid\":{me},\"port\":{port},\"token\":\"t\"}}"),
            0o644,
        );
        let f = checks(&layout);
        server.join().unwrap();
        assert_eq!(f[0].check.status, CheckStatus::Pass, "{:?}", f[0].check);
        let token = f.iter().find(|f| f.check.name == "serve token").unwrap();
        assert_eq!(token.check.status, CheckStatus::Warn);
        assert!(token.check.message.contains("chmod 600"));

        // Nothing listens any more: the port does not answer.
        write_state(&layout, &format!("{{\"pid\":{me},\"port\":{port}}}"), 0o600);
        let f = checks(&layout);
        assert_eq!(f[0].check.status, CheckStatus::Warn);
        assert!(
            f[0].check.message.contains("does not answer"),
            "{}",
            f[0].check.message
        );
    }
}
