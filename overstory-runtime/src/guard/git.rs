//! What a `git` command does, read past its global options: which
//! subcommand runs, which `-c` settings it makes, whether it pushes (in any
//! spelling), skips hooks, or runs commands of its own.

use crate::shell::SimpleCommand;

/// A `git …` command split at its subcommand.
pub(super) struct GitCall<'a> {
    /// The subcommand (`None`: plain `git`, `git --version`, …).
    pub sub: Option<&'a str>,
    /// Whether the subcommand word is only known at run time.
    pub sub_dynamic: bool,
    /// The words after the subcommand.
    pub args: &'a [String],
    /// `-c key=value` and `--config-env=key=VAR` settings, keys lowercased.
    pub config_keys: Vec<String>,
    /// `--exec-path=DIR` was given (git then runs commands from DIR).
    pub exec_path: bool,
}

/// Global options that take a separate value.
const VALUE_OPTIONS: &[&str] = &[
    "-C",
    "-c",
    "--git-dir",
    "--work-tree",
    "--namespace",
    "--super-prefix",
    "--config-env",
    "--attr-source",
];

/// Reads `c` as a git command; `None` when it is not one.
pub(super) fn git_call(c: &SimpleCommand) -> Option<GitCall<'_>> {
    // `hub` wraps git and passes its commands through.
    if !matches!(c.program(), Some("git" | "hub")) {
        return None;
    }
    let w = &c.words;
    let mut config_keys = Vec::new();
    let mut exec_path = false;
    let mut i = 1;
    let mut key_of = |setting: &str| {
        let key = setting.split('=').next().unwrap_or(setting);
        config_keys.push(key.to_ascii_lowercase());
    };
    while i < w.len() {
        let a = w[i].as_str();
        if VALUE_OPTIONS.contains(&a) {
            if matches!(a, "-c" | "--config-env")
                && let Some(v) = w.get(i + 1)
            {
                key_of(v);
            }
            i += 2;
        } else if let Some(v) = a.strip_prefix("--config-env=") {
            key_of(v);
            i += 1;
        } else if let Some(v) = a.strip_prefix("-c").filter(|v| !v.is_empty()) {
            key_of(v);
            i += 1;
        } else if a.starts_with("--exec-path=") {
            exec_path = true;
            i += 1;
        } else if a.starts_with('-') {
            i += 1;
        } else {
            break;
        }
    }
    let sub = w.get(i).map(String::as_str);
    Some(GitCall {
        sub,
        sub_dynamic: sub.is_some() && c.is_dynamic(i),
        args: w.get(i + 1..).unwrap_or(&[]),
        config_keys,
        exec_path,
    })
}

impl GitCall<'_> {
    /// Returns whether any argument after the subcommand is one of `flags`
    /// (or `--flag=value` for a long one).
    pub fn has(&self, flags: &[&str]) -> bool {
        self.args.iter().any(|a| {
            flags.iter().any(|f| {
                a == f
                    || (f.starts_with("--")
                        && a.strip_prefix(f).is_some_and(|r| r.starts_with('=')))
            })
        })
    }
}

/// Subcommands that send commits to another repository.
pub(super) const PUSHES: &[&str] = &["push", "send-pack", "http-push"];

