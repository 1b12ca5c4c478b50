//! `ov demo`: the whole swarm, offline, with real processes, worktrees,
//! mail and merges — and nothing left behind on any exit path.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use overstory_core::Layout;
use overstory_mail::{ListFilter, MailStore, MessageType};
use overstory_testkit::wait_until;

use crate::support::{command, run};

/// Live processes (not zombies) whose command line or working directory
/// mentions `dir`.
fn processes_in(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.parse::<u32>().is_err() {
            continue;
        }
        let cmd = std::fs::read(entry.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .unwrap_or_default();
        let cwd = std::fs::read_link(entry.path().join("cwd"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if cmd.contains(&needle) || cwd.starts_with(&needle) {
            out.push(format!("{name}: {cmd} (cwd {cwd})"));
        }
    }
    out
}

fn worktrees(dir: &Path) -> Vec<String> {
    let out = std::process::Command::new("git")
        .args(["worktree", "list", "--porcelain"])
        .current_dir(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("worktree "))
        .map(str::to_owned)
        .collect()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn mail(dir: &Path, to: &str, kind: MessageType) -> usize {
    MailStore::open(Layout::new(dir).mail_db())
        .unwrap()
        .count(&ListFilter {
            to: Some(to.into()),
            kind: Some(kind),
            ..ListFilter::default()
        })
        .unwrap()
}

/// Asserts that the scratch repository has only its main worktree and no
/// process runs in or for it.
fn assert_nothing_left(dir: &Path) {
    let wts = worktrees(dir);
    assert_eq!(wts.len(), 1, "only the main worktree is left: {wts:?}");
    let agent_dirs: Vec<_> = std::fs::read_dir(dir.join(".overstory/worktrees"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(agent_dirs.is_empty(), "worktree dirs left: {agent_dirs:?}");
    let procs = processes_in(dir);
    assert!(procs.is_empty(), "processes left behind: {procs:#?}");
}

#[test]
fn the_demo_swarm_merges_both_builders_onto_main_and_leaves_nothing_running() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("scratch");
    let started = Instant::now();
    let r = run(command(tmp.path())
        .args(["demo", "--json", "--dir"])
        .arg(&dir))
    .ok();
    let elapsed = started.elapsed();
    let j = r.json();
    assert_eq!(j["success"], true);
    assert_eq!(j["command"], "demo");
    assert_eq!(j["kept"], true, "a named --dir is kept");
    assert_eq!(j["canonicalBranch"], "main");
    assert!(
        elapsed < Duration::from_secs(60),
        "took {elapsed:?}, must be well under a minute"
    );
    assert!(j["wallTimeMs"].as_u64().unwrap() < 60_000);

    // Agents: coordinator, lead and two builders, all completed.
    let agents = j["agents"].as_array().unwrap();
    let names: Vec<&str> = agents.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["coordinator", "lead-1", "builder-1", "builder-2"]);
    for a in agents {
        assert_eq!(a["state"], "completed", "{a}");
    }
    let cap = |n: &str| agents.iter().find(|a| a["name"] == n).unwrap()["capability"].clone();
    assert_eq!(cap("lead-1"), "lead");
    assert_eq!(cap("builder-1"), "builder");
    assert_eq!(cap("coordinator"), "coordinator");
    let lead_turns = agents[1]["turns"].as_u64().unwrap();
    assert!((2..=3).contains(&lead_turns), "lead turns: {lead_turns}");
    // The coordinator is a real persistent agent: one process, several turns
    // (its first slings the lead, a later one merges the lead's branch).
    assert_eq!(j["coordinator"], "persistent");
    let coordinator_turns = agents[0]["turns"].as_u64().unwrap();
    assert!(
        (2..=3).contains(&coordinator_turns),
        "coordinator turns: {coordinator_turns}"
    );
    let coord_row = overstory_sessions::SessionStore::open(&Layout::new(&dir).sessions_db())
        .unwrap()
        .get("coordinator")
        .unwrap()
        .unwrap();
    assert!(coord_row.run_id.is_some(), "the coordinator owns the run");

    // Mail: the summary and the mail store agree.
    assert_eq!(j["mail"]["merge_ready"], 1);
    assert_eq!(j["mail"]["worker_done"], 3, "2 builders + the lead");
    assert_eq!(j["mail"]["dispatch"], 3);
    assert!(j["mail"].get("worker_died").is_none(), "{}", j["mail"]);
    assert_eq!(mail(&dir, "lead-1", MessageType::WorkerDone), 2);
    assert_eq!(mail(&dir, "coordinator", MessageType::MergeReady), 1);
    assert_eq!(mail(&dir, "coordinator", MessageType::WorkerDied), 0);
    // The lead's branch landed through the merge queue (`ov merge`), which
    // told the lead.
    assert_eq!(j["mail"]["merged"], 1, "{}", j["mail"]);
    assert_eq!(mail(&dir, "lead-1", MessageType::Merged), 1);
    assert_eq!(
        j["merges"],
        serde_json::json!([{"branch": "overstory/lead-1/demo-1", "status": "merged", "tier": "clean-merge"}])
    );
    let queue = overstory_merge::MergeQueue::open_in(&Layout::new(&dir)).unwrap();
    let entry = queue
        .latest_for("overstory/lead-1/demo-1")
        .unwrap()
        .unwrap();
    assert_eq!(entry.status, overstory_merge::MergeStatus::Merged);
    assert_eq!(entry.agent_name, "lead-1");
    // Its gate needs no toolchain: no bun, no network.
    let local = std::fs::read_to_string(Layout::new(&dir).config_local()).unwrap();
    assert!(local.contains("command: git diff --check main"), "{local}");
    assert!(!local.contains("bun"), "{local}");

    // Both builders' files are on main, with their final content, and every
    // agent branch is merged (and deleted with its worktree).
    assert!(git(&dir, &["show", "main:hello.txt"]).contains("Hello from builder-1"));
    assert!(git(&dir, &["show", "main:world.txt"]).contains("World, from builder-2"));
    assert_eq!(
        j["filesOnCanonical"],
        serde_json::json!(["hello.txt", "world.txt"])
    );
    let merged = j["mergedBranches"].as_array().unwrap();
    assert_eq!(merged.len(), 3, "{merged:?}");
    assert!(merged.contains(&"overstory/lead-1/demo-1".into()));
    let commits = j["commits"].as_array().unwrap();
    assert_eq!(commits.iter().filter(|c| c["merge"] == false).count(), 2);
    // The lead's two merges; main had not moved, so ov merge fast-forwards
    // it to the lead's branch.
    assert_eq!(commits.iter().filter(|c| c["merge"] == true).count(), 2);
    let log = git(&dir, &["log", "--format=%s", "main"]);
    assert!(
        log.lines()
            .next()
            .unwrap()
            .contains("lead-1: merge overstory/builder-2/demo-1-world"),
        "{log}"
    );
    assert_eq!(git(&dir, &["branch", "--list", "overstory/*"]), "");
    assert_eq!(j["worktreesRemoved"], 3);
    assert_eq!(j["processesLeft"], 0);
    assert!(
        !Layout::new(&dir).current_run().exists(),
        "the demo's run is completed"
    );
    assert_nothing_left(&dir);
}

#[test]
fn the_demo_prints_progress_and_deletes_its_temp_repository() {
    let tmp = tempfile::tempdir().unwrap();
    // The scratch repository goes under $TMPDIR.
    let r = run(command(tmp.path()).arg("demo").env("TMPDIR", tmp.path())).ok();
    for needle in [
        "spawn   lead-1 (lead, parent coordinator",
        "spawn   builder-2 (builder, parent lead-1",
        "builder-1 → lead-1  worker_done",
        "lead-1 → coordinator  merge_ready",
        "coordinator merged overstory/lead-1/demo-1 into main with ov merge (tier clean-merge",
        "coordinator merge step: Result: Merged (tier: clean-merge)",
        "coordinator → lead-1  merged",
        "Merge queue (1):\n    overstory/lead-1/demo-1  merged (tier clean-merge)",
        "Summary",
        "Files on main: hello.txt, world.txt",
        "✓ Demo finished in",
    ] {
        assert!(
            r.stdout.contains(needle),
            "missing {needle:?} in:\n{}",
            r.stdout
        );
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("ov-demo-")
        })
        .collect();
    assert!(left.is_empty(), "temp repository not deleted: {left:?}");
    assert!(processes_in(tmp.path()).is_empty());
}

#[test]
fn a_stalled_demo_times_out_with_a_clear_error_and_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("stalled");
    let r = run(command(tmp.path())
        .args([
            "demo",
            "--stall-builders",
            "--timeout",
            "2",
            "--json",
            "--dir",
        ])
        .arg(&dir))
    .fails();
    let j = r.json();
    let err = j["error"].as_str().unwrap();
    assert!(err.contains("The demo stalled"), "{err}");
    assert!(err.contains("builder-1 (working)"), "{err}");
    assert!(err.contains(&dir.display().to_string()), "{err}");
    // The stalled builders were killed and their worktrees removed.
    assert_nothing_left(&dir);
}

#[test]
fn ctrl_c_stops_every_agent_and_removes_the_worktrees() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("interrupted");
    let mut child = command(tmp.path())
        .args(["demo", "--stall-builders", "--dir"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Both builders are mid-turn (stalled) when the interrupt comes.
    let mut seen = String::new();
    while !(seen.contains("builder-1 starts turn") && seen.contains("builder-2 starts turn")) {
        let line = lines.next().expect("demo ended early").unwrap();
        seen.push_str(&line);
        seen.push('\n');
    }
    assert!(!processes_in(&dir).is_empty(), "agents are running");
    overstory_core::process::signal_process(
        i32::try_from(child.id()).unwrap(),
        overstory_core::process::Sig::Int,
    )
    .unwrap();
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{rest:#?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        rest.iter().any(|l| l.contains("stopped builder-1")),
        "{rest:#?}"
    );
    assert_nothing_left(&dir);
}

#[test]
fn a_demo_killed_outright_still_takes_its_coordinator_down() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("killed");
    let mut child = command(tmp.path())
        .args(["demo", "--stall-builders", "--dir"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    while !(seen.contains("under its agent host") && seen.contains("builder-2 starts turn")) {
        let line = lines.next().expect("demo ended early").unwrap();
        seen.push_str(&line);
        seen.push('\n');
    }
    // The stalled builders are not the host's business: stop them at the
    // end, even when an assertion fails first.
    let _cleanup = CleanAll(dir.clone());
    let layout = Layout::new(&dir);
    let coordinator = overstory_core::AgentName::new("coordinator").unwrap();
    let host = overstory_core::process::read_pid_file(&layout.agent_host_pid(&coordinator))
        .expect("the coordinator's host is running");
    // SIGKILL: the demo gets no chance to clean up.
    child.kill().unwrap();
    child.wait().unwrap();
    wait_until(
        Duration::from_secs(20),
        "the coordinator's host to follow the demo",
        || !overstory_core::process::is_alive(host),
    );
    let state = overstory_sessions::SessionStore::open(&layout.sessions_db())
        .unwrap()
        .get("coordinator")
        .unwrap()
        .unwrap()
        .state;
    assert_eq!(state, overstory_sessions::AgentState::Completed);
    assert!(!layout.agent_host_owner(&coordinator).exists());
}

/// Runs `ov clean --all` in the project when dropped.
struct CleanAll(std::path::PathBuf);

impl Drop for CleanAll {
    fn drop(&mut self) {
        let _ = command(&self.0).args(["clean", "--all"]).output();
    }
}

#[test]
fn a_non_empty_dir_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("keep-me.txt"), "mine").unwrap();
    let r = run(command(tmp.path())
        .args(["demo", "--json", "--dir"])
        .arg(tmp.path()))
    .fails();
    let j = r.json();
    assert_eq!(j["code"], "VALIDATION_ERROR");
    assert!(j["error"].as_str().unwrap().contains("is not empty"));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("keep-me.txt")).unwrap(),
        "mine"
    );
}

