//! `ov init`: layout, idempotence, refusals, JSON.

use crate::support::{TempRepo, ov};

#[test]
fn init_creates_the_layout_and_commits_the_scaffold() {
    let repo = TempRepo::new();
    let run = ov(repo.path(), &["init"]).ok();
    let name = repo.path().file_name().unwrap().to_str().unwrap();
    assert!(
        run.stdout.starts_with(&format!(
            "Initializing overstory for \"{name}\"...\n✓ Created .overstory/\n"
        )),
        "{}",
        run.stdout
    );
    for line in [
        "✓ Created .overstory/agents/",
        "✓ Created .overstory/agent-defs/",
        "✓ Created .overstory/worktrees/",
        "✓ Created .overstory/specs/",
        "✓ Created .overstory/logs/",
        "✓ Initialized",
    ] {
        assert!(
            run.stdout.contains(line),
            "missing {line:?}: {}",
            run.stdout
        );
    }
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    let ov_dir = repo.path().join(".overstory");
    for f in [
        "config.yaml",
        "agent-manifest.json",
        "hooks.json",
        ".gitignore",
        "README.md",
        "agent-defs/builder.md",
        "agent-defs/ov-co-creation.md",
    ] {
        assert!(ov_dir.join(f).is_file(), "{f}");
    }
    assert!(!ov_dir.join("agent-defs/supervisor.md").exists());
    let config = std::fs::read_to_string(ov_dir.join("config.yaml")).unwrap();
    assert!(config.contains("  claudeHeadlessByDefault: true\n"));
    assert_eq!(
        repo.git(&["log", "-1", "--format=%s"]),
        "chore: initialize overstory and ecosystem tools"
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

#[test]
fn second_init_warns_and_writes_nothing() {
    let repo = TempRepo::new();
    ov(repo.path(), &["init"]).ok();
    let def = repo.path().join(".overstory/agent-defs/scout.md");
    std::fs::write(&def, "mine\n").unwrap();
    let head = repo.git(&["rev-parse", "HEAD"]);
    let run = ov(repo.path(), &["init"]).ok();
    let lines: Vec<_> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(lines[0].contains("already initialized"));
    assert!(lines[1].contains("Use --force or --yes to reinitialize."));
    assert_eq!(std::fs::read_to_string(&def).unwrap(), "mine\n");
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), head);
}

#[test]
fn force_reinitializes_and_keeps_a_backup_of_config() {
    let repo = TempRepo::new();
    ov(repo.path(), &["init"]).ok();
    let cfg = repo.path().join(".overstory/config.yaml");
    std::fs::write(&cfg, "project:\n  name: edited\n").unwrap();
    let run = ov(repo.path(), &["init", "--force"]).ok();
    assert!(
        run.stdout
            .starts_with("Reinitializing .overstory/ (--force)\n")
    );
    assert!(run.stdout.contains("config.yaml.backup"), "{}", run.stdout);
    let backup = repo.path().join(".overstory/config.yaml.backup");
    assert_eq!(
        std::fs::read_to_string(backup).unwrap(),
        "project:\n  name: edited\n"
    );
    let run = ov(repo.path(), &["init", "-y"]).ok();
    assert!(
        run.stdout
            .starts_with("Reinitializing .overstory/ (--yes)\n")
    );
}

#[test]
fn init_refuses_outside_a_git_repository() {
    let dir = tempfile::tempdir().unwrap();
    let run = ov(dir.path(), &["init"]).fails();
    assert_eq!(
        run.stderr,
        "Error [VALIDATION_ERROR]: overstory requires a git repository. Run 'git init' first.\n"
    );
    assert_eq!(run.stdout, "");
    assert!(!dir.path().join(".overstory").exists());
}

#[test]
fn init_json_prints_only_the_envelope() {
    let repo = TempRepo::new();
    let run = ov(repo.path(), &["init", "--json"]).ok();
    let v = run.json();
    let name = repo.path().file_name().unwrap().to_str().unwrap();
    assert_eq!(v["success"], true);
    assert_eq!(v["command"], "init");
    assert_eq!(v["project"], name);
    assert_eq!(v["tools"]["overstory"]["status"], "initialized");
    assert_eq!(
        v["tools"]["overstory"]["path"],
        repo.path().join(".overstory").display().to_string()
    );
    assert_eq!(v["onboard"], serde_json::json!({}));
    assert_eq!(v["gitattributes"], true);
    assert_eq!(v["scaffoldCommitted"], true);
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "success",
            "command",
            "project",
            "tools",
            "onboard",
            "gitattributes",
            "scaffoldCommitted"
        ]
    );
}

#[test]
fn init_error_under_json_is_an_envelope_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let run = ov(dir.path(), &["init", "--json"]).fails();
    assert_eq!(run.stderr, "");
    assert_eq!(
        run.json(),
        serde_json::json!({
            "success": false,
            "command": "init",
            "error": "overstory requires a git repository. Run 'git init' first.",
            "code": "VALIDATION_ERROR",
        })
    );
}

#[test]
fn init_accepts_and_ignores_the_ecosystem_flags() {
    let repo = TempRepo::new();
    ov(
        repo.path(),
        &[
            "init",
            "--tools",
            "mulch,seeds",
            "--skip-mulch",
            "--skip-seeds",
            "--skip-canopy",
            "--skip-onboard",
            "--name",
            "demo",
        ],
    )
    .ok();
    assert!(!repo.path().join(".mulch").exists());
    let cfg = std::fs::read_to_string(repo.path().join(".overstory/config.yaml")).unwrap();
    assert!(cfg.contains("  name: demo\n"), "{cfg}");
}

/// Issue 11: `-q` prints nothing at all on success, progress lines included
/// (the original kept them; a quiet init in a script should be silent).
#[test]
fn quiet_init_prints_nothing() {
    let repo = TempRepo::new();
    let run = ov(repo.path(), &["-q", "init"]).ok();
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, "");
    assert!(repo.path().join(".overstory/config.yaml").is_file());
}

/// Issue 11: init in a subfolder of a project says so and writes nothing;
/// `--force` creates the separate project on purpose.
#[test]
fn init_inside_a_project_subfolder_refuses_and_names_the_project() {
    let repo = TempRepo::new();
    ov(repo.path(), &["init", "-q"]).ok();
    let sub = repo.path().join("src");
    std::fs::create_dir(&sub).unwrap();
    let run = ov(&sub, &["init"]).fails();
    let root = repo.path().canonicalize().unwrap();
    assert!(
        run.stderr.starts_with(&format!(
            "Error [CONFIG_ERROR]: \"{}\" is inside the overstory project at \"{}\"\n",
            sub.canonicalize().unwrap().display(),
            root.display()
        )),
        "{run:#?}"
    );
    assert!(run.stderr.contains("pass --force"), "{}", run.stderr);
    assert!(!sub.join(".overstory").exists());
    ov(&sub, &["init", "--force", "-q"]).ok();
    assert!(sub.join(".overstory/config.yaml").is_file());
}

/// Issue 11: a project of no known kind gets no quality gates (and is told
/// so), never the original's `bun test` defaults.
#[test]
fn init_in_a_plain_repo_writes_no_bun_gates_and_says_so() {
    let repo = TempRepo::new();
    let run = ov(repo.path(), &["init"]).ok();
    assert!(
        run.stdout
            .contains("! No Cargo, Go, Python, Bun or npm project found: no quality gates written"),
        "{}",
        run.stdout
    );
    let config = std::fs::read_to_string(repo.path().join(".overstory/config.yaml")).unwrap();
    assert!(!config.contains("bun"), "{config}");
}
