//! The merge engine: lands queue entries on a target branch.
//!
//! For one run ([`Engine::merge`]): take the target's merge lock, sweep up
//! after killed runs, claim the entries (`merging`), make one detached
//! worktree on the target, merge each branch into it through the tiers
//! (clean → auto-resolve → AI resolve → reimagine), run the quality gates
//! once on the result, and only when they pass move the target there. When
//! the gates fail on a batch, it is split in halves and each half landed on
//! its own (a bisecting merge queue), so one bad branch cannot keep the
//! good ones out. Every entry ends `merged`, `conflict` or `failed`.

use std::sync::Arc;
use std::time::Duration;

use overstory_core::config::QualityGate;
use overstory_core::git::Git;
use overstory_core::{Layout, clock};
use serde::Serialize;

use crate::child::{self, ChildSpec};
use crate::conflict::{self, OneSided};
use crate::error::MergeError;
use crate::lock::{LockWait, MergeLock};
use crate::preserve;
use crate::queue::{MergeAttempt, MergeEntry, MergeQueue, MergeStatus, MergeTier, tier_str};
use crate::repo::Repo;
use crate::scratch::{self, Scratch};

/// Builds the argv of a one-shot print-mode model call from its prompt
/// (for Claude: `claude --print -p <prompt>`).
pub type PrintCommand = Arc<dyn Fn(&str) -> Vec<String> + Send + Sync>;

/// The longest prompt that may go in argv: Linux refuses to start a
/// program with one argument of 128 KiB or more (`MAX_ARG_STRLEN`, with
/// its terminating NUL) with `E2BIG`.
pub const MAX_ARGV_PROMPT: usize = 128 * 1024 - 1;

/// How the AI tiers call a model.
///
/// When [`AiOptions::stdin_command`] is set, every prompt goes to the
/// model on its stdin, so a conflict of any size can be sent. Otherwise the
/// prompt is one argument of [`AiOptions::command`], and a prompt longer
/// than [`MAX_ARGV_PROMPT`] fails the tier with a message saying so instead
/// of an `E2BIG` from the kernel.
#[derive(Clone)]
pub struct AiOptions {
    /// Builds the command for a prompt passed as an argument.
    pub command: PrintCommand,
    /// The command of a call that reads its prompt from stdin, when the
    /// runtime's print mode can (`claude --print`).
    pub stdin_command: Option<Vec<String>>,
    /// Kills a call that runs longer.
    pub timeout: Duration,
}

impl std::fmt::Debug for AiOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AiOptions")
            .field("stdin_command", &self.stdin_command)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The choices for a merge run.
#[derive(Debug, Clone)]
pub struct MergeOptions {
    /// The branch to merge into.
    pub target: String,
    /// Commands that must pass on the merged tree before the target moves.
    pub gates: Vec<QualityGate>,
    /// Kills a gate that runs longer (none by default).
    pub gate_timeout: Option<Duration>,
    /// Enables the `ai-resolve` tier (needs `ai`).
    pub ai_resolve: bool,
    /// Enables the `reimagine` tier (needs `ai`).
    pub reimagine: bool,
    /// The model call for the AI tiers; `None` disables both.
    pub ai: Option<AiOptions>,
    /// Whether to wait for a busy merge lock.
    pub lock_wait: LockWait,
}

impl MergeOptions {
    /// Returns options for `target` with no gates and no AI tiers, waiting
    /// for the lock.
    pub fn new(target: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            gates: Vec::new(),
            gate_timeout: None,
            ai_resolve: false,
            reimagine: false,
            ai: None,
            lock_wait: LockWait::Wait,
        }
    }
}

/// What happened to one entry (the original's `MergeResult`, plus the
/// commit and the details of a failure).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeReport {
    /// The entry as it was left.
    pub entry: MergeEntry,
    /// Whether the branch landed.
    pub success: bool,
    /// The landing tier, or the last tier tried on a conflict.
    pub tier: Option<MergeTier>,
    /// Files that conflicted (resolved on success, left on failure).
    pub conflict_files: Vec<String>,
    /// What went wrong.
    pub error_message: Option<String>,
    /// Things worth knowing that did not stop the merge.
    pub warnings: Vec<String>,
    /// The target's commit after landing.
    pub commit: Option<String>,
    /// Whether the branch was already contained in the target.
    pub already_merged: bool,
    /// The tail of a failing gate's output.
    pub gate_output: Option<String>,
}

