//! `ov doctor` as a function: every check of a project's health, in the
//! original's thirteen categories, and the safe repairs of `--fix`.
//!
//! [`run`] probes the project (read-only), one module per [`Category`];
//! checks about a part another crate owns come from that crate's own
//! `doctor` module (`overstory_mail::doctor`, `overstory_sessions::doctor`,
//! [`overstory_core::doctor`]). With [`DoctorOptions::fix`] it then applies
//! the [`Fix`](overstory_core::doctor::Fix)es of every check that did not
//! pass — file-level repairs only: missing directories, stale pid files,
//! missing `.gitignore` entries, leftover temp files, database migrations,
//! stale merge-queue rows, the temporary worktrees of a killed `ov merge`
//! (only while no merge runs) — and probes again, marking `fixed` on the checks
//! whose finding changed.
//!
//! A config that does not load is a failed `config` check, not an abort:
//! the other categories run with the default settings.
//!
//! ```
//! use overstory_core::{Layout, git::Git, init::{InitOptions, init}};
//! use overstory_core::doctor::CheckStatus;
//! use overstory_fleet::doctor::{self, Category, DoctorOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let git = Git::new(dir.path());
//! git.run(&["init", "-q", "-b", "main"])?;
//! git.run(&["-c", "user.email=a@b.c", "-c", "user.name=A", "commit", "-q", "--allow-empty", "-m", "init"])?;
//! init(dir.path(), &InitOptions::default())?;
//! let layout = Layout::new(dir.path());
//!
//! std::fs::write(layout.mail_db(), b"not a database, only garbage bytes here")?;
//! let mut opts = DoctorOptions::default();
//! opts.category = Some(Category::Databases);
//! let report = doctor::run(&layout, &opts);
//! assert!(report.has_failures());
//! let bad = report.checks.iter().find(|c| c.status == CheckStatus::Fail).unwrap();
//! assert!(bad.message.contains("mail.db"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::str::FromStr;

use overstory_core::doctor::{Check, CheckStatus, Finding};
use overstory_core::{Config, ConfigError, ConfigWarning, Layout};
use serde::Serialize;

use crate::error::FleetError;

mod agents;
mod config;
mod consistency;
mod databases;
mod dependencies;
mod ecosystem;
mod logs;
mod merge;
mod providers;
mod serve;
mod structure;
mod version;
mod watchdog;

/// One of the original's thirteen check categories, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// Tools overstory runs: git, tmux, the runtime, the tracker, mulch.
    Dependencies,
    /// `.overstory/`: required files, directories, `.gitignore`, leftovers.
    Structure,
    /// `config.yaml` loads and makes sense.
    Config,
    /// `mail.db`, `sessions.db`, `events.db`, `metrics.db`.
    Databases,
    /// Sessions against worktrees, processes, tmux and pid files.
    Consistency,
    /// The agent manifest, definitions and identities.
    Agents,
    /// `merge-queue.db`.
    Merge,
    /// `.overstory/logs/`.
    Logs,
    /// This build's version.
    Version,
    /// The os-eco tools (`ml`, `sd`, `cn`).
    Ecosystem,
    /// Model providers and gateways.
    Providers,
    /// The watchdog daemon and tier-1/tier-2 settings.
    Watchdog,
    /// `ov serve`.
    Serve,
}

impl Category {
    /// Every category, in run order.
    pub const ALL: [Category; 13] = [
        Category::Dependencies,
        Category::Structure,
        Category::Config,
        Category::Databases,
        Category::Consistency,
        Category::Agents,
        Category::Merge,
        Category::Logs,
        Category::Version,
        Category::Ecosystem,
        Category::Providers,
        Category::Watchdog,
        Category::Serve,
    ];

    /// The name on the command line and in `--json` (`dependencies`).
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Dependencies => "dependencies",
            Category::Structure => "structure",
            Category::Config => "config",
            Category::Databases => "databases",
            Category::Consistency => "consistency",
            Category::Agents => "agents",
            Category::Merge => "merge",
            Category::Logs => "logs",
            Category::Version => "version",
            Category::Ecosystem => "ecosystem",
            Category::Providers => "providers",
            Category::Watchdog => "watchdog",
            Category::Serve => "serve",
        }
    }

    /// Every category name, in run order.
    pub fn names() -> [&'static str; 13] {
        Category::ALL.map(Category::as_str)
    }
}

impl FromStr for Category {
    type Err = FleetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                FleetError::invalid(
                    "category",
                    format!(
                        "Unknown category \"{s}\". Valid categories: {}",
                        Category::names().join(", ")
                    ),
                )
            })
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Choices of [`run`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DoctorOptions {
    /// Only this category (`None`: all of them).
    pub category: Option<Category>,
    /// Apply the safe repairs, then check again.
    pub fix: bool,
    /// The running `ov`: with `fix`, the reconciler starts dispatchers for
    /// agents whose mail is stranded with it (`None`: that repair is only
    /// reported).
    pub ov_program: Option<std::path::PathBuf>,
}

/// How many checks ended each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Checks that passed.
    pub pass: usize,
    /// Checks that warn.
    pub warn: usize,
    /// Checks that failed.
    pub fail: usize,
}

