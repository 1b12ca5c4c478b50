//! Child processes, process groups, pid files and liveness.
//!
//! This is the only module allowed to construct a `Command` (a clippy lint
//! enforces it). Every command built here starts its child as the leader of a
//! new process group, so signalling the group reaches the child and all of its
//! descendants, and nothing the child starts can outlive a group kill.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

use crate::error::ProcessError;

/// Returns a `std` command for `program` whose child leads its own process group.
#[allow(
    clippy::disallowed_methods,
    reason = "the one place commands are built"
)]
pub fn command(program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    use std::os::unix::process::CommandExt as _;
    let mut cmd = std::process::Command::new(program);
    cmd.process_group(0);
    cmd
}

/// Returns a `std` command that stays in the caller's process group.
///
/// Only for short-lived helpers whose output is awaited immediately (`git`,
/// `tmux`), where a terminal's Ctrl-C should reach them too.
#[allow(
    clippy::disallowed_methods,
    reason = "the one place commands are built"
)]
pub fn foreground_command(program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    std::process::Command::new(program)
}

/// Converts a raw pid to a [`Pid`], rejecting zero and negative values.
pub fn pid(raw: i32) -> Option<Pid> {
    if raw <= 0 { None } else { Pid::from_raw(raw) }
}

/// Returns whether a process with this pid exists (a zombie counts as alive
/// until reaped). A process owned by another user counts as alive.
pub fn is_alive(raw: i32) -> bool {
    let Some(p) = pid(raw) else { return false };
    match rustix::process::test_kill_process(p) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    }
}

/// Returns whether any process is left in the process group `pgid`.
pub fn is_group_alive(pgid: i32) -> bool {
    let Some(p) = pid(pgid) else { return false };
    match rustix::process::test_kill_process_group(p) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    }
}

/// A signal this crate sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    /// SIGTERM: ask to exit.
    Term,
    /// SIGKILL: force exit.
    Kill,
    /// SIGINT: interrupt.
    Int,
}

impl Sig {
    fn to_rustix(self) -> Signal {
        match self {
            Sig::Term => Signal::TERM,
            Sig::Kill => Signal::KILL,
            Sig::Int => Signal::INT,
        }
    }

    /// Returns the conventional name (`SIGTERM`).
    pub fn name(self) -> &'static str {
        match self {
            Sig::Term => "SIGTERM",
            Sig::Kill => "SIGKILL",
            Sig::Int => "SIGINT",
        }
    }
}

/// Sends `sig` to every process in group `pgid`. A group that no longer
/// exists is not an error.
///
/// # Errors
/// [`ProcessError::Signal`] when the OS refuses (for example, permission).
pub fn signal_group(pgid: i32, sig: Sig) -> Result<(), ProcessError> {
    let Some(p) = pid(pgid) else { return Ok(()) };
    match rustix::process::kill_process_group(p, sig.to_rustix()) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(ProcessError::Signal {
            signal: sig.name(),
            pgid,
            source: io::Error::from_raw_os_error(e.raw_os_error()),
        }),
    }
}

/// Sends `sig` to one process. A process that no longer exists is not an error.
///
/// # Errors
/// [`ProcessError::Signal`] when the OS refuses.
pub fn signal_process(raw: i32, sig: Sig) -> Result<(), ProcessError> {
    let Some(p) = pid(raw) else { return Ok(()) };
    match rustix::process::kill_process(p, sig.to_rustix()) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(ProcessError::Signal {
            signal: sig.name(),
            pgid: raw,
            source: io::Error::from_raw_os_error(e.raw_os_error()),
        }),
    }
}

/// Terminates a process group that is not our child: SIGTERM, wait up to
/// `grace` for the group to empty, then SIGKILL whatever is left.
///
/// Returns `true` when the group had to be killed. Use this for groups led by
/// processes started elsewhere (a stale turn, another `ov`); for our own
/// children, signal the group and then `wait` on the child to reap it.
///
/// # Errors
/// [`ProcessError::Signal`] when a signal cannot be delivered.
pub fn terminate_group(pgid: i32, grace: Duration) -> Result<bool, ProcessError> {
    if !is_group_alive(pgid) {
        return Ok(false);
    }
    signal_group(pgid, Sig::Term)?;
    let deadline = Instant::now() + grace;
    let mut delay = Duration::from_millis(5);
    while Instant::now() < deadline {
        if !is_group_alive(pgid) {
            return Ok(false);
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(100));
    }
    if is_group_alive(pgid) {
        signal_group(pgid, Sig::Kill)?;
        return Ok(true);
    }
    Ok(false)
}

