//! `ov merge --branch <b> | --all [--into <target>] [--dry-run]`: land
//! branches through the merge queue.

use std::sync::Arc;
use std::time::Duration;

use overstory_core::{AgentName, Layout, env};
use overstory_mail::MailClient;
use overstory_merge::{
    AiOptions, Engine, LockWait, MERGE_READY_RECIPIENTS, MergeOptions, MergeQueue, MergeReport,
    MergeStatus, Prediction, default_target, ingest_merge_ready, notify_all, tier_str,
};
use overstory_runtime::Registry;
use overstory_turn::dispatch::WakeOutcome;
use overstory_turn::wake::Waker;
use serde_json::{Value, json};

use crate::context::Context;
use crate::error::CliError;
use crate::output::{self, Output};

/// How long one model call of the AI tiers may run.
const AI_TIMEOUT: Duration = Duration::from_secs(300);

/// Merge agent branches into the canonical branch through the merge queue
///
/// Each branch is merged in a temporary worktree (the checkout you work in is
/// never used), conflicts go through the tiers clean-merge, auto-resolve,
/// ai-resolve (merge.aiResolveEnabled) and reimagine (merge.reimagineEnabled),
/// the project's quality gates run on the merged tree, and only then does the
/// target move. When the target is checked out, it is brought forward like
/// `git merge --ff-only`: unrelated uncommitted changes stay; changes that
/// would be overwritten make the merge fail with the target unmoved.
///
/// `--all` first queues the branches of unread merge_ready mail to the
/// coordinator, orchestrator (and $OVERSTORY_AGENT_NAME), then lands every
/// pending entry: merged as a batch, gated once, bisected when the gates fail.
/// The branch's agent and its parent get `merged` or `merge_failed` mail.
/// Exits 1 when any merge failed.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// Merge this branch
    #[arg(long, value_name = "name")]
    pub branch: Option<String>,
    /// Merge every pending branch (after queueing merge_ready mail)
    #[arg(long)]
    pub all: bool,
    /// Merge into this branch (default: .overstory/session-branch.txt, else project.canonicalBranch)
    #[arg(long, value_name = "branch")]
    pub into: Option<String>,
    /// Predict conflicts with git merge-tree; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Land without running project.qualityGates
    #[arg(long)]
    pub skip_gates: bool,
    /// Fail at once when another merge into the target is running (default: wait)
    #[arg(long)]
    pub no_wait: bool,
}

/// Runs `ov merge`.
pub fn run(ctx: &Context, args: MergeArgs) -> Result<Output, CliError> {
    if args.branch.is_none() && !args.all {
        return Err(CliError::validation(
            "Either --branch <name> or --all is required for ov merge",
        ));
    }
    let layout = ctx.layout()?;
    let config = ctx.config()?;
    let target = args
        .into
        .clone()
        .unwrap_or_else(|| default_target(&layout, &config));
    let mut opts = MergeOptions::new(&target);
    if !args.skip_gates {
        opts.gates = config.project.quality_gates.clone();
    }
    opts.ai_resolve = config.merge.ai_resolve_enabled;
    opts.reimagine = config.merge.reimagine_enabled;
    if opts.ai_resolve || opts.reimagine {
        opts.ai = Some(print_model(ctx, &config)?);
    }
    if args.no_wait {
        opts.lock_wait = LockWait::NoWait;
    }
    let engine = Engine::new(&layout, opts);
    let mut queue = MergeQueue::open_in(&layout)?;

    if args.dry_run {
        return dry_run(&engine, &queue, &args);
    }
    let from = sender();
    let mail = MailClient::open(&layout)?;
    let (reports, ingested, mut warnings) = match &args.branch {
        Some(branch) => (
            vec![engine.merge_branch(&mut queue, branch)?],
            None,
            Vec::new(),
        ),
        None => {
            let mut recipients: Vec<&str> = MERGE_READY_RECIPIENTS.to_vec();
            if !recipients.contains(&from.as_str()) {
                recipients.push(from.as_str());
            }
            let ingested = ingest_merge_ready(&mail, &mut queue, &recipients)?;
            let reports = engine.merge_pending(&queue)?;
            let warnings = ingested.warnings.clone();
            (reports, Some(ingested), warnings)
        }
    };
    // A branch found already merged by --branch was reported before.
    let fresh: Vec<MergeReport> = reports
        .iter()
        .filter(|r| args.all || !r.already_merged)
        .cloned()
        .collect();
    let (sent, mail_warnings) = notify_all(&mail, &from, &fresh, |agent| parent_of(&layout, agent));
    warnings.extend(mail_warnings);
    // A headless agent has no process between turns: wake it to read the
    // outcome (merge_failed asks it to fix its branch).
    let mut recipients: Vec<String> = sent.iter().map(|m| m.to.clone()).collect();
    recipients.sort();
    recipients.dedup();
    let waker = Waker::new(layout.clone(), ctx.ov_exe()?).with_config(config.clone());
    for w in waker.wake(&recipients) {
        if let (WakeOutcome::Failed { .. }, Some(note)) = (&w.outcome, w.note()) {
            warnings.push(note);
        }
    }
    render(
        ctx,
        args.branch.is_some(),
        &reports,
        ingested.as_ref(),
        &warnings,
    )
}

