//! `ov demo`: a small swarm, offline, in a scratch repository.
//!
//! [`run_demo`] creates a git repository (a fresh temp directory, or
//! [`DemoOptions::dir`]), initialises overstory in it with the `scripted`
//! runtime as the default (so no model and no network are involved), writes
//! a JSON script per agent under `.overstory/scripts/`, and plays this
//! swarm with real processes, real worktrees and the real mail bus:
//!
//! 1. the **coordinator** — a persistent agent started as `ov coordinator
//!    start` does ([`persistent::start`]): one long-lived scripted process
//!    under an agent host that writes each batch of its mail to its stdin —
//!    slings a **lead** (`lead-1`, task `demo-1`) on its first turn;
//! 2. the lead's first turn slings two **builders** (`ov sling` from its
//!    script) and ends; it waits, because it has live children;
//! 3. each builder writes and edits a file in its own worktree, commits it
//!    on its branch and mails `worker_done` to the lead;
//! 4. that mail wakes the lead (one or two turns, depending on how the mail
//!    is batched). Its merge step checks that *both* `worker_done` mails
//!    exist, merges both builder branches into its own branch, and mails
//!    `merge_ready` (and its own `worker_done`) to the coordinator;
//! 5. that mail reaches the coordinator (its host pokes it), whose merge
//!    step lands the lead's branch on the canonical branch through the
//!    merge queue (`ov merge --branch`, gated by the scratch project's
//!    offline quality gate `git diff --check`), which mails `merged` back to
//!    the lead. The demo then stops the coordinator
//!    (`ov coordinator stop`), which closes the run. The summary lists the
//!    queue's entries with the tier each landed by ([`MergeSummary`]).
//!
//! Progress is reported as it happens through a callback ([`Progress`]):
//! agents spawned and their state changes (from `sessions.db`), turns,
//! speech and tool calls (from `events.db` through
//! [`Follower`]), every mail (from `mail.db`), and every new commit on any
//! branch (from git). The result is a [`DemoSummary`].
//!
//! Every exit path — success, failure, stall ([`DemoOptions::timeout`]),
//! interrupt ([`DemoOptions::cancel`], see [`cancel_on_signals`]) or panic —
//! stops every agent (killing their process groups; the coordinator through
//! its host), waits for (or kills) their dispatchers, and removes every
//! worktree. The scratch repository is
//! then deleted, unless it was named with `dir`, `keep` was asked, or the
//! swarm failed or stalled (it is kept for inspection and the error says
//! where).
//!
//! ```no_run
//! use std::time::Duration;
//! use overstory_fleet::demo::{DemoOptions, run_demo};
//!
//! let opts = DemoOptions::new("/usr/local/bin/ov".into());
//! let summary = run_demo(&opts, &mut |p| println!("{:>6.2}s {:<7} {}", p.elapsed_ms as f64 / 1000.0, p.kind, p.text))?;
//! assert!(summary.merged_branches.len() >= 3);
//! assert!(summary.wall_time_ms < Duration::from_secs(60).as_millis() as u64);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use overstory_core::events::{EventType, FollowFilter};
use overstory_core::git::Git;
use overstory_core::init::{InitOptions, InitOutcome, init};
use overstory_core::worktree::{RemoveOptions, Worktrees};
use overstory_core::{AgentName, Capability, Config, FsError, GitError, Layout, process};
use overstory_mail::{ListFilter, MailStore, MessageType};
use overstory_sessions::observe::Follower;
use overstory_sessions::{AgentState, Session, SessionStore};
use serde::Serialize;
use serde_json::{Value, json};

use crate::persistent::{self, PersistentStopOptions, StartOptions};
use crate::{FleetError, StopOptions, stop_agent};
use overstory_runtime::shell::shell_quote;
use overstory_turn::dispatch::{dispatcher_pid, is_dispatching};

mod cleanup;
mod scripts;
mod watch;

use cleanup::{Scratch, wait_for_processes};

