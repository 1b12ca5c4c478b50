//! The tmux manager: interactive agents in panes of a dedicated tmux server.
//!
//! Every agent operation runs `tmux -L <server> …` (default server name
//! `overstory`), so agent sessions never mix with the user's own. Session
//! targets are always exact (`=name`), and an empty session name is refused
//! with [`TmuxError::EmptyTarget`] before tmux is called — tmux would resolve
//! an empty target to *some* session.
//!
//! The startup script of a session shell-quotes every exported value, so a
//! task id or path holding `"`, `$(…)` or `'` cannot inject commands.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use overstory_core::process::{self, Sig};

use overstory_runtime::runtime::{DialogAction, ReadyState};

/// The default tmux server (socket) name.
pub const DEFAULT_SERVER: &str = "overstory";

/// Variables unset in every agent pane so a nested Claude Code does not think
/// it runs inside another one.
const UNSET_VARS: &str = "CLAUDECODE CLAUDE_CODE_SSE_PORT CLAUDE_CODE_ENTRYPOINT";

/// A tmux operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TmuxError {
    /// `tmux` is not installed.
    #[error("tmux is not installed or not on PATH (install it, or run agents headless)")]
    NotInstalled,
    /// A session name was empty.
    #[error(
        "Refusing to address a tmux session with an empty name (the agent has no tmux session)"
    )]
    EmptyTarget,
    /// The tmux server is not running.
    #[error(
        "tmux server \"{server}\" is not running (if you run as root, start agents as the same user that runs ov)"
    )]
    NoServer {
        /// The server name.
        server: String,
    },
    /// The session does not exist.
    #[error("tmux session \"{name}\" not found")]
    SessionNotFound {
        /// The session name.
        name: String,
    },
    /// The pane's process id could not be read.
    #[error("Could not read the pane pid of tmux session \"{name}\"")]
    NoPanePid {
        /// The session name.
        name: String,
    },
    /// An environment variable name is not a shell identifier.
    #[error("Invalid environment variable name \"{name}\"")]
    BadEnvName {
        /// The variable name that was refused.
        name: String,
    },
    /// tmux failed.
    #[error("tmux {args} failed: {output}")]
    Failed {
        /// The tmux arguments that were run.
        args: String,
        /// tmux's message.
        output: String,
    },
    /// The agent's TUI never showed its prompt; the session was killed.
    #[error(
        "Agent in tmux session \"{name}\" did not become ready during startup (waited {waited_ms} ms); the session was killed"
    )]
    NotReady {
        /// The session name.
        name: String,
        /// How long readiness was awaited.
        waited_ms: u64,
    },
    /// The session ended before the TUI was ready.
    #[error("Agent in tmux session \"{name}\" died during startup ({})", if *no_server { "the tmux server is gone" } else { "the agent process exited; check its command and environment" })]
    DiedDuringStartup {
        /// The session name.
        name: String,
        /// Whether the whole tmux server was gone.
        no_server: bool,
    },
    /// tmux could not be started.
    #[error("Failed to run tmux")]
    Spawn {
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl TmuxError {
    /// Returns the error code: `AGENT_ERROR`.
    pub fn code(&self) -> &'static str {
        "AGENT_ERROR"
    }
}

/// What `has-session` says about a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// The session exists.
    Alive,
    /// No tmux server (or no sessions at all).
    NoServer,
    /// The server runs but the session is gone.
    Dead,
}

impl SessionState {
    /// Returns the state's name in status output and JSON (`alive`,
    /// `no_server`, `dead`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alive => "alive",
            Self::NoServer => "no_server",
            Self::Dead => "dead",
        }
    }
}

/// A tmux session of the dedicated server, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TmuxSession {
    /// The session name.
    pub name: String,
    /// The tmux server's pid.
    pub pid: i32,
}

/// What to start in a new session.
#[derive(Debug, Clone, Default)]
pub struct NewSession {
    /// The session name (see [`session_name`]).
    pub name: String,
    /// The pane's working directory.
    pub cwd: PathBuf,
    /// The shell command run with `exec` (so signals reach it, not bash).
    pub command: String,
    /// Variables exported before the command; values are shell-quoted.
    pub env: BTreeMap<String, String>,
    /// A directory put first on `PATH` (the directory of `ov`). `None`
    /// uses the directory of the running executable.
    pub path_prepend: Option<PathBuf>,
}

