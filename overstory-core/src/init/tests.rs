//! `init` against real git repositories in temp directories.

use super::*;

struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    /// A repository on `main` with one commit, or none when `commit` is false.
    fn new(commit: bool) -> Self {
        let dir = tempfile::Builder::new().prefix("init-").tempdir().unwrap();
        let r = Self { dir };
        r.git(&["init", "-q", "-b", "main"]);
        r.git(&["config", "user.email", "t@example.invalid"]);
        r.git(&["config", "user.name", "T"]);
        r.git(&["config", "commit.gpgsign", "false"]);
        if commit {
            std::fs::write(r.path().join("README.md"), "hi\n").unwrap();
            r.git(&["add", "README.md"]);
            r.git(&["commit", "-q", "-m", "initial"]);
        }
        r
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn git(&self, args: &[&str]) -> String {
        let out = process::foreground_command("git")
            .args(args)
            .current_dir(self.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap()
    }

    fn init(&self, force: Option<&'static str>) -> InitOutcome {
        init(self.path(), &InitOptions::new(None, force)).unwrap()
    }
}

fn report(outcome: InitOutcome) -> InitReport {
    match outcome {
        InitOutcome::Initialized(r) => *r,
        other => panic!("not initialised: {other:?}"),
    }
}

#[test]
fn fresh_repo_gets_the_full_layout_and_a_clean_config() {
    let repo = Repo::new(true);
    let r = report(repo.init(None));
    for d in ["agents", "agent-defs", "worktrees", "specs", "logs"] {
        assert!(repo.path().join(".overstory").join(d).is_dir(), "{d}");
    }
    let mut defs: Vec<_> = std::fs::read_dir(repo.path().join(".overstory/agent-defs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    defs.sort();
    assert_eq!(
        defs,
        [
            "builder.md",
            "coordinator.md",
            "lead.md",
            "merger.md",
            "monitor.md",
            "orchestrator.md",
            "ov-co-creation.md",
            "reviewer.md",
            "scout.md"
        ]
    );
    assert_eq!(repo.read(".overstory/.gitignore"), files::GITIGNORE);
    assert_eq!(repo.read(".overstory/README.md"), files::README);
    let manifest: serde_json::Value =
        serde_json::from_str(&repo.read(".overstory/agent-manifest.json")).unwrap();
    assert_eq!(manifest, files::manifest());
    assert!(
        repo.read(".overstory/hooks.json")
            .starts_with("{\n\t\"hooks\"")
    );

    let loaded = Config::load(repo.path()).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert!(loaded.config.claude_headless_by_default());
    assert_eq!(loaded.config.project.canonical_branch, "main");
    assert_eq!(loaded.config.project.name, r.project);
    assert_eq!(r.reinitialized, None);
    assert!(r.gitattributes);
    assert!(r.scaffold_committed, "{:?}", r.warnings);
    assert_eq!(
        repo.git(&["log", "-1", "--format=%s"]),
        SCAFFOLD_COMMIT_MESSAGE
    );
    let committed = repo.git(&["show", "--name-only", "--format=", "HEAD"]);
    assert!(committed.contains(".overstory/config.yaml"));
    assert!(committed.contains(".gitattributes"));
    assert!(repo.git(&["status", "--porcelain"]).is_empty());
}

#[test]
fn rerun_without_force_writes_nothing() {
    let repo = Repo::new(true);
    repo.init(None);
    let def = repo.path().join(".overstory/agent-defs/builder.md");
    std::fs::write(&def, "custom\n").unwrap();
    let head = repo.git(&["rev-parse", "HEAD"]);
    let outcome = repo.init(None);
    assert!(matches!(outcome, InitOutcome::AlreadyInitialized { .. }));
    assert_eq!(repo.read(".overstory/agent-defs/builder.md"), "custom\n");
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), head);
}

#[test]
fn force_rewrites_managed_files_and_backs_up_an_edited_config() {
    let repo = Repo::new(true);
    repo.init(None);
    let cfg = repo.path().join(".overstory/config.yaml");
    let edited = format!("{}# my edit\n", repo.read(".overstory/config.yaml"));
    std::fs::write(&cfg, &edited).unwrap();
    std::fs::write(repo.path().join(".overstory/agent-defs/scout.md"), "x").unwrap();
    let r = report(repo.init(Some("--force")));
    assert_eq!(r.reinitialized, Some("--force"));
    assert_eq!(
        r.config_backup.as_deref(),
        Some(repo.path().join(".overstory/config.yaml.backup").as_path())
    );
    assert_eq!(repo.read(".overstory/config.yaml.backup"), edited);
    assert!(!repo.read(".overstory/config.yaml").contains("# my edit"));
    assert!(
        repo.read(".overstory/agent-defs/scout.md")
            .starts_with("# Scout")
    );
    // An unchanged config is not backed up again.
    std::fs::remove_file(repo.path().join(".overstory/config.yaml.backup")).unwrap();
    let r = report(repo.init(Some("--yes")));
    assert_eq!(r.config_backup, None);
}

#[test]
fn refuses_outside_a_git_repository() {
    let dir = tempfile::tempdir().unwrap();
    let err = init(dir.path(), &InitOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "overstory requires a git repository. Run 'git init' first."
    );
    assert_eq!(err.code(), "VALIDATION_ERROR");
    assert!(!dir.path().join(".overstory").exists());
}

#[test]
fn scaffold_commit_leaves_the_users_staged_work_alone() {
    let repo = Repo::new(true);
    std::fs::write(repo.path().join("wip.txt"), "draft\n").unwrap();
    repo.git(&["add", "wip.txt"]);
    let r = report(repo.init(None));
    assert!(r.scaffold_committed);
    let committed = repo.git(&["show", "--name-only", "--format=", "HEAD"]);
    assert!(!committed.contains("wip.txt"), "{committed}");
    assert_eq!(repo.git(&["diff", "--cached", "--name-only"]), "wip.txt");
}

#[test]
fn works_in_a_repository_without_commits() {
    let repo = Repo::new(false);
    let r = report(repo.init(None));
    assert!(r.scaffold_committed, "{:?}", r.warnings);
    assert_eq!(repo.git(&["rev-list", "--count", "HEAD"]), "1");
}

#[test]
fn canonical_branch_keeps_its_full_name() {
    let repo = Repo::new(true);
    repo.git(&["checkout", "-q", "-b", "release/x"]);
    let r = report(repo.init(None));
    assert_eq!(r.canonical_branch, "release/x");
    let c = Config::load(repo.path()).unwrap().config;
    assert_eq!(c.project.canonical_branch, "release/x");

    let repo = Repo::new(true);
    repo.git(&["update-ref", "refs/remotes/origin/release/y", "HEAD"]);
    repo.git(&[
        "symbolic-ref",
        "refs/remotes/origin/HEAD",
        "refs/remotes/origin/release/y",
    ]);
    assert_eq!(report(repo.init(None)).canonical_branch, "release/y");
}

#[test]
fn project_name_comes_from_flag_then_remote_then_directory() {
    let repo = Repo::new(true);
    repo.git(&[
        "remote",
        "add",
        "origin",
        "git@example.invalid:acme/widget.git",
    ]);
    assert_eq!(report(repo.init(None)).project, "widget");
    let r = report(
        init(
            repo.path(),
            &InitOptions::new(Some("  named  ".into()), Some("--force")),
        )
        .unwrap(),
    );
    assert_eq!(r.project, "named");
    let err = init(
        repo.path(),
        &InitOptions::new(Some("  ".into()), Some("--force")),
    )
    .unwrap_err();
    assert_eq!(err.code(), "VALIDATION_ERROR");
}

#[test]
fn gitattributes_lines_are_added_once_and_content_kept() {
    let repo = Repo::new(true);
    std::fs::write(
        repo.path().join(".gitattributes"),
        "*.png binary\n.seeds/issues.jsonl merge=union",
    )
    .unwrap();
    assert!(report(repo.init(None)).gitattributes);
    assert_eq!(
        repo.read(".gitattributes"),
        "*.png binary\n.seeds/issues.jsonl merge=union\n.mulch/expertise/*.jsonl merge=union\n"
    );
    assert!(!report(repo.init(Some("--force"))).gitattributes);
}

/// Initialises a fresh repository holding `files` and returns the kind
/// detected and the gate commands written to `config.yaml`.
fn gates_for(files: &[(&str, &str)]) -> (Option<&'static str>, Vec<String>) {
    let repo = Repo::new(true);
    for (name, text) in files {
        std::fs::write(repo.path().join(name), text).unwrap();
    }
    let r = report(repo.init(None));
    let c = Config::load(repo.path()).unwrap().config;
    let commands = c
        .project
        .quality_gates
        .iter()
        .map(|g| g.command.clone())
        .collect();
    (r.project_kind, commands)
}

#[test]
fn a_rust_project_gets_cargo_gates() {
    let (kind, gates) = gates_for(&[("Cargo.toml", "[package]\n")]);
    assert_eq!(kind, Some("Rust"));
    assert_eq!(
        gates,
        [
            "cargo test",
            "cargo clippy --all-targets -- -D warnings",
            "cargo fmt --check"
        ]
    );
}

#[test]
fn a_go_project_gets_go_test_and_vet() {
    let (kind, gates) = gates_for(&[("go.mod", "module x\n")]);
    assert_eq!(kind, Some("Go"));
    assert_eq!(gates, ["go test ./...", "go vet ./..."]);
}

#[test]
fn a_python_project_gets_pytest() {
    for file in ["pyproject.toml", "setup.py"] {
        let (kind, gates) = gates_for(&[(file, "\n")]);
        assert_eq!(kind, Some("Python"), "{file}");
        assert_eq!(gates, ["python -m pytest"], "{file}");
    }
}

#[test]
fn an_npm_project_gets_npm_test_and_only_the_scripts_it_has() {
    let (kind, gates) = gates_for(&[("package.json", r#"{"scripts":{"test":"jest"}}"#)]);
    assert_eq!(kind, Some("Node"));
    assert_eq!(gates, ["npm test"]);
    let (_, gates) = gates_for(&[(
        "package.json",
        r#"{"scripts":{"test":"jest","lint":"eslint .","typecheck":"tsc"}}"#,
    )]);
    assert_eq!(gates, ["npm test", "npm run lint", "npm run typecheck"]);
}

#[test]
fn a_bun_project_gets_bun_gates() {
    let (kind, gates) = gates_for(&[
        ("package.json", r#"{"scripts":{"lint":"eslint ."}}"#),
        ("bun.lock", "{}\n"),
    ]);
    assert_eq!(kind, Some("Bun"));
    assert_eq!(gates, ["bun test", "bun run lint"]);
    let (kind, _) = gates_for(&[("package.json", "{}"), ("bun.lockb", "")]);
    assert_eq!(kind, Some("Bun"));
}

#[test]
fn an_unrecognised_project_gets_no_gates_not_the_bun_defaults() {
    let (kind, gates) = gates_for(&[]);
    assert_eq!(kind, None);
    assert!(gates.is_empty(), "{gates:?}");
}

#[test]
fn init_in_a_subfolder_of_a_project_refuses_unless_forced() {
    let repo = Repo::new(true);
    repo.init(None);
    let sub = repo.path().join("src/deep");
    std::fs::create_dir_all(&sub).unwrap();
    let err = init(&sub, &InitOptions::default()).unwrap_err();
    match &err {
        InitError::InsideProject { root, .. } => {
            assert_eq!(root, &repo.path().canonicalize().unwrap());
        }
        other => panic!("expected InsideProject, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("is inside the overstory project at")
    );
    assert!(!sub.join(".overstory").exists(), "nothing written");
    // --force makes a separate project there on purpose.
    report(init(&sub, &InitOptions::new(None, Some("--force"))).unwrap());
    assert!(sub.join(".overstory/config.yaml").is_file());
}

#[test]
fn a_nested_repository_is_not_inside_the_outer_project() {
    let outer = Repo::new(true);
    outer.init(None);
    let inner = outer.path().join("vendor/lib");
    std::fs::create_dir_all(&inner).unwrap();
    let out = process::foreground_command("git")
        .args(["init", "-q", "-b", "main"])
        .current_dir(&inner)
        .output()
        .unwrap();
    assert!(out.status.success());
    report(init(&inner, &InitOptions::default()).unwrap());
}