/// Issue 11: two runs give the same summary. The branch a commit is
/// labelled with came from whichever poll saw it first (a lead's merge
/// commit was sometimes labelled `main`); it is now read from the finished
/// history. What still differs is normalised here and only here: the
/// scratch path, the wall time, the commit hashes (git hashes commit
/// times) and the turn counts (mail batching may wake an agent once for two
/// mails or once for each).
#[test]
fn two_demo_runs_give_the_same_summary() {
    let summary = || {
        let tmp = tempfile::tempdir().unwrap();
        let r = run(command(tmp.path())
            .args(["demo", "--json"])
            .env("TMPDIR", tmp.path()))
        .ok();
        let mut j = r.json();
        for key in ["dir", "wallTimeMs"] {
            j.as_object_mut().unwrap().remove(key).expect(key);
        }
        for c in j["commits"].as_array_mut().unwrap() {
            c["sha"] = "<sha>".into();
        }
        for a in j["agents"].as_array_mut().unwrap() {
            assert!(a["turns"].as_u64().unwrap() >= 1, "{a}");
            a["turns"] = "<turns>".into();
        }
        j
    };
    let first = summary();
    let second = summary();
    assert_eq!(first, second);
    let labels: Vec<(&str, bool)> = first["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["branch"].as_str().unwrap(), c["merge"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        labels,
        [
            ("overstory/builder-1/demo-1-hello", false),
            ("overstory/builder-2/demo-1-world", false),
            ("overstory/lead-1/demo-1", true),
            ("overstory/lead-1/demo-1", true),
        ]
    );
}
