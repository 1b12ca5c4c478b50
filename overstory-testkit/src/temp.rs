//! Temporary directories that are gone after the test, even when the test
//! started processes that outlive it.
//!
//! `tempfile::TempDir` removes its directory on drop (also while a panic
//! unwinds) but ignores a failed removal. A test that slings an agent leaves
//! a detached `ov dispatch` (and its agent) writing logs and databases into
//! the project; the removal races those writes, fails with "directory not
//! empty", and the directory stays in `/tmp` for good. [`TempDir`] first
//! kills every process working inside the directory (its current directory
//! or an argument lies under it), then removes the tree, retrying while the
//! last writes settle.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use overstory_core::process::{self, Sig};

/// A temporary directory removed on drop, with every process working in it.
#[derive(Debug)]
pub struct TempDir {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl TempDir {
    /// Creates a directory named `<prefix><random>` in the system temp dir.
    pub fn with_prefix(prefix: &str) -> Self {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
        let path = dir.path().to_path_buf();
        Self {
            dir: Some(dir),
            path,
        }
    }

    /// Returns the directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        remove_tree_and_its_processes(&self.path);
        // Whatever is left (nothing, normally) goes the usual way.
        drop(self.dir.take());
    }
}

/// Kills the processes working under `dir`, then removes `dir`, and repeats
/// until the directory stays gone with nothing working in it (a dispatcher
/// killed mid-fork can leave a child that starts a moment later and writes
/// its state back), for up to three seconds.
pub fn remove_tree_and_its_processes(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut quiet_rounds = 0;
    loop {
        let pids = processes_under(dir);
        for &pid in &pids {
            // Each `ov` child leads its own group; take the group with it.
            let _ = process::signal_group(pid, Sig::Kill);
            let _ = process::signal_process(pid, Sig::Kill);
        }
        let removed = match std::fs::remove_dir_all(dir) {
            Ok(()) => true,
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        };
        quiet_rounds = if removed && pids.is_empty() {
            quiet_rounds + 1
        } else {
            0
        };
        if quiet_rounds >= 2 {
            return;
        }
        if Instant::now() >= deadline {
            if dir.exists() {
                eprintln!(
                    "overstory-testkit: could not remove {} (processes still writing: {:?})",
                    dir.display(),
                    processes_under(dir)
                );
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(if removed { 30 } else { 10 }));
    }
}

/// Returns the live processes (other than this one) whose current directory
/// is under `dir` or whose command line names a path under it.
pub fn processes_under(dir: &Path) -> Vec<i32> {
    let me = i32::try_from(std::process::id()).unwrap_or(0);
    let dir_text = dir.display().to_string();
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let proc_dir = entry.path();
        let in_cwd = std::fs::read_link(proc_dir.join("cwd"))
            .is_ok_and(|cwd| cwd.starts_with(&canonical) || cwd.starts_with(dir));
        let in_args = !in_cwd
            && std::fs::read(proc_dir.join("cmdline")).is_ok_and(|raw| {
                raw.split(|b| *b == 0).any(|arg| {
                    let arg = String::from_utf8_lossy(arg);
                    arg.starts_with(&dir_text)
                        && arg[dir_text.len()..]
                            .chars()
                            .next()
                            .is_none_or(|c| c == '/')
                })
            });
        if in_cwd || in_args {
            out.push(pid);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_kills_a_writer_inside_and_removes_everything() {
        let dir = TempDir::with_prefix("ov-testkit-");
        let path = dir.path().to_path_buf();
        // A process that keeps creating files in the directory, as a
        // dispatcher left behind by a test does.
        let mut writer = std::process::Command::new("sh")
            .args([
                "-c",
                "i=0; while :; do i=$((i+1)); mkdir -p d$i; touch d$i/f; done",
            ])
            .current_dir(&path)
            .spawn()
            .unwrap();
        assert!(processes_under(&path).contains(&(writer.id() as i32)));
        drop(dir);
        assert!(!path.exists(), "{} was left behind", path.display());
        let status = writer.wait().unwrap();
        assert!(!status.success(), "the writer was killed");
    }
}
