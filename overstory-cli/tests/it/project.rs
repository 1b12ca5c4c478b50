//! Project resolution: `--project` before and after the command, and
//! commands run inside an agent's git worktree.

use std::path::Path;

use crate::support::{TempRepo, initialized_repo, ov};

fn root_of(cwd: &Path, args: &[&str]) -> String {
    let v = ov(cwd, args).ok().json();
    v["root"].as_str().unwrap().to_owned()
}

fn canon(p: &Path) -> String {
    p.canonicalize().unwrap().display().to_string()
}

#[test]
fn project_flag_works_before_and_after_the_command() {
    let repo = initialized_repo();
    let elsewhere = tempfile::tempdir().unwrap();
    let project = repo.path().to_str().unwrap();
    let before = root_of(
        elsewhere.path(),
        &["--project", project, "config", "--json"],
    );
    let after = root_of(
        elsewhere.path(),
        &["config", "--json", "--project", project],
    );
    assert_eq!(canon(Path::new(&before)), canon(repo.path()));
    assert_eq!(before, after);
}

#[test]
fn project_flag_must_name_an_initialized_project() {
    let repo = TempRepo::new();
    let elsewhere = tempfile::tempdir().unwrap();
    let project = repo.path().to_str().unwrap();
    for args in [
        vec!["--project", project, "config"],
        vec!["config", "--project", project],
    ] {
        let run = ov(elsewhere.path(), &args).fails();
        assert!(
            run.stderr.contains(
                "is not an overstory project (missing .overstory/config.yaml). Run 'ov init' first."
            ),
            "{}",
            run.stderr
        );
    }
    let run = ov(
        elsewhere.path(),
        &["--project", project, "config", "--json"],
    )
    .fails();
    assert_eq!(run.json()["code"], "CONFIG_ERROR");
}

#[test]
fn commands_in_an_agent_worktree_resolve_to_the_main_project() {
    let repo = initialized_repo();
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "overstory/x/t-1",
        ".overstory/worktrees/x",
    ]);
    let wt = repo.path().join(".overstory/worktrees/x");
    // config.yaml is committed, so the worktree has its own copy; the root is
    // still the main repository.
    assert!(wt.join(".overstory/config.yaml").is_file());
    let sub = wt.join("src/deep");
    std::fs::create_dir_all(&sub).unwrap();
    for cwd in [&wt, &sub] {
        let root = root_of(cwd, &["config", "--json"]);
        assert_eq!(canon(Path::new(&root)), canon(repo.path()), "from {cwd:?}");
    }
}

#[test]
fn a_worktree_outside_the_project_resolves_through_git() {
    let repo = initialized_repo();
    let outside = tempfile::tempdir().unwrap();
    let wt = outside.path().join("wt");
    repo.git(&["worktree", "add", "-q", "-b", "side", wt.to_str().unwrap()]);
    let root = root_of(&wt, &["config", "--json"]);
    assert_eq!(canon(Path::new(&root)), canon(repo.path()));
}

#[test]
fn commands_needing_a_project_say_run_ov_init() {
    let repo = TempRepo::new();
    let run = ov(repo.path(), &["config"]).fails();
    assert!(
        run.stderr.contains("Run 'ov init' first."),
        "{}",
        run.stderr
    );
}

#[test]
fn config_warnings_go_to_stderr_and_bad_values_name_the_line() {
    let repo = initialized_repo();
    let local = repo.path().join(".overstory/config.local.yaml");
    std::fs::write(&local, "sparkles: true\n").unwrap();
    let run = ov(repo.path(), &["config", "--json"]).ok();
    assert_eq!(run.json()["success"], true);
    assert!(
        run.stderr
            .contains("[overstory] WARNING: unknown config key \"sparkles\""),
        "{}",
        run.stderr
    );
    std::fs::write(&local, "# local\nagents:\n  maxConcurrent: none\n").unwrap();
    let run = ov(repo.path(), &["config"]).fails();
    assert!(
        run.stderr.contains("\"agents.maxConcurrent\""),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("config.local.yaml\" line 3"),
        "{}",
        run.stderr
    );
}
