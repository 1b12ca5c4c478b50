//! Drives a small swarm through the library API: a lead that splits its
//! task between two builders, offline, with the `scripted` runtime.
//!
//! This program plays the orchestrator. It calls `fleet::sling` once, for
//! the lead, and sends the lead a note with `wake::send_and_wake` (the call
//! `ov mail send` makes: store the mail, then wake a headless recipient);
//! everything after that is driven by mail. The lead's first turn
//! slings two builders; each builder commits a file and mails `worker_done`
//! to the lead; that mail wakes the lead (a detached dispatcher runs its
//! next turn), and once both reports are in, the lead merges the builders'
//! branches and reports `worker_done` to us. We merge the lead's branch.
//!
//! The agents are real processes started by the runtime: `ov scripted-agent`
//! under `ov turn-shim`, woken by `ov dispatch`. So the `ov` binary must be
//! built: `cargo build -p overstory-cli` (or set `OV_BIN`). Then run
//! `cargo run -p overstory-examples --bin swarm`.
#![allow(clippy::print_stdout, reason = "an example prints its results")]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use overstory_core::git::Git;
use overstory_core::init::{InitOptions, init};
use overstory_core::{AgentName, Capability, Config, Layout, TaskId};
use overstory_fleet::{SlingRequest, sling};
use overstory_mail::{Address, ListFilter, MailClient, MailStore, MessageType, SendRequest};
use overstory_runtime::shell::shell_quote;
use overstory_sessions::SessionStore;
use overstory_turn::dispatch::{WakeOutcome, is_dispatching};
use overstory_turn::wake::{Waker, send_and_wake};
use serde_json::json;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ov = find_ov()?;
    let started = Instant::now();

    // 1. A scratch git repository with overstory initialised in it.
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().canonicalize()?;
    let git = Git::new(&root);
    git.run(&["init", "-q", "-b", "main"])?;
    git.run(&["config", "user.name", "swarm example"])?;
    git.run(&["config", "user.email", "swarm@example.invalid"])?;
    std::fs::write(root.join("README.md"), "# swarm example\n")?;
    git.run(&["add", "README.md"])?;
    git.run(&["commit", "-q", "-m", "initial commit"])?;
    init(&root, &InitOptions::default())?;
    let layout = Layout::new(&root);
    // Machine-local overrides: no model (scripted agents), no stagger.
    std::fs::write(
        layout.config_local(),
        "runtime:\n  default: scripted\nagents:\n  staggerDelayMs: 0\n",
    )?;
    let config = Config::load(&root)?.config;

    // 2. One script per agent (format: `overstory_runtime::scripted`).
    //    A scripted agent plays turn n of its script on its n-th turn.
    let ov_sh = shell_quote(&ov.to_string_lossy());
    let scripts = layout.scripts_dir();
    std::fs::create_dir_all(&scripts)?;
    for (name, file) in [("builder-1", "hello.txt"), ("builder-2", "world.txt")] {
        let script = json!({"steps": [
            {"write": {"path": file, "content": format!("written by {name}\n")}},
            // Commit only our file (the worktree also holds the overlay).
            {"run": format!("git add {file} && git commit -q -m 'add {file}'")},
            {"mail": {"to": "lead-1", "subject": "done", "body": file, "type": "worker_done"}},
        ]});
        std::fs::write(scripts.join(format!("{name}.json")), script.to_string())?;
    }
    // The lead: turn 1 slings the builders (as a real lead runs `ov sling`);
    // every later turn (one per batch of mail) merges once both reported.
    let sling_builder = |name: &str, task: &str| {
        json!({"run": format!(
            "{ov_sh} sling {task} --capability builder --name {name} --parent lead-1 --runtime scripted --no-scout-check"
        )})
    };
    let merge = format!(
        "[ \"$({ov_sh} mail list --to lead-1 --type worker_done --count)\" -ge 2 ] || exit 0; \
         git merge -q --no-edit overstory/builder-1/task-hello overstory/builder-2/task-world && \
         {ov_sh} mail send --to orchestrator --type worker_done --subject 'task-1 done' --body merged"
    );
    let lead = json!({"turns": [
        {"steps": [sling_builder("builder-1", "task-hello"), sling_builder("builder-2", "task-world")]},
        {"steps": [{"run": merge}]},
    ]});
    std::fs::write(scripts.join("lead-1.json"), lead.to_string())?;

    // 3. Sling the lead. `sling` returns at once; a detached dispatcher
    //    runs its first turn. From here on, mail drives every turn.
    let mut req = SlingRequest::new(
        layout.clone(),
        config.clone(),
        TaskId::new("task-1")?,
        ov.clone(),
    );
    req.capability = Capability::Lead;
    req.name = Some(AgentName::new("lead-1")?);
    req.runtime = Some("scripted".into());
    let report = sling(&req)?;
    println!("slung {} on {}", report.agent_name, report.branch);

    // 4. Mail the lead a note. `send_and_wake` stores it and makes sure a
    //    turn will carry it: the lead's dispatcher is still running its first
    //    turn, so it picks the note up next (or a new dispatcher starts).
    let waker = Waker::new(layout.clone(), &ov).with_config(config.clone());
    let note = SendRequest::new(
        AgentName::new("orchestrator")?,
        Address::parse("lead-1")?,
        "Scope",
        "hello.txt and world.txt only; report worker_done once both are merged",
    );
    let posted = send_and_wake(&mut MailClient::open(&layout)?, &note, &waker)?;
    let note_id = posted.delivery.sent[0].message.id.clone();
    for w in &posted.wakeups {
        if let WakeOutcome::Failed { reason } = &w.outcome {
            return Err(format!("could not wake {}: {reason}", w.agent).into());
        }
        println!("note {note_id} to {}: {:?}", w.agent, w.outcome);
    }

    // 5. Wait for the lead's worker_done in our (the orchestrator's) inbox.
    let mail = MailStore::open(layout.mail_db())?;
    let to_us = ListFilter {
        to: Some("orchestrator".into()),
        kind: Some(MessageType::WorkerDone),
        ..ListFilter::default()
    };
    while mail.count(&to_us)? == 0 {
        if started.elapsed() > Duration::from_secs(60) {
            return Err("the swarm did not finish within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    git.run(&["merge", "-q", "--no-edit", "overstory/lead-1/task-1"])?;

    // The note was read by one of the lead's turns (mail is marked read
    // only once a turn that carried it exited cleanly).
    let from_us = ListFilter {
        to: Some("lead-1".into()),
        from: Some("orchestrator".into()),
        ..ListFilter::default()
    };
    if !mail.list(&from_us)?.iter().all(|m| m.read) {
        return Err("the note to lead-1 was never delivered".into());
    }

    // 6. Summary: agents, mail, and the files that reached main.
    let sessions = SessionStore::open(&layout.sessions_db())?.all()?;
    for s in &sessions {
        println!("{:<10} {:<8} {}", s.agent_name, s.capability, s.state);
    }
    let all = mail.list(&ListFilter::default())?;
    for kind in [MessageType::Dispatch, MessageType::WorkerDone] {
        let n = all.iter().filter(|m| m.kind == kind).count();
        println!("{kind} mail: {n}");
    }
    let files = git.run(&["ls-tree", "--name-only", "main"])?;
    println!(
        "on main: {}",
        files.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    if !files.contains("hello.txt") || !files.contains("world.txt") {
        return Err("a builder's file is missing on main".into());
    }

    // 7. Let the dispatchers exit before the temp dir goes.
    wait_for_dispatchers(&layout, &sessions);
    for s in &sessions {
        git.run(&["worktree", "remove", "--force", &s.worktree_path])?;
    }
    println!("done in {:.2}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The `ov` binary: `$OV_BIN`, else next to this example (the same cargo
/// target directory), else on `PATH`.
fn find_ov() -> Result<PathBuf, Box<dyn std::error::Error>> {
    if let Some(p) = overstory_core::env::var_os("OV_BIN") {
        return Ok(PathBuf::from(p));
    }
    let sibling = std::env::current_exe()?.with_file_name("ov");
    if sibling.is_file() {
        return Ok(sibling);
    }
    overstory_core::process::which("ov")
        .ok_or_else(|| "ov not found: run `cargo build -p overstory-cli` or set OV_BIN".into())
}

fn wait_for_dispatchers(layout: &Layout, sessions: &[overstory_sessions::Session]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let busy = |s: &overstory_sessions::Session| is_dispatching(layout, &s.agent_name);
    while sessions.iter().any(busy) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}