/// Every git command the guard knows; anything else is an alias or an
/// extension, whose effect the guard cannot see.
const KNOWN: &[&str] = &[
    "add",
    "am",
    "annotate",
    "apply",
    "archive",
    "bisect",
    "blame",
    "branch",
    "bugreport",
    "bundle",
    "cat-file",
    "check-attr",
    "check-ignore",
    "check-mailmap",
    "check-ref-format",
    "checkout",
    "checkout-index",
    "cherry",
    "cherry-pick",
    "citool",
    "clean",
    "clone",
    "column",
    "commit",
    "commit-graph",
    "commit-tree",
    "config",
    "count-objects",
    "credential",
    "credential-cache",
    "credential-store",
    "daemon",
    "describe",
    "diagnose",
    "diff",
    "diff-files",
    "diff-index",
    "diff-tree",
    "difftool",
    "fast-export",
    "fast-import",
    "fetch",
    "fetch-pack",
    "filter-branch",
    "fmt-merge-msg",
    "for-each-ref",
    "for-each-repo",
    "format-patch",
    "fsck",
    "gc",
    "get-tar-commit-id",
    "grep",
    "gui",
    "hash-object",
    "help",
    "hook",
    "http-backend",
    "http-push",
    "imap-send",
    "index-pack",
    "init",
    "instaweb",
    "interpret-trailers",
    "lfs",
    "log",
    "ls-files",
    "ls-remote",
    "ls-tree",
    "mailinfo",
    "mailsplit",
    "maintenance",
    "merge",
    "merge-base",
    "merge-file",
    "merge-index",
    "merge-tree",
    "mergetool",
    "mktag",
    "mktree",
    "multi-pack-index",
    "mv",
    "name-rev",
    "notes",
    "pack-objects",
    "pack-redundant",
    "pack-refs",
    "patch-id",
    "prune",
    "prune-packed",
    "pull",
    "push",
    "range-diff",
    "read-tree",
    "rebase",
    "receive-pack",
    "reflog",
    "refs",
    "remote",
    "repack",
    "replace",
    "replay",
    "request-pull",
    "rerere",
    "reset",
    "restore",
    "rev-list",
    "rev-parse",
    "revert",
    "rm",
    "send-email",
    "send-pack",
    "shortlog",
    "show",
    "show-branch",
    "show-index",
    "show-ref",
    "sparse-checkout",
    "stage",
    "stash",
    "status",
    "stripspace",
    "submodule",
    "switch",
    "symbolic-ref",
    "tag",
    "unpack-file",
    "unpack-objects",
    "update-index",
    "update-ref",
    "update-server-info",
    "upload-archive",
    "upload-pack",
    "var",
    "verify-commit",
    "verify-pack",
    "verify-tag",
    "version",
    "whatchanged",
    "worktree",
    "write-tree",
];

/// Returns whether `sub` is a git command the guard knows.
pub(super) fn is_known(sub: &str) -> bool {
    KNOWN.contains(&sub)
}

/// Returns whether a configuration key is harmless to set (display,
/// identity and merge-style settings). Everything else may define aliases,
/// move or disable hooks, or name programs git runs.
pub(super) fn harmless_config(key: &str) -> bool {
    const PREFIXES: &[&str] = &["color.", "advice.", "i18n.", "column.", "user.", "status."];
    const KEYS: &[&str] = &[
        "core.quotepath",
        "core.abbrev",
        "core.autocrlf",
        "core.safecrlf",
        "core.filemode",
        "init.defaultbranch",
        "diff.renames",
        "diff.algorithm",
        "diff.colormoved",
        "diff.noprefix",
        "diff.mnemonicprefix",
        "diff.context",
        "merge.conflictstyle",
        "pull.rebase",
        "pull.ff",
        "rerere.enabled",
        "commit.gpgsign",
        "tag.gpgsign",
        "gc.auto",
        "maintenance.auto",
        "safe.directory",
        "log.showsignature",
        "log.date",
        "log.decorate",
        "protocol.version",
        "fetch.prune",
        "push.default",
        "checkout.defaultremote",
    ];
    let key = key.to_ascii_lowercase();
    PREFIXES.iter().any(|p| key.starts_with(p)) || KEYS.contains(&key.as_str())
}

/// How `git config …` touches the configuration.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ConfigUse {
    /// Only reads.
    Read,
    /// Writes `key` (`None`: a whole section or the editor).
    Write(Option<String>),
}