/// Who the outcome mail is from: `$OVERSTORY_AGENT_NAME`, else `orchestrator`.
fn sender() -> AgentName {
    env::var(env::AGENT_NAME)
        .and_then(|n| AgentName::new(&n).ok())
        .unwrap_or_else(|| AgentName::new("orchestrator").expect("a valid agent name"))
}

/// The parent of `agent` in sessions.db, when it has one.
fn parent_of(layout: &Layout, agent: &str) -> Option<String> {
    let store = overstory_sessions::SessionStore::open(&layout.sessions_db()).ok()?;
    let s = store.get(agent).ok()??;
    s.parent_agent.map(|p| p.as_str().to_owned())
}

/// The print-mode model call of `runtime.printCommand` (else `runtime.default`).
fn print_model(ctx: &Context, config: &overstory_core::Config) -> Result<AiOptions, CliError> {
    let registry = Registry {
        script: None,
        ov_program: Some(ctx.ov_exe()?),
    };
    let name = Registry::resolve_print_name(Some(config)).to_owned();
    let runtime = registry.get(Some(&name), Some(config), None)?;
    Ok(AiOptions {
        stdin_command: runtime.print_command_stdin(None),
        command: Arc::new(move |prompt: &str| runtime.print_command(prompt, None)),
        timeout: AI_TIMEOUT,
    })
}

fn dry_run(engine: &Engine, queue: &MergeQueue, args: &MergeArgs) -> Result<Output, CliError> {
    let one = |branch: &str| -> Result<(Prediction, Option<String>), CliError> {
        let p = engine.predict(branch)?;
        let status = queue
            .latest_for(branch)?
            .map(|e| e.status.as_str().to_owned());
        Ok((p, status))
    };
    let line = |p: &Prediction, status: Option<&str>| -> String {
        let mut s = format!(
            "[dry-run] Branch: {} → {}\n   Status: {}\n   Files: {} modified\n",
            p.branch_name,
            p.target_branch,
            status.unwrap_or("not queued"),
            p.files_modified.len()
        );
        for f in &p.files_modified {
            s.push_str(&format!("     - {f}\n"));
        }
        if p.already_merged {
            s.push_str("   Prediction: already merged\n");
        } else if p.fast_forward {
            s.push_str("   Prediction: fast-forward\n");
        } else if p.predicted_conflict_files.is_empty() {
            s.push_str("   Prediction: clean merge\n");
        } else {
            s.push_str(&format!(
                "   Prediction: conflicts in {}\n",
                p.predicted_conflict_files.join(", ")
            ));
        }
        s
    };
    if let Some(branch) = &args.branch {
        let (p, status) = one(branch)?;
        let text = line(&p, status.as_deref());
        let mut data = output::to_json(&p)?;
        data["status"] = json!(status);
        return Ok(Output::new("merge").data(data).raw(text));
    }
    let pending = queue.list(Some(MergeStatus::Pending))?;
    if pending.is_empty() {
        return Ok(Output::new("merge")
            .data(json!({"entries": [], "count": 0}))
            .hint("No pending branches to merge"));
    }
    let mut entries = Vec::new();
    let mut text = format!("{} pending branch(es):\n", pending.len());
    for e in &pending {
        let (p, _) = one(&e.branch_name)?;
        text.push_str(&line(&p, Some("pending")));
        let mut v = output::to_json(e)?;
        v["prediction"] = output::to_json(&p)?;
        entries.push(v);
    }
    Ok(Output::new("merge")
        .data(json!({"count": entries.len(), "entries": entries}))
        .raw(text))
}

