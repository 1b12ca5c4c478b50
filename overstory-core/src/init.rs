//! `ov init`: setting up `.overstory/` in a git repository.
//!
//! [`init`] creates the layout (`agents/`, `agent-defs/`, `worktrees/`,
//! `specs/`, `logs/`), writes `config.yaml`, `agent-manifest.json`,
//! `hooks.json`, `.gitignore`, `README.md` and the nine agent definitions,
//! makes sure `.gitattributes` merges the append-only tracker files by union,
//! and commits the scaffold — only the scaffold's own paths, never whatever the
//! user had staged. A re-run without `force` changes nothing; with `force` it
//! rewrites the managed files and keeps the previous `config.yaml` as
//! `config.yaml.backup` when it differed.
//!
//! The mulch/seeds/canopy bootstrap of the original is out of scope.
//!
//! ```
//! use overstory_core::init::{InitOptions, InitOutcome, init};
//!
//! let dir = tempfile::tempdir()?;
//! let git = |args: &[&str]| {
//!     overstory_core::process::foreground_command("git")
//!         .args(args)
//!         .current_dir(dir.path())
//!         .output()
//! };
//! git(&["init", "-q", "-b", "main"])?;
//! let outcome = init(dir.path(), &InitOptions::default())?;
//! let InitOutcome::Initialized(report) = outcome else { panic!("fresh repo") };
//! assert!(dir.path().join(".overstory/agent-defs/builder.md").is_file());
//! assert_eq!(report.canonical_branch, "main");
//!
//! // A second run without `force` leaves everything alone.
//! let again = init(dir.path(), &InitOptions::default())?;
//! assert!(matches!(again, InitOutcome::AlreadyInitialized { .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

use crate::config::{Config, QualityGate};
use crate::error::{FsError, GitError, ValidationError};
use crate::git::Git;
use crate::layout::{Layout, STATE_DIR};
use crate::process;

pub mod files;

/// The lines `.gitattributes` must hold so concurrent agents' appends to the
/// tracker files merge instead of conflicting.
pub const GITATTRIBUTES_LINES: [&str; 2] = [
    ".mulch/expertise/*.jsonl merge=union",
    ".seeds/issues.jsonl merge=union",
];

/// The message of the scaffold commit.
pub const SCAFFOLD_COMMIT_MESSAGE: &str = "chore: initialize overstory and ecosystem tools";

/// Runtimes probed with `which`, in order, as (binary, runtime name).
const RUNTIME_PROBES: [(&str, &str); 6] = [
    ("claude", "claude"),
    ("copilot", "copilot"),
    ("gemini", "gemini"),
    ("opencode", "opencode"),
    ("sp", "sapling"),
    ("pi", "pi"),
];

/// Choices for one [`init`] call.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct InitOptions {
    /// The project name; default: the `origin` remote's repository name, else
    /// the directory's name.
    pub name: Option<String>,
    /// Reinitialise an existing project (`--force` or `--yes`): the flag name,
    /// for the report.
    pub force: Option<&'static str>,
}

impl InitOptions {
    /// Builds options with a project name and a reinitialise flag.
    pub fn new(name: Option<String>, force: Option<&'static str>) -> Self {
        Self { name, force }
    }
}

/// What [`init`] did.
#[derive(Debug, Clone)]
pub enum InitOutcome {
    /// `.overstory/config.yaml` already existed and `force` was not given;
    /// nothing was written.
    AlreadyInitialized {
        /// The root of the already initialised project.
        root: PathBuf,
    },
    /// The project was (re)initialised.
    Initialized(Box<InitReport>),
}