/// A merge prediction ([`Engine::predict`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Prediction {
    /// The branch.
    pub branch_name: String,
    /// The target.
    pub target_branch: String,
    /// Whether the branch is already contained in the target.
    pub already_merged: bool,
    /// Whether it would fast-forward.
    pub fast_forward: bool,
    /// Files git would leave in conflict.
    pub predicted_conflict_files: Vec<String>,
    /// Files the branch changes.
    pub files_modified: Vec<String>,
}

/// A claimed entry with its branch's commit.
#[derive(Debug, Clone)]
struct Item {
    entry: MergeEntry,
    oid: String,
}

/// An item merged into the scratch worktree.
#[derive(Debug, Clone)]
struct Landed {
    item: Item,
    tier: MergeTier,
    conflict_files: Vec<String>,
    warnings: Vec<String>,
}

/// An item that could not be merged.
#[derive(Debug)]
struct Refused {
    status: MergeStatus,
    tier: Option<MergeTier>,
    conflict_files: Vec<String>,
    message: String,
    warnings: Vec<String>,
    gate_output: Option<String>,
}

impl Landed {
    /// Splits a branch that merged into the scratch tree but cannot land
    /// (its gates failed, or the target moved) into its entry and why.
    fn failed(self, message: String, gate_output: Option<String>) -> (MergeEntry, Refused) {
        (
            self.item.entry,
            Refused {
                status: MergeStatus::Failed,
                tier: Some(self.tier),
                conflict_files: self.conflict_files,
                message,
                warnings: self.warnings,
                gate_output,
            },
        )
    }
}

/// Merges queue entries into one target branch.
#[derive(Debug)]
pub struct Engine {
    layout: Layout,
    repo: Repo,
    opts: MergeOptions,
}

impl Engine {
    /// Builds an engine for the project at `layout`.
    pub fn new(layout: &Layout, opts: MergeOptions) -> Self {
        Self {
            repo: Repo::new(layout.root()),
            layout: layout.clone(),
            opts,
        }
    }

    /// Returns the repository the engine merges in.
    pub fn repo(&self) -> &Repo {
        &self.repo
    }

    /// Returns the options.
    pub fn options(&self) -> &MergeOptions {
        &self.opts
    }

    /// The target branch's commit.
    fn target_oid(&self) -> Result<String, MergeError> {
        self.repo
            .branch_oid(&self.opts.target)
            .ok_or_else(|| MergeError::TargetNotFound {
                target: self.opts.target.clone(),
            })
    }

    /// `branch`'s commit.
    fn branch_oid(&self, branch: &str) -> Result<String, MergeError> {
        self.repo
            .branch_oid(branch)
            .ok_or_else(|| MergeError::BranchNotFound {
                branch: branch.to_owned(),
            })
    }

    /// Predicts merging `branch` into the target without touching any
    /// working tree, index or queue entry.
    ///
    /// # Errors
    /// [`MergeError::BranchNotFound`], [`MergeError::TargetNotFound`], or
    /// [`MergeError::Git`] when git refuses the merge outright.
    pub fn predict(&self, branch: &str) -> Result<Prediction, MergeError> {
        let target = &self.opts.target;
        let t = self.target_oid()?;
        let b = self.branch_oid(branch)?;
        let already = self.repo.is_ancestor(&b, &t)?;
        let ff = !already && self.repo.is_ancestor(&t, &b)?;
        let conflicts = if already || ff {
            Vec::new()
        } else {
            self.repo.predict_conflicts(&t, &b)?
        };
        Ok(Prediction {
            branch_name: branch.to_owned(),
            target_branch: target.clone(),
            already_merged: already,
            fast_forward: ff,
            predicted_conflict_files: conflicts,
            files_modified: self.repo.changed_files(&t, &b)?,
        })
    }

