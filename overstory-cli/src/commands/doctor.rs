//! `ov doctor`: check the project's health, category by category, and
//! repair what is safe with `--fix`. The checks live in
//! `overstory_fleet::doctor` (and each store's own `doctor` module); this
//! file parses, calls and renders.

use overstory_core::doctor::{Check, CheckStatus};
use overstory_fleet::doctor::{self, Category, DoctorOptions, DoctorReport};

use crate::context::Context;
use crate::error::CliError;
use crate::output::{Output, Style};

/// Check the project's health and repair what is safe
///
/// Runs the checks of every category (dependencies, structure, config,
/// databases, consistency, agents, merge, logs, version, ecosystem,
/// providers, watchdog, serve), or of one with --category. Prints the
/// warnings and failures (every check with --verbose) and a summary; exits 1
/// when any check fails. --fix creates missing directories, removes stale
/// pid and temp files, adds missing .gitignore entries, migrates databases
/// and drops stale merge-queue entries, then checks again.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Run only this category
    ///
    /// One of dependencies, structure, config, databases, consistency,
    /// agents, merge, logs, version, ecosystem, providers, watchdog, serve.
    #[arg(long, value_name = "name", value_parser = parse_category)]
    category: Option<Category>,
    /// Repair what can be repaired safely, then check again
    ///
    /// Creates missing .overstory/ directories, removes stale pid files and
    /// leftover temp files, adds missing .gitignore entries, migrates
    /// databases (rows are kept) and drops stale or duplicate merge-queue
    /// entries. Never deletes worktrees or kills agents.
    #[arg(long)]
    fix: bool,
}

/// Runs the checks and renders them; the output fails when a check did.
pub fn run(ctx: &Context, args: DoctorArgs) -> Result<Output, CliError> {
    let layout = ctx.layout()?;
    let mut opts = DoctorOptions::default();
    opts.category = args.category;
    opts.fix = args.fix;
    opts.ov_program = ctx.ov_exe().ok();
    let report = doctor::run(&layout, &opts);
    let text = render(&report, ctx.verbose, ctx.style);
    let out = Output::new("doctor").data_of(&report)?.raw(text);
    Ok(if report.has_failures() {
        out.failed()
    } else {
        out
    })
}

/// Parses `--category`; the error lists the valid names.
fn parse_category(s: &str) -> Result<Category, String> {
    s.parse::<Category>().map_err(|e| e.to_string())
}

/// Human form: `[category]` blocks of the checks worth showing (all with
/// `verbose`), then the summary and what was fixed.
fn render(report: &DoctorReport, verbose: bool, style: Style) -> String {
    let mut s = String::from("overstory doctor\n");
    for category in Category::ALL {
        let shown: Vec<&Check> = report
            .checks
            .iter()
            .filter(|c| c.category == category.as_str())
            .filter(|c| verbose || c.status != CheckStatus::Pass || c.fixed)
            .collect();
        if shown.is_empty() {
            continue;
        }
        s.push_str(&format!("\n[{category}]\n"));
        for c in shown {
            let icon = match c.status {
                CheckStatus::Pass => style.green("-"),
                CheckStatus::Warn => style.yellow("!"),
                CheckStatus::Fail => style.red("x"),
            };
            let fixed = if c.fixed { " (fixed)" } else { "" };
            s.push_str(&format!("  {icon} {}: {}{fixed}\n", c.name, c.message));
        }
    }
    let sm = report.summary;
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    s.push_str(&format!(
        "\nSummary: {} passed, {}, {}\n",
        sm.pass,
        plural(sm.warn, "warning", "warnings"),
        plural(sm.fail, "failure", "failures")
    ));
    if !report.fixed.is_empty() {
        s.push_str("Fixed:\n");
        for f in &report.fixed {
            s.push_str(&format!("  - {f}\n"));
        }
    }
    s
}