/// The facts of a successful [`init`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InitReport {
    /// The project name written to `config.yaml`.
    pub project: String,
    /// The directory that now holds `.overstory/`.
    pub root: PathBuf,
    /// The canonical branch written to `config.yaml` (full name kept).
    pub canonical_branch: String,
    /// The default runtime detected on `PATH`.
    pub runtime: String,
    /// The kind of project detected from its files (`Rust`, `Go`, `Python`,
    /// `Bun`, `Node`), whose quality gates were written; `None` when no kind
    /// was recognised and no gates were written.
    pub project_kind: Option<&'static str>,
    /// `Some(flag)` when an existing project was reinitialised.
    pub reinitialized: Option<&'static str>,
    /// The directories of the layout, in creation order.
    pub dirs: Vec<PathBuf>,
    /// Every file written, in order.
    pub files: Vec<PathBuf>,
    /// Where the previous `config.yaml` was saved, when it was replaced.
    pub config_backup: Option<PathBuf>,
    /// Whether `.gitattributes` was created or extended.
    pub gitattributes: bool,
    /// Whether the scaffold commit was made.
    pub scaffold_committed: bool,
    /// Problems that did not stop init (a failed `git add` or commit).
    pub warnings: Vec<String>,
}

/// Why [`init`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// The directory is not inside a git work tree, or git failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// A directory or file could not be created.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The `--name` value is unusable.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// `dir` lies inside an initialised project of the same git repository;
    /// a second `.overstory/` there would split the fleet in two.
    #[error(
        "\"{}\" is inside the overstory project at \"{}\"",
        dir.display(),
        root.display()
    )]
    InsideProject {
        /// The directory init was run in.
        dir: PathBuf,
        /// The enclosing project's root.
        root: PathBuf,
    },
}

impl InitError {
    /// Returns the error code of the underlying error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Git(e) => e.code(),
            Self::Fs(e) => e.code(),
            Self::Validation(e) => e.code(),
            Self::InsideProject { .. } => "CONFIG_ERROR",
        }
    }
}

/// Initialises overstory in `dir` (the current directory of `ov init`).
///
/// # Errors
/// [`InitError::Git`] with [`GitError::NotARepository`] ("overstory requires a
/// git repository. Run 'git init' first.") outside a git work tree;
/// [`InitError::Validation`] for an empty `name`; [`InitError::InsideProject`]
/// when `dir` is a subfolder of a project of the same repository (unless
/// `force`); [`InitError::Fs`] when a
/// directory or file cannot be written. Failures of the scaffold commit are
/// only warnings in the report.
pub fn init(dir: &Path, options: &InitOptions) -> Result<InitOutcome, InitError> {
    let git = Git::new(dir);
    if !git.is_inside_work_tree() {
        return Err(GitError::NotARepository {
            dir: dir.to_path_buf(),
        }
        .into());
    }
    let layout = Layout::new(dir);
    if layout.is_initialized() && options.force.is_none() {
        return Ok(InitOutcome::AlreadyInitialized {
            root: dir.to_path_buf(),
        });
    }
    if options.force.is_none()
        && let Some(root) = enclosing_project(&git, dir)
    {
        return Err(InitError::InsideProject {
            dir: dir.to_path_buf(),
            root,
        });
    }

    let project = project_name(&git, dir, options.name.as_deref())?;
    let canonical_branch = git
        .origin_head_branch()
        .or_else(|| git.current_branch())
        .unwrap_or_else(|| "main".to_owned());
    let runtime = detect_runtime();
    let detected = detect_quality_gates(dir);

    let mut report = InitReport {
        project: project.clone(),
        root: dir.to_path_buf(),
        canonical_branch: canonical_branch.clone(),
        runtime: runtime.clone(),
        project_kind: detected.0,
        reinitialized: if layout.is_initialized() {
            options.force
        } else {
            None
        },
        dirs: Vec::new(),
        files: Vec::new(),
        config_backup: None,
        gitattributes: false,
        scaffold_committed: false,
        warnings: Vec::new(),
    };

    for d in layout.init_dirs() {
        std::fs::create_dir_all(&d).map_err(|e| FsError::new("create directory", &d, e))?;
        report.dirs.push(d);
    }

    for (file, text) in files::agent_defs() {
        let path = layout.agent_defs_dir().join(file);
        write_file(&path, &text)?;
        report.files.push(path);
    }

    let mut config = Config::defaults_for(dir);
    config.project.name = project;
    config.project.canonical_branch = canonical_branch;
    config.runtime.default = runtime;
    config.runtime.claude_headless_by_default = Some(true);
    config.project.quality_gates = detected.1;
    let config_text = config.to_yaml();
    report.config_backup = back_up_config(&layout, &config_text)?;
    write_file(&layout.config(), &config_text)?;
    report.files.push(layout.config());

    let managed = [
        (
            layout.manifest(),
            crate::json::to_tab_string(&files::manifest()),
        ),
        (layout.hooks(), crate::json::to_tab_string(&files::hooks())),
        (layout.gitignore(), files::GITIGNORE.to_owned()),
        (layout.readme(), files::README.to_owned()),
    ];
    for (path, text) in managed {
        write_file(&path, &text)?;
        report.files.push(path);
    }

    report.gitattributes = ensure_gitattributes(dir)?;
    match commit_scaffold(&git, dir) {
        Ok(committed) => report.scaffold_committed = committed,
        Err(e) => report
            .warnings
            .push(format!("Scaffold commit skipped: {e}")),
    }
    Ok(InitOutcome::Initialized(Box::new(report)))
}