    /// Merges one branch: its unsettled queue entry, or a new one (agent and
    /// task read from an `overstory/<agent>/<task>` name, else `unknown`;
    /// files from `git diff target...branch`). A branch already contained
    /// in the target is reported as merged without a new entry.
    ///
    /// # Errors
    /// [`MergeError::BranchNotFound`], and as [`Engine::merge`].
    pub fn merge_branch(
        &self,
        queue: &mut MergeQueue,
        branch: &str,
    ) -> Result<MergeReport, MergeError> {
        let oid = self.branch_oid(branch)?;
        let target_oid = self.target_oid()?;
        let latest = queue.latest_for(branch)?;
        if let Some(e) = &latest
            && e.status == MergeStatus::Merged
            && self.repo.is_ancestor(&oid, &target_oid)?
        {
            return Ok(MergeReport {
                tier: e.resolved_tier,
                entry: e.clone(),
                success: true,
                conflict_files: Vec::new(),
                error_message: None,
                warnings: Vec::new(),
                commit: Some(target_oid),
                already_merged: true,
                gate_output: None,
            });
        }
        let id = match latest {
            Some(e) if e.status != MergeStatus::Merged => e.id,
            _ => {
                let (agent, task) = agent_and_task(branch);
                queue
                    .enqueue(&crate::queue::EnqueueRequest {
                        branch_name: branch.to_owned(),
                        task_id: task,
                        agent_name: agent,
                        files_modified: self.repo.changed_files(&target_oid, &oid)?,
                    })?
                    .entry
                    .id
            }
        };
        let mut reports = self.merge(queue, &[id])?;
        reports.pop().ok_or(MergeError::UnknownEntry {
            branch: branch.to_owned(),
        })
    }

    /// Merges the entries with `ids`, in order. Entries another process is
    /// merging are reported as failures without being touched.
    ///
    /// # Errors
    /// [`MergeError::Locked`] (with [`LockWait::NoWait`]),
    /// [`MergeError::TargetNotFound`], or a queue error. Problems with one
    /// entry are reports, not errors.
    pub fn merge(&self, queue: &MergeQueue, ids: &[i64]) -> Result<Vec<MergeReport>, MergeError> {
        self.run(queue, Some(ids))
    }

    /// Merges every `pending` entry (read after taking the lock).
    ///
    /// # Errors
    /// As [`Engine::merge`].
    pub fn merge_pending(&self, queue: &MergeQueue) -> Result<Vec<MergeReport>, MergeError> {
        self.run(queue, None)
    }

    fn run(&self, queue: &MergeQueue, ids: Option<&[i64]>) -> Result<Vec<MergeReport>, MergeError> {
        let target = &self.opts.target;
        let lock = MergeLock::acquire(&self.layout, target, self.opts.lock_wait)?;
        scratch::sweep(&self.layout, &self.repo, queue, lock.path())?;
        let target_oid = self.target_oid()?;
        let ids: Vec<i64> = match ids {
            Some(v) => v.to_vec(),
            None => queue
                .list(Some(MergeStatus::Pending))?
                .into_iter()
                .map(|e| e.id)
                .collect(),
        };
        let mut reports = Vec::new();
        let mut items = Vec::new();
        for id in ids {
            let Some(entry) = queue.claim(id)? else {
                match queue.get(id)? {
                    Some(e) if e.status == MergeStatus::Merged => reports.push(MergeReport {
                        tier: e.resolved_tier,
                        entry: e,
                        success: true,
                        conflict_files: Vec::new(),
                        error_message: None,
                        warnings: Vec::new(),
                        commit: Some(target_oid.clone()),
                        already_merged: true,
                        gate_output: None,
                    }),
                    Some(e) => reports.push(MergeReport {
                        error_message: Some(
                            MergeError::Busy {
                                branch: e.branch_name.clone(),
                            }
                            .to_string(),
                        ),
                        entry: e,
                        success: false,
                        tier: None,
                        conflict_files: Vec::new(),
                        warnings: Vec::new(),
                        commit: None,
                        already_merged: false,
                        gate_output: None,
                    }),
                    None => {
                        return Err(MergeError::UnknownEntry {
                            branch: format!("#{id}"),
                        });
                    }
                }
                continue;
            };
            match self.repo.branch_oid(&entry.branch_name) {
                Some(oid) if self.repo.is_ancestor(&oid, &target_oid).unwrap_or(false) => {
                    let item = Item { entry, oid };
                    reports.push(self.settle_landed(
                        queue,
                        Landed {
                            item,
                            tier: MergeTier::CleanMerge,
                            conflict_files: Vec::new(),
                            warnings: Vec::new(),
                        },
                        &target_oid,
                        true,
                    )?);
                }
                Some(oid) => items.push(Item { entry, oid }),
                None => {
                    let msg = MergeError::BranchNotFound {
                        branch: entry.branch_name.clone(),
                    }
                    .to_string();
                    reports.push(self.settle_refused(
                        queue,
                        entry,
                        Refused {
                            status: MergeStatus::Failed,
                            tier: None,
                            conflict_files: Vec::new(),
                            message: msg,
                            warnings: Vec::new(),
                            gate_output: None,
                        },
                    )?);
                }
            }
        }
        if !items.is_empty() {
            match Scratch::create(&self.layout, &self.repo, &target_oid) {
                Ok(scratch) => {
                    let result = self.land(queue, &scratch, items.clone(), &mut reports);
                    scratch.remove(&self.repo);
                    if let Err(e) = result {
                        self.fail_unsettled(queue, &items, &e, &mut reports)?;
                    }
                }
                Err(e) => self.fail_unsettled(queue, &items, &e, &mut reports)?,
            }
        }
        lock.release();
        Ok(reports)
    }