/// The coordinator's agent name.
pub const COORDINATOR: &str = persistent::COORDINATOR.agent_name;
/// The lead's agent name.
pub const LEAD: &str = "lead-1";
/// The lead's task.
pub const LEAD_TASK: &str = "demo-1";
/// The file name ending of the lead's merge step script.
const MERGE_STEP_SUFFIX: &str = "-merge.sh";

/// One builder of the demo: who, on which task, writing which file.
#[derive(Debug, Clone, Copy)]
pub struct DemoBuilder {
    /// Agent name.
    pub name: &'static str,
    /// Task id.
    pub task: &'static str,
    /// The file it creates and commits.
    pub file: &'static str,
    /// The file's final first line.
    pub line: &'static str,
}

/// The demo's two builders.
pub const BUILDERS: [DemoBuilder; 2] = [
    DemoBuilder {
        name: "builder-1",
        task: "demo-1-hello",
        file: "hello.txt",
        line: "Hello from builder-1",
    },
    DemoBuilder {
        name: "builder-2",
        task: "demo-1-world",
        file: "world.txt",
        line: "World, from builder-2",
    },
];

/// The demo failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// `--dir` names a directory that is not empty.
    #[error("Demo directory {} is not empty; choose a new or empty directory", path.display())]
    DirNotEmpty {
        /// The directory given with `--dir`.
        path: PathBuf,
    },
    /// A file or directory could not be written.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// git failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// `ov init` failed in the scratch repository.
    #[error(transparent)]
    Init(#[from] overstory_core::init::InitError),
    /// The scratch project's configuration did not load.
    #[error(transparent)]
    Config(#[from] overstory_core::ConfigError),
    /// Slinging or stopping an agent failed.
    #[error(transparent)]
    Fleet(#[from] FleetError),
    /// A database failed.
    #[error(transparent)]
    Db(#[from] overstory_core::DbError),
    /// The mail store failed.
    #[error(transparent)]
    Mail(#[from] overstory_mail::MailError),
    /// The sessions store failed.
    #[error(transparent)]
    Session(#[from] overstory_sessions::SessionError),
    /// The merge queue could not be read.
    #[error(transparent)]
    Merge(#[from] overstory_merge::MergeError),
    /// An agent died or reported a failure.
    #[error("The demo failed: {reason}. The scratch repository is kept at {}", dir.display())]
    AgentFailed {
        /// What happened.
        reason: String,
        /// Where to look (logs under `.overstory/logs/<agent>/`).
        dir: PathBuf,
    },
    /// The swarm did not finish in time.
    #[error(
        "The demo stalled: not finished after {}s; still waiting for {waiting}. The scratch repository is kept at {} (dispatcher logs: .overstory/logs/<agent>/dispatch.log)",
        timeout.as_secs(), dir.display()
    )]
    Stalled {
        /// The overall timeout.
        timeout: Duration,
        /// What had not happened yet.
        waiting: String,
        /// The kept scratch repository.
        dir: PathBuf,
    },
    /// The demo was interrupted (Ctrl-C, SIGTERM).
    #[error("The demo was interrupted; every agent was stopped and its worktree removed")]
    Interrupted,
}

impl DemoError {
    /// Returns the error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::DirNotEmpty { .. } => "VALIDATION_ERROR",
            Self::Fs(e) => e.code(),
            Self::Git(e) => e.code(),
            Self::Init(e) => e.code(),
            Self::Config(e) => e.code(),
            Self::Fleet(e) => e.code(),
            Self::Db(e) => e.code(),
            Self::Mail(e) => e.code(),
            Self::Merge(e) => e.code(),
            Self::Session(e) => e.code(),
            Self::AgentFailed { .. } | Self::Stalled { .. } | Self::Interrupted => "AGENT_ERROR",
        }
    }
}

/// Choices for [`run_demo`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DemoOptions {
    /// Where to create the scratch repository (must not exist, or be
    /// empty). `None`: a new directory under the system temp dir.
    pub dir: Option<PathBuf>,
    /// Keep the scratch repository at the end (always kept when `dir` is
    /// given or the demo fails).
    pub keep: bool,
    /// The `ov` executable the agents' runtime, dispatchers and scripts run.
    pub ov_program: PathBuf,
    /// Overall limit; the demo fails with [`DemoError::Stalled`] after it.
    pub timeout: Duration,
    /// Set to stop the demo early (it cleans up and returns
    /// [`DemoError::Interrupted`]).
    pub cancel: Arc<AtomicBool>,
    /// Test hook: builders stall forever before doing anything, so the
    /// timeout and interrupt paths (and their cleanup) can be exercised.
    pub stall_builders: bool,
}

impl DemoOptions {
    /// Options with a temp directory, a 60 s timeout and no cancel source.
    pub fn new(ov_program: PathBuf) -> Self {
        Self {
            dir: None,
            keep: false,
            ov_program,
            timeout: Duration::from_secs(60),
            cancel: Arc::new(AtomicBool::new(false)),
            stall_builders: false,
        }
    }
}

/// Registers SIGINT, SIGTERM and SIGHUP to set `flag` instead of killing
/// the process, so [`run_demo`] can clean up. Process-wide; call once.
///
/// # Errors
/// The OS error when a handler cannot be installed.
pub fn cancel_on_signals(flag: &Arc<AtomicBool>) -> std::io::Result<()> {
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, flag.clone())?;
    }
    Ok(())
}

