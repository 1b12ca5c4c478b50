//! Starting a turn's child process, behind a trait so tests can inject faults
//! and timing.
//!
//! [`ProcessSpawner`] is the real thing: the child leads its own process
//! group (optionally under the [`shim`](crate::shim) so it dies with its
//! runner), and [`TurnChild::signal`] reaches the whole group. Tests may
//! supply their own [`TurnSpawner`] to script a child's output, exit and
//! reaction to signals; the runner under test stays the real one.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};

use overstory_runtime::runtime::SpawnSpec;
use std::pin::Pin;
use std::process::Stdio;

use overstory_core::env;
use overstory_core::process::{self, Sig};
use tokio::io::{AsyncRead, AsyncWrite};

/// A boxed async writer (the child's stdin).
pub type ChildStdin = Pin<Box<dyn AsyncWrite + Send>>;
/// A boxed async reader (the child's stdout or stderr).
pub type ChildOutput = Pin<Box<dyn AsyncRead + Send>>;

/// Copies a child's stderr into the file at `path` in the background (into
/// nothing when the file cannot be created), until the child closes it.
/// The turn runner and the agent host both keep `stderr.log` this way.
pub(crate) fn copy_stderr(mut stderr: ChildOutput, path: PathBuf) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Ok(mut file) = tokio::fs::File::create(&path).await {
            let _ = tokio::io::copy(&mut stderr, &mut file).await;
        } else {
            let _ = tokio::io::copy(&mut stderr, &mut tokio::io::sink()).await;
        }
    })
}

/// A running turn child.
#[async_trait::async_trait]
pub trait TurnChild: Send {
    /// Returns the child's pid (also its process group id).
    fn pid(&self) -> u32;
    /// Takes the child's stdin; `None` after the first call.
    fn take_stdin(&mut self) -> Option<ChildStdin>;
    /// Takes the child's stdout; `None` after the first call.
    fn take_stdout(&mut self) -> Option<ChildOutput>;
    /// Takes the child's stderr; `None` after the first call or if absent.
    fn take_stderr(&mut self) -> Option<ChildOutput>;
    /// Waits for the child to exit and reaps it. Returns its exit code, or
    /// `None` when a signal ended it.
    ///
    /// # Errors
    /// Any OS error while waiting.
    ///
    /// # Cancel safety
    /// Cancel safe: the child keeps running and can be waited on again.
    async fn wait(&mut self) -> io::Result<Option<i32>>;
    /// Sends `sig` to the child's whole process group. Never fails: a group
    /// that is already gone needs no signal.
    fn signal(&mut self, sig: Sig);
    /// Whether any process is still alive in the child's process group. After
    /// the child itself exited this is what it left behind: the agent and its
    /// tools when the child was the turn shim and was killed. The default
    /// (an injected child with no group) says no.
    fn group_alive(&self) -> bool {
        false
    }
}

/// Starts turn children.
pub trait TurnSpawner: Send + Sync {
    /// Starts `spec` with piped stdin, stdout and stderr.
    ///
    /// # Errors
    /// The OS error when the program cannot be started.
    fn spawn(&self, spec: &SpawnSpec) -> io::Result<Box<dyn TurnChild>>;
}

/// Runs children under `ov turn-shim` so they die with their runner.
#[derive(Debug, Clone)]
pub struct ShimConfig {
    /// The `ov` executable.
    pub program: PathBuf,
    /// Arguments before the guarded argv; normally `["turn-shim"]`.
    pub args: Vec<OsString>,
}

impl ShimConfig {
    /// Returns the shim as provided by the `ov` binary at `ov`.
    pub fn ov(ov: impl Into<PathBuf>) -> Self {
        Self {
            program: ov.into(),
            args: vec!["turn-shim".into()],
        }
    }
}

/// The real spawner: each child leads a new process group.
#[derive(Debug, Clone, Default)]
pub struct ProcessSpawner {
    shim: Option<ShimConfig>,
}

impl ProcessSpawner {
    /// A spawner that starts children directly. If the runner is killed with
    /// SIGKILL, the child's group survives it (use [`with_shim`](Self::with_shim)).
    pub fn new() -> Self {
        Self::default()
    }

    /// A spawner that starts children under the shim, so a killed runner
    /// never leaves its turn running.
    pub fn with_shim(shim: ShimConfig) -> Self {
        Self { shim: Some(shim) }
    }
}

/// The cause, inside an [`io::Error`], of a spawn that can never succeed:
/// the agent's program is missing or not executable, or it exited saying it
/// could not start. [`TurnError::is_start_failure`](crate::TurnError::is_start_failure)
/// looks for it; other spawn errors (a missing working directory, no
/// processes left) may pass on a later try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannotStart(pub String);