/// Replaces `.` and `:` (tmux target separators) with `_`.
pub fn sanitize(name: &str) -> String {
    name.replace(['.', ':'], "_")
}

/// Returns the session name of an agent: `overstory-<project>-<agent>`, both
/// parts sanitised.
pub fn session_name(project: &str, agent: &str) -> String {
    format!("overstory-{}-{}", sanitize(project), sanitize(agent))
}

use overstory_runtime::shell::shell_quote;

/// Builds the bash startup script of a session (exports, then `exec`).
///
/// # Errors
/// [`TmuxError::BadEnvName`] for a variable name that is not an identifier.
pub fn startup_script(spec: &NewSession) -> Result<String, TmuxError> {
    let dir = spec.path_prepend.clone().or_else(|| {
        process::which("ov")
            .or_else(|| std::env::current_exe().ok())
            .and_then(|p| p.parent().map(Path::to_owned))
    });
    let mut parts = Vec::new();
    if let Some(dir) = dir {
        parts.push(format!(
            "export PATH={}:\"$PATH\"",
            shell_quote(&dir.to_string_lossy())
        ));
    }
    parts.push(format!("unset {UNSET_VARS}"));
    for (k, v) in &spec.env {
        let ok = !k.is_empty()
            && !k.starts_with(|c: char| c.is_ascii_digit())
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(TmuxError::BadEnvName { name: k.clone() });
        }
        parts.push(format!("export {k}={}", shell_quote(v)));
    }
    parts.push(format!("exec {}", spec.command));
    Ok(parts.join(" && "))
}

/// Handle on one tmux server.
#[derive(Debug, Clone)]
pub struct Tmux {
    server: String,
}

impl Default for Tmux {
    fn default() -> Self {
        Self::new(DEFAULT_SERVER)
    }
}

fn exact(name: &str) -> Result<String, TmuxError> {
    if name.trim().is_empty() {
        return Err(TmuxError::EmptyTarget);
    }
    Ok(format!("={name}"))
}

fn pane_target(name: &str) -> Result<String, TmuxError> {
    Ok(format!("{}:", exact(name)?))
}

fn text(out: &Output) -> String {
    let e = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if e.is_empty() {
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    } else {
        e
    }
}

fn is_no_server(msg: &str) -> bool {
    msg.contains("no server running")
        || msg.contains("no sessions")
        || msg.contains("error connecting")
        || msg.contains("server exited")
        || msg.contains("lost server")
}

/// Whether tmux's answer means the target session does not exist. Newer
/// tmux (3.4+) says "no current target" when the server's last session has
/// just closed and the server is on its way out, rather than "can't find".
fn is_missing_session(msg: &str) -> bool {
    msg.contains("session not found")
        || msg.contains("can't find session")
        || msg.contains("no current target")
}

impl Tmux {
    /// Addresses the tmux server named `server` (`tmux -L <server>`).
    pub fn new(server: impl Into<String>) -> Self {
        Self {
            server: server.into(),
        }
    }

    /// Returns the server name.
    pub fn server(&self) -> &str {
        &self.server
    }