/// One line of progress.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Milliseconds since the demo started.
    pub elapsed_ms: u64,
    /// What happened: `repo`, `init`, `spawn`, `state`, `turn+`, `turn-`,
    /// `say`, `tool`, `mail`, `commit`, `merge`, `run`, `stop`, `clean`.
    pub kind: &'static str,
    /// The agent concerned, if any.
    pub agent: Option<String>,
    /// A one-line description.
    pub text: String,
}

/// An agent at the end of the demo.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentSummary {
    /// The agent's name (`lead-1`).
    pub name: AgentName,
    /// What it ran as (`lead`, `builder`).
    pub capability: Capability,
    /// Its state when the demo ended (`completed`).
    pub state: String,
    /// The agent that slung it; `None` for the coordinator.
    pub parent: Option<AgentName>,
    /// Branch (`""` for the coordinator).
    pub branch: String,
    /// Turns it ran.
    pub turns: usize,
}

/// A commit made during the demo.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitSummary {
    /// Abbreviated hash.
    pub sha: String,
    /// The branch it was made on: the most specific branch holding it.
    pub branch: String,
    /// Subject line.
    pub subject: String,
    /// Whether it is a merge commit.
    pub merge: bool,
}

/// A merge-queue entry at the end of the demo.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeSummary {
    /// The branch.
    pub branch: String,
    /// Its queue status (`merged`).
    pub status: String,
    /// The tier it landed by (`clean-merge`), when it landed.
    pub tier: Option<String>,
}

/// What the demo did; the `demo` JSON envelope data.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoSummary {
    /// The scratch repository.
    pub dir: String,
    /// Whether it still exists.
    pub kept: bool,
    /// Its canonical branch.
    pub canonical_branch: String,
    /// Who played the coordinator (`persistent`: a scripted persistent agent
    /// under an agent host, as `ov coordinator start` runs it).
    pub coordinator: String,
    /// Every agent, in spawn order.
    pub agents: Vec<AgentSummary>,
    /// Mail count by type.
    pub mail: BTreeMap<String, usize>,
    /// All mail.
    pub mail_total: usize,
    /// Commits made during the demo, parents before children, each on the
    /// branch it was made on (the same for every run of the same history).
    pub commits: Vec<CommitSummary>,
    /// Agent branches whose work is on the canonical branch.
    pub merged_branches: Vec<String>,
    /// The merge queue's entries, oldest first, with the tier each used.
    pub merges: Vec<MergeSummary>,
    /// The builders' files, as found on the canonical branch.
    pub files_on_canonical: Vec<String>,
    /// Worktrees removed at the end.
    pub worktrees_removed: usize,
    /// Processes still mentioning the scratch repository after cleanup
    /// (always 0 unless something outlived its process group).
    pub processes_left: usize,
    /// Wall time in milliseconds (scratch repository to cleanup).
    pub wall_time_ms: u64,
}

