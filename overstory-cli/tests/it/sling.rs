//! `ov sling`: real git repositories, the real `ov` binary, the scripted
//! runtime as a real child process, real tmux.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use overstory_core::{AgentName, Layout};
use overstory_mail::{ListFilter, MailStore, MessageType};
use overstory_sessions::{AgentState, Session, SessionStore};
use overstory_testkit::{TempRepo, wait_until};

use crate::support::{Run, command, initialized_repo, run};

/// An initialised project with no sling stagger.
pub struct Project {
    pub repo: TempRepo,
    pub layout: Layout,
}

impl Project {
    pub fn new() -> Self {
        let repo = initialized_repo();
        let layout = Layout::new(repo.path());
        let cfg = layout.config();
        let text = std::fs::read_to_string(&cfg).unwrap();
        std::fs::write(
            &cfg,
            text.replace("staggerDelayMs: 2000", "staggerDelayMs: 0"),
        )
        .unwrap();
        Self { repo, layout }
    }

    pub fn path(&self) -> &Path {
        self.repo.path()
    }

    pub fn ov(&self, args: &[&str]) -> Run {
        run(command(self.path()).args(args))
    }

    pub fn script(&self, agent: &str, json: &serde_json::Value) {
        let dir = self.layout.scripts_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{agent}.json")), json.to_string()).unwrap();
    }

    pub fn store(&self) -> SessionStore {
        SessionStore::open(&self.layout.sessions_db()).unwrap()
    }

    pub fn session(&self, name: &str) -> Option<Session> {
        self.store().get(name).unwrap()
    }

    /// Registers a row directly (a parent, a sibling, a name holder).
    pub fn row(
        &self,
        name: &str,
        capability: &str,
        state: AgentState,
        f: impl FnOnce(&mut Session),
    ) {
        let mut s = Session::new(name.parse().unwrap(), capability.parse().unwrap());
        s.worktree_path = self.path().display().to_string();
        s.task_id = Some(format!("task-of-{name}").parse().unwrap());
        s.state = state;
        f(&mut s);
        self.store().upsert(&s).unwrap();
    }

    /// A lead row in tmux (not woken by mail: its session is not alive).
    pub fn lead(&self, name: &str, depth: i64) {
        self.row(name, "lead", AgentState::Working, |s| {
            s.depth = depth;
            s.tmux_session = format!("overstory-nowhere-{name}");
        });
    }

    pub fn mail_to(&self, to: &str, kind: MessageType) -> Vec<overstory_mail::MailMessage> {
        MailStore::open(self.layout.mail_db())
            .unwrap()
            .list(&ListFilter {
                to: Some(to.into()),
                kind: Some(kind),
                ..ListFilter::default()
            })
            .unwrap()
    }

    pub fn branch_exists(&self, branch: &str) -> bool {
        std::process::Command::new("git")
            .args([
                "show-ref",
                "--verify",
                "--quiet",
                &format!("refs/heads/{branch}"),
            ])
            .current_dir(self.path())
            .status()
            .unwrap()
            .success()
    }

    pub fn worktree(&self, agent: &str) -> PathBuf {
        self.layout.agent_worktree(&AgentName::new(agent).unwrap())
    }
}

fn builder_script() -> serde_json::Value {
    serde_json::json!({"steps": [
        {"sleep_ms": 700},
        {"write": {"path": "hello.txt", "content": "hi\n"}},
        {"commit": "add hello"},
        {"mail": {"to": "lead-1", "subject": "task-1 done", "body": "built", "type": "worker_done"}}
    ]})
}