    /// Marks items still `merging` after an engine error as failed.
    fn fail_unsettled(
        &self,
        queue: &MergeQueue,
        items: &[Item],
        err: &MergeError,
        reports: &mut Vec<MergeReport>,
    ) -> Result<(), MergeError> {
        for item in items {
            if queue
                .get(item.entry.id)?
                .is_some_and(|e| e.status == MergeStatus::Merging)
            {
                reports.push(self.settle_refused(
                    queue,
                    item.entry.clone(),
                    Refused {
                        status: MergeStatus::Failed,
                        tier: None,
                        conflict_files: Vec::new(),
                        message: overstory_core::error::chain_text(err),
                        warnings: Vec::new(),
                        gate_output: None,
                    },
                )?);
            }
        }
        Ok(())
    }

    /// Lands `items` on the target: merge them all, gate once, move the
    /// target; on a gate failure, bisect.
    fn land(
        &self,
        queue: &MergeQueue,
        scratch: &Scratch,
        items: Vec<Item>,
        reports: &mut Vec<MergeReport>,
    ) -> Result<(), MergeError> {
        let target = &self.opts.target;
        let base = self.target_oid()?;
        scratch.reset(&base)?;
        let mut landed = Vec::new();
        for item in items {
            let history = history_text(queue, &item.entry.branch_name);
            match self.merge_one(scratch, &item, &history)? {
                Ok(l) => landed.push(l),
                Err(refused) => reports.push(self.settle_refused(queue, item.entry, refused)?),
            }
        }
        if landed.is_empty() {
            return Ok(());
        }
        let head = scratch.git().run(&["rev-parse", "HEAD"])?;
        if let Err(gate) = self.run_gates(scratch) {
            if landed.len() == 1 {
                let (entry, refused) = landed.remove(0).failed(gate.0, Some(gate.1));
                reports.push(self.settle_refused(queue, entry, refused)?);
                return Ok(());
            }
            let second = landed.split_off(landed.len() / 2);
            self.land(
                queue,
                scratch,
                landed.into_iter().map(|l| l.item).collect(),
                reports,
            )?;
            self.land(
                queue,
                scratch,
                second.into_iter().map(|l| l.item).collect(),
                reports,
            )?;
            return Ok(());
        }
        match self.repo.advance_target(target, &base, &head) {
            Ok(()) => {
                for l in landed {
                    reports.push(self.settle_landed(queue, l, &head, false)?);
                }
            }
            Err(e) => {
                for l in landed {
                    let (entry, refused) = l.failed(e.to_string(), None);
                    reports.push(self.settle_refused(queue, entry, refused)?);
                }
            }
        }
        Ok(())
    }

