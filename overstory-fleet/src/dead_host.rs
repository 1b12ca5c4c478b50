//! A hosted agent whose agent host died without settling it (SIGKILL, OOM):
//! what the host left behind, and clearing it.
//!
//! A host that ends on its own terms settles its agent (`completed` after
//! a stop, `zombie` when the agent process exited) and removes its pid
//! file, socket and owner file before it lets go of its lock
//! ([`overstory_turn::host`]). So a hosted row that is still active while
//! nobody holds the host lock, no start of the agent is in progress (its
//! start lock is free: a start launches the host and waits for it under
//! that lock), and a host once ran for it (the row has the agent's pid, or
//! `host.pid` is there) has a dead host.
//!
//! What may be left:
//! - the agent's process group (the row's pid leads it: the host's
//!   `ov turn-shim`). The shim kills it when the host dies, so it is
//!   normally gone; it survives when the shim was killed too or is wedged.
//!   It is signalled only when one of its live processes carries the
//!   agent's name in `OVERSTORY_AGENT_NAME` *and* this project in
//!   `OVERSTORY_PROJECT_ROOT`, so a reused pid is never hit;
//! - `host.pid`, `host.sock` and `host.owner`. `host.lock` stays: a lock
//!   file is never stale (the kernel frees the lock with its holder; a host
//!   that stops cleanly leaves it too), and unlinking one a new host is
//!   opening would let two hosts hold "the" lock.

use std::path::PathBuf;
use std::time::Duration;

use overstory_core::lockfile::FileLock;
use overstory_core::{Layout, env, process};
use overstory_sessions::Session;
use overstory_turn::host;

/// What the dead host of one agent left. While it lives it holds the
/// agent's start lock, so no `ov coordinator start` (or monitor start) can
/// reclaim the agent and launch a new host between finding the dead one and
/// settling it: the new host's files would be removed and its fresh row
/// marked zombie. A start meanwhile waits, then finds the agent settled.
#[derive(Debug)]
pub(crate) struct DeadHost {
    /// The host's pid, as `host.pid` recorded it.
    pub(crate) host_pid: Option<i32>,
    /// The agent's process group, when something of it still runs (and is
    /// verified to be the agent's).
    pub(crate) group: Option<i32>,
    /// The host's files still on disk.
    pub(crate) files: Vec<PathBuf>,
    /// The agent's start lock, held until this is dropped.
    _start: Option<FileLock>,
}

/// Returns whether process `pid` runs for this project (its
/// `OVERSTORY_PROJECT_ROOT` is the layout's root).
pub(crate) fn runs_in_project(layout: &Layout, pid: i32) -> bool {
    let canon = |p: PathBuf| p.canonicalize().unwrap_or(p);
    let root = canon(layout.root().to_path_buf());
    process::environ_value(pid, env::PROJECT_ROOT).is_some_and(|r| canon(PathBuf::from(r)) == root)
}

/// Returns whether process group `pgid` is alive and one of its live
/// processes is `agent` of this project.
fn group_is_agents(layout: &Layout, pgid: i32, agent: &str) -> bool {
    let own = process::group_of(i32::try_from(std::process::id()).unwrap_or(0));
    own != Some(pgid)
        && process::is_group_alive(pgid)
        && process::group_members(pgid)
            .into_iter()
            .any(|p| process::environ_has(p, env::AGENT_NAME, agent) && runs_in_project(layout, p))
}

/// Returns what the dead host of `s` left, or `None` when `s` is not an
/// active hosted agent, its host lives, a start of it is in progress, or no
/// host ever ran for it. See the [module docs](self).
pub(crate) fn find(layout: &Layout, s: &Session) -> Option<DeadHost> {
    if !host::is_hosted_session(s) {
        return None;
    }
    let agent = &s.agent_name;
    // Held from here on: a start in progress makes this `None`, and no
    // start begins until the dead host is settled. The lock file is not
    // created where the agent has no directory (a start would create it).
    let start = if layout.agent_dir(agent).is_dir() {
        match FileLock::try_acquire(&layout.agent_start_lock(agent)) {
            Ok(Some(held)) => Some(held),
            Ok(None) | Err(_) => return None,
        }
    } else {
        None
    };
    if host::live_host(layout, agent).is_some() {
        return None;
    }
    let pid_file = layout.agent_host_pid(agent);
    if s.pid.is_none() && !pid_file.exists() {
        return None;
    }
    let group = s
        .pid
        .and_then(|p| i32::try_from(p).ok())
        .filter(|g| group_is_agents(layout, *g, agent.as_str()));
    let files = [
        pid_file.clone(),
        layout.agent_host_socket(agent),
        layout.agent_host_owner(agent),
    ]
    .into_iter()
    .filter(|f| f.symlink_metadata().is_ok())
    .collect();
    Some(DeadHost {
        host_pid: process::read_pid_file(&pid_file),
        group,
        files,
        _start: start,
    })
}

impl DeadHost {
    /// Kills the agent's process group (verified again just before the
    /// signal), then removes the host's files. Returns whether a group was
    /// killed.
    ///
    /// # Errors
    /// What could not be signalled or removed, in words.
    pub(crate) fn clear(
        &self,
        layout: &Layout,
        s: &Session,
        grace: Duration,
    ) -> Result<bool, String> {
        let mut errors = Vec::new();
        let mut killed = false;
        if let Some(pgid) = self.group
            && group_is_agents(layout, pgid, s.agent_name.as_str())
        {
            match process::terminate_group(pgid, grace) {
                Ok(_) => killed = true,
                Err(e) => errors.push(overstory_core::error::chain_text(&e)),
            }
        }
        for f in &self.files {
            match std::fs::remove_file(f) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => errors.push(format!("cannot remove \"{}\": {e}", f.display())),
            }
        }
        if errors.is_empty() {
            Ok(killed)
        } else {
            Err(errors.join("; "))
        }
    }

    /// Why the agent is settled, for its event and its parent's mail.
    pub(crate) fn reason(&self, s: &Session) -> String {
        let pid = self
            .host_pid
            .map(|p| format!(" (pid {p})"))
            .unwrap_or_default();
        format!(
            "the agent host{pid} of \"{}\" died while the agent was {}",
            s.agent_name, s.state
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use overstory_sessions::AgentState;

    /// A coordinator row whose host died: its pid file is left, no host
    /// holds the host lock.
    fn dead_coordinator(layout: &Layout) -> Session {
        let mut s = Session::new(
            "coordinator".parse().unwrap(),
            "coordinator".parse().unwrap(),
        );
        s.state = AgentState::Working;
        std::fs::create_dir_all(layout.agent_dir(&s.agent_name)).unwrap();
        std::fs::write(layout.agent_host_pid(&s.agent_name), "999999\n").unwrap();
        s
    }

    #[test]
    fn a_found_dead_host_holds_off_a_start_until_it_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let s = dead_coordinator(&layout);
        let start_lock = layout.agent_start_lock(&s.agent_name);

        let dead = find(&layout, &s).expect("the host is dead");
        assert_eq!(dead.files, vec![layout.agent_host_pid(&s.agent_name)]);
        assert!(
            FileLock::try_acquire(&start_lock).unwrap().is_none(),
            "a start waits while the dead host is being settled"
        );
        drop(dead);
        assert!(FileLock::try_acquire(&start_lock).unwrap().is_some());
    }

    #[test]
    fn a_start_in_progress_is_not_a_dead_host() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let s = dead_coordinator(&layout);
        let _starting = FileLock::acquire(&layout.agent_start_lock(&s.agent_name)).unwrap();
        assert!(find(&layout, &s).is_none());
    }
}
