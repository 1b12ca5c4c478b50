//! Running a quality gate or a print-mode model call as a child process.
//!
//! Every child leads its own process group ([`overstory_core::process`]),
//! reads its input from and writes its output to files next to the merge
//! worktree (no pipe can fill up and stall it, and a prompt of any size
//! goes in without the 128 KiB limit the kernel puts on one argument), is killed with its whole group when it outlives its
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
    /// Files for its input, output and pid: `<scratch>.in`, `.out`,
    /// `.err`, `.pid`.
    pub scratch: PathBuf,
    /// What it reads on stdin (`None`: stdin is `/dev/null`).
    pub stdin: Option<&'a str>,
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
    let (in_path, out_path, err_path, pid_path) =
        (with(".in"), with(".out"), with(".err"), with(".pid"));
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
    let stdin = match spec.stdin {
        None => Stdio::null(),
        Some(text) => match write_input(&in_path, text) {
            Ok(f) => Stdio::from(f),
            Err(e) => {
                let _ = std::fs::remove_file(&in_path);
                return failed(format!("cannot write the input file: {e}"));
            }
        },
    };
    let mut cmd = process::command(program);
    cmd.args(args)
        .current_dir(spec.cwd)
        .stdin(stdin)
        .stdout(out)
        .stderr(err);
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    let spawned = cmd.spawn();
    // The child holds its own descriptor; the name is no longer needed.
    drop(cmd);
    let _ = std::fs::remove_file(&in_path);
    let mut child = match spawned {
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

/// Writes `text` to `path` (owner-only) and reopens it for reading from
/// the start.
fn write_input(path: &Path, text: &str) -> std::io::Result<std::fs::File> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    drop(f);
    std::fs::File::open(path)
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
            stdin: None,
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
            stdin: None,
            env: vec![],
        });
        assert!(o.timed_out);
        assert!(!o.success());
        assert!(!dir.path().join("b.pid").exists());
    }

    #[test]
    fn stdin_of_any_size_arrives_whole_and_its_file_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let big = "x".repeat(300 * 1024);
        let argv: Vec<String> = ["sh", "-c", "wc -c"].map(String::from).to_vec();
        let o = run(&ChildSpec {
            argv: &argv,
            cwd: dir.path(),
            timeout: None,
            scratch: dir.path().join("c"),
            stdin: Some(&big),
            env: vec![],
        });
        assert!(o.success(), "{o:?}");
        assert_eq!(o.stdout.trim(), (300 * 1024).to_string());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