    fn run(&self, args: &[&str]) -> Result<Output, TmuxError> {
        process::foreground_command("tmux")
            .arg("-L")
            .arg(&self.server)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|source| {
                if source.kind() == std::io::ErrorKind::NotFound {
                    TmuxError::NotInstalled
                } else {
                    TmuxError::Spawn { source }
                }
            })
    }

    fn run_ok(&self, args: &[&str]) -> Result<String, TmuxError> {
        let out = self.run(args)?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(TmuxError::Failed {
                args: args.join(" "),
                output: text(&out),
            })
        }
    }

    /// Returns whether `tmux -V` works.
    pub fn is_available() -> bool {
        process::foreground_command("tmux")
            .arg("-V")
            .stdin(std::process::Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Fails unless tmux is installed.
    ///
    /// # Errors
    /// [`TmuxError::NotInstalled`].
    pub fn ensure_available() -> Result<(), TmuxError> {
        if Self::is_available() {
            Ok(())
        } else {
            Err(TmuxError::NotInstalled)
        }
    }

    /// Starts a detached session running `spec.command` under bash and
    /// returns the pane's pid (the agent process, thanks to `exec`).
    ///
    /// # Errors
    /// [`TmuxError::EmptyTarget`], [`TmuxError::BadEnvName`],
    /// [`TmuxError::Failed`] when tmux refuses (for example, a duplicate
    /// name), [`TmuxError::NoPanePid`] when the pane pid cannot be read.
    pub fn create_session(&self, spec: &NewSession) -> Result<i32, TmuxError> {
        exact(&spec.name)?;
        let script = startup_script(spec)?;
        let wrapped = format!("/bin/bash -c {}", shell_quote(&script));
        let cwd = spec.cwd.to_string_lossy().into_owned();
        self.run_ok(&["new-session", "-d", "-s", &spec.name, "-c", &cwd, &wrapped])?;
        self.pane_pid(&spec.name)
    }

    /// Reads the pane pid of a session, retrying up to 3 times (250 ms, then
    /// 500 ms apart) while tmux is still setting the pane up.
    ///
    /// # Errors
    /// [`TmuxError::NoPanePid`] naming the session.
    pub fn pane_pid(&self, name: &str) -> Result<i32, TmuxError> {
        let target = pane_target(name)?;
        let delays = [250, 500];
        for attempt in 0..3 {
            if let Ok(out) = self.run_ok(&["list-panes", "-t", &target, "-F", "#{pane_pid}"])
                && let Some(pid) = out
                    .lines()
                    .next()
                    .and_then(|l| l.trim().parse::<i32>().ok())
            {
                return Ok(pid);
            }
            if let Some(ms) = delays.get(attempt) {
                std::thread::sleep(Duration::from_millis(*ms));
            }
        }
        Err(TmuxError::NoPanePid {
            name: name.to_owned(),
        })
    }

    /// Lists the sessions of the server; none when no server runs.
    ///
    /// # Errors
    /// [`TmuxError::Failed`] for other tmux failures.
    pub fn list_sessions(&self) -> Result<Vec<TmuxSession>, TmuxError> {
        let out = self.run(&["list-sessions", "-F", "#{session_name}:#{pid}"])?;
        if !out.status.success() {
            let msg = text(&out);
            if is_no_server(&msg) {
                return Ok(Vec::new());
            }
            return Err(TmuxError::Failed {
                args: "list-sessions".into(),
                output: msg,
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let (name, pid) = l.rsplit_once(':')?;
                Some(TmuxSession {
                    name: name.to_owned(),
                    pid: pid.trim().parse().unwrap_or(0),
                })
            })
            .collect())
    }

    /// Returns whether the session exists. An empty name is never alive.
    pub fn is_alive(&self, name: &str) -> bool {
        self.check_state(name) == SessionState::Alive
    }

    /// Returns whether the session is alive, the server is down, or the
    /// session is gone. An empty name is `Dead` (tmux is not asked).
    pub fn check_state(&self, name: &str) -> SessionState {
        let Ok(target) = exact(name) else {
            return SessionState::Dead;
        };
        match self.run(&["has-session", "-t", &target]) {
            Ok(o) if o.status.success() => SessionState::Alive,
            Ok(o) if is_no_server(&text(&o)) => SessionState::NoServer,
            Ok(_) => SessionState::Dead,
            Err(_) => SessionState::NoServer,
        }
    }

    /// Returns the last `lines` lines of the pane, trimmed; `None` when empty
    /// or unreadable.
    pub fn capture_pane(&self, name: &str, lines: u32) -> Option<String> {
        let target = pane_target(name).ok()?;
        let start = format!("-{lines}");
        let out = self
            .run_ok(&["capture-pane", "-t", &target, "-p", "-S", &start])
            .ok()?;
        let trimmed = out.trim();
        (!trimmed.is_empty()).then(|| trimmed.to_owned())
    }

    /// Types `text` into the pane and presses Enter. Newlines become spaces
    /// (a newline would submit early); empty text sends just Enter. Retries
    /// up to `retries` times, only while tmux "can't find pane".
    ///
    /// # Errors
    /// [`TmuxError::NoServer`], [`TmuxError::SessionNotFound`],
    /// [`TmuxError::EmptyTarget`], or [`TmuxError::Failed`].
    pub fn send_keys(&self, name: &str, text: &str, retries: u32) -> Result<(), TmuxError> {
        let flat = text.replace(['\r', '\n'], " ");
        self.send(name, &flat, true, retries)
    }

    /// Sends keys without pressing Enter (`-l`, literal).
    ///
    /// # Errors
    /// As [`send_keys`](Self::send_keys).
    pub fn type_keys(&self, name: &str, keys: &str) -> Result<(), TmuxError> {
        self.send(name, keys, false, 3)
    }

    fn send(&self, name: &str, keys: &str, enter: bool, retries: u32) -> Result<(), TmuxError> {
        let target = pane_target(name)?;
        let mut attempt = 0;
        loop {
            let out = if enter {
                if keys.is_empty() {
                    self.run(&["send-keys", "-t", &target, "Enter"])?
                } else {
                    // Literal text first, so words like "Enter" or "C-c" are typed.
                    let o = self.run(&["send-keys", "-t", &target, "-l", keys])?;
                    if o.status.success() {
                        self.run(&["send-keys", "-t", &target, "Enter"])?
                    } else {
                        o
                    }
                }
            } else {
                self.run(&["send-keys", "-t", &target, "-l", keys])?
            };
            if out.status.success() {
                return Ok(());
            }
            let msg = text(&out);
            if is_no_server(&msg) {
                return Err(TmuxError::NoServer {
                    server: self.server.clone(),
                });
            }
            if is_missing_session(&msg) {
                return Err(TmuxError::SessionNotFound {
                    name: name.to_owned(),
                });
            }
            if msg.contains("can't find pane") && attempt < retries {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(250 * u64::from(attempt)));
                continue;
            }
            return Err(TmuxError::Failed {
                args: format!("send-keys -t {target}"),
                output: msg,
            });
        }
    }

    /// Polls the pane until `detect` says it is ready, answering dialogs on
    /// the way. Each distinct dialog action is performed once; a `Type`
    /// action is repeated when the same dialog is still visible after
    /// max(2, ⌈1000/poll⌉) polls. Returns `false` on timeout or when the
    /// session dies.
    pub fn wait_for_tui_ready(
        &self,
        name: &str,
        mut detect: impl FnMut(&str) -> ReadyState,
        timeout: Duration,
        poll: Duration,
    ) -> bool {
        if exact(name).is_err() {
            return false;
        }
        let poll_ms = poll.as_millis().max(1);
        let polls = timeout.as_millis().div_ceil(poll_ms).max(1);
        let repeat_after = 2u128.max(1000u128.div_ceil(poll_ms));
        let mut done: Vec<(String, u128)> = Vec::new();
        for i in 0..polls {
            if !self.is_alive(name) {
                return false;
            }
            let pane = self.capture_pane(name, 50).unwrap_or_default();
            match detect(&pane) {
                ReadyState::Ready => return true,
                ReadyState::Dialog(action) => {
                    let key = action.as_action();
                    let seen = done.iter().position(|(k, _)| *k == key);
                    let act = match seen {
                        None => true,
                        Some(idx) => {
                            matches!(action, DialogAction::Type(_))
                                && i - done[idx].1 >= repeat_after
                        }
                    };
                    if act {
                        let _ = self.answer(name, &action, poll);
                        match seen {
                            Some(idx) => done[idx].1 = i,
                            None => done.push((key, i)),
                        }
                    }
                }
                ReadyState::Loading | ReadyState::Busy => {}
            }
            std::thread::sleep(poll);
        }
        false
    }

    fn answer(&self, name: &str, action: &DialogAction, poll: Duration) -> Result<(), TmuxError> {
        match action {
            DialogAction::Enter => self.send_keys(name, "", 3),
            DialogAction::Type(keys) => {
                self.type_keys(name, keys)?;
                std::thread::sleep(poll.min(Duration::from_millis(250)));
                self.send_keys(name, "", 3)
            }
        }
    }

    /// Kills a session: the pane's process tree first (SIGTERM, `grace`,
    /// SIGKILL), then the session. A session that is already gone is fine.
    /// Returns whether a session was killed.
    ///
    /// # Errors
    /// [`TmuxError::EmptyTarget`], or [`TmuxError::Failed`] for failures
    /// other than a missing session or server.
    pub fn kill_session(&self, name: &str, grace: Duration) -> Result<bool, TmuxError> {
        let target = exact(name)?;
        let pane = pane_target(name)?;
        // Killing the pane's process usually closes the session by itself.
        let was_alive = self.is_alive(name);
        if let Ok(out) = self.run_ok(&["display-message", "-p", "-t", &pane, "#{pane_pid}"])
            && let Ok(pid) = out.trim().parse::<i32>()
        {
            kill_process_tree(pid, grace);
        }
        let out = self.run(&["kill-session", "-t", &target])?;
        if out.status.success() {
            return Ok(true);
        }
        let msg = text(&out);
        if is_missing_session(&msg) || is_no_server(&msg) {
            return Ok(was_alive);
        }
        Err(TmuxError::Failed {
            args: format!("kill-session -t {target}"),
            output: msg,
        })
    }

    /// Kills the whole tmux server (all its sessions). For tests and
    /// `ov clean` of a private server; a server that is not running is fine.
    ///
    /// The socket file, which tmux leaves behind, is removed too.
    pub fn kill_server(&self) {
        let _ = self.run(&["kill-server"]);
        process::remove_tmux_socket(&self.server);
    }
}