#[test]
fn headless_sling_returns_before_the_turn_and_the_agent_completes_its_task() {
    let p = Project::new();
    p.lead("lead-1", 1);
    p.script("builder-1", &builder_script());
    let started = Instant::now();
    let out = p
        .ov(&[
            "sling",
            "task-1",
            "--capability",
            "builder",
            "--runtime",
            "scripted",
            "--name",
            "builder-1",
            "--parent",
            "lead-1",
            "--json",
        ])
        .ok();
    let j = out.json();
    // The turn sleeps 700 ms first; sling must not wait for it.
    let row = p.session("builder-1").unwrap();
    assert_ne!(
        row.state,
        AgentState::Completed,
        "sling waited for the turn"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(j["success"], true);
    assert_eq!(j["command"], "sling");
    assert_eq!(j["agentName"], "builder-1");
    assert_eq!(j["capability"], "builder");
    assert_eq!(j["taskId"], "task-1");
    assert_eq!(j["branch"], "overstory/builder-1/task-1");
    assert_eq!(j["tmuxSession"], "");
    assert!(j["pid"].is_null());
    assert_eq!(j["depth"], 2, "depth = parent's depth + 1");
    assert_eq!(j["sessionId"], row.id.as_str());
    assert!(j["warnings"][0].as_str().unwrap().contains("scout"));
    assert_eq!(row.parent_agent.as_deref(), Some("lead-1"));
    assert_eq!(row.depth, 2);
    assert_eq!(row.tmux_session, "");
    assert!(row.run_id.is_some());
    let wt = p.worktree("builder-1");
    assert_eq!(j["worktree"], wt.display().to_string().as_str());
    assert!(wt.join(".claude/CLAUDE.md").is_file(), "overlay written");
    assert!(
        wt.join(".claude/settings.local.json").is_file(),
        "guards deployed"
    );

    let dispatch = p.mail_to("builder-1", MessageType::Dispatch);
    assert_eq!(dispatch.len(), 1);
    assert_eq!(dispatch[0].from, "lead-1");
    assert!(dispatch[0].subject.contains("task-1"));
    assert!(dispatch[0].body.contains("builder"));

    wait_until(Duration::from_secs(60), "builder-1 completed", || {
        p.session("builder-1")
            .is_some_and(|s| s.state == AgentState::Completed)
    });
    let log = p
        .repo
        .git(&["log", "--format=%s", "overstory/builder-1/task-1"]);
    assert!(log.lines().next().unwrap().contains("add hello"), "{log}");
    let done = p.mail_to("lead-1", MessageType::WorkerDone);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].from, "builder-1");

    p.ov(&["stop", "builder-1", "--clean-worktree", "--force"])
        .ok();
    assert!(!wt.exists());
    p.ov(&["worktree", "clean"]).ok();
}

#[test]
fn spec_is_copied_and_named_in_the_dispatch_mail() {
    let p = Project::new();
    p.script("builder-1", &serde_json::json!({"steps": [{"say": "ok"}]}));
    std::fs::write(p.path().join("my-spec.md"), "# Build it\n").unwrap();
    let j = p
        .ov(&[
            "sling",
            "task-7",
            "--runtime",
            "scripted",
            "--name",
            "builder-1",
            "--spec",
            "my-spec.md",
            "--json",
        ])
        .ok()
        .json();
    let copy = p.layout.dir().join("specs/task-7.md");
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), "# Build it\n");
    assert_eq!(j["specPath"], copy.display().to_string().as_str());
    let mail = p.mail_to("builder-1", MessageType::Dispatch);
    assert_eq!(mail[0].from, "orchestrator");
    assert!(mail[0].body.contains(&copy.display().to_string()));

    let missing = p
        .ov(&[
            "sling",
            "task-8",
            "--runtime",
            "scripted",
            "--spec",
            "nope.md",
            "--json",
        ])
        .fails();
    assert!(
        missing.stdout.contains("Spec file not found"),
        "{missing:?}"
    );
}

#[test]
fn depth_limit_and_unknown_parent_are_refused() {
    let p = Project::new();
    p.lead("deep-lead", 2);
    let r = p
        .ov(&[
            "sling",
            "task-1",
            "--runtime",
            "scripted",
            "--parent",
            "deep-lead",
            "--json",
        ])
        .fails();
    let j = r.json();
    assert_eq!(j["code"], "AGENT_ERROR", "{r:?}");
    assert!(
        r.stdout
            .contains("Depth limit exceeded: depth 3 > maxDepth 2"),
        "{r:?}"
    );
    let r = p
        .ov(&[
            "sling",
            "task-1",
            "--runtime",
            "scripted",
            "--parent",
            "ghost",
            "--json",
        ])
        .fails();
    assert_eq!(r.json()["code"], "AGENT_ERROR");
    assert!(r.stdout.contains("ghost"), "{r:?}");
    let r = p
        .ov(&[
            "sling",
            "task-1",
            "--runtime",
            "scripted",
            "--depth",
            "3",
            "--json",
        ])
        .fails();
    assert!(r.stdout.contains("Depth limit exceeded"), "{r:?}");
    let r = p
        .ov(&["sling", "task-1", "--depth", "-1", "--json"])
        .fails();
    assert_eq!(r.json()["code"], "VALIDATION_ERROR");
    assert!(r.stdout.contains("--depth must be a non-negative integer"));
    assert!(
        p.store()
            .all()
            .unwrap()
            .iter()
            .all(|s| s.capability == "lead")
    );
}

