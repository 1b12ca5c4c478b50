//! Cleanup: stop every agent, wait for (or kill) dispatchers, remove the
//! worktrees — on every exit path, panics included.

use super::*;

/// The scratch repository and its cleanup, which also runs on panic.
pub(super) struct Scratch {
    pub(super) dir: PathBuf,
    pub(super) keep: bool,
    pub(super) cleaned: bool,
}

impl Scratch {
    /// Stops every agent, waits for (or kills) dispatchers, removes every
    /// agent worktree. Returns the number of worktrees removed.
    pub(super) fn clean(&mut self, note: &mut dyn FnMut(Progress)) -> usize {
        self.cleaned = true;
        let layout = Layout::new(&self.dir);
        if !layout.is_initialized() {
            return 0;
        }
        let config =
            Config::load(&self.dir).map_or_else(|_| Config::defaults_for(&self.dir), |l| l.config);
        let stop = StopOptions {
            grace: Duration::from_millis(500),
            ..StopOptions::default()
        };
        // Rounds: an agent stopped mid-sling may have just created a child.
        for _ in 0..5 {
            let active: Vec<Session> = SessionStore::open(&layout.sessions_db())
                .and_then(|s| s.active())
                .unwrap_or_default();
            for s in &active {
                if stop_agent(&layout, &config, &s.agent_name, &stop).is_ok() {
                    note(Progress {
                        elapsed_ms: 0,
                        kind: "stop",
                        agent: Some(s.agent_name.to_string()),
                        text: format!("stopped {} (was {})", s.agent_name, s.state),
                    });
                }
            }
            let left = wait_for_dispatchers(&layout, Duration::from_secs(3));
            if active.is_empty() && left.is_empty() {
                break;
            }
            for pid in left {
                let _ = process::terminate_group(pid, Duration::from_millis(500));
            }
        }
        remove_worktrees(&layout, &config, note)
    }

    pub(super) fn remove_dir(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.cleaned {
            self.clean(&mut |_| {});
            if !self.keep {
                self.remove_dir();
            }
        }
    }
}

pub(super) fn all_agents(layout: &Layout) -> Vec<AgentName> {
    SessionStore::open(&layout.sessions_db())
        .and_then(|s| s.all())
        .unwrap_or_default()
        .iter()
        .map(|s| s.agent_name.clone())
        .collect()
}

/// Waits until no dispatcher of this project runs; returns the pids of
/// those still running at `limit`.
pub(super) fn wait_for_dispatchers(layout: &Layout, limit: Duration) -> Vec<i32> {
    let deadline = Instant::now() + limit;
    loop {
        let agents = all_agents(layout);
        let locked = agents.iter().any(|a| is_dispatching(layout, a));
        let live = live_dispatchers(layout, &agents);
        if (!locked && live.is_empty()) || Instant::now() >= deadline {
            return live;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Pids of the agents' running dispatchers: those holding their dispatch
/// lock (a dispatcher that exited, even as a zombie, has let go of it, so a
/// reused pid is never reported).
pub(super) fn live_dispatchers(layout: &Layout, agents: &[AgentName]) -> Vec<i32> {
    agents
        .iter()
        .filter_map(|a| dispatcher_pid(layout, a))
        .collect()
}

/// Other processes whose command line names `dir` (the agents' turn
/// processes and dispatchers do), read from `/proc`; none elsewhere.
pub(super) fn processes_naming(dir: &Path) -> Vec<i32> {
    let needle = dir.to_string_lossy().into_owned();
    let me = i32::try_from(std::process::id()).unwrap_or(0);
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
        .collect()
}

/// Waits until no other process names `dir`; returns those left at `limit`.
pub(super) fn wait_for_processes(dir: &Path, limit: Duration) -> Vec<i32> {
    let deadline = Instant::now() + limit;
    loop {
        let left = processes_naming(dir);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

pub(super) fn remove_worktrees(
    layout: &Layout,
    config: &Config,
    note: &mut dyn FnMut(Progress),
) -> usize {
    let wts = Worktrees::new(layout.root());
    let Ok(list) = wts.list() else {
        return 0;
    };
    let root = layout.root().canonicalize().ok();
    let mut removed = 0;
    for w in list {
        if w.path.canonicalize().ok() == root {
            continue;
        }
        let merged = RemoveOptions {
            force_worktree: true,
            force_unmerged: false,
            target: Some(config.project.canonical_branch.clone()),
            keep_branch: false,
        };
        // Unmerged work keeps its branch; the worktree goes either way.
        let outcome = wts.remove(&w.path, &merged).or_else(|_| {
            wts.remove(
                &w.path,
                &RemoveOptions {
                    keep_branch: true,
                    ..merged.clone()
                },
            )
        });
        if let Ok(o) = outcome {
            removed += 1;
            note(Progress {
                elapsed_ms: 0,
                kind: "clean",
                agent: None,
                text: format!(
                    "removed worktree {}{}",
                    w.path
                        .strip_prefix(layout.root())
                        .unwrap_or(&w.path)
                        .display(),
                    if o.branch_deleted {
                        format!(" and merged branch {}", o.branch)
                    } else {
                        format!(" (branch {} kept)", o.branch)
                    }
                ),
            });
        }
    }
    let _ = Git::new(layout.root()).run(&["worktree", "prune"]);
    removed
}
