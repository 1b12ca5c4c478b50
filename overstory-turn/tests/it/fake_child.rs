//! A scriptable fake turn child: the test decides what it prints, when it
//! exits and how it reacts to signals. Used where a real process cannot be
//! made to fail or stall on cue; everything else in those tests is real.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use overstory_core::process::Sig;
use overstory_runtime::SpawnSpec;
use overstory_turn::child::{ChildOutput, ChildStdin, TurnChild, TurnSpawner};
use tokio::io::{AsyncWrite, AsyncWriteExt as _, DuplexStream};
use tokio::sync::watch;

/// The test's handle on a fake child.
#[derive(Clone)]
pub struct Fake {
    pub pid: u32,
    stdout: Arc<tokio::sync::Mutex<Option<DuplexStream>>>,
    exit: Arc<watch::Sender<Option<Option<i32>>>>,
    writes: Arc<Mutex<Vec<String>>>,
    signals: Arc<Mutex<Vec<Sig>>>,
    /// SIGTERM is recorded but ignored; only SIGKILL ends the child.
    ignores_term: Arc<AtomicBool>,
    pub child: Arc<Mutex<Option<FakeChild>>>,
}

static NEXT_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1000);

impl Fake {
    pub fn new() -> Self {
        let (w, r) = tokio::io::duplex(1 << 20);
        let (exit, exit_rx) = watch::channel(None);
        let fake = Self {
            pid: NEXT_PID.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
            stdout: Arc::new(tokio::sync::Mutex::new(Some(w))),
            exit: Arc::new(exit),
            writes: Arc::default(),
            signals: Arc::default(),
            ignores_term: Arc::default(),
            child: Arc::default(),
        };
        *fake.child.lock().unwrap() = Some(FakeChild {
            pid: fake.pid,
            stdin: Some(Box::pin(Recorder(fake.writes.clone()))),
            stdout: Some(Box::pin(r)),
            exit: exit_rx,
            handle: fake.clone_light(),
        });
        fake
    }

    pub fn clone_light(&self) -> Self {
        Self {
            pid: self.pid,
            stdout: self.stdout.clone(),
            exit: self.exit.clone(),
            writes: self.writes.clone(),
            signals: self.signals.clone(),
            ignores_term: self.ignores_term.clone(),
            child: Arc::default(),
        }
    }

    /// Makes the child survive SIGTERM, like a process stuck in a system
    /// call or trapping the signal: only SIGKILL ends it.
    pub fn ignore_sigterm(&self) {
        self.ignores_term.store(true, Ordering::SeqCst);
    }

    pub async fn line(&self, line: &str) {
        if let Some(w) = self.stdout.lock().await.as_mut() {
            w.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        }
    }

    pub async fn close_stdout(&self) {
        self.stdout.lock().await.take();
    }

    pub async fn exit_with(&self, code: Option<i32>) {
        self.close_stdout().await;
        self.exit.send_if_modified(|v| {
            if v.is_none() {
                *v = Some(code);
                true
            } else {
                false
            }
        });
    }

    /// Emits a `system/init` line and a `result/success` line.
    pub async fn turn(&self, session_id: &str, is_error: bool) {
        self.line(&serde_json::json!({
            "type": "system", "subtype": "init", "session_id": session_id, "model": "claude-test"
        }).to_string())
        .await;
        self.line(
            &serde_json::json!({
                "type": "result", "subtype": "success", "session_id": session_id, "result": "done",
                "is_error": is_error, "duration_ms": 50, "num_turns": 1
            })
            .to_string(),
        )
        .await;
    }

    pub fn signals(&self) -> Vec<Sig> {
        self.signals.lock().unwrap().clone()
    }

    pub fn writes(&self) -> Vec<String> {
        self.writes.lock().unwrap().clone()
    }

    pub fn take_child(&self) -> FakeChild {
        self.child
            .lock()
            .unwrap()
            .take()
            .expect("fake spawned twice")
    }
}

pub struct Recorder(Arc<Mutex<Vec<String>>>);

impl AsyncWrite for Recorder {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(buf).into_owned());
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

pub struct FakeChild {
    pid: u32,
    stdin: Option<ChildStdin>,
    pub stdout: Option<ChildOutput>,
    exit: watch::Receiver<Option<Option<i32>>>,
    handle: Fake,
}

#[async_trait::async_trait]
impl TurnChild for FakeChild {
    fn pid(&self) -> u32 {
        self.pid
    }
    fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.stdin.take()
    }
    fn take_stdout(&mut self) -> Option<ChildOutput> {
        self.stdout.take()
    }
    fn take_stderr(&mut self) -> Option<ChildOutput> {
        None
    }
    async fn wait(&mut self) -> io::Result<Option<i32>> {
        let v = self
            .exit
            .wait_for(Option::is_some)
            .await
            .map_err(io::Error::other)?;
        Ok(v.flatten())
    }
    fn signal(&mut self, sig: Sig) {
        self.handle.signals.lock().unwrap().push(sig);
        let ends = sig == Sig::Kill || !self.handle.ignores_term.load(Ordering::SeqCst);
        if ends {
            let h = self.handle.clone_light();
            // Like a real child: a signal that ends it closes its stdout.
            // (Exiting twice is a no-op, so later signals change nothing.)
            tokio::spawn(async move { h.exit_with(None).await });
        }
    }
}

pub type Script = Box<dyn Fn(&SpawnSpec) -> io::Result<Fake> + Send + Sync>;

/// A spawner that records every spec and hands out scripted fakes.
pub struct FakeSpawner {
    script: Script,
    pub specs: Mutex<Vec<SpawnSpec>>,
}

impl FakeSpawner {
    pub fn new(
        script: impl Fn(&SpawnSpec) -> io::Result<Fake> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            script: Box::new(script),
            specs: Mutex::default(),
        })
    }

    /// Always hands out `fake`.
    pub fn one(fake: &Fake) -> Arc<Self> {
        let f = fake.clone_light();
        let child = fake.child.clone();
        Self::new(move |_| {
            let c = f.clone_light();
            *c.child.lock().unwrap() = child.lock().unwrap().take();
            Ok(c)
        })
    }

    pub fn resume_ids(&self) -> Vec<Option<String>> {
        self.specs
            .lock()
            .unwrap()
            .iter()
            .map(|s| {
                let argv = s.argv_strings();
                argv.iter()
                    .position(|a| a == "--resume")
                    .map(|i| argv[i + 1].clone())
            })
            .collect()
    }
}

impl TurnSpawner for FakeSpawner {
    fn spawn(&self, spec: &SpawnSpec) -> io::Result<Box<dyn TurnChild>> {
        self.specs.lock().unwrap().push(spec.clone());
        let fake = (self.script)(spec)?;
        Ok(Box::new(fake.take_child()))
    }
}
