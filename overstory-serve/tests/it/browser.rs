//! The UI in a real browser: headless Chromium driven through chromedriver
//! (WebDriver, via fantoccini). Skips with a loud notice when Chromium or
//! chromedriver is missing, unless `CI` is set (then it fails).

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use overstory_core::events::{EventStore, EventType, NewEvent};
use overstory_core::{Capability, clock};
use overstory_mail::{ListFilter, MailStore};
use overstory_sessions::AgentState;
use serde_json::json;

use crate::support::Fixture;

fn which(names: &[&str]) -> Option<PathBuf> {
    names.iter().find_map(|n| overstory_core::process::which(n))
}

/// Returns (chromium, chromedriver), or `None` after printing why the test skips.
fn require_browser(test: &str) -> Option<(PathBuf, PathBuf)> {
    let chromium = which(&["chromium", "chromium-browser", "google-chrome"]);
    let driver = which(&["chromedriver"]);
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        _ => {
            let msg = format!(
                "\n!!! SKIPPING {test}: headless Chromium and chromedriver are not installed.\n\
                 !!! Install them with: apt-get install -y chromium chromium-driver\n"
            );
            assert!(
                !overstory_core::env::is_set("CI"),
                "{msg}(CI is set: the browser test must run)"
            );
            eprintln!("{msg}");
            None
        }
    }
}

/// chromedriver in its own process group, killed with it on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    async fn start(bin: &PathBuf) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = overstory_core::process::command(bin)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let d = Self { child, port };
        let status = format!("http://127.0.0.1:{port}/status");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = reqwest::get(&status).await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        d
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let pgid = self.child.id() as i32;
        let _ = overstory_core::process::terminate_group(pgid, Duration::from_secs(2));
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_agents_live_and_sends_mail_into_mail_db() {
    let Some((chromium, driver_bin)) =
        require_browser("the_page_shows_agents_live_and_sends_mail_into_mail_db")
    else {
        return;
    };
    let f = Fixture::start().await;
    let driver = Driver::start(&driver_bin).await;
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let browser = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .unwrap();
    let wait = Duration::from_secs(15);

    // Opening serve.json's URL (token in the fragment) signs the page in.
    browser.goto(&f.info.url).await.unwrap();
    browser
        .wait()
        .at_most(wait)
        .for_element(Locator::Css("#fleet-rows"))
        .await
        .unwrap();
    let address = browser.current_url().await.unwrap();
    assert!(
        !address.as_str().contains("token"),
        "the token left the address bar: {address}"
    );

    // An agent that starts while the page is open appears without a reload.
    f.add_agent(
        "builder-7",
        Capability::Builder,
        AgentState::Working,
        None,
        &clock::now_rfc3339(),
    );
    let row = browser
        .wait()
        .at_most(wait)
        .for_element(Locator::Css("tr[data-agent='builder-7']"))
        .await
        .unwrap();
    assert!(row.text().await.unwrap().contains("working"));

    // Its timeline reads as text: assistant words, the command it ran.
    let events = EventStore::open(&f.layout.events_db()).unwrap();
    events
        .insert(
            &NewEvent::new("builder-7", EventType::Progress).data(&json!({
                "type": "assistant_message", "text": "I will add hello.txt.",
                "usage": {"input_tokens": 3, "output_tokens": 11},
            })),
        )
        .unwrap();
    events
        .insert(
            &NewEvent::new("builder-7", EventType::ToolStart)
                .tool("Bash", Some(&json!({"command": "git status --short"}))),
        )
        .unwrap();
    row.click().await.unwrap();
    browser
        .wait()
        .at_most(wait)
        .for_element(Locator::Css("#timeline .ev"))
        .await
        .unwrap();
    browser
        .wait()
        .at_most(wait)
        .for_element(Locator::XPath(
            "//div[@id='timeline']//*[contains(., 'git status --short')]",
        ))
        .await
        .unwrap();
    let text = browser
        .find(Locator::Css("#timeline"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("I will add hello.txt."), "{text}");
    assert!(text.contains("11 out"), "tokens are shown: {text}");
    assert!(text.contains("Bash"), "{text}");
    assert!(!text.contains("assistant_message"), "not raw JSON: {text}");

    // Compose a mail on the Mail page; it is stored in mail.db.
    browser
        .find(Locator::Css("a[data-nav='mail']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .at_most(wait)
        .for_element(Locator::Css("#compose"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .find(Locator::Css("#c-to"))
        .await
        .unwrap()
        .send_keys("builder-7")
        .await
        .unwrap();
    browser
        .find(Locator::Css("#c-subject"))
        .await
        .unwrap()
        .send_keys("From the browser")
        .await
        .unwrap();
    browser
        .find(Locator::Css("#c-body"))
        .await
        .unwrap()
        .send_keys("Rebase on main, please")
        .await
        .unwrap();
    browser
        .find(Locator::Css("#c-send"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    let mail_db = f.layout.mail_db();
    overstory_testkit::wait_until_async(wait, "the browser's mail in mail.db", || {
        MailStore::open(&mail_db)
            .and_then(|s| s.list(&ListFilter::default()))
            .is_ok_and(|all| all.iter().any(|m| m.subject == "From the browser"))
    })
    .await;
    let stored = MailStore::open(&mail_db)
        .unwrap()
        .list(&ListFilter::default())
        .unwrap();
    let m = stored
        .iter()
        .find(|m| m.subject == "From the browser")
        .unwrap();
    assert_eq!(
        (m.from.as_str(), m.to.as_str(), m.body.as_str()),
        ("operator", "builder-7", "Rebase on main, please")
    );
    // And the list shows it.
    browser
        .wait()
        .at_most(wait)
        .for_element(Locator::Css(&format!(".item[data-id='{}']", m.id)))
        .await
        .unwrap();

    if let Ok(png) = browser.screenshot().await {
        let _ = std::fs::write(
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve-ui-mail.png"),
            png,
        );
    }
    browser.close().await.unwrap();
}
