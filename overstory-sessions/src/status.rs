//! `ov status`: the fleet at a glance, gathered in one call.
//!
//! Reads sessions (scoped to the current run plus unscoped rows unless
//! `all`), the project's worktrees, the tmux sessions on the `overstory`
//! socket, and counts from the other stores. It never scans `events.db`.
//!
//! Reconciliation is CAS-only: an agent whose tmux session or process is
//! gone is moved to `zombie` (or `completed` when it went quiet long ago)
//! through [`crate::SessionStore::transition`], so a state another writer set in
//! the meantime (`completed` by `ov stop`) is never overwritten.

use std::collections::{BTreeMap, HashMap, HashSet};

use overstory_core::{Capability, Layout, Worktrees, clock, process};
use serde::Serialize;

use crate::error::SessionError;
use crate::legacy::open_sessions;
use crate::metrics::MetricsStore;
use crate::runs::current_run_id;
use crate::state::{AgentState, Transition};
use crate::store::{RunMode, Session, UndecodableRow};

/// Counts read from stores this crate does not own (mail, merge queue).
pub trait StatusSources {
    /// Returns the number of unread messages addressed to `agent`.
    fn unread_mail(&self, agent: &str) -> u64;
    /// Returns the number of pending merge-queue entries.
    fn merge_queue_pending(&self) -> u64;
    /// Returns the times of the last mail `agent` sent and received.
    fn last_mail(&self, _agent: &str) -> (Option<String>, Option<String>) {
        (None, None)
    }
}

/// A source that reports nothing (no mail, empty merge queue).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSources;

impl StatusSources for NoSources {
    fn unread_mail(&self, _agent: &str) -> u64 {
        0
    }
    fn merge_queue_pending(&self) -> u64 {
        0
    }
}

/// Choices for one status call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusOptions {
    /// Show every session, not just the current run's.
    pub all: bool,
    /// The agent whose unread mail is counted (default `orchestrator`).
    pub mail_scope: String,
    /// Include per-agent details.
    pub verbose: bool,
    /// Idle time after which a dead agent counts as finished rather than crashed.
    pub stale_ms: i64,
}

impl StatusOptions {
    /// The defaults, with the project's `watchdog.staleThresholdMs`.
    pub fn from_config(config: &overstory_core::Config) -> Self {
        Self {
            stale_ms: i64::try_from(config.watchdog.stale_threshold_ms).unwrap_or(i64::MAX),
            ..Self::default()
        }
    }
}

impl Default for StatusOptions {
    fn default() -> Self {
        Self {
            all: false,
            mail_scope: "orchestrator".into(),
            verbose: false,
            stale_ms: 300_000,
        }
    }
}

/// A git worktree of the project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorktreeInfo {
    /// The worktree's absolute directory, as `git worktree list` prints it.
    pub path: String,
    /// Its branch (empty when detached).
    pub branch: String,
    /// The full SHA of the worktree's HEAD commit.
    pub head: String,
}

/// A tmux session on the `overstory` socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TmuxSession {
    /// The tmux session name (`overstory-<project>-<agent>`).
    pub name: String,
    /// The server-side pid of the session.
    pub pid: i64,
}

/// Per-agent details shown with `--verbose`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerboseDetail {
    /// The agent's worktree directory (the project root for persistent agents).
    pub worktree_path: String,
    /// The agent's log directory, `.overstory/logs/<agent>/`.
    pub logs_dir: String,
    /// When it last sent mail.
    pub last_mail_sent: Option<String>,
    /// When it last received mail.
    pub last_mail_received: Option<String>,
    /// What the agent may do (`builder`, `lead`, …).
    pub capability: Capability,
}

/// The `ov status` payload, serialised exactly as the original's JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    /// The current run (`null` when none); absent with `--all`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_run_id: Option<Option<String>>,
    /// Sessions in scope, oldest first, after reconciliation.
    pub agents: Vec<Session>,
    /// Every git worktree of the project, main checkout first, from `git worktree list`.
    pub worktrees: Vec<WorktreeInfo>,
    /// Tmux sessions on the `overstory` socket.
    pub tmux_sessions: Vec<TmuxSession>,
    /// Unread mail to `unread_mail_scope`.
    pub unread_mail_count: u64,
    /// The agent whose mail is counted.
    pub unread_mail_scope: String,
    /// Pending merge-queue entries.
    pub merge_queue_count: u64,
    /// Rows in `metrics.db`.
    pub recent_metrics_count: i64,
    /// Details per agent (with `--verbose`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verbose_details: Option<BTreeMap<String, VerboseDetail>>,
    /// Whether each agent's process is alive (text marker `>`/`x`).
    #[serde(skip)]
    pub alive: HashMap<String, bool>,
    /// Rows of `sessions.db` that do not decode (left out of `agents`, left
    /// unchanged in the file), for the caller to warn about.
    #[serde(skip)]
    pub undecodable: Vec<UndecodableRow>,
    /// Every row of `sessions.db`, in any run and state, readable or not.
    #[serde(skip)]
    pub recorded_sessions: usize,
}

impl StatusReport {
    /// Returns the agents that count as active (not zombie or completed).
    pub fn active_agents(&self) -> impl Iterator<Item = &Session> {
        self.agents.iter().filter(|s| s.state.is_active())
    }

    /// Returns whether `agent`'s process is alive: spawn-per-turn workers
    /// while not terminal, headless agents while their pid lives, tmux agents
    /// while their session is listed.
    pub fn is_alive(&self, agent: &str) -> bool {
        self.alive.get(agent).copied().unwrap_or(false)
    }
}