    /// Merges one branch into the scratch worktree's HEAD through the tiers.
    fn merge_one(
        &self,
        scratch: &Scratch,
        item: &Item,
        history: &str,
    ) -> Result<Result<Landed, Refused>, MergeError> {
        let git = scratch.git();
        let branch = &item.entry.branch_name;
        let before = git.run(&["rev-parse", "HEAD"])?;
        if self.repo.is_ancestor(&item.oid, &before)? {
            return Ok(Ok(Landed {
                item: item.clone(),
                tier: MergeTier::CleanMerge,
                conflict_files: Vec::new(),
                warnings: Vec::new(),
            }));
        }
        let merge = |git: &Git| -> Result<std::process::Output, MergeError> {
            let msg = format!("Merge branch '{branch}' into {}", self.opts.target);
            let mut args: Vec<&str> = self
                .repo
                .commit_config()
                .iter()
                .map(String::as_str)
                .collect();
            args.extend([
                "-c",
                "merge.conflictStyle=merge",
                "merge",
                "--no-edit",
                "--no-verify",
                "--no-autostash",
                "-m",
                &msg,
                &item.oid,
            ]);
            Ok(git.output(&args)?)
        };
        let out = merge(git)?;
        if out.status.success() {
            return Ok(Ok(Landed {
                item: item.clone(),
                tier: MergeTier::CleanMerge,
                conflict_files: Vec::new(),
                warnings: Vec::new(),
            }));
        }
        let conflicts = unmerged(git)?;
        if conflicts.is_empty() {
            let said = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            let said = if said.is_empty() {
                String::from_utf8_lossy(&out.stdout).trim().to_owned()
            } else {
                said
            };
            scratch.reset(&before)?;
            return Ok(Err(Refused {
                status: MergeStatus::Failed,
                tier: None,
                conflict_files: Vec::new(),
                message: format!("Git refused to merge \"{branch}\": {said}"),
                warnings: Vec::new(),
                gate_output: None,
            }));
        }
        let mut tiers = vec![MergeTier::AutoResolve];
        if self.opts.ai.is_some() && self.opts.ai_resolve {
            tiers.push(MergeTier::AiResolve);
        }
        if self.opts.ai.is_some() && self.opts.reimagine {
            tiers.push(MergeTier::Reimagine);
        }
        let mut warnings = Vec::new();
        let mut reasons = Vec::new();
        let mut last = MergeTier::CleanMerge;
        for (n, tier) in tiers.into_iter().enumerate() {
            last = tier;
            if n > 0 {
                // Each tier starts from the conflicted merge, not from the
                // previous tier's partial work.
                scratch.reset(&before)?;
                merge(git)?;
            }
            match self.resolve(scratch, item, tier, &conflicts, history, &mut warnings)? {
                Ok(()) => {
                    return Ok(Ok(Landed {
                        item: item.clone(),
                        tier,
                        conflict_files: conflicts,
                        warnings,
                    }));
                }
                Err(reason) => reasons.push(format!("{}: {reason}", tier_str(tier))),
            }
        }
        scratch.reset(&before)?;
        Ok(Err(Refused {
            status: MergeStatus::Conflict,
            tier: Some(last),
            message: format!(
                "All enabled resolution tiers failed (last attempted: {}). {}",
                tier_str(last),
                reasons.join("; ")
            ),
            conflict_files: conflicts,
            warnings,
            gate_output: None,
        }))
    }