/// Returns the nearest ancestor of `dir` (not `dir` itself) that is an
/// initialised project of the same git work tree. A directory that is its
/// own repository (a submodule, a nested clone) has no enclosing project.
fn enclosing_project(git: &Git, dir: &Path) -> Option<PathBuf> {
    let top = git.toplevel().ok()?;
    let top = top.canonicalize().unwrap_or(top);
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    dir.ancestors()
        .skip(1)
        .take_while(|d| d.starts_with(&top))
        .find(|d| Layout::new(d).is_initialized())
        .map(Path::to_path_buf)
}

/// `--name`, else the `origin` remote's last path segment without `.git`,
/// else the directory's name.
fn project_name(git: &Git, dir: &Path, name: Option<&str>) -> Result<String, ValidationError> {
    if let Some(name) = name {
        let trimmed = name.trim();
        if trimmed.is_empty() {
            return Err(ValidationError::other(
                Some("name".to_owned()),
                "--name must not be empty",
            ));
        }
        return Ok(trimmed.to_owned());
    }
    let from_remote = git.origin_url().and_then(|url| {
        let last = url
            .trim_end_matches('/')
            .rsplit(['/', ':'])
            .next()?
            .to_owned();
        let last = last.strip_suffix(".git").unwrap_or(&last).to_owned();
        (!last.is_empty()).then_some(last)
    });
    Ok(from_remote.unwrap_or_else(|| {
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "project".to_owned())
    }))
}

/// Picks quality gates that fit the project's language from the files at
/// its root, so a Rust or Go project is never told to run `bun test`:
///
/// | found | kind | gates |
/// |---|---|---|
/// | `Cargo.toml` | Rust | `cargo test`, `cargo clippy --all-targets -- -D warnings`, `cargo fmt --check` |
/// | `go.mod` | Go | `go test ./...`, `go vet ./...` |
/// | `pyproject.toml` or `setup.py` | Python | `python -m pytest` |
/// | `bun.lockb` or `bun.lock` | Bun | `bun test`, plus `bun run lint` / `bun run typecheck` when `package.json` has those scripts |
/// | `package.json` | Node | `npm test`, plus `npm run lint` / `npm run typecheck` when those scripts exist |
/// | anything else | — | none |
///
/// The first row that matches wins.
fn detect_quality_gates(dir: &Path) -> (Option<&'static str>, Vec<QualityGate>) {
    let has = |f: &str| dir.join(f).is_file();
    let gates = |list: &[(&str, &str, &str)]| -> Vec<QualityGate> {
        list.iter()
            .map(|(n, c, d)| QualityGate::new(n, c, d))
            .collect()
    };
    if has("Cargo.toml") {
        return (
            Some("Rust"),
            gates(&[
                ("Tests", "cargo test", "all tests must pass"),
                (
                    "Lint",
                    "cargo clippy --all-targets -- -D warnings",
                    "zero warnings",
                ),
                ("Format", "cargo fmt --check", "no formatting changes"),
            ]),
        );
    }
    if has("go.mod") {
        return (
            Some("Go"),
            gates(&[
                ("Tests", "go test ./...", "all tests must pass"),
                ("Vet", "go vet ./...", "no vet findings"),
            ]),
        );
    }
    if has("pyproject.toml") || has("setup.py") {
        return (
            Some("Python"),
            gates(&[("Tests", "python -m pytest", "all tests must pass")]),
        );
    }
    let (kind, runner) = if has("bun.lockb") || has("bun.lock") {
        ("Bun", "bun")
    } else if has("package.json") {
        ("Node", "npm")
    } else {
        return (None, Vec::new());
    };
    let scripts = package_scripts(&dir.join("package.json"));
    let mut list = vec![QualityGate::new(
        "Tests",
        &format!("{runner} test"),
        "all tests must pass",
    )];
    for (script, name, description) in [
        ("lint", "Lint", "zero errors"),
        ("typecheck", "Typecheck", "no type errors"),
    ] {
        if scripts.iter().any(|s| s == script) {
            list.push(QualityGate::new(
                name,
                &format!("{runner} run {script}"),
                description,
            ));
        }
    }
    (Some(kind), list)
}