fn result_text(r: &MergeReport) -> String {
    let e = &r.entry;
    let mut s = format!(
        "Merging branch: {}\n   Agent: {} | Task: {}\n   Files: {} modified\n",
        e.branch_name,
        e.agent_name,
        e.task_id,
        e.files_modified.len()
    );
    let tier = r.tier.map_or("none", tier_str);
    if r.success {
        let how = if r.already_merged {
            "Already merged"
        } else {
            "Merged"
        };
        s.push_str(&format!("   Result: {how} (tier: {tier})\n"));
    } else {
        s.push_str(&format!("   Result: Failed (tier: {tier})\n"));
    }
    if !r.conflict_files.is_empty() {
        s.push_str(&format!("   Conflicts: {}\n", r.conflict_files.join(", ")));
    }
    if let Some(err) = &r.error_message {
        s.push_str(&format!("   Error: {err}\n"));
    }
    if let Some(tail) = r.gate_output.as_deref().filter(|t| !t.is_empty()) {
        for l in tail.lines() {
            s.push_str(&format!("   | {l}\n"));
        }
    }
    for w in &r.warnings {
        s.push_str(&format!("   Warning: {w}\n"));
    }
    s
}

fn render(
    ctx: &Context,
    single: bool,
    reports: &[MergeReport],
    ingested: Option<&overstory_merge::Ingested>,
    warnings: &[String],
) -> Result<Output, CliError> {
    let failed = reports.iter().filter(|r| !r.success).count();
    let mut text = String::new();
    for r in reports {
        text.push_str(&result_text(r));
    }
    let data: Value = if single {
        let mut v = output::to_json(&reports[0])?;
        v["warnings"] = json!(
            reports[0]
                .warnings
                .iter()
                .chain(warnings)
                .cloned()
                .collect::<Vec<_>>()
        );
        v
    } else {
        if reports.is_empty() {
            text.push_str("No pending branches to merge\n");
        } else {
            text.push_str(&format!(
                "Done: {} merged, {failed} failed out of {} total.\n",
                reports.len() - failed,
                reports.len()
            ));
        }
        json!({
            "results": output::to_json(reports)?,
            "count": reports.len(),
            "successCount": reports.len() - failed,
            "failCount": failed,
            "ingested": ingested.map_or(0, |i| i.message_ids.len()),
            "warnings": warnings,
        })
    };
    for w in warnings {
        text.push_str(&format!("Warning: {w}\n"));
    }
    if failed == 0 {
        return Ok(Output::new("merge").data(data).raw(text));
    }
    if !ctx.json {
        output::eprint_line(text.trim_end());
    }
    let message = if single {
        reports[0]
            .error_message
            .clone()
            .unwrap_or_else(|| "Merge failed".into())
    } else {
        format!("{failed} of {} merge(s) failed", reports.len())
    };
    let mut err = CliError::with_code("MERGE_ERROR", message).with_data(data);
    if reports.iter().any(|r| r.gate_output.is_some()) {
        err = err.hint(
            "Fix what the gate reports (or the gate in project.qualityGates); --skip-gates lands without gates",
        );
    }
    Err(err.hint("The entry stays in the queue: fix the branch, then run 'ov merge' again"))
}