/// What [`run`] found; the `doctor` JSON data.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    /// Every check, by category in run order.
    pub checks: Vec<Check>,
    /// The counts.
    pub summary: Summary,
    /// What `--fix` did, in words (absent when nothing was fixed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fixed: Vec<String>,
}

impl DoctorReport {
    fn new(checks: Vec<Check>, fixed: Vec<String>) -> Self {
        let mut summary = Summary::default();
        for c in &checks {
            match c.status {
                CheckStatus::Pass => summary.pass += 1,
                CheckStatus::Warn => summary.warn += 1,
                CheckStatus::Fail => summary.fail += 1,
            }
        }
        Self {
            checks,
            summary,
            fixed,
        }
    }

    /// Returns whether any check failed (`ov doctor` then exits 1).
    pub fn has_failures(&self) -> bool {
        self.summary.fail > 0
    }
}

/// What every category module reads: the project and its settings.
pub(crate) struct Probe<'a> {
    layout: &'a Layout,
    /// The loaded config, or the defaults when it does not load.
    config: Config,
    /// How loading went: its warnings, or the error.
    loaded: Result<Vec<ConfigWarning>, ConfigError>,
}

impl<'a> Probe<'a> {
    fn new(layout: &'a Layout) -> Self {
        match Config::load(layout.root()) {
            Ok(l) => Self {
                layout,
                config: l.config,
                loaded: Ok(l.warnings),
            },
            Err(e) => Self {
                layout,
                config: Config::defaults_for(layout.root()),
                loaded: Err(e),
            },
        }
    }

    fn findings(&self, category: Category) -> Vec<Finding> {
        match category {
            Category::Dependencies => dependencies::findings(self),
            Category::Structure => structure::findings(self),
            Category::Config => config::findings(self),
            Category::Databases => databases::findings(self),
            Category::Consistency => consistency::findings(self),
            Category::Agents => agents::findings(self),
            Category::Merge => merge::findings(self),
            Category::Logs => logs::findings(self),
            Category::Version => version::findings(self),
            Category::Ecosystem => ecosystem::findings(self),
            Category::Providers => providers::findings(self),
            Category::Watchdog => watchdog::findings(self),
            Category::Serve => serve::findings(self),
        }
    }
}

fn collect(probe: &Probe<'_>, categories: &[Category]) -> Vec<Finding> {
    categories.iter().flat_map(|c| probe.findings(*c)).collect()
}

/// Checks the project; with [`DoctorOptions::fix`], repairs what it safely
/// can and checks again. Never fails: whatever cannot be read is a check.
pub fn run(layout: &Layout, opts: &DoctorOptions) -> DoctorReport {
    let categories: Vec<Category> = opts
        .category
        .map_or_else(|| Category::ALL.to_vec(), |c| vec![c]);
    // One load of the config serves the checks and the repairs; the checks
    // after a fix load it again (a fix may have rewritten it).
    let probe = Probe::new(layout);
    let first = collect(&probe, &categories);
    if !opts.fix {
        let mut checks: Vec<Check> = first.into_iter().map(|f| f.check).collect();
        if categories.contains(&Category::Consistency) {
            checks.extend(fleet_repair(layout, &probe.config, opts));
        }
        return DoctorReport::new(checks, Vec::new());
    }
    let mut fixed = Vec::new();
    let mut repaired: Vec<Check> = Vec::new();
    let mut failed_fixes = Vec::new();
    for f in first
        .iter()
        .filter(|f| f.check.status != CheckStatus::Pass && !f.fixes.is_empty())
    {
        let mut all_applied = true;
        for fix in &f.fixes {
            // Two checks may share a fix (a database's schema and journal).
            if fixed.contains(&fix.describe()) {
                continue;
            }
            match fix.apply() {
                Ok(()) => fixed.push(fix.describe()),
                Err(e) => {
                    all_applied = false;
                    failed_fixes.push(Check::fail(
                        &f.check.category,
                        &format!("{} (fix)", f.check.name),
                        format!(
                            "Could not {}: {}; repair it by hand",
                            fix.describe(),
                            overstory_core::error::chain_text(&e)
                        ),
                    ));
                }
            }
        }
        if all_applied {
            repaired.push(f.check.clone());
        }
    }
    if categories.contains(&Category::Merge) {
        match merge::repair(layout, &probe.config) {
            merge::Repair::Nothing => {}
            merge::Repair::Done(what) => {
                fixed.push(what);
                repaired.extend(
                    first
                        .iter()
                        .filter(|f| f.check.category == Category::Merge.as_str())
                        .filter(|f| f.check.name == merge::WORKTREES_CHECK)
                        .map(|f| f.check.clone()),
                );
            }
            merge::Repair::Failed(check) => failed_fixes.push(check),
        }
    }
    // The fleet repair runs before the checks are taken again, so they
    // show the repaired fleet (a settled dead agent no longer warns).
    let repairs = if categories.contains(&Category::Consistency) {
        fleet_repair(layout, &probe.config, opts)
    } else {
        Vec::new()
    };
    let mut checks: Vec<Check> = collect(&Probe::new(layout), &categories)
        .into_iter()
        .map(|f| f.check)
        .collect();
    for c in &mut checks {
        if let Some(old) = repaired
            .iter()
            .find(|o| o.category == c.category && o.name == c.name)
        {
            c.fixed = c.status < old.status || c.message != old.message;
        }
    }
    checks.extend(failed_fixes);
    fixed.extend(
        repairs
            .iter()
            .filter(|c| c.fixed)
            .map(|c| c.message.clone()),
    );
    checks.extend(repairs);
    DoctorReport::new(checks, fixed)
}

