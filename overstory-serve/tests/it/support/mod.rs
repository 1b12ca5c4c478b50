//! A running server over a fresh project, and clients for it.

use std::time::Duration;

use overstory_core::init::{InitOptions, init};
use overstory_core::{AgentName, Capability, Layout};
use overstory_serve::{BindOptions, ServeInfo, Server};
use overstory_sessions::{AgentState, NewRun, RunStatus, RunStore, Session, SessionStore};
use overstory_testkit::TempRepo;
use serde_json::Value;

/// A server on 127.0.0.1:<free port> over an initialised project.
pub struct Fixture {
    _repo: TempRepo,
    pub layout: Layout,
    pub info: ServeInfo,
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), overstory_serve::ServeError>>>,
}

impl Fixture {
    pub async fn start() -> Self {
        let repo = TempRepo::new();
        init(repo.path(), &InitOptions::default()).unwrap();
        let layout = Layout::new(repo.path());
        let mut opts = BindOptions::new(layout.clone());
        opts.port = 0;
        let server = Server::bind(opts).await.unwrap();
        let info = server.info().clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        Self {
            base: format!("http://127.0.0.1:{}", info.port),
            _repo: repo,
            layout,
            info,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Stops the server and waits until it has.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .expect("server stops")
                .unwrap()
                .unwrap();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A GET with the token.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = client()
            .get(self.url(path))
            .bearer_auth(&self.info.token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// A POST of JSON with the token.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = client()
            .post(self.url(path))
            .bearer_auth(&self.info.token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let r = client()
            .delete(self.url(path))
            .bearer_auth(&self.info.token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Records a session row.
    pub fn add_agent(
        &self,
        name: &str,
        cap: Capability,
        state: AgentState,
        run: Option<&str>,
        started: &str,
    ) {
        let store = SessionStore::open(&self.layout.sessions_db()).unwrap();
        let mut s = Session::new(AgentName::new(name).unwrap(), cap);
        s.state = state;
        s.run_id = run.map(str::to_owned);
        s.started_at = started.to_owned();
        store.upsert(&s).unwrap();
    }

    pub fn add_run(&self, id: &str, started: &str) {
        let store = RunStore::open(&self.layout.sessions_db()).unwrap();
        store
            .create(&NewRun {
                id: id.to_owned(),
                started_at: started.to_owned(),
                coordinator_session_id: None,
                coordinator_name: None,
                status: RunStatus::Active,
            })
            .unwrap();
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}
