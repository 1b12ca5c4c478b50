//! The merge queue: brings agents' branches home without losing a line.
//!
//! ```
//! use overstory_core::Layout;
//! use overstory_merge::{EnqueueRequest, Engine, MergeOptions, MergeQueue, MergeStatus};
//! # use std::process::Command;
//! # let dir = tempfile::tempdir()?;
//! # let git = |args: &[&str]| {
//! #     #[allow(clippy::disallowed_methods)]
//! #     let ok = Command::new("git").args(args).current_dir(dir.path()).output().unwrap().status.success();
//! #     assert!(ok, "{args:?}");
//! # };
//! # git(&["init", "-q", "-b", "main"]);
//! # git(&["config", "user.email", "t@example.invalid"]);
//! # git(&["config", "user.name", "T"]);
//! # git(&["commit", "-q", "--allow-empty", "-m", "init"]);
//! # git(&["checkout", "-q", "-b", "overstory/builder-1/task-1"]);
//! # std::fs::write(dir.path().join("a.txt"), "a\n")?;
//! # git(&["add", "a.txt"]);
//! # git(&["commit", "-q", "-m", "work"]);
//! # git(&["checkout", "-q", "main"]);
//! let layout = Layout::new(dir.path());
//! std::fs::create_dir_all(layout.dir())?;
//!
//! // Any program can queue a branch...
//! let mut queue = MergeQueue::open_in(&layout)?;
//! let queued = queue.enqueue(&EnqueueRequest {
//!     branch_name: "overstory/builder-1/task-1".into(),
//!     task_id: "task-1".into(),
//!     agent_name: "builder-1".into(),
//!     files_modified: vec!["a.txt".into()],
//! })?;
//!
//! // ...and land it: merged in a temporary worktree, gated, then the
//! // target moves (here `main`, checked out in the root, fast-forwards).
//! let engine = Engine::new(&layout, MergeOptions::new("main"));
//! let reports = engine.merge(&queue, &[queued.entry.id])?;
//! assert!(reports[0].success);
//! assert_eq!(queue.get(queued.entry.id)?.unwrap().status, MergeStatus::Merged);
//! assert!(dir.path().join("a.txt").exists(), "the checkout moved forward");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The model
//!
//! - [`MergeQueue`] is `.overstory/merge-queue.db`, the original's
//!   `merge_queue` table and statuses (`pending`, `merging`, `merged`,
//!   `conflict`, `failed`), with at most one unsettled entry per branch and
//!   a `merge_attempts` table of structured history. Many processes may
//!   use it at once.
//! - [`MergeLock`] is the per-target OS lock (`.overstory/merge-<target>.lock`,
//!   `flock`): one merge per target at a time, released when its holder dies.
//! - [`Engine`] lands entries: lock, sweep up after killed runs, claim the
//!   entries (`merging`), merge in a detached temporary worktree under
//!   `.overstory/merge-worktrees/` through the tiers (`clean-merge` →
//!   `auto-resolve` → `ai-resolve` → `reimagine`), check that no line either
//!   side added was dropped, run the quality gates once on the result, and
//!   move the target only when they pass (bisecting a batch whose gates
//!   fail). The user's checkout is never used for merge work; when it has
//!   the target checked out it is brought forward like `git merge
//!   --ff-only` (unrelated uncommitted changes stay; changes that would be
//!   overwritten make the merge fail with the target unmoved).
//! - [`Engine::predict`] is the dry run: `git merge-tree --write-tree`
//!   names the files that would conflict, touching no working tree, index
//!   or queue entry.
//! - [`ingest_merge_ready`] feeds the queue from `merge_ready` mail;
//!   [`notify`] sends `merged` / `merge_failed` back.
//!
//! # Caveats
//!
//! - Everything is synchronous and blocking (git, gates, model calls); call
//!   it from a blocking thread in async code.
//! - [`LockWait::Wait`] waits for as long as another merge into the same
//!   target runs.
//! - Gates and model calls run as children in their own process groups,
//!   killed on timeout; if this process is killed, the next run's sweep
//!   kills them, removes the worktree and puts the entry back to `pending`.
//!   [`sweep_idle`] does the same from outside a run (`ov doctor --fix`),
//!   only while no merge lock is held.
//! - The AI tiers send their prompt on the model's stdin when the runtime's
//!   print mode reads stdin ([`AiOptions::stdin_command`]), so a conflict
//!   of any size fits; an argv-only runtime gets prompts up to
//!   [`MAX_ARGV_PROMPT`] bytes and a clear tier failure beyond.
#![deny(missing_docs)]

mod child;
pub mod conflict;
mod engine;
mod error;
mod lock;
mod mail;
mod preserve;
mod queue;
mod repo;
mod scratch;

pub use engine::{
    AiOptions, Engine, MAX_ARGV_PROMPT, MergeOptions, MergeReport, Prediction, PrintCommand,
    agent_and_task, default_target,
};
pub use error::MergeError;
pub use lock::{LockWait, MergeLock, any_held as any_lock_held, holder as lock_holder, lock_path};
pub use mail::{Ingested, MERGE_READY_RECIPIENTS, ingest_merge_ready, notify, notify_all};
pub use preserve::DroppedLine;
pub use queue::{
    EnqueueRequest, Enqueued, MIGRATIONS, MergeAttempt, MergeEntry, MergeQueue, MergeStatus,
    MergeTier, QueueCounts, tier_str,
};
pub use repo::{AdvanceError, Repo};
pub use scratch::{IdleSweep, Swept, leftovers, scratch_root, sweep, sweep_idle};