#[test]
fn per_parent_and_concurrency_limits_are_refused() {
    let p = Project::new();
    p.lead("lead-1", 1);
    p.row("child-a", "builder", AgentState::Working, |s| {
        s.parent_agent = Some("lead-1".parse().unwrap());
    });
    let r = p
        .ov(&[
            "sling",
            "task-1",
            "--runtime",
            "scripted",
            "--parent",
            "lead-1",
            "--max-agents",
            "1",
            "--json",
        ])
        .fails();
    assert_eq!(r.json()["code"], "AGENT_ERROR");
    assert!(r.stdout.contains("Per-lead agent limit reached"), "{r:?}");

    let cfg = p.layout.config();
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("maxConcurrent: 25", "maxConcurrent: 1")).unwrap();
    let r = p
        .ov(&["sling", "task-2", "--runtime", "scripted", "--json"])
        .fails();
    assert_eq!(r.json()["code"], "AGENT_ERROR");
    assert!(
        r.stdout.contains("Max concurrent agent limit reached: 2/1"),
        "{r:?}"
    );
    assert!(!p.worktree("builder-task-2").exists());
    // A refused sling opens no run.
    assert!(!p.layout.current_run().exists());
}

#[test]
fn run_session_limit_is_refused_and_leaves_nothing() {
    let p = Project::new();
    let cfg = p.layout.config();
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("maxSessionsPerRun: 0", "maxSessionsPerRun: 1"),
    )
    .unwrap();
    p.script("builder", &serde_json::json!({"steps": [{"say": "ok"}]}));
    let first = p
        .ov(&["sling", "task-1", "--runtime", "scripted", "--json"])
        .ok()
        .json();
    let run = first["runId"].as_str().unwrap().to_owned();
    let r = p
        .ov(&["sling", "task-2", "--runtime", "scripted", "--json"])
        .fails();
    assert_eq!(r.json()["code"], "AGENT_ERROR");
    assert!(
        r.stdout.contains(&format!(
            "Run session limit reached: 1/1 agents in run {run}"
        )),
        "{r:?}"
    );
    assert!(p.session("builder-task-2").is_none());
    assert!(!p.worktree("builder-task-2").exists());
    assert!(!p.branch_exists("overstory/builder-task-2/task-2"));
}

#[test]
fn hierarchy_violation_unless_forced() {
    let p = Project::new();
    p.script(
        "merger-task-1",
        &serde_json::json!({"steps": [{"say": "ok"}]}),
    );
    let r = p
        .ov(&[
            "sling",
            "task-1",
            "--capability",
            "merger",
            "--runtime",
            "scripted",
            "--json",
        ])
        .fails();
    let j = r.json();
    assert_eq!(j["code"], "HIERARCHY_VIOLATION", "{r:?}");
    assert!(p.session("merger-task-1").is_none());
    p.ov(&[
        "sling",
        "task-1",
        "--capability",
        "merger",
        "--runtime",
        "scripted",
        "--force-hierarchy",
        "--json",
    ])
    .ok();
    assert!(p.session("merger-task-1").is_some());
    let r = p
        .ov(&[
            "sling",
            "task-1",
            "--capability",
            "wizard",
            "--runtime",
            "scripted",
            "--json",
        ])
        .fails();
    assert_eq!(r.json()["code"], "VALIDATION_ERROR");
}