/// Gathers the status of the project at `layout`.
///
/// # Errors
/// [`SessionError`] when `sessions.db` cannot be opened or read. Missing
/// `git`/`tmux` and unreadable side stores only leave their parts empty.
pub fn gather(
    layout: &Layout,
    opts: &StatusOptions,
    sources: &dyn StatusSources,
) -> Result<StatusReport, SessionError> {
    // Start the tmux query first so its latency overlaps the reads; with no
    // server listening there is nothing to ask (and no process to start).
    let tmux = process::tmux_server_may_be_running(TMUX_SERVER)
        .then(|| spawn_capture(tmux_command()))
        .flatten();
    let (mut store, _) = open_sessions(layout)?;
    let run = current_run_id(layout);
    // A row another program wrote that our types reject is reported, not
    // fatal: status is where a person looks when something is wrong.
    let (mut agents, undecodable) = store.all_readable()?;
    let recorded_sessions = agents.len() + undecodable.len();
    if let (Some(id), false) = (&run, opts.all) {
        agents.retain(|s| s.run_id.as_deref().is_none_or(|r| r == id));
    }
    let tmux_sessions = finish_capture(tmux).map_or_else(Vec::new, |t| parse_tmux(&t));
    let tmux_names: HashSet<&str> = tmux_sessions.iter().map(|t| t.name.as_str()).collect();
    let now = clock::now_millis();
    let mut alive = HashMap::new();
    for s in &mut agents {
        // A tmux agent lives while its session does; a headless one with a
        // recorded pid (a host, or a row the original wrote) while that
        // process does; a spawn-per-turn worker has no process between turns.
        let tracked = s.mode() == RunMode::Tmux || s.pid.is_some();
        let live = match (s.mode(), s.pid) {
            (RunMode::Tmux, _) => tmux_names.contains(s.tmux_session.as_str()),
            (_, Some(p)) => i32::try_from(p).ok().is_some_and(process::is_alive),
            (_, None) => s.state.is_active(),
        };
        alive.insert(s.agent_name.to_string(), live);
        let dead_process = !live && tracked;
        if dead_process && s.state.is_active() {
            let idle = clock::parse_rfc3339(&s.last_activity).map_or(0, |t| now - t);
            let target = if idle > opts.stale_ms {
                AgentState::Completed
            } else {
                AgentState::Zombie
            };
            let t = Transition::to(target).only_from_active();
            match store.transition(&s.agent_name, &t) {
                Ok(outcome) => {
                    if let Some(cur) = outcome.current() {
                        if cur.is_terminal() {
                            s.tmux_session.clear();
                        }
                        s.state = cur;
                    }
                }
                Err(e) => {
                    tracing::warn!(agent = %s.agent_name, error = %e, "status reconcile failed")
                }
            }
        }
    }
    let verbose_details = opts.verbose.then(|| {
        agents
            .iter()
            .map(|s| {
                let logs_dir = layout.agent_logs_dir(&s.agent_name).display().to_string();
                let (sent, received) = sources.last_mail(&s.agent_name);
                (
                    s.agent_name.to_string(),
                    VerboseDetail {
                        worktree_path: s.worktree_path.clone(),
                        logs_dir,
                        last_mail_sent: sent,
                        last_mail_received: received,
                        capability: s.capability,
                    },
                )
            })
            .collect()
    });
    let recent_metrics_count = if layout.metrics_db().is_file() {
        MetricsStore::open(&layout.metrics_db())
            .and_then(|m| m.count())
            .unwrap_or(0)
    } else {
        0
    };
    Ok(StatusReport {
        current_run_id: (!opts.all).then_some(run),
        agents,
        worktrees: list_worktrees(layout),
        tmux_sessions,
        unread_mail_count: sources.unread_mail(&opts.mail_scope),
        unread_mail_scope: opts.mail_scope.clone(),
        merge_queue_count: sources.merge_queue_pending(),
        recent_metrics_count,
        verbose_details,
        alive,
        undecodable,
        recorded_sessions,
    })
}

/// The tmux socket name every overstory agent session lives on.
const TMUX_SERVER: &str = "overstory";

fn tmux_command() -> std::process::Command {
    let mut c = process::command("tmux");
    c.args([
        "-L",
        TMUX_SERVER,
        "list-sessions",
        "-F",
        "#{session_name}:#{pid}",
    ]);
    c
}

fn spawn_capture(mut cmd: std::process::Command) -> Option<std::process::Child> {
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()
}

/// Waits for a captured child; its stdout when it exited 0.
fn finish_capture(child: Option<std::process::Child>) -> Option<String> {
    let out = child?.wait_with_output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Lists the project's git worktrees, main checkout first (empty when git
/// cannot answer). Read from the repository's files when their layout
/// allows, so the common case starts no `git` process.
pub fn list_worktrees(layout: &Layout) -> Vec<WorktreeInfo> {
    Worktrees::new(layout.root())
        .read_list()
        .map(|list| {
            list.into_iter()
                .map(|w| WorktreeInfo {
                    path: w.path.display().to_string(),
                    branch: w.branch,
                    head: w.head,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn parse_tmux(text: &str) -> Vec<TmuxSession> {
    text.lines()
        .filter_map(|l| {
            let (name, pid) = l.rsplit_once(':')?;
            Some(TmuxSession {
                name: name.to_owned(),
                pid: pid.trim().parse().unwrap_or(0),
            })
        })
        .collect()
}