/// Returns the descendants of `pid`, deepest first, read from `/proc`.
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut parent_of: Vec<(i32, i32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // Fields after the last ')' : state ppid ...
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                continue;
            };
            if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
                parent_of.push((child, ppid));
            }
        }
    }
    let mut out = Vec::new();
    fn walk(pid: i32, table: &[(i32, i32)], out: &mut Vec<i32>) {
        for (child, ppid) in table {
            if *ppid == pid && !out.contains(child) {
                walk(*child, table, out);
                out.push(*child);
            }
        }
    }
    walk(pid, &parent_of, &mut out);
    out
}

/// Kills `pid` and all its descendants: SIGTERM deepest first then the
/// root, wait up to `grace` for them to exit, then SIGKILL every survivor —
/// also when there were no descendants. Signal errors are ignored. Returns
/// how many processes had to be SIGKILLed.
pub fn kill_process_tree(pid: i32, grace: Duration) -> usize {
    if !process::is_alive(pid) {
        return 0;
    }
    let mut all = descendants(pid);
    all.push(pid);
    for p in &all {
        let _ = process::signal_process(*p, Sig::Term);
    }
    let deadline = Instant::now() + grace;
    let alive = |p: &i32| process::is_alive(*p) && !is_zombie(*p);
    while Instant::now() < deadline && all.iter().any(alive) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let survivors: Vec<i32> = all.iter().copied().filter(|p| alive(p)).collect();
    for p in &survivors {
        let _ = process::signal_process(*p, Sig::Kill);
    }
    survivors.len()
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_replaces_dots_and_colons_only() {
        assert_eq!(sanitize("my.proj:x-y_z/w"), "my_proj_x-y_z/w");
        assert_eq!(session_name("a.b", "lead:1"), "overstory-a_b-lead_1");
    }

    #[test]
    fn startup_script_quotes_values_and_execs() {
        let mut env = BTreeMap::new();
        env.insert("OVERSTORY_TASK_ID".into(), "t\"$(touch /tmp/x)'".into());
        let s = startup_script(&NewSession {
            name: "s".into(),
            cwd: "/".into(),
            command: "claude --model m".into(),
            env,
            path_prepend: Some("/opt/o v".into()),
        })
        .unwrap();
        assert!(s.starts_with("export PATH='/opt/o v':\"$PATH\" && unset CLAUDECODE"));
        assert!(s.contains(r#"export OVERSTORY_TASK_ID='t"$(touch /tmp/x)'\'''"#));
        assert!(s.ends_with("&& exec claude --model m"));
    }

    #[test]
    fn bad_env_names_are_refused() {
        let mut env = BTreeMap::new();
        env.insert("A;rm".into(), "x".into());
        let spec = NewSession {
            env,
            ..NewSession::default()
        };
        assert!(matches!(
            startup_script(&spec),
            Err(TmuxError::BadEnvName { .. })
        ));
    }

    #[test]
    fn empty_targets_are_refused_without_calling_tmux() {
        let t = Tmux::new("ov-never-started");
        assert!(matches!(
            t.send_keys("", "x", 0),
            Err(TmuxError::EmptyTarget)
        ));
        assert!(matches!(
            t.kill_session(" ", Duration::ZERO),
            Err(TmuxError::EmptyTarget)
        ));
        assert!(!t.is_alive(""));
        assert_eq!(t.capture_pane("", 10), None);
    }
}