/// Writes `pid` to `path` atomically ([`crate::fsio::write_atomic`]), creating
/// the parent.
///
/// # Errors
/// [`ProcessError::PidFile`] naming the file.
pub fn write_pid_file(path: &Path, pid: u32) -> Result<(), ProcessError> {
    crate::fsio::write_atomic(path, format!("{pid}\n")).map_err(|e| ProcessError::PidFile {
        action: "write",
        path: path.to_owned(),
        source: e.source,
    })
}

/// Reads a pid file. Returns `None` when it is missing or does not hold a pid.
pub fn read_pid_file(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|p| *p > 0)
}

/// Removes a pid file; a missing file is fine.
///
/// # Errors
/// [`ProcessError::PidFile`] for any other failure.
pub fn remove_pid_file(path: &Path) -> Result<(), ProcessError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(ProcessError::PidFile {
            action: "remove",
            path: path.to_owned(),
            source,
        }),
    }
}

/// Returns whether the current process runs as root (uid 0).
pub fn is_root() -> bool {
    rustix::process::getuid().is_root()
}

/// Returns whether a tmux server may be listening on socket `server` (the
/// `-L` name): `false` only when its socket (`$TMUX_TMPDIR` or `/tmp`, then
/// `tmux-<uid>/<server>`) is missing or refuses connections (a server that
/// died leaves its socket behind). Lets a caller skip starting `tmux` just
/// to hear "no server running", about a millisecond per call.
pub fn tmux_server_may_be_running(server: &str) -> bool {
    socket_may_accept(&tmux_socket_path(server))
}

/// Returns where tmux keeps the socket of server `server` (the `-L` name):
/// `$TMUX_TMPDIR` or `/tmp`, then `tmux-<uid>/<server>`.
pub fn tmux_socket_path(server: &str) -> PathBuf {
    let base = crate::env::var(crate::env::TMUX_TMPDIR).unwrap_or_else(|| "/tmp".to_owned());
    let uid = rustix::process::getuid().as_raw();
    Path::new(&base).join(format!("tmux-{uid}")).join(server)
}

/// Removes the socket file of tmux server `server`, which tmux leaves behind
/// when the server exits. Call it only once that server was told to exit
/// (`kill-server`): it may still be closing the socket.
pub fn remove_tmux_socket(server: &str) {
    let _ = std::fs::remove_file(tmux_socket_path(server));
}

/// `false` when nothing can be listening on the unix socket at `path`.
fn socket_may_accept(path: &Path) -> bool {
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => true,
        Err(e) => !matches!(
            e.kind(),
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
        ),
    }
}

/// Finds `program` on `PATH`, returning its full path.
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    if program.contains('/') {
        let p = Path::new(program);
        return is_executable(p).then(|| p.to_owned());
    }
    let path = crate::env::var_os(crate::env::PATH)?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Makes the calling process the leader of a new session and process
/// group (`setsid`), detached from any terminal: what a daemon does first.
///
/// # Errors
/// The OS error, e.g. `EPERM` when the caller already leads a process
/// group (start it with [`foreground_command`], not [`command`]).
pub fn detach_session() -> io::Result<()> {
    rustix::process::setsid()
        .map(|_| ())
        .map_err(|e| io::Error::from_raw_os_error(e.raw_os_error()))
}

/// Returns when the process `raw` started, in clock ticks since boot (field
/// 22 of `/proc/<pid>/stat`), or `None` when it does not exist or the
/// system has no `/proc`. A pid and its start time name one process: a
/// reused pid has a different start time.
pub fn start_time(raw: i32) -> Option<u64> {
    proc_stat_fields(raw)?.get(19)?.parse().ok()
}

/// Returns the process group of the process `raw` (from `/proc`), or `None`
/// when it does not exist.
pub fn group_of(raw: i32) -> Option<i32> {
    proc_stat_fields(raw)?.get(2)?.parse().ok()
}

/// The fields of `/proc/<pid>/stat` after the command name: index 0 is the
/// state, 2 the process group, 19 the start time.
fn proc_stat_fields(raw: i32) -> Option<Vec<String>> {
    pid(raw)?;
    let text = std::fs::read_to_string(format!("/proc/{raw}/stat")).ok()?;
    // The command name is in parentheses and may itself hold spaces or ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<String> = rest.split_whitespace().map(str::to_owned).collect();
    // A zombie (state Z) has exited: it only waits to be reaped.
    (fields.first().map(String::as_str) != Some("Z")).then_some(fields)
}

/// Returns the pids of the live processes in the process group `pgid`
/// (scanning `/proc`); empty when there are none or no `/proc`.
pub fn group_members(pgid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| group_of(*p) == Some(pgid))
        .collect()
}