/// Runs the demo; see the [module docs](self).
///
/// Must not be called from inside an async runtime (slinging runs its own).
///
/// # Errors
/// [`DemoError::DirNotEmpty`], set-up failures (git, init, files),
/// [`DemoError::AgentFailed`] when an agent dies or a merge fails,
/// [`DemoError::Stalled`] after the timeout, [`DemoError::Interrupted`].
/// Cleanup has run whenever an error is returned after set-up began.
pub fn run_demo(
    opts: &DemoOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<DemoSummary, DemoError> {
    let started = Instant::now();
    let (dir, named) = match &opts.dir {
        Some(d) => {
            prepare_named_dir(d)?;
            let abs = absolute(d);
            (abs.canonicalize().unwrap_or(abs), true)
        }
        None => (new_temp_dir()?, false),
    };
    let mut scratch = Scratch {
        dir: dir.clone(),
        keep: opts.keep || named,
        cleaned: false,
    };
    let mut demo = Demo::new(opts, &dir, started);
    let result = demo.run(progress);
    // Cleanup on every path.
    let removed = scratch.clean(&mut |p| demo.emit_to(progress, p));
    match result {
        Ok(mut summary) => {
            summary.worktrees_removed = removed;
            summary.processes_left = wait_for_processes(&scratch.dir, Duration::from_secs(2)).len();
            if !scratch.keep {
                scratch.remove_dir();
            }
            summary.kept = scratch.keep;
            summary.wall_time_ms = millis(started.elapsed());
            Ok(summary)
        }
        Err(e) => {
            // A stalled or failed swarm is kept for inspection (its error
            // says where); anything else goes unless it was to be kept.
            let inspect = matches!(e, DemoError::Stalled { .. } | DemoError::AgentFailed { .. });
            if !scratch.keep && !inspect {
                scratch.remove_dir();
            }
            Err(e)
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map_or_else(|_| p.to_path_buf(), |c| c.join(p))
    }
}

fn prepare_named_dir(d: &Path) -> Result<(), DemoError> {
    if d.exists() {
        let empty = std::fs::read_dir(d)
            .map_err(|e| FsError::new("read directory", d, e))?
            .next()
            .is_none();
        if !empty {
            return Err(DemoError::DirNotEmpty {
                path: d.to_path_buf(),
            });
        }
    }
    std::fs::create_dir_all(d).map_err(|e| FsError::new("create directory", d, e))?;
    Ok(())
}

fn new_temp_dir() -> Result<PathBuf, DemoError> {
    let base = std::env::temp_dir();
    let dir = base.join(format!("ov-demo-{}", overstory_core::ids::random_alnum(8)));
    std::fs::create_dir(&dir).map_err(|e| FsError::new("create directory", &dir, e))?;
    // Canonical, so paths recorded by git and by us compare equal.
    Ok(dir.canonicalize().unwrap_or(dir))
}

/// The coordinator: a real persistent agent, started as `ov coordinator
/// start` does ([`persistent::start`]) with the scripted runtime, so it runs
/// as one long-lived process under an agent host that feeds it mail. Its
/// script slings the lead on its first turn and merges the lead's branch
/// once `merge_ready` arrives; the demo only watches git for that merge.
#[derive(Debug)]
pub struct CoordinatorDriver {
    lead_branch: String,
    merged: bool,
}

impl CoordinatorDriver {
    /// Starts the coordinator (which then dispatches the lead by itself).
    fn start(demo: &mut Demo, progress: &mut dyn FnMut(&Progress)) -> Result<Self, DemoError> {
        let mut opts = StartOptions::new(persistent::COORDINATOR, demo.opts.ov_program.clone());
        opts.runtime = Some("scripted".into());
        opts.script = Some(demo.script_path(COORDINATOR));
        // Should the demo itself be killed outright, its coordinator follows.
        opts.owner_pid = Some(std::process::id());
        let report = persistent::start(&demo.layout, &demo.config, &opts)?;
        demo.note(
            "host",
            Some(COORDINATOR),
            format!(
                "coordinator runs as pid {} under its agent host (pid {}), run {}",
                report.pid.map_or_else(|| "?".to_owned(), |p| p.to_string()),
                report
                    .host_pid
                    .map_or_else(|| "?".to_owned(), |p| p.to_string()),
                report.run_id
            ),
            None,
        );
        demo.poll(progress)?;
        Ok(Self {
            lead_branch: format!("overstory/{LEAD}/{LEAD_TASK}"),
            merged: false,
        })
    }

    /// Who plays the coordinator, for the summary.
    fn name(&self) -> &'static str {
        "persistent"
    }

    /// Watches for the coordinator's merge of the lead's branch.
    fn tick(
        &mut self,
        demo: &mut Demo,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<(), DemoError> {
        if self.merged {
            return Ok(());
        }
        // Before merge_ready the lead's branch may still sit at the base
        // commit, trivially "contained" in the canonical branch.
        let ready = demo.layout.mail_db().exists()
            && MailStore::open(demo.layout.mail_db())?.count(&ListFilter {
                from: Some(LEAD.to_owned()),
                to: Some(COORDINATOR.to_owned()),
                kind: Some(MessageType::MergeReady),
                ..ListFilter::default()
            })? > 0;
        if !ready {
            return Ok(());
        }
        // Landed when the queue says so and its `merged` mail is out (to
        // the lead; its parent, the coordinator, is the sender).
        if !demo.layout.merge_queue_db().exists() {
            return Ok(());
        }
        let entry = overstory_merge::MergeQueue::open(&demo.layout.merge_queue_db())?
            .latest_for(&self.lead_branch)?;
        let Some(entry) = entry.filter(|e| e.status == overstory_merge::MergeStatus::Merged) else {
            return Ok(());
        };
        let told = MailStore::open(demo.layout.mail_db())?.count(&ListFilter {
            to: Some(LEAD.to_owned()),
            kind: Some(MessageType::Merged),
            ..ListFilter::default()
        })?;
        if told < 1 {
            return Ok(());
        }
        self.merged = true;
        demo.poll(progress)?;
        let git = Git::new(demo.layout.root());
        let head = git
            .run(&["rev-parse", "--short", &demo.canonical])
            .unwrap_or_default();
        let text = format!(
            "coordinator merged {} into {} with ov merge (tier {}, {})",
            self.lead_branch,
            demo.canonical,
            entry
                .resolved_tier
                .map_or("none", overstory_merge::tier_str),
            head.trim()
        );
        demo.emit(progress, "merge", Some(COORDINATOR), text);
        demo.merged_by_coordinator.push(self.lead_branch.clone());
        Ok(())
    }

    /// Stops the coordinator (`ov coordinator stop`), which completes its run.
    fn stop(
        &mut self,
        demo: &mut Demo,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<(), DemoError> {
        let stop = PersistentStopOptions {
            grace: Duration::from_millis(500),
            ..PersistentStopOptions::default()
        };
        let report = persistent::stop(&demo.layout, &persistent::COORDINATOR, &stop)?;
        if let Some(run) = report.run_id.filter(|_| report.run_completed) {
            demo.note("run", None, format!("{run} completed"), None);
        }
        demo.poll(progress)
    }
}

/// The running demo: what it has seen so far.
struct Demo {
    opts: DemoOptions,
    dir: PathBuf,
    layout: Layout,
    config: Config,
    canonical: String,
    started: Instant,
    start_ms: i64,
    base_commit: String,
    // Progress noted during a poll, emitted sorted by time.
    buf: Vec<Progress>,
    last_emitted: u64,
    bash_calls: HashMap<String, String>,
    // Followers.
    events: Option<Follower>,
    mail_cursor: i64,
    states: HashMap<String, AgentState>,
    order: Vec<String>,
    worktrees: HashMap<String, String>,
    refs: HashMap<String, String>,
    seen_commits: HashSet<String>,
    turns: HashMap<String, usize>,
    turn_starts: HashMap<String, usize>,
    merged_by_coordinator: Vec<String>,
}

impl Demo {
    fn new(opts: &DemoOptions, dir: &Path, started: Instant) -> Self {
        let layout = Layout::new(dir);
        Self {
            opts: opts.clone(),
            dir: dir.to_path_buf(),
            config: Config::defaults_for(dir),
            layout,
            canonical: "main".into(),
            started,
            start_ms: overstory_core::clock::now_millis()
                - i64::try_from(started.elapsed().as_millis()).unwrap_or(0),
            base_commit: String::new(),
            buf: Vec::new(),
            last_emitted: 0,
            bash_calls: HashMap::new(),
            events: None,
            mail_cursor: 0,
            states: HashMap::new(),
            order: Vec::new(),
            worktrees: HashMap::new(),
            refs: HashMap::new(),
            seen_commits: HashSet::new(),
            turns: HashMap::new(),
            turn_starts: HashMap::new(),
            merged_by_coordinator: Vec::new(),
        }
    }

    fn failed(&self, reason: String) -> DemoError {
        DemoError::AgentFailed {
            reason,
            dir: self.dir.clone(),
        }
    }

    fn run(&mut self, progress: &mut dyn FnMut(&Progress)) -> Result<DemoSummary, DemoError> {
        self.set_up(progress)?;
        let mut coordinator = CoordinatorDriver::start(self, progress)?;
        let deadline = self.started + self.opts.timeout;
        loop {
            if self.opts.cancel.load(Ordering::SeqCst) {
                return Err(DemoError::Interrupted);
            }
            self.poll(progress)?;
            coordinator.tick(self, progress)?;
            self.check_failures()?;
            if self.finished()? {
                break;
            }
            if Instant::now() >= deadline {
                return Err(DemoError::Stalled {
                    timeout: self.opts.timeout,
                    waiting: self.waiting_for()?,
                    dir: self.dir.clone(),
                });
            }
            std::thread::sleep(Duration::from_millis(40));
        }
        coordinator.stop(self, progress)?;
        self.summary(coordinator.name())
    }

    /// The scratch repository, `ov init`, the scripts.
    fn set_up(&mut self, progress: &mut dyn FnMut(&Progress)) -> Result<(), DemoError> {
        let git = Git::new(&self.dir);
        // (`init -b` needs git 2.28; this works everywhere.)
        git.run(&["init", "-q"])?;
        git.run(&["symbolic-ref", "HEAD", "refs/heads/main"])?;
        git.run(&["config", "user.name", "ov demo"])?;
        git.run(&["config", "user.email", "demo@overstory.invalid"])?;
        git.run(&["config", "commit.gpgsign", "false"])?;
        write(
            &self.dir.join("README.md"),
            "# ov demo\n\nA scratch project for `ov demo`: a lead and two builders add files here.\n",
        )?;
        git.run(&["add", "README.md"])?;
        git.run(&["commit", "-q", "-m", "demo: initial commit"])?;
        self.emit(
            progress,
            "repo",
            None,
            format!("scratch git repository at {}", self.dir.display()),
        );

        let outcome = init(&self.dir, &InitOptions::new(Some("ov-demo".into()), None))?;
        let InitOutcome::Initialized(report) = outcome else {
            return Err(DemoError::DirNotEmpty {
                path: self.dir.clone(),
            });
        };
        self.canonical.clone_from(&report.canonical_branch);
        // Machine-local overrides (gitignored): the scripted runtime, no
        // stagger between slings.
        write(
            &self.layout.config_local(),
            &format!(
                "# Written by ov demo: agents play JSON scripts instead of calling a model,\n# and ov merge gates on a check that needs no toolchain or network.\nproject:\n  qualityGates:\n    - name: Whitespace\n      command: git diff --check {canonical}\n      description: no whitespace errors in the merged changes\nruntime:\n  default: scripted\nagents:\n  staggerDelayMs: 0\n",
                canonical = report.canonical_branch
            ),
        )?;
        self.config = Config::load(&self.dir)?.config;
        self.emit(
            progress,
            "init",
            None,
            format!(
                "ov init: .overstory/ scaffolded and committed on {}; runtime scripted (offline)",
                self.canonical
            ),
        );
        self.write_scripts()?;
        self.emit(
            progress,
            "init",
            None,
            "agent scripts written to .overstory/scripts/ (coordinator, lead-1, builder-1, builder-2)"
                .into(),
        );
        self.base_commit = git.run(&["rev-parse", "HEAD"])?.trim().to_owned();
        self.seen_commits.insert(self.base_commit.clone());
        self.refs = self.branch_heads();
        self.events = Some(Follower::from_now(&self.layout, FollowFilter::default())?);
        Ok(())
    }

    fn sessions(&self) -> Result<Vec<Session>, DemoError> {
        Ok(SessionStore::open(&self.layout.sessions_db())?.all()?)
    }

    /// A dead agent or a `worker_died` mail ends the demo.
    fn check_failures(&self) -> Result<(), DemoError> {
        for s in self.sessions()? {
            if s.state == AgentState::Zombie {
                return Err(self.failed(format!(
                    "agent {} became a zombie (stalled or aborted)",
                    s.agent_name
                )));
            }
        }
        if self.layout.mail_db().exists() {
            let died = MailStore::open(self.layout.mail_db())?.list(&ListFilter {
                kind: Some(MessageType::WorkerDied),
                ..ListFilter::default()
            })?;
            if let Some(m) = died.last() {
                let reason = m
                    .parse_payload()
                    .and_then(|p| p.get("reason").and_then(Value::as_str).map(str::to_owned))
                    .unwrap_or_else(|| m.body.clone());
                let agent = m
                    .parse_payload()
                    .and_then(|p| {
                        p.get("agentName")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .unwrap_or_else(|| m.from.clone());
                return Err(self.failed(format!("{agent} died: {reason}")));
            }
        }
        Ok(())
    }

    /// Done: the lead's branch is on the canonical branch, every agent but
    /// the coordinator is finished, and no dispatcher runs.
    fn finished(&self) -> Result<bool, DemoError> {
        let lead_branch = format!("overstory/{LEAD}/{LEAD_TASK}");
        if !self.merged_by_coordinator.contains(&lead_branch) {
            return Ok(false);
        }
        let sessions = self.sessions()?;
        let workers_done = sessions
            .iter()
            .filter(|s| s.agent_name != COORDINATOR)
            .all(|s| s.state.is_terminal());
        let expected = 1 + BUILDERS.len();
        if !workers_done || sessions.len() < expected + 1 {
            return Ok(false);
        }
        // Stop the coordinator between turns, not in the middle of one.
        let started = self.turn_starts.get(COORDINATOR).copied().unwrap_or(0);
        if self.turns.get(COORDINATOR).copied().unwrap_or(0) < started {
            return Ok(false);
        }
        Ok(sessions
            .iter()
            .all(|s| !is_dispatching(&self.layout, &s.agent_name)))
    }

    fn waiting_for(&self) -> Result<String, DemoError> {
        let mut parts: Vec<String> = self
            .sessions()?
            .iter()
            .filter(|s| s.agent_name != COORDINATOR && !s.state.is_terminal())
            .map(|s| format!("{} ({})", s.agent_name, s.state))
            .collect();
        let lead_branch = format!("overstory/{LEAD}/{LEAD_TASK}");
        if !self.merged_by_coordinator.contains(&lead_branch) {
            parts.push(format!("the coordinator's merge of {lead_branch}"));
        }
        if parts.is_empty() {
            parts.push("agents' dispatchers to exit".into());
        }
        Ok(parts.join(", "))
    }

    fn summary(&mut self, coordinator: &str) -> Result<DemoSummary, DemoError> {
        let sessions = self.sessions()?;
        let mut agents = Vec::new();
        for name in &self.order {
            if let Some(s) = sessions.iter().find(|s| &s.agent_name == name) {
                agents.push(AgentSummary {
                    name: s.agent_name.clone(),
                    capability: s.capability,
                    state: s.state.as_str().to_owned(),
                    parent: s.parent_agent.clone(),
                    branch: if s.agent_name == COORDINATOR {
                        String::new()
                    } else {
                        s.branch_name.clone()
                    },
                    turns: self.turns.get(name).copied().unwrap_or(0),
                });
            }
        }
        let all_mail = MailStore::open(self.layout.mail_db())?.list(&ListFilter::default())?;
        let mut mail = BTreeMap::new();
        for m in &all_mail {
            *mail.entry(m.kind.to_string()).or_insert(0) += 1;
        }
        let branches: Vec<String> = agents
            .iter()
            .filter(|a| !a.branch.is_empty() && a.branch != self.canonical)
            .map(|a| a.branch.clone())
            .collect();
        let git = Git::new(&self.dir);
        let wts = Worktrees::new(&self.dir);
        let merged_branches: Vec<String> = agents
            .iter()
            .filter(|a| !a.branch.is_empty() && a.branch != self.canonical)
            .filter(|a| {
                wts.is_branch_merged(&a.branch, &self.canonical)
                    .unwrap_or(false)
            })
            .map(|a| a.branch.clone())
            .collect();
        let tree = git.run(&["ls-tree", "-r", "--name-only", &self.canonical])?;
        let files_on_canonical: Vec<String> = BUILDERS
            .iter()
            .filter(|b| tree.lines().any(|l| l == b.file))
            .map(|b| b.file.to_owned())
            .collect();
        Ok(DemoSummary {
            dir: self.dir.to_string_lossy().into_owned(),
            kept: true,
            canonical_branch: self.canonical.clone(),
            coordinator: coordinator.to_owned(),
            agents,
            mail_total: all_mail.len(),
            mail,
            commits: self.settled_commits(&branches),
            merged_branches,
            merges: self.merges()?,
            files_on_canonical,
            worktrees_removed: 0,
            processes_left: 0,
            wall_time_ms: millis(self.started.elapsed()),
        })
    }
}

impl Demo {
    fn merges(&self) -> Result<Vec<MergeSummary>, DemoError> {
        let path = self.layout.merge_queue_db();
        if !path.exists() {
            return Ok(Vec::new());
        }
        Ok(overstory_merge::MergeQueue::open(&path)?
            .list(None)?
            .into_iter()
            .map(|e| MergeSummary {
                branch: e.branch_name,
                status: e.status.as_str().to_owned(),
                tier: e
                    .resolved_tier
                    .map(|t| overstory_merge::tier_str(t).to_owned()),
            })
            .collect())
    }
}

fn write(path: &Path, text: &str) -> Result<(), FsError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| FsError::new("create directory", dir, e))?;
    }
    std::fs::write(path, text).map_err(|e| FsError::new("write", path, e))
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// First line of `s`, cut to `max` characters.
fn one_line(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    if line.chars().count() <= max {
        line.to_owned()
    } else {
        let cut: String = line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_cuts_long_text_and_keeps_the_first_line() {
        assert_eq!(one_line("abc\ndef", 10), "abc");
        assert_eq!(one_line("abcdefghijkl", 5), "abcd…");
    }

    #[test]
    fn a_named_dir_must_be_empty() {
        let d = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        std::fs::write(d.path().join("x"), "x").unwrap_or_else(|_| unreachable!());
        assert!(matches!(
            prepare_named_dir(d.path()),
            Err(DemoError::DirNotEmpty { .. })
        ));
        assert!(prepare_named_dir(&d.path().join("new/sub")).is_ok());
    }
}
