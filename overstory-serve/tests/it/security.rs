//! Safe by default: token, Host, Origin, JSON bodies, one server per project.

use std::os::unix::fs::PermissionsExt as _;

use overstory_serve::{BindOptions, ServeError, ServeInfo, Server};
use serde_json::json;

use crate::support::{Fixture, client};

#[tokio::test]
async fn api_without_token_is_401_and_healthz_needs_none() {
    let f = Fixture::start().await;
    let r = client().get(f.url("/api/runs")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(body["command"], "serve");
    let r = client()
        .get(f.url("/api/runs"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client().get(f.url("/ws?mail=true")).send().await.unwrap();
    assert_eq!(r.status(), 401);

    let r = client().get(f.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let h: serde_json::Value = r.json().await.unwrap();
    assert_eq!(h["success"], true);
    assert_eq!(h["data"]["status"], "ok");
    assert!(h["data"]["uptimeMs"].as_u64().is_some());
    assert!(!h["data"]["version"].as_str().unwrap().is_empty());

    let (status, body) = f.get("/api/runs").await;
    assert_eq!(status, 200);
    assert_eq!(body["data"], json!([]));
}

#[tokio::test]
async fn foreign_host_and_origin_are_403() {
    let f = Fixture::start().await;
    let r = client()
        .get(f.url("/api/runs"))
        .bearer_auth(&f.info.token)
        .header("host", "evil.example:7321")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client()
        .get(f.url("/"))
        .header("host", "rebind.evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "the UI is behind the Host check too");
    let r = client()
        .get(f.url("/api/runs"))
        .bearer_auth(&f.info.token)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // A simple cross-site POST is refused before anything is stored.
    let r = client()
        .post(f.url("/api/mail"))
        .bearer_auth(&f.info.token)
        .header("origin", "https://evil.example")
        .json(&json!({"to": "coordinator", "subject": "s", "body": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client()
        .get(f.url("/api/runs"))
        .bearer_auth(&f.info.token)
        .header("origin", f.base.clone())
        .header("host", "localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "same-origin and localhost are fine");
    let (_, mail) = f.get("/api/mail").await;
    assert_eq!(mail["data"], json!([]));
}

#[tokio::test]
async fn post_bodies_must_be_json() {
    let f = Fixture::start().await;
    let r = client()
        .post(f.url("/api/mail"))
        .bearer_auth(&f.info.token)
        .header("content-type", "text/plain")
        .body(r#"{"to":"coordinator","subject":"s","body":"b"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let (_, mail) = f.get("/api/mail").await;
    assert_eq!(
        mail["data"],
        json!([]),
        "nothing a refused request carried is stored"
    );
}

#[tokio::test]
async fn the_page_trades_the_token_for_a_strict_httponly_cookie() {
    let f = Fixture::start().await;
    let r = client()
        .post(f.url("/api/session"))
        .bearer_auth(&f.info.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_owned();
    let r = client()
        .get(f.url("/api/agents"))
        .header("cookie", pair)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // `?token=` on a page sets the cookie and drops the token from the URL.
    let r = client()
        .get(f.url(&format!("/mail?token={}", f.info.token)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/mail");
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("HttpOnly")
    );
}

#[tokio::test]
async fn serve_json_is_private_names_the_token_and_goes_on_shutdown() {
    let mut f = Fixture::start().await;
    let path = f.layout.serve_state();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let info = ServeInfo::read(&f.layout).unwrap();
    assert_eq!(info.pid, std::process::id());
    assert_eq!(info.url, format!("{}/#token={}", f.base, info.token));
    assert_eq!(info.token.len(), 64);
    f.stop().await;
    assert!(!path.exists());
    assert!(
        client().get(f.url("/healthz")).send().await.is_err(),
        "the port is closed"
    );
}

#[tokio::test]
async fn a_second_server_for_the_project_is_refused_naming_the_pid() {
    let f = Fixture::start().await;
    let mut opts = BindOptions::new(f.layout.clone());
    opts.port = 0;
    let err = Server::bind(opts).await.unwrap_err();
    match err {
        ServeError::AlreadyRunning { pid, url } => {
            assert_eq!(pid, Some(std::process::id() as i32));
            assert_eq!(url.as_deref(), Some(f.base.as_str()));
        }
        other => panic!("unexpected {other:?}"),
    }
    // The running server's serve.json was not touched.
    assert_eq!(ServeInfo::read(&f.layout).unwrap(), f.info);
}

#[tokio::test]
async fn non_loopback_hosts_need_allow_remote() {
    let repo = overstory_testkit::TempRepo::new();
    let layout = overstory_core::Layout::new(repo.path());
    std::fs::create_dir_all(layout.dir()).unwrap();
    let mut opts = BindOptions::new(layout.clone());
    opts.host = "0.0.0.0".into();
    opts.port = 0;
    assert!(matches!(
        Server::bind(opts.clone()).await.unwrap_err(),
        ServeError::RemoteRefused { .. }
    ));
    assert!(!layout.serve_state().exists());
    opts.host = "not a host".into();
    assert!(matches!(
        Server::bind(opts.clone()).await.unwrap_err(),
        ServeError::InvalidHost { .. }
    ));
    opts.host = "0.0.0.0".into();
    opts.allow_remote = true;
    let s = Server::bind(opts).await.unwrap();
    assert!(s.info().url.starts_with("http://127.0.0.1:"));
}

#[tokio::test]
async fn doctor_finds_the_running_server_by_its_health_envelope() {
    let f = Fixture::start().await;
    let layout = f.layout.clone();
    // ov doctor's `serve` category (in overstory-fleet) against a real server.
    let report = tokio::task::spawn_blocking(move || {
        let mut opts = overstory_fleet::doctor::DoctorOptions::default();
        opts.category = Some(overstory_fleet::doctor::Category::Serve);
        overstory_fleet::doctor::run(&layout, &opts)
    })
    .await
    .unwrap();
    let port = report
        .checks
        .iter()
        .find(|c| c.name == "serve" && c.message.contains("answers"))
        .unwrap_or_else(|| panic!("no answering serve check: {:?}", report.checks));
    assert_eq!(
        port.status,
        overstory_core::doctor::CheckStatus::Pass,
        "{}",
        port.message
    );
    let port_no = f.base.rsplit(':').next().unwrap().trim_end_matches('/');
    assert!(
        port.message.contains(port_no),
        "{} vs {}",
        port.message,
        f.base
    );
}

#[tokio::test]
async fn an_embedder_serves_another_ui_dir_without_escaping_it() {
    use std::io::{Read as _, Write as _};

    let dir = tempfile::tempdir().unwrap();
    let layout = overstory_core::Layout::new(dir.path().join("project"));
    std::fs::create_dir_all(layout.dir()).unwrap();
    let ui = dir.path().join("ui");
    std::fs::create_dir_all(ui.join("assets")).unwrap();
    std::fs::write(ui.join("index.html"), "<p>custom build</p>").unwrap();
    std::fs::write(ui.join("assets/main.js"), "console.log(1)").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "do not serve").unwrap();
    let mut opts = overstory_serve::ServeOptions::new(layout, "tok");
    opts.ui_dir = Some(ui);
    let state = overstory_serve::ServeState::new(opts);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(overstory_serve::serve(
        listener,
        overstory_serve::router(state.clone()),
        state,
        async move {
            let _ = stopped.await;
        },
    ));
    let base = format!("http://127.0.0.1:{port}");
    let r = client()
        .get(format!("{base}/deep/link"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.text().await.unwrap(),
        "<p>custom build</p>",
        "SPA fallback"
    );
    let r = client()
        .get(format!("{base}/assets/main.js"))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    // A raw path that climbs out of the directory is refused.
    let raw = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            s,
            "GET /../secret.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    })
    .await
    .unwrap();
    assert!(!raw.contains("do not serve"), "{raw}");
    assert!(
        raw.starts_with("HTTP/1.1 403") || raw.starts_with("HTTP/1.1 400"),
        "{raw}"
    );
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}
