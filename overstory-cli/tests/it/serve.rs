//! `ov serve` wiring: a real server process over an `ov init`-ed project,
//! real HTTP and WebSocket clients, mail sent by another `ov` process.

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Stdio};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::support::{command, initialized_repo, ov};

/// A running `ov serve`, killed (group and all) when dropped.
struct Served {
    child: Child,
    start: Value,
}

impl Served {
    fn start(root: &std::path::Path, extra: &[&str]) -> Self {
        let mut child = command(root)
            .args(["serve", "--port", "0", "--json"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let start: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("startup line is not JSON ({e}): {line:?}"));
        Self { child, start }
    }

    fn port(&self) -> u64 {
        self.start["port"].as_u64().unwrap()
    }

    fn signal(&self, sig: &str) {
        let status = std::process::Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "ov serve did not exit"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_starts_publishes_serve_json_and_removes_it_on_sigterm() {
    let repo = initialized_repo();
    let mut s = Served::start(repo.path(), &[]);
    assert_eq!(s.start["success"], true);
    assert_eq!(s.start["command"], "serve");
    assert_eq!(s.start["status"], "started");
    assert_eq!(s.start["hostname"], "127.0.0.1");
    let state = repo.path().join(".overstory/serve.json");
    let mode = std::fs::metadata(&state).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let info: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(info["port"], s.port());
    assert_eq!(info["pid"], s.child.id());
    let token = info["token"].as_str().unwrap();
    assert_eq!(
        info["url"].as_str().unwrap(),
        format!("http://127.0.0.1:{}/#token={token}", s.port())
    );

    // A second server for the project is refused, naming the first's pid.
    let second = ov(repo.path(), &["serve", "--port", "0"]).fails();
    assert!(
        second.stderr.contains(&format!("pid {}", s.child.id())),
        "{second:#?}"
    );

    s.signal("-TERM");
    assert!(s.wait().success());
    assert!(!state.exists(), "serve.json is removed on SIGTERM");
}

#[test]
fn non_loopback_host_is_refused_without_allow_remote() {
    let repo = initialized_repo();
    let r = ov(repo.path(), &["serve", "--host", "0.0.0.0", "--port", "0"]).fails();
    assert!(r.stderr.contains("non-loopback"), "{r:#?}");
    assert!(r.stderr.contains("--allow-remote"), "{r:#?}");
    let r = ov(repo.path(), &["serve", "--port", "abc"]).fails();
    assert!(r.stderr.contains("Invalid port: abc"), "{r:#?}");
    assert!(!repo.path().join(".overstory/serve.json").exists());
}

#[test]
fn a_killed_server_never_blocks_the_next_start() {
    let repo = initialized_repo();
    let mut first = Served::start(repo.path(), &[]);
    first.signal("-KILL");
    first.wait();
    let second = Served::start(repo.path(), &[]);
    let info: Value = serde_json::from_str(
        &std::fs::read_to_string(repo.path().join(".overstory/serve.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        info["pid"],
        second.child.id(),
        "the new server owns serve.json"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_sent_by_another_ov_process_reaches_a_subscribed_socket() {
    let repo = initialized_repo();
    let s = Served::start(repo.path(), &[]);
    let info: Value = serde_json::from_str(
        &std::fs::read_to_string(repo.path().join(".overstory/serve.json")).unwrap(),
    )
    .unwrap();
    let token = info["token"].as_str().unwrap().to_owned();
    let mut req = format!("ws://127.0.0.1:{}/ws?agent=coordinator", s.port())
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("cookie", format!("ov_token={token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    // The ack proves the socket is registered with the feed.
    ws.send(Message::Text(r#"{"op":"subscribe","room":"mail"}"#.into()))
        .await
        .unwrap();

    let root = repo.path().to_owned();
    let sent = tokio::task::spawn_blocking(move || {
        ov(
            &root,
            &[
                "mail",
                "send",
                "--to",
                "coordinator",
                "--subject",
                "Hello",
                "--body",
                "from the shell",
                "--json",
            ],
        )
        .ok()
        .json()
    })
    .await
    .unwrap();
    let id = sent["id"].as_str().unwrap().to_owned();
    let frame = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Message::Text(t) = ws.next().await.unwrap().unwrap() {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "mail" {
                    return v;
                }
            }
        }
    })
    .await
    .expect("a mail frame within 10 s");
    assert_eq!(frame["payload"]["message"]["id"], id.as_str());
    assert_eq!(frame["payload"]["message"]["body"], "from the shell");
}

#[test]
fn demo_serve_serves_the_demo_project_while_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("demo");
    let r = ov(
        dir.path(),
        &["demo", "--serve", "--dir", project.to_str().unwrap()],
    )
    .ok();
    assert!(
        r.stderr
            .contains("ov serve: watch the swarm at http://127.0.0.1:"),
        "{r:#?}"
    );
    assert!(r.stderr.contains("/#token="), "{r:#?}");
    assert!(
        !project.join(".overstory/serve.json").exists(),
        "the server stopped with the demo"
    );
}

/// The console's coordinator actions reach a real hosted coordinator: the
/// page's `send` is delivered as a turn, and its answer to the operator is
/// stored; `state` reports it running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_talks_to_a_real_hosted_coordinator() {
    let repo = initialized_repo();
    let scripts = repo.path().join(".overstory/scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    std::fs::write(
        scripts.join("coordinator.json"),
        serde_json::json!({"turns": [
            {"steps": [{"say": "coordinator ready"}]},
            {"steps": [{"mail": {"to": "operator", "subject": "answer", "body": "on it"}}]}
        ]})
        .to_string(),
    )
    .unwrap();
    let root = repo.path().to_owned();
    let started = tokio::task::spawn_blocking(move || {
        ov(
            &root,
            &["coordinator", "start", "--runtime", "scripted", "--json"],
        )
    })
    .await
    .unwrap();
    assert_eq!(started.code, 0, "{started:?}");
    let s = Served::start(repo.path(), &[]);
    let info: Value = serde_json::from_str(
        &std::fs::read_to_string(repo.path().join(".overstory/serve.json")).unwrap(),
    )
    .unwrap();
    let token = info["token"].as_str().unwrap().to_owned();
    let base = format!("http://127.0.0.1:{}", s.port());
    let http = reqwest::Client::new();

    let state: Value = http
        .get(format!("{base}/api/coordinator/state"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["data"]["running"], true, "{state}");

    let sent = http
        .post(format!("{base}/api/coordinator/send"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"subject":"Plan","body":"split the work"}"#)
        .send()
        .await
        .unwrap();
    assert!(sent.status().is_success(), "{sent:?}");

    let mail = repo.path().join(".overstory/mail.db");
    let answered = tokio::task::spawn_blocking(move || {
        overstory_testkit::holds_within(Duration::from_secs(60), || {
            overstory_mail::MailStore::open(&mail)
                .and_then(|m| {
                    m.list(&overstory_mail::ListFilter {
                        to: Some("operator".into()),
                        from: Some("coordinator".into()),
                        ..overstory_mail::ListFilter::default()
                    })
                })
                .is_ok_and(|l| l.iter().any(|m| m.body == "on it"))
        })
    })
    .await
    .unwrap();
    let root = repo.path().to_owned();
    let _ = tokio::task::spawn_blocking(move || ov(&root, &["coordinator", "stop"])).await;
    assert!(answered, "the coordinator answered the console's message");
}