/// Returns the process groups whose leader is gone while members live on,
/// each with its live members (scanning `/proc`): what is left when the
/// process a group was started under is killed and its children are not.
pub fn orphaned_groups() -> Vec<(i32, Vec<i32>)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut groups: std::collections::BTreeMap<i32, Vec<i32>> = std::collections::BTreeMap::new();
    for pid in dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok()) {
        if let Some(pgid) = group_of(pid)
            && pgid != pid
            && pgid > 1
        {
            groups.entry(pgid).or_default().push(pid);
        }
    }
    groups
        .into_iter()
        .filter(|(pgid, _)| start_time(*pgid).is_none())
        .collect()
}

/// Returns the value of `key` in the environment of process `raw` (from
/// `/proc/<pid>/environ`); `None` when unset or unreadable.
pub fn environ_value(raw: i32, key: &str) -> Option<String> {
    let bytes = std::fs::read(format!("/proc/{raw}/environ")).ok()?;
    let prefix = format!("{key}=");
    bytes
        .split(|b| *b == 0)
        .find_map(|entry| entry.strip_prefix(prefix.as_bytes()))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Returns whether the environment of process `raw` holds `key=value`
/// (read from `/proc/<pid>/environ`); `false` when it cannot be read.
pub fn environ_has(raw: i32, key: &str, value: &str) -> bool {
    let Ok(bytes) = std::fs::read(format!("/proc/{raw}/environ")) else {
        return false;
    };
    let want = format!("{key}={value}");
    bytes
        .split(|b| *b == 0)
        .any(|entry| entry == want.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_stale_socket_means_no_server() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("overstory");
        assert!(!socket_may_accept(&path), "missing");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        assert!(socket_may_accept(&path), "listening");
        drop(listener);
        assert!(path.exists(), "a dead server leaves its socket");
        assert!(!socket_may_accept(&path), "stale");
    }

    #[test]
    fn children_lead_their_own_group_and_die_with_it() {
        let mut child = command("sh")
            .args(["-c", "sleep 30 & wait"])
            .spawn()
            .unwrap();
        let pgid = child.id() as i32;
        assert!(is_group_alive(pgid));
        let own = rustix::process::getpgrp().as_raw_nonzero().get();
        assert_ne!(own, pgid, "child must not share our group");
        signal_group(pgid, Sig::Term).unwrap();
        child.wait().unwrap();
        // The grandchild `sleep` got the signal too.
        let deadline = Instant::now() + Duration::from_secs(5);
        while is_group_alive(pgid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!is_group_alive(pgid));
    }

    #[test]
    fn terminate_group_escalates_to_kill() {
        let mut child = command("sh")
            .args(["-c", "trap '' TERM; echo ready; sleep 30"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pgid = child.id() as i32;
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let reap = std::thread::spawn(move || child.wait().unwrap());
        let killed = terminate_group(pgid, Duration::from_millis(200)).unwrap();
        let status = reap.join().unwrap();
        assert!(killed, "trapping TERM must force a KILL");
        assert!(!status.success());
    }

    #[test]
    fn pid_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/turn.pid");
        write_pid_file(&p, 4242).unwrap();
        assert_eq!(read_pid_file(&p), Some(4242));
        remove_pid_file(&p).unwrap();
        remove_pid_file(&p).unwrap();
        assert_eq!(read_pid_file(&p), None);
    }

    #[test]
    fn start_time_names_one_process() {
        let me = std::process::id() as i32;
        let t = start_time(me).unwrap();
        assert_eq!(start_time(me), Some(t));
        assert_eq!(start_time(i32::MAX), None);
        let own_group = rustix::process::getpgrp().as_raw_nonzero().get();
        assert_eq!(group_of(me), Some(own_group));
        assert!(group_members(own_group).contains(&me));
    }

    #[test]
    fn environ_is_read_exactly() {
        let mut child = command("sleep")
            .arg("30")
            .env("OV_PROBE_TEST", "yes")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        // Until the child has exec'd, /proc shows the parent's environment.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !environ_has(pid, "OV_PROBE_TEST", "yes") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(environ_has(pid, "OV_PROBE_TEST", "yes"));
        assert_eq!(environ_value(pid, "OV_PROBE_TEST").as_deref(), Some("yes"));
        assert!(!environ_has(pid, "OV_PROBE_TEST", "ye"));
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn liveness() {
        assert!(is_alive(std::process::id() as i32));
        assert!(!is_alive(0));
        assert!(!is_alive(-1));
    }
}
