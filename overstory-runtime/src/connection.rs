//! Talking to a long-lived headless child over its stdin (the headless
//! coordinator), and the process-local registry of such connections.
//!
//! Unlike the original, the connection owns the wire encoding: every text
//! sent is wrapped as one stream-json user turn, so callers cannot write raw
//! text the child would not understand. The registry is per process; agents
//! in other processes are reached through the session store and turn runner,
//! and persistent agents through their [agent host](crate::host), which
//! owns the long-lived child's stdin in its own process.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt as _};

use crate::event::encode_user_turn;

/// The child's stdin, shared by everyone who may write to it.
pub type SharedStdin = Arc<tokio::sync::Mutex<Box<dyn AsyncWrite + Send + Unpin>>>;

/// What a connection reports about its child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Idle (never reported by headless Claude connections).
    Idle,
    /// The child is alive.
    Working,
    /// The child is gone.
    Error,
}

/// What happened to a nudge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NudgeStatus {
    /// Delivered now.
    Delivered,
    /// Queued: Claude reads stdin only between model calls.
    Queued,
}

/// A connection to a long-lived headless child.
#[derive(Clone)]
pub struct HeadlessConnection {
    pid: i32,
    stdin: SharedStdin,
    sigkill_delay: Duration,
}

impl std::fmt::Debug for HeadlessConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadlessConnection")
            .field("pid", &self.pid)
            .field("sigkill_delay", &self.sigkill_delay)
            .finish_non_exhaustive()
    }
}

impl HeadlessConnection {
    /// Wraps a child's pid (its process group leader) and stdin.
    pub fn new(pid: i32, stdin: Box<dyn AsyncWrite + Send + Unpin>) -> Self {
        Self {
            pid,
            stdin: Arc::new(tokio::sync::Mutex::new(stdin)),
            sigkill_delay: Duration::from_millis(2000),
        }
    }

    /// Sets the grace period between SIGTERM and SIGKILL in [`Self::abort`].
    pub fn with_sigkill_delay(mut self, delay: Duration) -> Self {
        self.sigkill_delay = delay;
        self
    }

    /// Returns the child's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Returns the shared stdin handle.
    pub fn stdin(&self) -> SharedStdin {
        self.stdin.clone()
    }

    /// Sends a prompt as one user turn.
    ///
    /// # Errors
    /// Writing to the child's stdin failed (it exited).
    ///
    /// # Cancel safety
    /// Not cancel safe: a dropped future may leave a partial line.
    pub async fn send_prompt(&self, text: &str) -> std::io::Result<()> {
        let mut w = self.stdin.lock().await;
        w.write_all(encode_user_turn(text).as_bytes()).await?;
        w.flush().await
    }

    /// Sends a follow-up turn (same encoding as [`Self::send_prompt`]).
    ///
    /// # Errors
    /// Writing to the child's stdin failed.
    pub async fn follow_up(&self, text: &str) -> std::io::Result<()> {
        self.send_prompt(text).await
    }

    /// Queues a nudge turn. Claude reads it after the current model call.
    ///
    /// # Errors
    /// Writing to the child's stdin failed.
    pub async fn nudge(&self, text: &str) -> std::io::Result<NudgeStatus> {
        self.send_prompt(text).await?;
        Ok(NudgeStatus::Queued)
    }

    /// Returns `Working` while the child lives, `Error` once it is gone.
    pub fn state(&self) -> ConnectionState {
        if overstory_core::process::is_alive(self.pid) {
            ConnectionState::Working
        } else {
            ConnectionState::Error
        }
    }

    /// Stops the child's process group: SIGTERM, then SIGKILL after the
    /// grace period. Never fails; a dead child is a no-op.
    pub async fn abort(&self) {
        use overstory_core::process::{Sig, is_group_alive, signal_group};
        if !is_group_alive(self.pid) {
            return;
        }
        let _ = signal_group(self.pid, Sig::Term);
        let deadline = tokio::time::Instant::now() + self.sigkill_delay;
        while tokio::time::Instant::now() < deadline {
            if !overstory_core::process::is_alive(self.pid) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = signal_group(self.pid, Sig::Kill);
    }

    /// Releases the connection; the child keeps running.
    pub fn close(&self) {}
}

/// Told when headless connections come and go.
pub trait ConnectionListener: Send + Sync {
    /// A headless connection was registered (also replayed on subscribe).
    fn on_register(&self, agent: &str, stdin: SharedStdin);
    /// A headless connection was removed.
    fn on_remove(&self, agent: &str) {
        let _ = agent;
    }
}

struct Entry {
    conn: HeadlessConnection,
    headless: bool,
}

/// The per-process map from agent name to connection.
#[derive(Default)]
pub struct ConnectionRegistry {
    entries: Mutex<BTreeMap<String, Entry>>,
    listeners: Mutex<Vec<(u64, Arc<dyn ConnectionListener>)>>,
    next_id: Mutex<u64>,
}

impl std::fmt::Debug for ConnectionRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.lock_entries().keys().cloned().collect();
        f.debug_struct("ConnectionRegistry")
            .field("agents", &names)
            .finish_non_exhaustive()
    }
}

/// Unsubscribes a listener when passed to [`ConnectionRegistry::unsubscribe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerId(u64);