    /// Applies one tier to every conflicted file, checks the result and
    /// commits the merge. `Ok(Err(reason))` when the tier cannot resolve.
    fn resolve(
        &self,
        scratch: &Scratch,
        item: &Item,
        tier: MergeTier,
        files: &[String],
        history: &str,
        warnings: &mut Vec<String>,
    ) -> Result<Result<(), String>, MergeError> {
        let git = scratch.git();
        for file in files {
            let stages = stages(git, file)?;
            let resolved = if tier == MergeTier::Reimagine {
                self.reimagine_file(scratch, item, file, &stages)
            } else {
                match mechanical(git, scratch, file, &stages)? {
                    Ok(()) => Ok(()),
                    Err(reason) if tier == MergeTier::AutoResolve => {
                        warnings.push(format!("auto-resolve skipped for {file}: {reason}"));
                        Err(format!("{file}: {reason}"))
                    }
                    Err(_) => self.ai_file(scratch, item, file, history),
                }
            };
            if let Err(reason) = resolved {
                return Ok(Err(reason));
            }
        }
        // Nothing may be left half-resolved or lost.
        for file in files {
            let text = std::fs::read(scratch.dir().join(file))
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            if conflict::has_markers(&text) {
                return Ok(Err(format!("{file} still holds conflict markers")));
            }
        }
        let head = git.run(&["rev-parse", "HEAD"])?;
        let base = git
            .run(&["merge-base", &head, &item.oid])
            .unwrap_or_else(|_| head.clone());
        let dropped = preserve::dropped_lines(git, scratch.dir(), &base, &head, &item.oid, files);
        if !dropped.is_empty() {
            let shown: Vec<String> = dropped.iter().take(20).map(ToString::to_string).collect();
            return Ok(Err(format!(
                "the resolution would drop {} line(s) a side added: {}",
                dropped.len(),
                shown.join(" | ")
            )));
        }
        let mut args: Vec<&str> = self
            .repo
            .commit_config()
            .iter()
            .map(String::as_str)
            .collect();
        args.extend(["commit", "--no-edit", "--no-verify", "--quiet"]);
        let out = git.output(&args)?;
        if !out.status.success() {
            return Ok(Err(format!(
                "committing the merge failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(Ok(()))
    }

    fn ai_file(
        &self,
        scratch: &Scratch,
        item: &Item,
        file: &str,
        history: &str,
    ) -> Result<(), String> {
        let path = scratch.dir().join(file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{file}: cannot read the conflicted file: {e}"))?;
        let prompt = format!(
            "You are resolving a git merge conflict in `{file}` while merging branch `{}` into `{}`.\n\
             Keep the intent of both sides; every line either side added must stay.\n\
             Output ONLY the complete resolved file content: no conflict markers, no explanation, no Markdown fences.\n\
             {history}\n--- {file} (with conflict markers) ---\n{text}",
            item.entry.branch_name, self.opts.target
        );
        let answer = self
            .ask(scratch, &prompt)
            .map_err(|e| format!("{file}: {e}"))?;
        write_and_add(scratch, file, &answer).map_err(|e| format!("{file}: {e}"))
    }

    fn reimagine_file(
        &self,
        scratch: &Scratch,
        item: &Item,
        file: &str,
        stages: &[u8],
    ) -> Result<(), String> {
        let git = scratch.git();
        let show = |n: u8| -> String {
            if stages.contains(&n) {
                git.run(&["show", &format!(":{n}:{file}")])
                    .unwrap_or_default()
            } else {
                "(the file does not exist on this side)".into()
            }
        };
        let prompt = format!(
            "Reimplement the changes branch `{}` made to `{file}` on top of the version in `{}`.\n\
             Output ONLY the complete new file content: no conflict markers, no explanation, no Markdown fences.\n\
             --- {file} at the merge base ---\n{}\n--- {file} in {} (target) ---\n{}\n--- {file} in the branch ---\n{}\n",
            item.entry.branch_name,
            self.opts.target,
            show(1),
            self.opts.target,
            show(2),
            show(3)
        );
        let answer = self
            .ask(scratch, &prompt)
            .map_err(|e| format!("{file}: {e}"))?;
        write_and_add(scratch, file, &answer).map_err(|e| format!("{file}: {e}"))
    }

    /// Runs the print command (the prompt on its stdin when it reads
    /// stdin, else as an argument) and validates its answer.
    fn ask(&self, scratch: &Scratch, prompt: &str) -> Result<String, String> {
        let Some(ai) = &self.opts.ai else {
            return Err("no print command configured".into());
        };
        let (argv, stdin) = match &ai.stdin_command {
            Some(argv) => (argv.clone(), Some(prompt)),
            None if prompt.len() <= MAX_ARGV_PROMPT => ((ai.command)(prompt), None),
            None => {
                return Err(format!(
                    "the prompt is {} KiB, more than one command-line argument can hold \
                     ({} KiB), and the print runtime cannot read its prompt from stdin; \
                     resolve the conflict by hand, or set runtime.printCommand to a runtime \
                     that reads stdin (claude)",
                    prompt.len().div_ceil(1024),
                    (MAX_ARGV_PROMPT + 1) / 1024
                ));
            }
        };
        let out = child::run(&ChildSpec {
            argv: &argv,
            cwd: scratch.dir(),
            timeout: Some(ai.timeout),
            scratch: scratch.child_files("ai"),
            stdin,
            env: Vec::new(),
        });
        if out.timed_out {
            return Err(format!(
                "the model call timed out after {} ms",
                ai.timeout.as_millis()
            ));
        }
        if !out.success() {
            return Err(format!(
                "the model call failed (exit {}): {}",
                out.code.map_or("signal".into(), |c| c.to_string()),
                out.tail(5)
            ));
        }
        if let Some(why) = conflict::reject_ai_output(&out.stdout) {
            return Err(why.to_owned());
        }
        Ok(out.stdout)
    }

    /// Runs the gates in the scratch worktree; `Err((message, tail))` on the
    /// first failure.
    fn run_gates(&self, scratch: &Scratch) -> Result<(), (String, String)> {
        for gate in &self.opts.gates {
            let argv = vec!["sh".to_owned(), "-c".to_owned(), gate.command.clone()];
            let out = child::run(&ChildSpec {
                argv: &argv,
                cwd: scratch.dir(),
                timeout: self.opts.gate_timeout,
                scratch: scratch.child_files("gate"),
                stdin: None,
                env: vec![(
                    "OVERSTORY_MERGE_TARGET".to_owned(),
                    self.opts.target.clone(),
                )],
            });
            if !out.success() {
                let how = if out.timed_out {
                    "timed out".to_owned()
                } else {
                    format!(
                        "failed (exit {})",
                        out.code.map_or("signal".into(), |c| c.to_string())
                    )
                };
                let tail = out.tail(20);
                return Err((
                    format!(
                        "Quality gate \"{}\" ({}) {how} on the merged tree; the target was not moved",
                        gate.name, gate.command
                    ),
                    tail,
                ));
            }
        }
        Ok(())
    }

    fn settle_landed(
        &self,
        queue: &MergeQueue,
        l: Landed,
        commit: &str,
        already: bool,
    ) -> Result<MergeReport, MergeError> {
        let entry = queue.mark(l.item.entry.id, MergeStatus::Merged, Some(l.tier))?;
        queue.record_attempt(&MergeAttempt {
            entry_id: entry.id,
            branch_name: entry.branch_name.clone(),
            target_branch: self.opts.target.clone(),
            finished_at: clock::now_rfc3339(),
            outcome: MergeStatus::Merged,
            tier: Some(l.tier),
            conflict_files: l.conflict_files.clone(),
            error_message: None,
        })?;
        Ok(MergeReport {
            entry,
            success: true,
            tier: Some(l.tier),
            conflict_files: l.conflict_files,
            error_message: None,
            warnings: l.warnings,
            commit: Some(commit.to_owned()),
            already_merged: already,
            gate_output: None,
        })
    }

    fn settle_refused(
        &self,
        queue: &MergeQueue,
        entry: MergeEntry,
        r: Refused,
    ) -> Result<MergeReport, MergeError> {
        let entry = queue.mark(entry.id, r.status, None)?;
        let message = match &r.gate_output {
            Some(tail) if !tail.is_empty() => format!("{}\n{tail}", r.message),
            _ => r.message.clone(),
        };
        queue.record_attempt(&MergeAttempt {
            entry_id: entry.id,
            branch_name: entry.branch_name.clone(),
            target_branch: self.opts.target.clone(),
            finished_at: clock::now_rfc3339(),
            outcome: r.status,
            tier: r.tier,
            conflict_files: r.conflict_files.clone(),
            error_message: Some(message),
        })?;
        Ok(MergeReport {
            entry,
            success: false,
            tier: r.tier,
            conflict_files: r.conflict_files,
            error_message: Some(r.message),
            warnings: r.warnings,
            commit: None,
            already_merged: false,
            gate_output: r.gate_output,
        })
    }
}

/// Reads agent and task from a branch named `overstory/<agent>/<task>`;
/// `unknown` for anything else.
pub fn agent_and_task(branch: &str) -> (String, String) {
    let mut parts = branch.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("overstory"), Some(agent), Some(task)) if !agent.is_empty() && !task.is_empty() => {
            (agent.to_owned(), task.to_owned())
        }
        _ => ("unknown".to_owned(), "unknown".to_owned()),
    }
}

/// Returns the default target: `.overstory/session-branch.txt` (trimmed,
/// when not empty), else `project.canonicalBranch`.
pub fn default_target(layout: &Layout, config: &overstory_core::Config) -> String {
    std::fs::read_to_string(layout.session_branch())
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| config.project.canonical_branch.clone())
}

/// Past attempts for the branch, as prompt context.
fn history_text(queue: &MergeQueue, branch: &str) -> String {
    let attempts = queue.attempts(branch).unwrap_or_default();
    if attempts.is_empty() {
        return String::new();
    }
    let mut s = String::from("Historical context from past merges of this branch:\n");
    for a in attempts.iter().rev().take(5) {
        s.push_str(&format!(
            "- {} at tier {} (files: {})\n",
            a.outcome.as_str(),
            a.tier.map_or("none", tier_str),
            a.conflict_files.join(", ")
        ));
    }
    s
}

/// Files left unmerged in the worktree.
fn unmerged(git: &Git) -> Result<Vec<String>, MergeError> {
    let out = git.run(&["diff", "--name-only", "--diff-filter=U"])?;
    Ok(out.lines().map(str::to_owned).collect())
}

/// The index stages present for a conflicted file (1 base, 2 ours, 3 theirs).
fn stages(git: &Git, file: &str) -> Result<Vec<u8>, MergeError> {
    let out = git.run(&["ls-files", "-u", "--", file])?;
    let mut v: Vec<u8> = out
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2)?.parse().ok())
        .collect();
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

/// Resolves a file without a model: a deleted side keeps the modified
/// file; a `merge=union` file keeps both sides; a file whose every block
/// has one blank side keeps the other side.
fn mechanical(
    git: &Git,
    scratch: &Scratch,
    file: &str,
    stages: &[u8],
) -> Result<Result<(), String>, MergeError> {
    if !stages.contains(&2) || !stages.contains(&3) {
        // Modify/delete: git left the modified version in the worktree;
        // keeping it drops no added line.
        if scratch.dir().join(file).exists() {
            git.run(&["add", "--", file])?;
        } else {
            git.run(&["rm", "--quiet", "--cached", "--", file])?;
        }
        return Ok(Ok(()));
    }
    let path = scratch.dir().join(file);
    let bytes = std::fs::read(&path).map_err(|e| overstory_core::FsError::new("read", &path, e))?;
    if bytes.contains(&0) {
        return Ok(Err("binary file".into()));
    }
    let text = String::from_utf8_lossy(&bytes);
    let Some(parts) = conflict::parse(&text) else {
        return Ok(Err("conflict markers are unbalanced".into()));
    };
    let attr = git.run(&["check-attr", "merge", "--", file])?;
    let resolved = if attr.trim_end().ends_with(": merge: union") {
        conflict::resolve_union(&parts)
    } else {
        match conflict::resolve_one_sided(&parts) {
            Some((text, OneSided::KeptTheirs | OneSided::KeptOurs)) => text,
            None => {
                return Ok(Err(
                    "canonical side has content that would be discarded".into()
                ));
            }
        }
    };
    Ok(write_and_add(scratch, file, &resolved))
}

fn write_and_add(scratch: &Scratch, file: &str, text: &str) -> Result<(), String> {
    let path = scratch.dir().join(file);
    std::fs::write(&path, text).map_err(|e| format!("cannot write the resolved file: {e}"))?;
    scratch
        .git()
        .run(&["add", "--", file])
        .map(|_| ())
        .map_err(|e| e.to_string())
}
