//! Every path under `.overstory/`.
//!
//! This is the only module that joins path segments below a project's
//! `.overstory/` directory. Agent and task components come in as validated
//! [`AgentName`]s and [`TaskId`]s, so no path built here can leave the
//! directory it is meant for.

use std::path::{Path, PathBuf};

use crate::names::{AgentName, TaskId};

/// The name of the state directory at the project root.
pub const STATE_DIR: &str = ".overstory";

/// The paths of one project. Cheap to clone; holds only the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
    dir: PathBuf,
}

macro_rules! file {
    ($(#[$m:meta])* $fn:ident => $name:literal) => {
        $(#[$m])*
        pub fn $fn(&self) -> PathBuf {
            self.dir.join($name)
        }
    };
}

impl Layout {
    /// Creates the layout of the project rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let dir = root.join(STATE_DIR);
        Self { root, dir }
    }

    /// Returns the project root (the directory holding `.overstory/`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Returns `<root>/.overstory`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Returns whether `.overstory/config.yaml` exists.
    pub fn is_initialized(&self) -> bool {
        self.config().is_file()
    }

    file!(/// Returns `.overstory/config.yaml`.
        config => "config.yaml");
    file!(/// Returns `.overstory/config.yaml.backup`, where `ov init --force`
        /// keeps a `config.yaml` it replaced.
        config_backup => "config.yaml.backup");
    file!(/// Returns `.overstory/config.local.yaml` (machine-local, gitignored).
        config_local => "config.local.yaml");
    file!(/// Returns `.overstory/agent-manifest.json`.
        manifest => "agent-manifest.json");
    file!(/// Returns `.overstory/hooks.json`.
        hooks => "hooks.json");
    file!(/// Returns `.overstory/.gitignore`.
        gitignore => ".gitignore");
    file!(/// Returns `.overstory/README.md`.
        readme => "README.md");
    file!(/// Returns `.overstory/groups.json`.
        groups => "groups.json");
    file!(/// Returns `.overstory/groups.json.lock`, held while `groups.json` is rewritten.
        groups_lock => "groups.json.lock");
    file!(/// Returns `.overstory/agent-defs/`.
        agent_defs_dir => "agent-defs");
    file!(/// Returns `.overstory/agents/`.
        agents_dir => "agents");
    file!(/// Returns `.overstory/worktrees/` (the default `worktrees.baseDir`).
        worktrees_dir => "worktrees");
    file!(/// Returns `.overstory/specs/`.
        specs_dir => "specs");
    file!(/// Returns `.overstory/logs/`.
        logs_dir => "logs");
    file!(/// Returns `.overstory/pending-nudges/`.
        pending_nudges_dir => "pending-nudges");
    file!(/// Returns `.overstory/scripts/`: agent scripts for the scripted runtime.
        scripts_dir => "scripts");
    file!(/// Returns `.overstory/mail.db`.
        mail_db => "mail.db");
    file!(/// Returns `.overstory/sessions.db`.
        sessions_db => "sessions.db");
    file!(/// Returns `.overstory/events.db`.
        events_db => "events.db");
    file!(/// Returns `.overstory/metrics.db`.
        metrics_db => "metrics.db");
    file!(/// Returns `.overstory/merge-queue.db`.
        merge_queue_db => "merge-queue.db");
    file!(/// Returns `.overstory/current-run.txt`.
        current_run => "current-run.txt");
    file!(/// Returns `.overstory/session-branch.txt`.
        session_branch => "session-branch.txt");
    file!(/// Returns `.overstory/nudge-state.json`.
        nudge_state => "nudge-state.json");
    file!(/// Returns `.overstory/sling.lock`: held while sling admits an agent.
        sling_lock => "sling.lock");
    file!(/// Returns `.overstory/worktrees.lock`: held while a worktree is
        /// added (with its push block) or removed, so no git command in one
        /// worktree reads another's half-written admin directory.
        worktrees_lock => "worktrees.lock");
    file!(/// Returns `.overstory/mail-check-state.json`.
        mail_check_state => "mail-check-state.json");
    file!(/// Returns `.overstory/watchdog.pid`.
        watchdog_pid => "watchdog.pid");
    file!(/// Returns `.overstory/watchdog.lock`: OS-locked by the one `ov watch`
        /// daemon of the project while it runs.
        watchdog_lock => "watchdog.lock");
    file!(/// Returns `.overstory/watchdog-tick.lock`: OS-locked by whoever runs
        /// a watchdog tick (the daemon or `ov watch --once`) for the tick's
        /// duration, so two ticks of one project never overlap.
        watchdog_tick_lock => "watchdog-tick.lock");
    file!(/// Returns `.overstory/serve.json`.
        serve_state => "serve.json");
    file!(/// Returns `.overstory/orchestrator-tmux.json`.
        orchestrator_tmux => "orchestrator-tmux.json");
    file!(/// Returns `.overstory/run-complete-notified.txt`.
        run_complete_notified => "run-complete-notified.txt");
    file!(/// Returns `.overstory/sessions.json` (legacy pre-SQLite session list, import only).
        sessions_json => "sessions.json");

    /// Returns `.overstory/agents/<agent>/`.
    pub fn agent_dir(&self, agent: &AgentName) -> PathBuf {
        self.agents_dir().join(agent.as_str())
    }

    /// Returns `.overstory/agents/<agent>/identity.yaml`.
    pub fn agent_identity(&self, agent: &AgentName) -> PathBuf {
        self.agent_dir(agent).join("identity.yaml")
    }

    /// Returns `.overstory/agents/<agent>/checkpoint.json`.
    pub fn agent_checkpoint(&self, agent: &AgentName) -> PathBuf {
        self.agent_dir(agent).join("checkpoint.json")
    }

    /// Returns `.overstory/agents/<agent>/turn.pid`: the pid of the running turn's child.
    pub fn agent_turn_pid(&self, agent: &AgentName) -> PathBuf {
        self.agent_dir(agent).join("turn.pid")
    }

    /// Returns `.overstory/agents/<agent>/sling.pid`: `<pid> <start time>
    /// <session id>` of the sling setting the agent up, removed when it
    /// finishes; left behind only by a sling that died.
    pub fn agent_sling_marker(&self, agent: &AgentName) -> PathBuf {
        self.agent_dir(agent).join("sling.pid")
    }

    /// Returns `.overstory/agents/<agent>/turn.lock`: the OS-locked file that
    /// serialises turns of one agent.
    pub fn agent_turn_lock(&self, agent: &AgentName) -> PathBuf {
        self.agent_dir(agent).join("turn.lock")
    }

    /// Returns `.overstory/agents/<agent>/dispatch.lock`: held by the process
    /// that delivers an agent's mail as turns.
    pub fn agent_dispatch_lock(&self, agent: &AgentName) -> PathBuf {
        self.agent_dir(agent).join("dispatch.lock")
    }

    /// Returns `.overstory/agents/<agent>/nudges/`: queued user turns (nudges
    /// and the first prompt) waiting for the agent's dispatcher.
    pub fn agent_nudge_dir(&self, agent: &AgentName) -> PathBuf {
        self.agent_dir(agent).join("nudges")
    }

    /// Returns `.overstory/agents/<agent>/runtime.json`: the runtime the
    /// agent was slung with, so later turns use the same one.
    pub fn agent_runtime_choice(&self, agent: &AgentName) -> PathBuf {
        self.agent_dir(agent).join("runtime.json")
    }

    /// Returns `.overstory/logs/watchdog.log`: a background watchdog's output.
    pub fn watchdog_log(&self) -> PathBuf {
        self.logs_dir().join("watchdog.log")
    }

    /// Returns `.overstory/logs/<agent>/dispatch.log`: the dispatcher's stderr.
    pub fn agent_dispatch_log(&self, agent: &AgentName) -> PathBuf {
        self.agent_logs_dir(agent).join("dispatch.log")
    }

    /// Returns `.overstory/agents/<agent>/host.lock`: OS-locked by the one
    /// agent host of a persistent agent while it lives.
    pub fn agent_host_lock(&self, agent: &AgentName) -> PathBuf {
        self.agent_dir(agent).join("host.lock")
    }

    /// Returns `.overstory/agents/<agent>/start.lock`: held while a
    /// persistent agent is being started, so two starts run one after the
    /// other (the second then finds the first running).
    pub fn agent_start_lock(&self, agent: &AgentName) -> PathBuf {
        self.agent_dir(agent).join("start.lock")
    }

    /// Returns `.overstory/agents/<agent>/host.owner`: the pid of the program
    /// the agent's host lives for, when one was named at start (the host
    /// stops the agent once that process is gone).
    pub fn agent_host_owner(&self, agent: &AgentName) -> PathBuf {
        self.agent_dir(agent).join("host.owner")
    }

    /// Returns `.overstory/agents/<agent>/host.pid`: the agent host's pid.
    pub fn agent_host_pid(&self, agent: &AgentName) -> PathBuf {
        self.agent_dir(agent).join("host.pid")
    }

    /// Returns `.overstory/agents/<agent>/host.sock`: the agent host's wake
    /// socket (a UNIX datagram socket; any datagram means "look at the mail").
    pub fn agent_host_socket(&self, agent: &AgentName) -> PathBuf {
        self.agent_dir(agent).join("host.sock")
    }

    /// Returns `.overstory/logs/<agent>/host.log`: the agent host's own
    /// diagnostics (its stderr).
    pub fn agent_host_log(&self, agent: &AgentName) -> PathBuf {
        self.agent_logs_dir(agent).join("host.log")
    }

    /// Returns `.overstory/logs/<agent>/<stamp>/stdout.log`: the raw stdout of
    /// a long-lived headless agent process.
    pub fn agent_stdout_log(&self, agent: &AgentName, stamp: &str) -> PathBuf {
        self.agent_log_session_dir(agent, stamp).join("stdout.log")
    }

    /// Returns `.overstory/logs/<agent>/<stamp>/stderr.log`.
    pub fn agent_stderr_log(&self, agent: &AgentName, stamp: &str) -> PathBuf {
        self.agent_log_session_dir(agent, stamp).join("stderr.log")
    }

    /// Returns `.overstory/logs/<agent>/`.
    pub fn agent_logs_dir(&self, agent: &AgentName) -> PathBuf {
        self.logs_dir().join(agent.as_str())
    }

    /// Returns `.overstory/logs/<agent>/.current-session`: the hook logger's
    /// current session log directory.
    pub fn agent_current_session_marker(&self, agent: &AgentName) -> PathBuf {
        self.agent_logs_dir(agent).join(".current-session")
    }

    /// Returns `.overstory/logs/<agent>/.transcript-path`: the cached transcript path.
    pub fn agent_transcript_cache(&self, agent: &AgentName) -> PathBuf {
        self.agent_logs_dir(agent).join(".transcript-path")
    }

    /// Returns `.overstory/logs/<agent>/.transcript-cursor`: how far the
    /// transcript has been summed (incremental token snapshots).
    pub fn agent_transcript_cursor(&self, agent: &AgentName) -> PathBuf {
        self.agent_logs_dir(agent).join(".transcript-cursor")
    }

    /// Returns `.overstory/logs/<agent>/.last-snapshot`: epoch-ms of the last token snapshot.
    pub fn agent_last_snapshot(&self, agent: &AgentName) -> PathBuf {
        self.agent_logs_dir(agent).join(".last-snapshot")
    }

    /// Returns `.overstory/logs/<agent>/<ts>/` for a log directory stamp
    /// (RFC 3339 with `:` and `.` replaced by `-`).
    pub fn agent_log_session_dir(&self, agent: &AgentName, stamp: &str) -> PathBuf {
        self.agent_logs_dir(agent).join(stamp)
    }

    /// Returns `.overstory/worktrees/<agent>` (with the default `worktrees.baseDir`).
    pub fn agent_worktree(&self, agent: &AgentName) -> PathBuf {
        self.worktrees_dir().join(agent.as_str())
    }

    /// Returns `<root>/<base_dir>/<agent>` for a configured `worktrees.baseDir`.
    pub fn agent_worktree_in(&self, base_dir: &Path, agent: &AgentName) -> PathBuf {
        self.root.join(base_dir).join(agent.as_str())
    }

    /// Returns the run id in `current-run.txt`, trimmed; `None` when the
    /// file is missing, empty or whitespace only.
    pub fn current_run_id(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.current_run()).ok()?;
        let id = text.trim();
        (!id.is_empty()).then(|| id.to_owned())
    }

    /// Returns `.overstory/specs/<task>.md`.
    pub fn task_spec(&self, task: &TaskId) -> PathBuf {
        self.specs_dir().join(format!("{task}.md"))
    }

    /// Returns `.overstory/pending-nudges/<agent>.json`.
    pub fn pending_nudge(&self, agent: &AgentName) -> PathBuf {
        self.pending_nudges_dir().join(format!("{agent}.json"))
    }

    /// Returns `.overstory/pending-nudges/<recipient>.from-<sender>.json`: a
    /// marker one sender leaves for a recipient without overwriting the
    /// markers of other senders (a stopped lead's note to the coordinator).
    pub fn pending_nudge_from(&self, recipient: &AgentName, sender: &AgentName) -> PathBuf {
        self.pending_nudges_dir()
            .join(format!("{recipient}.from-{sender}.json"))
    }

    /// Returns the directories `ov init` creates, in creation order.
    pub fn init_dirs(&self) -> [PathBuf; 6] {
        [
            self.dir.clone(),
            self.agents_dir(),
            self.agent_defs_dir(),
            self.worktrees_dir(),
            self.specs_dir(),
            self.logs_dir(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_the_original_layout() {
        let l = Layout::new("/p");
        let a = AgentName::new("builder-1").unwrap();
        let t = TaskId::new("task-1").unwrap();
        assert_eq!(l.config(), Path::new("/p/.overstory/config.yaml"));
        assert_eq!(l.mail_db(), Path::new("/p/.overstory/mail.db"));
        assert_eq!(
            l.agent_turn_pid(&a),
            Path::new("/p/.overstory/agents/builder-1/turn.pid")
        );
        assert_eq!(
            l.agent_worktree(&a),
            Path::new("/p/.overstory/worktrees/builder-1")
        );
        assert_eq!(l.task_spec(&t), Path::new("/p/.overstory/specs/task-1.md"));
        assert_eq!(
            l.pending_nudge(&a),
            Path::new("/p/.overstory/pending-nudges/builder-1.json")
        );
    }
}