impl ConnectionRegistry {
    fn lock_entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn listeners(&self) -> Vec<Arc<dyn ConnectionListener>> {
        self.listeners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// Returns the agent's connection.
    pub fn get(&self, agent: &str) -> Option<HeadlessConnection> {
        self.lock_entries().get(agent).map(|e| e.conn.clone())
    }

    /// Stores a connection (overwriting any previous one) without telling
    /// listeners.
    pub fn set(&self, agent: &str, conn: HeadlessConnection) {
        self.lock_entries().insert(
            agent.to_owned(),
            Entry {
                conn,
                headless: false,
            },
        );
    }

    /// Creates, stores and announces a headless connection.
    pub fn register_headless(
        &self,
        agent: &str,
        pid: i32,
        stdin: Box<dyn AsyncWrite + Send + Unpin>,
    ) -> HeadlessConnection {
        let conn = HeadlessConnection::new(pid, stdin);
        self.lock_entries().insert(
            agent.to_owned(),
            Entry {
                conn: conn.clone(),
                headless: true,
            },
        );
        for l in self.listeners() {
            l.on_register(agent, conn.stdin());
        }
        conn
    }

    /// Removes and closes the agent's connection; unknown names are fine.
    /// Listeners hear about headless registrations only.
    pub fn remove(&self, agent: &str) {
        let entry = self.lock_entries().remove(agent);
        if let Some(e) = entry {
            if e.headless {
                for l in self.listeners() {
                    l.on_remove(agent);
                }
            }
            e.conn.close();
        }
    }

    /// Adds a listener and replays `on_register` for every headless
    /// connection already registered.
    pub fn subscribe(&self, listener: Arc<dyn ConnectionListener>) -> ListenerId {
        let id = {
            let mut n = self
                .next_id
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *n += 1;
            *n
        };
        let existing: Vec<(String, SharedStdin)> = self
            .lock_entries()
            .iter()
            .filter(|(_, e)| e.headless)
            .map(|(k, e)| (k.clone(), e.conn.stdin()))
            .collect();
        for (name, stdin) in existing {
            listener.on_register(&name, stdin);
        }
        self.listeners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((id, listener));
        ListenerId(id)
    }

    /// Removes a listener.
    pub fn unsubscribe(&self, id: ListenerId) {
        self.listeners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|(i, _)| *i != id.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt as _;

    fn spawn_cat() -> (tokio::process::Child, i32) {
        let mut cmd = tokio::process::Command::from(overstory_core::process::command("cat"));
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        let child = cmd.spawn().unwrap();
        let pid = child.id().unwrap() as i32;
        (child, pid)
    }

    #[tokio::test]
    async fn prompts_and_follow_ups_reach_the_child_in_order_as_user_turns() {
        let (mut child, pid) = spawn_cat();
        let conn = HeadlessConnection::new(pid, Box::new(child.stdin.take().unwrap()));
        conn.send_prompt("one").await.unwrap();
        conn.follow_up("two").await.unwrap();
        assert_eq!(conn.nudge("three").await.unwrap(), NudgeStatus::Queued);
        assert_eq!(conn.state(), ConnectionState::Working);
        drop(conn);
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .await
            .unwrap();
        let texts: Vec<String> = out.lines().map(crate::event::decode_user_turns).collect();
        assert_eq!(texts, ["one", "two", "three"]);
        assert!(out.ends_with('\n'));
    }

    #[tokio::test]
    async fn abort_kills_a_live_child_and_is_a_no_op_on_a_dead_one() {
        let (mut child, pid) = spawn_cat();
        let conn = HeadlessConnection::new(pid, Box::new(child.stdin.take().unwrap()))
            .with_sigkill_delay(Duration::from_millis(200));
        conn.abort().await;
        let status = child.wait().await.unwrap();
        assert!(!status.success());
        assert_eq!(conn.state(), ConnectionState::Error);
        conn.abort().await; // no panic, no error
    }

    #[tokio::test]
    async fn close_leaves_the_child_running() {
        let (mut child, pid) = spawn_cat();
        let conn = HeadlessConnection::new(pid, Box::new(child.stdin.take().unwrap()));
        conn.close();
        assert!(child.try_wait().unwrap().is_none());
        assert_eq!(conn.pid(), pid);
        conn.abort().await;
    }

    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);
    impl ConnectionListener for Recorder {
        fn on_register(&self, agent: &str, _: SharedStdin) {
            self.0.lock().unwrap().push(format!("+{agent}"));
        }
        fn on_remove(&self, agent: &str) {
            self.0.lock().unwrap().push(format!("-{agent}"));
        }
    }

    #[tokio::test]
    async fn registry_set_get_remove_and_listeners_with_catch_up() {
        let reg = ConnectionRegistry::default();
        reg.set("a", HeadlessConnection::new(1, Box::new(tokio::io::sink())));
        reg.set("a", HeadlessConnection::new(2, Box::new(tokio::io::sink())));
        assert_eq!(reg.get("a").unwrap().pid(), 2);
        reg.register_headless("h1", 3, Box::new(tokio::io::sink()));
        let late = Arc::new(Recorder::default());
        let id = reg.subscribe(late.clone());
        assert_eq!(*late.0.lock().unwrap(), ["+h1"]);
        reg.register_headless("h2", 4, Box::new(tokio::io::sink()));
        reg.remove("a"); // not headless: no on_remove
        reg.remove("h1");
        reg.remove("unknown");
        reg.unsubscribe(id);
        reg.register_headless("h3", 5, Box::new(tokio::io::sink()));
        assert_eq!(*late.0.lock().unwrap(), ["+h1", "+h2", "-h1"]);
        assert!(reg.get("a").is_none() && reg.get("h1").is_none());
    }
}