/// Classifies the arguments of `git config`.
pub(super) fn config_use(args: &[String]) -> ConfigUse {
    const WRITE_FLAGS: &[&str] = &[
        "--add",
        "--replace-all",
        "--unset",
        "--unset-all",
        "--rename-section",
        "--remove-section",
        "-e",
        "--edit",
    ];
    const VALUE_FLAGS: &[&str] = &["-f", "--file", "--blob", "--type", "--default", "--comment"];
    let mut operands: Vec<&str> = Vec::new();
    let mut write_flag = false;
    let mut i = 0;
    // The subcommand form of git 2.46 (`git config set k v`).
    match args.first().map(String::as_str) {
        Some("get" | "list") => return ConfigUse::Read,
        Some("set" | "unset") => {
            let key = args[1..].iter().find(|a| !a.starts_with('-')).cloned();
            return ConfigUse::Write(key);
        }
        Some("rename-section" | "remove-section" | "edit") => return ConfigUse::Write(None),
        _ => {}
    }
    while i < args.len() {
        let a = args[i].as_str();
        if WRITE_FLAGS.contains(&a) {
            write_flag = true;
            if matches!(a, "-e" | "--edit" | "--rename-section" | "--remove-section") {
                return ConfigUse::Write(None);
            }
            i += 1;
        } else if VALUE_FLAGS.contains(&a) {
            i += 2;
        } else if a.starts_with('-') {
            i += 1;
        } else {
            operands.push(a);
            i += 1;
        }
    }
    let reading = args
        .iter()
        .any(|a| a.starts_with("--get") || matches!(a.as_str(), "-l" | "--list"));
    if write_flag || (!reading && operands.len() >= 2) {
        ConfigUse::Write(operands.first().map(|k| (*k).to_owned()))
    } else {
        ConfigUse::Read
    }
}

/// Returns whether a `git commit` argument list skips hooks (`--no-verify`,
/// or `-n` in a cluster of short options).
pub(super) fn commit_skips_hooks(args: &[String]) -> bool {
    for a in args {
        if a == "--" {
            break;
        }
        if a == "--no-verify" {
            return true;
        }
        if let Some(cluster) = a.strip_prefix('-').filter(|c| !c.starts_with('-')) {
            for ch in cluster.chars() {
                if ch == 'n' {
                    return true;
                }
                // These take a value: the rest of the cluster is it.
                if "mFCctSu".contains(ch) {
                    break;
                }
            }
        }
    }
    false
}

/// Returns why a git call runs commands the guard cannot check, if it does.
pub(super) fn runs_commands(g: &GitCall<'_>) -> Option<&'static str> {
    let sub = g.sub?;
    let first = g.args.first().map(String::as_str);
    match sub {
        "rebase" if g.has(&["-x", "--exec"]) => Some("git rebase --exec runs commands"),
        "submodule" if first == Some("foreach") => Some("git submodule foreach runs commands"),
        "bisect" if first == Some("run") => Some("git bisect run runs commands"),
        "filter-branch" => Some("git filter-branch runs filter commands"),
        "difftool" | "mergetool" => Some("git difftool and mergetool run external tools"),
        "instaweb" | "daemon" => Some("git instaweb and daemon start servers"),
        "grep" if g.has(&["-O", "--open-files-in-pager"]) => {
            Some("git grep -O runs a pager command")
        }
        "clone" | "fetch" | "pull" | "ls-remote" | "archive"
            if g.args.iter().any(|a| {
                a.starts_with("--upload-pack")
                    || a.starts_with("--exec")
                    || a.starts_with("--receive-pack")
                    || a == "-u"
            }) =>
        {
            Some("--upload-pack and --exec run commands")
        }
        "hook" => Some("git hook runs hooks directly"),
        "send-email" | "imap-send" => Some("git send-email and imap-send send patches out"),
        _ => None,
    }
}

/// Returns whether inline program text runs `git push` (or another push).
pub(super) fn mentions_push(text: &str) -> bool {
    text.match_indices("git").any(|(i, _)| {
        let rest = &text[i + 3..];
        PUSHES.iter().any(|p| rest.contains(p))
    })
}