#[test]
fn auto_names_skip_active_names_and_leftover_worktrees() {
    let p = Project::new();
    p.script(
        "builder",
        &serde_json::json!({"steps": [{"stall_ms": 60000}]}),
    );
    p.row("builder-task-9", "builder", AgentState::Working, |s| {
        s.task_id = Some("other".parse().unwrap());
    });
    std::fs::create_dir_all(p.worktree("builder-task-9-2")).unwrap();
    let j = p
        .ov(&[
            "sling",
            "task-9",
            "--runtime",
            "scripted",
            "--parent",
            "builder-task-9",
            "--force-hierarchy",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(j["agentName"], "builder-task-9-3");
    let r = p
        .ov(&[
            "sling",
            "task-10",
            "--runtime",
            "scripted",
            "--name",
            "builder-task-9",
            "--json",
        ])
        .fails();
    assert_eq!(r.json()["code"], "AGENT_ERROR");
    assert!(
        r.stdout
            .contains("Agent name \\\"builder-task-9\\\" is already in use (state: working)"),
        "{r:?}"
    );
    // Task lock: task-9 is held by builder-task-9-3.
    let r = p
        .ov(&["sling", "task-9", "--runtime", "scripted", "--json"])
        .fails();
    assert!(r.stdout.contains("already being worked by agent"), "{r:?}");
    p.ov(&["stop", "builder-task-9-3", "--clean-worktree", "--force"])
        .ok();
}

#[test]
fn a_failure_at_any_step_rolls_back_everything_and_a_retry_works() {
    let p = Project::new();
    p.script(
        "builder-1",
        &serde_json::json!({"steps": [
            {"mail": {"to": "orchestrator", "subject": "done", "body": "ok", "type": "worker_done"}}
        ]}),
    );
    for step in [
        "reserve",
        "worktree",
        "deploy",
        "runtime-choice",
        "mail",
        "spawn",
    ] {
        let r = p
            .ov(&[
                "sling",
                "task-1",
                "--runtime",
                "scripted",
                "--name",
                "builder-1",
                "--fail-after",
                step,
                "--json",
            ])
            .fails();
        assert!(r.stdout.contains(step), "{step}: {r:?}");
        let agent = AgentName::new("builder-1").unwrap();
        assert!(p.session("builder-1").is_none(), "{step}: row left");
        assert!(!p.worktree("builder-1").exists(), "{step}: worktree left");
        assert!(
            !p.branch_exists("overstory/builder-1/task-1"),
            "{step}: branch left"
        );
        assert!(
            !p.layout.agent_runtime_choice(&agent).exists(),
            "{step}: runtime choice left"
        );
        assert!(
            !p.layout.agent_identity(&agent).exists(),
            "{step}: identity left"
        );
        assert!(
            p.mail_to("builder-1", MessageType::Dispatch).is_empty(),
            "{step}: mail left"
        );
        let queued = std::fs::read_dir(p.layout.agent_nudge_dir(&agent))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(queued, 0, "{step}: queued turn left");
        // The run this sling opened is closed as failed, not left active.
        assert!(!p.layout.current_run().exists(), "{step}: current run left");
        let runs = overstory_sessions::RunStore::open(&p.layout.sessions_db()).unwrap();
        assert!(runs.active().unwrap().is_none(), "{step}: active run left");
    }
    p.ov(&[
        "sling",
        "task-1",
        "--runtime",
        "scripted",
        "--name",
        "builder-1",
        "--json",
    ])
    .ok();
    wait_until(
        Duration::from_secs(60),
        "builder-1 completed after the retry",
        || {
            p.session("builder-1")
                .is_some_and(|s| s.state == AgentState::Completed)
        },
    );
    assert_eq!(p.mail_to("builder-1", MessageType::Dispatch).len(), 1);
}

#[test]
fn concurrent_slings_never_share_a_name() {
    let p = Project::new();
    p.script(
        "builder",
        &serde_json::json!({"steps": [{"stall_ms": 60000}]}),
    );
    let children: Vec<_> = (0..3)
        .map(|_| {
            command(p.path())
                .args([
                    "sling",
                    "task-c",
                    "--runtime",
                    "scripted",
                    "--force-hierarchy",
                    "--json",
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    // The first admitted holds task-c; the others are refused by the task
    // lock — never two agents on one task, never two rows for one name.
    let ok = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(ok, 1, "{outs:?}");
    let rows = p.store().all().unwrap();
    assert_eq!(rows.len(), 1);
    p.ov(&["stop", &rows[0].agent_name, "--clean-worktree", "--force"])
        .ok();
}

#[test]
fn root_without_is_sandbox_is_refused_with_both_options() {
    if !overstory_core::process::is_root() {
        return;
    }
    let p = Project::new();
    let r = run(command(p.path()).env_remove("IS_SANDBOX").args([
        "sling",
        "task-1",
        "--runtime",
        "claude",
        "--json",
    ]))
    .fails();
    assert_eq!(r.json()["code"], "AGENT_ERROR");
    assert!(r.stdout.contains("IS_SANDBOX=1"), "{r:?}");
    assert!(r.stdout.contains("regular user"), "{r:?}");
    assert!(p.store().all().unwrap().is_empty());
    // A false-like value is named, not silently taken as a sandbox.
    let r = run(command(p.path()).env("IS_SANDBOX", "no").args([
        "sling",
        "task-1",
        "--runtime",
        "claude",
        "--json",
    ]))
    .fails();
    assert!(r.stdout.contains(r#"IS_SANDBOX is \"no\""#), "{r:?}");
    assert!(p.store().all().unwrap().is_empty());
}

/// A fake `claude` for tmux: looks ready, then echoes the first line it reads.
pub fn fake_claude_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ov = dir.path().join("ov");
    std::fs::hard_link(crate::support::bin(), &ov)
        .or_else(|_| std::fs::copy(crate::support::bin(), &ov).map(|_| ()))
        .unwrap();
    let claude = dir.path().join("claude");
    std::fs::write(
        &claude,
        "#!/bin/bash\nprintf '\\xe2\\x9d\\xaf Try \"hi\"\\n  bypass permissions on\\n'\nIFS= read -r line\nclear\nprintf 'beacon received: %s\\n' \"$line\"\nexec sleep 300\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn tmux_sling_starts_a_session_records_the_pane_and_delivers_the_beacon() {
    if !overstory_fleet::Tmux::is_available() {
        eprintln!("tmux not installed; skipping");
        return;
    }
    let p = Project::new();
    let bin = fake_claude_dir();
    let r = run(std::process::Command::new(bin.path().join("ov"))
        .current_dir(p.path())
        .env("IS_SANDBOX", "1")
        .env("NO_COLOR", "1")
        .env_remove("OVERSTORY_PROJECT_ROOT")
        .env_remove("OVERSTORY_AGENT_NAME")
        .args([
            "sling",
            "task-t",
            "--runtime",
            "claude",
            "--no-headless",
            "--name",
            "tmux-1",
            "--json",
        ]))
    .ok();
    let j = r.json();
    let session = j["tmuxSession"].as_str().unwrap().to_owned();
    assert!(
        session.starts_with("overstory-") && session.ends_with("-tmux-1"),
        "{j}"
    );
    let row = p.session("tmux-1").unwrap();
    assert_eq!(row.tmux_session, session);
    assert_eq!(row.pid, j["pid"].as_i64());
    assert!(row.pid.is_some());
    let tmux = overstory_fleet::Tmux::default();
    let pane = tmux
        .capture_pane(&session, 50)
        .unwrap_or_default()
        .replace('\n', "");
    assert!(
        pane.contains("beacon received: [OVERSTORY] tmux-1 (builder)"),
        "{pane}"
    );
    assert!(pane.contains("task:task-t"), "{pane}");

    // A tmux nudge is typed into the pane.
    let n = p
        .ov(&["nudge", "tmux-1", "hello", "there", "--json"])
        .ok()
        .json();
    assert_eq!(n["delivered"], true);
    wait_until(Duration::from_secs(10), "nudge echoed in the pane", || {
        tmux.capture_pane(&session, 50).is_some_and(|p| {
            p.replace('\n', "")
                .contains("[NUDGE from orchestrator] hello there")
        })
    });

    // A failure after the session exists kills it and removes the row.
    let r = run(std::process::Command::new(bin.path().join("ov"))
        .current_dir(p.path())
        .env("IS_SANDBOX", "1")
        .env_remove("OVERSTORY_PROJECT_ROOT")
        .args([
            "sling",
            "task-u",
            "--runtime",
            "claude",
            "--no-headless",
            "--name",
            "tmux-0",
            "--fail-after",
            "spawn",
            "--json",
        ]))
    .fails();
    assert!(r.stdout.contains("spawn"), "{r:?}");
    let failed_session = session.replace("-tmux-1", "-tmux-0");
    assert!(!tmux.is_alive(&failed_session));
    assert!(p.session("tmux-0").is_none());
    assert!(!p.worktree("tmux-0").exists());

    p.ov(&["stop", "tmux-1", "--clean-worktree", "--force"])
        .ok();
    assert!(!tmux.is_alive(&session));
}

/// The real `claude` binary, headless, against the mock Messages API: a
/// slung builder writes and commits a file and reports `worker_done` to its
/// parent through `ov mail send`; then stop and worktree clean protect its
/// unmerged branch until forced.
#[test]
fn real_claude_builder_commits_reports_worker_done_and_is_cleaned_up() {
    let Some(claude) = overstory_testkit::require_claude(
        "real_claude_builder_commits_reports_worker_done_and_is_cleaned_up",
    ) else {
        return;
    };
    let p = Project::new();
    p.lead("lead-1", 1);
    let wt = p.worktree("builder-c");
    let ov = crate::ov_bin().display().to_string();
    let mock = overstory_testkit::mock_api::MockApi::start();
    use overstory_testkit::mock_api::Reply;
    mock.push([
        Reply::write(
            &wt.join("claude.txt").display().to_string(),
            "written by claude\n",
        ),
        Reply::bash("git add claude.txt && git commit -q -m 'builder-c: add claude.txt'"),
        Reply::bash(&format!(
            "{ov} mail send --to lead-1 --subject 'task-c done' --body 'claude.txt committed' --type worker_done --agent builder-c"
        )),
        Reply::text("Committed claude.txt and reported worker_done."),
    ]);
    let home = tempfile::tempdir().unwrap();
    let path = format!(
        "{}:{}",
        claude.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = command(p.path());
    cmd.args([
        "sling",
        "task-c",
        "--capability",
        "builder",
        "--runtime",
        "claude",
        "--name",
        "builder-c",
        "--parent",
        "lead-1",
        "--no-scout-check",
        "--json",
    ]);
    for (k, v) in mock.claude_env(home.path()) {
        cmd.env(k, v);
    }
    // Claude itself accepts only IS_SANDBOX=1; a sandbox declared as `yes`
    // must still reach it as `1` (as root this turn fails otherwise).
    cmd.env("IS_SANDBOX", "yes");
    cmd.env("PATH", path);
    let j = run(&mut cmd).ok().json();
    assert_eq!(j["runtime"], "claude");
    assert_eq!(j["headless"], true);
    assert_eq!(j["worktree"], wt.display().to_string().as_str());

    let dispatching = || {
        overstory_turn::dispatch::is_dispatching(&p.layout, &AgentName::new("builder-c").unwrap())
    };
    wait_until(
        Duration::from_secs(120),
        "claude's turn to complete the builder",
        || {
            p.session("builder-c")
                .is_some_and(|s| s.state == AgentState::Completed)
                && !dispatching()
        },
    );
    let row = p.session("builder-c").unwrap();
    assert!(row.claude_session_id.is_some(), "the turn ran claude");
    let events = overstory_core::events::EventStore::open(&p.layout.events_db())
        .unwrap()
        .by_agent("builder-c", &overstory_core::events::EventFilter::default())
        .unwrap();
    let result = events
        .iter()
        .find(|e| e.event_type == "result")
        .expect("the turn recorded its result");
    assert!(
        result
            .data
            .as_deref()
            .unwrap_or("")
            .contains("\"isError\":false"),
        "{result:?}"
    );
    assert!(
        mock.agent_requests()
            .iter()
            .any(|r| r.body.to_string().contains("task-c")),
        "the dispatch reached the model as the user turn"
    );
    let done = p.mail_to("lead-1", MessageType::WorkerDone);
    assert_eq!(done.len(), 1, "the parent got worker_done");
    assert_eq!(done[0].from, "builder-c");
    assert!(
        p.mail_to("lead-1", MessageType::WorkerDied).is_empty(),
        "no worker_died"
    );
    let branch = "overstory/builder-c/task-c";
    let log = p.repo.git(&["log", "--format=%s", "-1", branch]);
    assert!(log.contains("builder-c: add claude.txt"), "{log}");
    let files = p.repo.git(&["show", "--name-only", "--format=", branch]);
    assert_eq!(
        files.trim(),
        "claude.txt",
        "only the agent's file was committed"
    );

    // The work is not merged: stop and clean keep it unless forced.
    let stop = p
        .ov(&["stop", "builder-c", "--clean-worktree", "--json"])
        .ok()
        .json();
    assert_eq!(stop["worktreeRemoved"], false, "{stop}");
    assert!(
        stop["warnings"][0].as_str().unwrap().contains("not merged"),
        "{stop}"
    );
    assert!(wt.exists() && p.branch_exists(branch));
    let clean = p.ov(&["worktree", "clean", "--json"]).ok().json();
    assert_eq!(clean["skipped"], serde_json::json!([branch]), "{clean}");
    assert!(wt.exists() && p.branch_exists(branch));
    let forced = p
        .ov(&["worktree", "clean", "--force", "--json"])
        .ok()
        .json();
    assert_eq!(forced["cleaned"], serde_json::json!([branch]), "{forced}");
    assert!(!wt.exists(), "worktree removed");
    assert!(!p.branch_exists(branch), "branch deleted when forced");
}

#[test]
fn sling_without_the_runtime_binary_creates_nothing_and_says_how_to_install_it() {
    let p = Project::new();
    let bin = crate::support::path_without_claude();
    let branches_before = p.repo.git(&["branch", "--list"]);
    let out = run(command(p.path()).env("PATH", bin.path()).args([
        "sling",
        "task-1",
        "--capability",
        "builder",
        "--name",
        "builder-nc",
        "--force-hierarchy",
        "--runtime",
        "claude",
        "--headless",
    ]))
    .fails();
    assert!(
        out.stderr.contains("\"claude\" was not found on PATH")
            && out
                .stderr
                .contains("npm install -g @anthropic-ai/claude-code"),
        "{out:#?}"
    );
    assert!(!out.stdout.contains("launched"), "{out:#?}");
    assert!(p.session("builder-nc").is_none(), "no row");
    assert!(!p.worktree("builder-nc").exists(), "no worktree");
    assert_eq!(
        p.repo.git(&["branch", "--list"]),
        branches_before,
        "no branch"
    );
}

/// Issue 11: an empty `--name` (or `--parent`) is refused like any other
/// invalid name, before anything is created; an unknown capability lists
/// the valid ones.
#[test]
fn empty_names_and_unknown_capabilities_are_refused_with_what_to_pass() {
    let p = Project::new();
    for flag in ["--name", "--parent"] {
        let r = p
            .ov(&["sling", "task-1", flag, "", "--runtime", "scripted"])
            .fails();
        assert!(
            r.stderr
                .starts_with("Error [VALIDATION_ERROR]: Invalid name \"\": must not be empty\n"),
            "{flag}: {r:#?}"
        );
        assert!(
            r.stderr.contains(&format!("hint: Pass {flag} letters")),
            "{r:#?}"
        );
    }
    let r = p
        .ov(&[
            "sling",
            "task-1",
            "--capability",
            "wizard",
            "--runtime",
            "scripted",
        ])
        .fails();
    assert!(
        r.stderr
            .contains("Invalid capability \"wizard\": expected one of scout, builder"),
        "{r:#?}"
    );
    assert!(p.store().all().unwrap().is_empty(), "nothing was created");
    assert!(!p.branch_exists("overstory/builder-task-1/task-1"));
}

/// Issue 11: `--project` naming a missing directory says it does not exist.
#[test]
fn project_flag_with_a_missing_path_says_it_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let r = run(command(dir.path())
        .args(["status", "--project"])
        .arg(&missing))
    .fails();
    assert!(
        r.stderr.starts_with(&format!(
            "Error [CONFIG_ERROR]: Project path \"{}\" does not exist\n",
            missing.display()
        )),
        "{r:#?}"
    );
}

/// Issue 13: a project that configures no quality gates gets none — not
/// the original's bun commands — in the overlay and in the guard hooks.
#[test]
fn a_project_without_gates_gets_no_bun_gates_in_the_overlay_or_the_guards() {
    let p = Project::new();
    let config = std::fs::read_to_string(p.layout.config()).unwrap();
    assert!(!config.contains("bun"), "ov init wrote bun gates: {config}");
    p.script("builder-1", &serde_json::json!({"steps": [{"say": "ok"}]}));
    p.ov(&[
        "sling",
        "task-9",
        "--runtime",
        "scripted",
        "--name",
        "builder-1",
        "--json",
    ])
    .ok();
    let wt = p.worktree("builder-1");
    let overlay = std::fs::read_to_string(wt.join(".claude/CLAUDE.md")).unwrap();
    assert!(!overlay.contains("bun"), "{overlay}");
    assert!(
        overlay.contains("This project has no quality gates configured"),
        "{overlay}"
    );
    let settings = std::fs::read_to_string(wt.join(".claude/settings.local.json")).unwrap();
    assert!(!settings.contains("bun"), "{settings}");
    p.ov(&["stop", "builder-1", "--clean-worktree", "--force"])
        .ok();
    p.ov(&["worktree", "clean"]).ok();
}
