//! Running a quality gate or a print-mode model call as a child process.
//!
//! Every child leads its own process group ([`overstory_core::process`]),
//! writes its output to files next to the merge worktree (no pipe can fill
//! up and stall it), is killed with its whole group when it outlives its
//! timeout, and is always reaped. While it runs, its group id sits in a pid
//! file, so a later run can kill a child whose `ov merge` was killed
//! ([`crate::scratch`]).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use overstory_core::process::{self, Sig};

/// How a child ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildOutcome {
    /// The exit code; `None` when killed by a signal or the timeout.
    pub code: Option<i32>,
    /// Whether the timeout killed it.
    pub timed_out: bool,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

impl ChildOutcome {
    /// Returns whether it exited 0.
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }

    /// Returns the last `lines` lines of stdout and stderr together.
    pub fn tail(&self, lines: usize) -> String {
        let all = format!("{}{}", self.stdout, self.stderr);
        let v: Vec<&str> = all.lines().collect();
        v[v.len().saturating_sub(lines)..].join("\n")
    }
}

/// A child to run.
#[derive(Debug, Clone)]
pub struct ChildSpec<'a> {
    /// The program and its arguments.
    pub argv: &'a [String],
    /// Where it runs.
    pub cwd: &'a Path,
    /// Kill it after this long.
    pub timeout: Option<Duration>,
    /// Files for its output and pid: `<scratch>.out`, `.err`, `.pid`.
    pub scratch: PathBuf,
    /// Extra environment.
    pub env: Vec<(String, String)>,
}

/// Runs the child to completion (or its timeout). A child that cannot be
/// started reports code 127 and the reason on stderr, as a shell would.
pub fn run(spec: &ChildSpec<'_>) -> ChildOutcome {
    let with = |ext: &str| {
        let mut p = spec.scratch.clone().into_os_string();
        p.push(ext);
        PathBuf::from(p)
    };
    let (out_path, err_path, pid_path) = (with(".out"), with(".err"), with(".pid"));
    let failed = |why: String| ChildOutcome {
        code: Some(127),
        timed_out: false,
        stdout: String::new(),
        stderr: why,
    };
    let Some((program, args)) = spec.argv.split_first() else {
        return failed("empty command".into());
    };
    let (out, err) = match (
        std::fs::File::create(&out_path),
        std::fs::File::create(&err_path),
    ) {
        (Ok(o), Ok(e)) => (o, e),
        (Err(e), _) | (_, Err(e)) => return failed(format!("cannot create output files: {e}")),
    };
    let mut cmd = process::command(program);
    cmd.args(args)
        .current_dir(spec.cwd)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return failed(format!("cannot start \"{program}\": {e}")),
    };
    let pgid = i32::try_from(child.id()).unwrap_or(0);
    let _ = process::write_pid_file(&pid_path, child.id());
    let started = Instant::now();
    let mut delay = Duration::from_millis(2);
    let (code, timed_out) = loop {
        match child.try_wait() {
            Ok(Some(status)) => break (status.code(), false),
            Ok(None) => {}
            Err(_) => break (None, false),
        }
        if spec.timeout.is_some_and(|t| started.elapsed() >= t) {
            let _ = process::signal_group(pgid, Sig::Kill);
            let _ = child.wait();
            break (None, true);
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    };
    // Whatever the child left running in its group goes with it.
    let _ = process::signal_group(pgid, Sig::Kill);
    let _ = process::remove_pid_file(&pid_path);
    let read = |p: &Path| {
        let s = std::fs::read(p)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let _ = std::fs::remove_file(p);
        s
    };
    ChildOutcome {
        code,
        timed_out,
        stdout: read(&out_path),
        stderr: read(&err_path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_kills_on_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let argv: Vec<String> = ["sh", "-c", "echo out; echo err >&2; exit 3"]
            .map(String::from)
            .to_vec();
        let o = run(&ChildSpec {
            argv: &argv,
            cwd: dir.path(),
            timeout: None,
            scratch: dir.path().join("a"),
            env: vec![],
        });
        assert_eq!(o.code, Some(3));
        assert_eq!(o.tail(5), "out\nerr");
        let argv: Vec<String> = ["sh", "-c", "sleep 30"].map(String::from).to_vec();
        let o = run(&ChildSpec {
            argv: &argv,
            cwd: dir.path(),
            timeout: Some(Duration::from_millis(100)),
            scratch: dir.path().join("b"),
            env: vec![],
        });
        assert!(o.timed_out);
        assert!(!o.success());
        assert!(!dir.path().join("b.pid").exists());
    }
}