/// The fleet-level half: rows, processes and worktrees a kill -9 left
/// inconsistent, through the reconciler (the same one every watchdog tick
/// runs). Without `fix` it only says what it would do.
fn fleet_repair(layout: &Layout, config: &Config, opts: &DoctorOptions) -> Vec<Check> {
    use crate::reconcile::{self, ActionKind, ReconcileOptions};
    const CATEGORY: &str = "consistency";
    let mut ropts = opts
        .ov_program
        .as_ref()
        .map_or_else(ReconcileOptions::default, ReconcileOptions::new);
    ropts.dry_run = !opts.fix;
    let report = match reconcile::reconcile(layout, config, &ropts) {
        Ok(r) => r,
        Err(e) => {
            // The unreadable database is already a failed `databases` check.
            return vec![Check::warn(
                CATEGORY,
                "fleet repair",
                format!(
                    "Skipped: the reconciler could not read the fleet ({}); repair the databases first",
                    overstory_core::error::chain_text(&e)
                ),
            )];
        }
    };
    if report.is_clean() {
        return vec![Check::pass(
            CATEGORY,
            "fleet repair",
            "No dead sling, stranded mail, orphaned process or stale file found",
        )];
    }
    report
        .actions
        .iter()
        .map(|a| {
            let who = a
                .agent
                .as_deref()
                .map(|n| format!("{n}: "))
                .unwrap_or_default();
            let name = format!("fleet repair: {}", kind_name(a.kind));
            let report_only = a.kind == ActionKind::OrphanWorktree;
            if let Some(e) = &a.error {
                Check::fail(
                    CATEGORY,
                    &name,
                    format!("{who}{} failed: {e}; repair it by hand", a.detail),
                )
            } else if a.applied {
                let mut c = Check::pass(CATEGORY, &name, format!("{who}{}", a.detail));
                c.fixed = true;
                c
            } else if report_only {
                Check::warn(
                    CATEGORY,
                    &name,
                    format!(
                        "{who}{} (kept; remove it with ov worktree clean once merged)",
                        a.detail
                    ),
                )
            } else {
                Check::warn(
                    CATEGORY,
                    &name,
                    format!("{who}{}; run ov doctor --fix to repair", a.detail),
                )
            }
        })
        .collect()
}

fn kind_name(kind: crate::reconcile::ActionKind) -> &'static str {
    use crate::reconcile::ActionKind as K;
    match kind {
        K::SlingRolledBack => "dead sling",
        K::DispatcherStarted => "stranded mail",
        K::OrphanKilled => "orphaned process",
        K::StaleFileRemoved => "stale file",
        K::CurrentRunCleared => "finished current run",
        K::OrphanWorktree => "worktree without a session",
        K::HostDied => "dead agent host",
    }
}

#[cfg(test)]
impl<'a> Probe<'a> {
    /// A probe of `layout` with the default settings.
    pub(crate) fn with_defaults(layout: &'a Layout) -> Self {
        Self {
            layout,
            config: Config::defaults_for(layout.root()),
            loaded: Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_parse_by_name_and_list_the_valid_ones() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>().unwrap(), c);
        }
        let err = "bogus".parse::<Category>().unwrap_err().to_string();
        assert!(err.contains("Unknown category \"bogus\""), "{err}");
        assert!(err.contains("dependencies, structure, config"), "{err}");
    }

    #[test]
    fn a_config_that_does_not_load_is_a_failed_check_not_an_abort() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.dir()).unwrap();
        std::fs::write(layout.config(), "project: [unclosed\n").unwrap();
        let report = run(&layout, &DoctorOptions::default());
        let parse = report
            .checks
            .iter()
            .find(|c| c.name == "config-parseable")
            .unwrap();
        assert_eq!(parse.status, CheckStatus::Fail);
        assert!(parse.message.contains("config.yaml"), "{}", parse.message);
        assert!(report.checks.iter().any(|c| c.category == "serve"));
        assert!(report.has_failures());
    }
}