impl std::fmt::Display for CannotStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CannotStart {}

/// Returns an [`io::Error`] of `kind` carrying [`CannotStart`].
pub fn cannot_start(kind: io::ErrorKind, message: impl Into<String>) -> io::Error {
    io::Error::new(kind, CannotStart(message.into()))
}

/// Finds the program a spawn spec names, as `execvp` would for the child: a
/// name with a `/` is taken relative to the child's working directory, a
/// bare name is looked up in the child's `PATH` (the spec's, else ours).
///
/// Resolving first gives an error that names the program (the OS says only
/// "No such file or directory"), and under the shim it is the only way to
/// learn of it: the shim itself always starts.
///
/// # Errors
/// [`io::ErrorKind::NotFound`] when nothing executable is found,
/// [`io::ErrorKind::PermissionDenied`] when the file exists but cannot be
/// run; both carry [`CannotStart`].
pub fn resolve_program(spec: &SpawnSpec, program: &OsStr) -> io::Result<PathBuf> {
    let shown = program.to_string_lossy();
    if shown.contains('/') {
        let path = spec.cwd.join(program);
        return match executable(&path) {
            Some(true) => Ok(path),
            Some(false) => Err(cannot_start(
                io::ErrorKind::PermissionDenied,
                format!("\"{shown}\" is not an executable file"),
            )),
            None => Err(cannot_start(
                io::ErrorKind::NotFound,
                format!("\"{shown}\" does not exist"),
            )),
        };
    }
    let path_var = spec
        .env
        .get(env::PATH)
        .map(OsString::from)
        .or_else(|| env::var_os(env::PATH))
        .unwrap_or_default();
    std::env::split_paths(&path_var)
        .map(|dir| spec.cwd.join(dir).join(program))
        .find(|candidate| executable(candidate) == Some(true))
        .ok_or_else(|| {
            cannot_start(
                io::ErrorKind::NotFound,
                format!("\"{shown}\" was not found on PATH"),
            )
        })
}

/// `Some(true)` for an executable file, `Some(false)` for another existing
/// entry, `None` when nothing is there.
fn executable(path: &Path) -> Option<bool> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = path.metadata().ok()?;
    Some(meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

impl TurnSpawner for ProcessSpawner {
    fn spawn(&self, spec: &SpawnSpec) -> io::Result<Box<dyn TurnChild>> {
        let Some((program, args)) = spec.argv.split_first() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the runtime built a spawn spec with no program to run",
            ));
        };
        if !spec.cwd.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "the agent's working directory \"{}\" does not exist",
                    spec.cwd.display()
                ),
            ));
        }
        let program = resolve_program(spec, program)?;
        let program = program.as_os_str();
        let mut cmd = match &self.shim {
            Some(shim) => {
                let mut c = process::command(&shim.program);
                c.args(&shim.args)
                    .arg("--parent-pid")
                    .arg(std::process::id().to_string())
                    .arg("--")
                    .arg(program)
                    .args(args);
                c
            }
            None => {
                let mut c = process::command(program);
                c.args(args);
                c
            }
        };
        for key in &spec.env_remove {
            cmd.env_remove(key);
        }
        cmd.current_dir(&spec.cwd)
            .envs(&spec.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = tokio::process::Command::from(cmd).spawn()?;
        let pid = child.id().unwrap_or(0);
        let stdin = child.stdin.take().map(|s| Box::pin(s) as ChildStdin);
        let stdout = child.stdout.take().map(|s| Box::pin(s) as ChildOutput);
        let stderr = child.stderr.take().map(|s| Box::pin(s) as ChildOutput);
        Ok(Box::new(ProcessChild {
            child,
            pid,
            stdin,
            stdout,
            stderr,
        }))
    }
}

struct ProcessChild {
    child: tokio::process::Child,
    pid: u32,
    stdin: Option<ChildStdin>,
    stdout: Option<ChildOutput>,
    stderr: Option<ChildOutput>,
}

#[async_trait::async_trait]
impl TurnChild for ProcessChild {
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
        self.stderr.take()
    }

    async fn wait(&mut self) -> io::Result<Option<i32>> {
        Ok(self.child.wait().await?.code())
    }

    fn signal(&mut self, sig: Sig) {
        if let Ok(pgid) = i32::try_from(self.pid) {
            let _ = process::signal_group(pgid, sig);
        }
    }

    fn group_alive(&self) -> bool {
        i32::try_from(self.pid).is_ok_and(process::is_group_alive)
    }
}