/// Returns the names of the `scripts` in a `package.json` (none when the file
/// is missing or is not JSON).
fn package_scripts(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| {
            v.get("scripts")
                .and_then(serde_json::Value::as_object)
                .map(|m| m.keys().cloned().collect())
        })
        .unwrap_or_default()
}

fn detect_runtime() -> String {
    RUNTIME_PROBES
        .iter()
        .find(|(bin, _)| process::which(bin).is_some())
        .map_or("claude", |(_, name)| name)
        .to_owned()
}

/// Saves the existing `config.yaml` as `config.yaml.backup` when it differs
/// from what is about to be written.
fn back_up_config(layout: &Layout, new_text: &str) -> Result<Option<PathBuf>, FsError> {
    let path = layout.config();
    let old = match std::fs::read_to_string(&path) {
        Ok(old) => old,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(FsError::new("read", &path, e)),
    };
    if old == new_text {
        return Ok(None);
    }
    let backup = layout.config_backup();
    write_file(&backup, &old)?;
    Ok(Some(backup))
}

/// Appends the missing [`GITATTRIBUTES_LINES`]; returns whether the file changed.
fn ensure_gitattributes(dir: &Path) -> Result<bool, FsError> {
    let path = dir.join(".gitattributes");
    let existing = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(FsError::new("read", &path, e)),
    };
    let missing: Vec<&str> = GITATTRIBUTES_LINES
        .into_iter()
        .filter(|l| !existing.contains(l))
        .collect();
    if missing.is_empty() {
        return Ok(false);
    }
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    for line in missing {
        text.push_str(line);
        text.push('\n');
    }
    write_file(&path, &text)?;
    Ok(true)
}

/// Stages and commits only the scaffold paths. Returns whether a commit was
/// made (nothing to commit is not an error).
fn commit_scaffold(git: &Git, dir: &Path) -> Result<bool, GitError> {
    let mut paths = vec![STATE_DIR.to_owned()];
    for extra in [".gitattributes", "CLAUDE.md", ".mulch", ".seeds", ".canopy"] {
        if dir.join(extra).exists() {
            paths.push(extra.to_owned());
        }
    }
    let with_paths = |head: &[&str]| -> Vec<String> {
        head.iter()
            .map(|s| (*s).to_owned())
            .chain(std::iter::once("--".to_owned()))
            .chain(paths.iter().cloned())
            .collect()
    };
    let run = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        git.run(&refs)
    };
    run(with_paths(&["add"]))?;
    let has_head = git.succeeds(&["rev-parse", "--verify", "--quiet", "HEAD"])?;
    let staged = if has_head {
        let args = with_paths(&["diff", "--cached", "--quiet"]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        !git.succeeds(&refs)?
    } else {
        true
    };
    if !staged {
        return Ok(false);
    }
    // `commit -- <paths>` commits only these paths; anything else the user
    // had staged stays staged and uncommitted.
    run(with_paths(&["commit", "-q", "-m", SCAFFOLD_COMMIT_MESSAGE]))?;
    Ok(true)
}

/// Writes `text` to `path` atomically (see [`crate::fsio::write_atomic`]).
fn write_file(path: &Path, text: &str) -> Result<(), FsError> {
    crate::fsio::write_atomic(path, text)
}

#[cfg(test)]
mod tests;
