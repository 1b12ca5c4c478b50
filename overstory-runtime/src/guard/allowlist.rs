//! The read-only allowlist (scout, reviewer): the programs, git
//! subcommands and `ov` subcommands a read-only agent may run, with the
//! argument checks for programs that can also write. Anything not listed is
//! denied.

use crate::shell::SimpleCommand;

use super::git::{ConfigUse, config_use, git_call, harmless_config};

/// Programs that only read (or only print) whatever their arguments are.
pub const READERS: &[&str] = &[
    "cat",
    "head",
    "tail",
    "more",
    "grep",
    "egrep",
    "fgrep",
    "zgrep",
    "zcat",
    "bzcat",
    "xzcat",
    "zless",
    "ls",
    "wc",
    "stat",
    "du",
    "df",
    "diff",
    "cmp",
    "comm",
    "cut",
    "tr",
    "nl",
    "fold",
    "column",
    "paste",
    "join",
    "expand",
    "unexpand",
    "rev",
    "tac",
    "od",
    "hexdump",
    "strings",
    "md5sum",
    "sha1sum",
    "sha224sum",
    "sha256sum",
    "sha384sum",
    "sha512sum",
    "b2sum",
    "cksum",
    "base64",
    "base32",
    "jq",
    "echo",
    "printf",
    "pwd",
    "which",
    "whereis",
    "type",
    "true",
    "false",
    "test",
    "[",
    "[[",
    "basename",
    "dirname",
    "realpath",
    "readlink",
    "uname",
    "whoami",
    "id",
    "groups",
    "printenv",
    "seq",
    "sleep",
    "nproc",
    "cd",
    "pushd",
    "popd",
    "dirs",
    ":",
    "wait",
    "read",
    "unset",
    "shift",
    "getconf",
    "locale",
    "tty",
    "arch",
    "uptime",
    "free",
    "ps",
    "pgrep",
    "numfmt",
    "fmt",
    "pr",
    "look",
    "zipinfo",
    "command",
    "hash",
    "cal",
    "ag",
    "bat",
    "batcat",
    "eza",
    "exa",
    "tokei",
];

/// Programs allowed only with arguments that cannot make them write.
pub const CHECKED: &[&str] = &[
    "git",
    "ov",
    "overstory",
    "sd",
    "bd",
    "mulch",
    "ml",
    "find",
    "sort",
    "uniq",
    "tree",
    "file",
    "date",
    "hostname",
    "rg",
    "less",
    "sed",
    "awk",
    "gawk",
    "mawk",
    "nawk",
    "curl",
    "wget",
    "tar",
    "unzip",
    "xxd",
    "yq",
    "iconv",
    "export",
    "declare",
    "typeset",
    "local",
    "readonly",
    "fd",
    "fdfind",
    "cloc",
];

/// Runners a read-only agent may put in front of an allowed command.
pub const RUNNERS: &[&str] = &[
    "timeout", "nice", "time", "xargs", "env", "command", "builtin", "stdbuf", "find", "nohup",
    "exec", "ionice", "watch",
];

/// Variables a read-only agent may set (display and locale only).
fn safe_variable(name: &str) -> bool {
    name.starts_with("LC_")
        || matches!(
            name,
            "LANG"
                | "LANGUAGE"
                | "TZ"
                | "TERM"
                | "NO_COLOR"
                | "CLICOLOR"
                | "CLICOLOR_FORCE"
                | "FORCE_COLOR"
                | "COLUMNS"
                | "LINES"
                | "GREP_COLOR"
                | "GREP_COLORS"
                | "RUST_BACKTRACE"
                | "RUST_LOG"
        )
}

/// Read-only git subcommands whose arguments cannot make them write.
const GIT_READERS: &[&str] = &[
    "status",
    "blame",
    "annotate",
    "ls-files",
    "ls-tree",
    "rev-parse",
    "cat-file",
    "describe",
    "merge-base",
    "show-ref",
    "name-rev",
    "rev-list",
    "for-each-ref",
    "count-objects",
    "check-ignore",
    "check-attr",
    "check-ref-format",
    "check-mailmap",
    "version",
    "help",
    "var",
    "cherry",
    "show-branch",
    "verify-commit",
    "verify-tag",
];

/// Read-only git subcommands that can write a file with `--output`.
const GIT_LOG_LIKE: &[&str] = &[
    "log",
    "diff",
    "show",
    "shortlog",
    "whatchanged",
    "range-diff",
    "grep",
    "diff-tree",
    "diff-index",
    "diff-files",
];

/// Returns why a read-only agent may not run `c`, or `None` when it may.
/// `gates` are the quality-gate commands (allowed as word prefixes).
pub(super) fn violation(c: &SimpleCommand, gates: &[&str]) -> Option<String> {
    if c.redirects
        .iter()
        .any(|r| r.writes_file() && !super::is_dev_sink(&r.target))
    {
        return Some("output redirection to a file".into());
    }
    if let Some(r) = c.runners.iter().find(|r| !RUNNERS.contains(&r.as_str())) {
        return Some(format!("{r} (not an allowed runner)"));
    }
    for a in &c.assignments {
        let name = a.split('=').next().unwrap_or(a);
        let name = name.strip_suffix('+').unwrap_or(name);
        if !safe_variable(name) {
            return Some(format!("setting {name}"));
        }
    }
    let prog = c.program()?;
    if gates.iter().any(|g| super::starts_with_words(&c.words, g)) {
        return None;
    }
    if READERS.contains(&prog) {
        return None;
    }
    if !CHECKED.contains(&prog) {
        return Some(format!("{prog} (not on the read-only allowlist)"));
    }
    checked(c, prog)
}

fn dynamic_args(c: &SimpleCommand, prog: &str) -> Option<String> {
    c.has_dynamic_args()
        .then(|| format!("{prog} with arguments only known at run time (write them out literally)"))
}

/// Short-option clusters and long options of `c` (not its operands).
fn options(c: &SimpleCommand) -> impl Iterator<Item = &str> {
    c.words[1..]
        .iter()
        .map(String::as_str)
        .take_while(|a| *a != "--")
        .filter(|a| a.starts_with('-') && a.len() > 1)
}

/// Returns whether a short cluster (`-sLo`) holds `bad` before a letter that
/// takes a value.
fn cluster_has(a: &str, bad: &str, takes_value: &str) -> bool {
    let Some(cluster) = a.strip_prefix('-').filter(|c| !c.starts_with('-')) else {
        return false;
    };
    for ch in cluster.chars() {
        if bad.contains(ch) {
            return true;
        }
        if takes_value.contains(ch) {
            return false;
        }
    }
    false
}

fn long_has(a: &str, names: &[&str]) -> bool {
    names
        .iter()
        .any(|n| a == *n || a.strip_prefix(n).is_some_and(|r| r.starts_with('=')))
}

/// Operands (non-option words) of `c`, skipping the values of `value_opts`.
fn operands<'a>(c: &'a SimpleCommand, value_opts: &[&str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut i = 1;
    let mut opts_done = false;
    while i < c.words.len() {
        let a = c.words[i].as_str();
        if !opts_done && a == "--" {
            opts_done = true;
        } else if !opts_done && a.starts_with('-') && a.len() > 1 {
            if value_opts.contains(&a) {
                i += 1;
            }
        } else {
            out.push(a);
        }
        i += 1;
    }
    out
}

fn checked(c: &SimpleCommand, prog: &str) -> Option<String> {
    match prog {
        "git" => git(c),
        "ov" | "overstory" => ov(c),
        "sd" | "bd" => subcommand_in(
            c,
            prog,
            &[
                "show", "list", "ready", "search", "stats", "blocked", "info", "count", "prime",
                "help", "update", "close", "comment", "comments",
            ],
        ),
        "mulch" | "ml" => subcommand_in(
            c,
            prog,
            &[
                "prime", "record", "search", "query", "status", "list", "show", "learn", "help",
            ],
        ),
        "export" | "declare" | "typeset" | "local" | "readonly" => {
            for w in c.words[1..].iter().filter(|w| !w.starts_with('-')) {
                let name = w.split('=').next().unwrap_or(w);
                if !safe_variable(name) {
                    return Some(format!("setting {name}"));
                }
            }
            dynamic_args(c, prog)
        }
        _ => {
            if let Some(d) = dynamic_args(c, prog) {
                return Some(d);
            }
            program_flags(c, prog)
        }
    }
}

fn program_flags(c: &SimpleCommand, prog: &str) -> Option<String> {
    let deny = |what: &str| Some(format!("{prog} {what}"));
    match prog {
        "find" => {
            let bad = ["-delete", "-fprint", "-fprint0", "-fprintf", "-fls"];
            c.words[1..]
                .iter()
                .find(|a| bad.contains(&a.as_str()))
                .and_then(|a| deny(a.as_str()))
        }
        "sort" => options(c)
            .find(|a| {
                long_has(a, &["--output", "--compress-program"]) || cluster_has(a, "o", "ktST")
            })
            .and_then(|_| deny("-o (writes a file)")),
        "uniq" => (operands(c, &["-f", "-s", "-w"]).len() > 1)
            .then(|| format!("{prog} with an output file")),
        "xxd" => (operands(
            c,
            &[
                "-c",
                "-cols",
                "-g",
                "-groupsize",
                "-l",
                "-len",
                "-s",
                "-seek",
                "-o",
                "-offset",
                "-n",
                "-name",
            ],
        )
        .len()
            > 1)
        .then(|| format!("{prog} with an output file")),
        "tree" => options(c)
            .find(|a| matches!(*a, "-o" | "-R") || long_has(a, &["--output"]))
            .and_then(&deny),
        "file" => options(c)
            .find(|a| *a == "-C" || long_has(a, &["--compile"]))
            .and_then(&deny),
        "date" => {
            if options(c).any(|a| long_has(a, &["--set"]) || cluster_has(a, "s", "dfrI")) {
                return deny("--set");
            }
            operands(c, &["-d", "--date", "-f", "--file", "-r", "--reference"])
                .iter()
                .any(|o| !o.starts_with('+'))
                .then(|| format!("{prog} setting the clock"))
        }
        "hostname" => {
            if !operands(c, &[]).is_empty()
                || options(c).any(|a| matches!(a, "-F" | "-b" | "--file" | "--boot"))
            {
                deny("setting the host name")
            } else {
                None
            }
        }
        "rg" => options(c)
            .find(|a| long_has(a, &["--pre", "--hostname-bin"]))
            .and_then(&deny),
        "less" => c.words[1..]
            .iter()
            .find(|a| {
                long_has(a, &["--log-file", "--LOG-FILE"])
                    || a.starts_with("-o")
                    || a.starts_with("-O")
                    || (a.starts_with('+') && a.contains('!'))
            })
            .and_then(|a| deny(a.as_str())),
        "iconv" => options(c)
            .find(|a| *a == "-o" || long_has(a, &["--output"]))
            .and_then(&deny),
        "yq" => options(c)
            .find(|a| long_has(a, &["--inplace", "--split-exp"]) || cluster_has(a, "is", "IopL"))
            .and_then(&deny),
        "fd" | "fdfind" => options(c)
            .find(|a| long_has(a, &["--exec", "--exec-batch"]) || cluster_has(a, "xX", "edEtScjo"))
            .map(|a| format!("{prog} {a} (runs commands)")),
        "cloc" => options(c)
            .find(|a| {
                [
                    "--report-file",
                    "--out",
                    "--sql",
                    "--write-lang-def",
                    "--categorized",
                    "--counted",
                    "--ignored",
                    "--unique",
                    "--found",
                ]
                .iter()
                .any(|p| a.starts_with(p))
            })
            .map(|a| format!("{prog} {a} (writes a file)")),
        "sed" => sed(c),
        "awk" | "gawk" | "mawk" | "nawk" => awk(c),
        "curl" => curl(c),
        "wget" => wget(c),
        "tar" => tar(c),
        "unzip" => {
            let lists = options(c).any(|a| cluster_has(a, "ltvZp", "dxX"));
            (!lists).then(|| format!("{prog} extracting files (only -l, -t, -v, -Z, -p)"))
        }
        _ => None,
    }
}

/// `prog SUB …` with SUB in `allowed` (after global options).
fn subcommand_in(c: &SimpleCommand, prog: &str, allowed: &[&str]) -> Option<String> {
    let i = c.words[1..]
        .iter()
        .position(|a| !a.starts_with('-'))
        .map(|p| p + 1);
    let Some(i) = i else {
        return None; // `sd --help`, `ml --version`
    };
    if c.is_dynamic(i) {
        return Some(format!("{prog} with a subcommand only known at run time"));
    }
    let sub = c.words[i].as_str();
    (!allowed.contains(&sub)).then(|| format!("{prog} {sub} (not a read-only subcommand)"))
}

/// `ov` subcommands a read-only agent may run (the mail it sends and reads,
/// and reports that change nothing).
fn ov(c: &SimpleCommand) -> Option<String> {
    let w = &c.words;
    let mut i = 1;
    while i < w.len() && w[i].starts_with('-') {
        i += if w[i] == "--project" { 2 } else { 1 };
    }
    let Some(sub) = w.get(i).map(String::as_str) else {
        return None; // `ov`, `ov --help`, `ov --version`
    };
    let next = w[i + 1..].iter().find(|a| !a.starts_with('-'));
    let next_i = next.map(|n| w.iter().position(|x| std::ptr::eq(x, n)).unwrap_or(0));
    if c.is_dynamic(i) || next_i.is_some_and(|n| c.is_dynamic(n)) {
        return Some("ov with a subcommand only known at run time".into());
    }
    let next = next.map(String::as_str);
    let ok = match sub {
        "mail" => matches!(
            next,
            None | Some("check" | "send" | "list" | "read" | "reply" | "help")
        ),
        "status" | "prime" | "feed" | "errors" | "trace" | "replay" | "agents" | "help"
        | "config" => true,
        "worktree" => matches!(next, Some("list")),
        "group" => matches!(next, Some("status" | "list")),
        _ => false,
    };
    if ok {
        None
    } else {
        let shown = match (sub, next) {
            ("mail" | "worktree" | "group", Some(n)) => format!("{sub} {n}"),
            _ => sub.to_owned(),
        };
        Some(format!("ov {shown} (not a read-only ov command)"))
    }
}

fn git(c: &SimpleCommand) -> Option<String> {
    let g = git_call(c)?;
    if let Some(k) = g.config_keys.iter().find(|k| !harmless_config(k)) {
        return Some(format!("git -c {k}"));
    }
    if g.exec_path {
        return Some("git --exec-path".into());
    }
    let Some(sub) = g.sub else {
        return None; // `git --version`, `git --help`
    };
    if g.sub_dynamic {
        return Some("git with a subcommand only known at run time".into());
    }
    let dynamic = c.has_dynamic_args();
    let first = g.args.first().map(String::as_str);
    let deny = |what: &str| Some(format!("git {what}"));
    if GIT_READERS.contains(&sub) {
        return None;
    }
    if GIT_LOG_LIKE.contains(&sub) {
        if dynamic {
            return deny(&format!(
                "{sub} with arguments only known at run time (write them out literally)"
            ));
        }
        if g.has(&["--output", "-O", "--open-files-in-pager"]) {
            return deny(&format!("{sub} --output"));
        }
        return None;
    }
    if dynamic {
        return deny(&format!(
            "{sub} with arguments only known at run time (write them out literally)"
        ));
    }
    match sub {
        "branch" => git_list_only(
            g.args,
            &["-l", "--list", "-a", "--all", "-r", "--remotes"],
            &[
                "-a",
                "--all",
                "-r",
                "--remotes",
                "-l",
                "--list",
                "-v",
                "-vv",
                "--verbose",
                "--show-current",
                "-i",
                "--ignore-case",
                "--column",
                "--no-column",
                "--color",
                "--no-color",
                "--abbrev",
                "--no-abbrev",
                "-q",
                "--quiet",
            ],
        )
        .and_then(|a| deny(&format!("branch {a} (only listing branches)"))),
        "tag" => git_list_only(
            g.args,
            &["-l", "--list"],
            &[
                "-l",
                "--list",
                "-i",
                "--ignore-case",
                "--column",
                "--no-column",
                "--color",
                "--no-color",
                "-v",
                "--verify",
            ],
        )
        .and_then(|a| deny(&format!("tag {a} (only listing tags)"))),
        "config" => match config_use(g.args) {
            ConfigUse::Read => None,
            ConfigUse::Write(_) => deny("config (changes the configuration)"),
        },
        "stash" => {
            (!matches!(first, Some("list" | "show"))).then(|| "git stash (only list, show)".into())
        }
        "worktree" => (!matches!(first, Some("list"))).then(|| "git worktree (only list)".into()),
        "remote" => (!matches!(first, None | Some("-v" | "--verbose" | "show" | "get-url")))
            .then(|| "git remote (only listing remotes)".into()),
        "reflog" => (!matches!(first, None | Some("show" | "list")))
            .then(|| "git reflog (only show)".into()),
        "notes" => (!matches!(first, None | Some("list" | "show")))
            .then(|| "git notes (only list, show)".into()),
        "submodule" => (!matches!(first, None | Some("status" | "summary")))
            .then(|| "git submodule (only status, summary)".into()),
        _ => deny(&format!("{sub} (not a read-only git command)")),
    }
}

/// Checks a listing command (`git branch`, `git tag`): returns the first
/// argument that makes it change something. Operands are patterns only
/// when one of `pattern_flags` is given; a few flags take a value.
fn git_list_only<'a>(
    args: &'a [String],
    pattern_flags: &[&str],
    flags: &[&str],
) -> Option<&'a str> {
    const VALUE_FLAGS: &[&str] = &[
        "--contains",
        "--no-contains",
        "--merged",
        "--no-merged",
        "--points-at",
        "--sort",
        "--format",
    ];
    let patterns = args.iter().any(|a| pattern_flags.contains(&a.as_str()));
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if VALUE_FLAGS.contains(&a) {
            i += 2;
            continue;
        }
        let is_value_flag = VALUE_FLAGS
            .iter()
            .any(|f| a.strip_prefix(f).is_some_and(|r| r.starts_with('=')));
        let numbered = a.starts_with("-n") && a[2..].chars().all(|c| c.is_ascii_digit());
        if a.starts_with('-') {
            if !(is_value_flag || numbered || flags.contains(&a)) {
                return Some(a);
            }
        } else if !patterns {
            return Some(a);
        }
        i += 1;
    }
    None
}

/// `sed` without in-place editing and without `w`/`W`/`e` commands (or
/// with `--sandbox`, which refuses them).
fn sed(c: &SimpleCommand) -> Option<String> {
    let w = &c.words;
    let sandbox = w.iter().any(|a| a == "--sandbox");
    let mut scripts = Vec::new();
    let mut explicit = false;
    let mut i = 1;
    let mut first_operand = None;
    while i < w.len() {
        let a = w[i].as_str();
        if a == "--in-place" || a.starts_with("--in-place=") || cluster_has(a, "i", "efl") {
            return Some("sed -i (in-place edit)".into());
        }
        if a == "-e" || a == "--expression" {
            explicit = true;
            if let Some(s) = w.get(i + 1) {
                scripts.push(s.as_str());
            }
            i += 2;
            continue;
        }
        if let Some(s) = a.strip_prefix("--expression=") {
            explicit = true;
            scripts.push(s);
        } else if a == "-f" || a == "--file" || a.starts_with("--file=") {
            if !sandbox {
                return Some("sed -f (a script file the guard cannot read)".into());
            }
        } else if a.starts_with("-e") && a.len() > 2 && !a.starts_with("--") {
            explicit = true;
            scripts.push(&a[2..]);
        } else if a == "-l" || a == "--line-length" {
            i += 1;
        } else if !a.starts_with('-') && first_operand.is_none() {
            first_operand = Some(a);
        }
        i += 1;
    }
    if !explicit && let Some(s) = first_operand {
        scripts.push(s);
    }
    if sandbox {
        return None;
    }
    scripts
        .iter()
        .any(|s| sed_script_unsafe(s))
        .then(|| "sed script with w, W or e (writes files or runs commands)".into())
}

/// Returns whether a sed script writes files or runs commands (or cannot be
/// read).
fn sed_script_unsafe(script: &str) -> bool {
    let b: Vec<char> = script.chars().collect();
    let len = b.len();
    let mut i = 0;
    let skip_to_eol = |i: &mut usize| {
        while *i < len && b[*i] != '\n' {
            *i += 1;
        }
    };
    // Skips a `<delim>…<delim>` part (the opening delimiter consumed).
    let skip_part = |i: &mut usize, delim: char| {
        while *i < len {
            if b[*i] == '\\' {
                *i += 2;
                continue;
            }
            if b[*i] == delim {
                *i += 1;
                return true;
            }
            *i += 1;
        }
        false
    };
    loop {
        while i < len && (b[i].is_whitespace() || b[i] == ';') {
            i += 1;
        }
        if i >= len {
            return false;
        }
        // Up to two addresses.
        for n in 0..2 {
            if n == 1 {
                if i < len && b[i] == ',' {
                    i += 1;
                } else {
                    break;
                }
            }
            if i >= len {
                return true;
            }
            match b[i] {
                '0'..='9' => {
                    while i < len && (b[i].is_ascii_digit() || b[i] == '~') {
                        i += 1;
                    }
                }
                '$' => i += 1,
                '+' | '~' => {
                    i += 1;
                    while i < len && b[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                '/' => {
                    i += 1;
                    if !skip_part(&mut i, '/') {
                        return true;
                    }
                    while i < len && matches!(b[i], 'I' | 'M') {
                        i += 1;
                    }
                }
                '\\' => {
                    let Some(&d) = b.get(i + 1) else { return true };
                    i += 2;
                    if !skip_part(&mut i, d) {
                        return true;
                    }
                    while i < len && matches!(b[i], 'I' | 'M') {
                        i += 1;
                    }
                }
                _ => {}
            }
        }
        while i < len && (b[i] == ' ' || b[i] == '!') {
            i += 1;
        }
        let Some(&cmd) = b.get(i) else {
            return true;
        };
        i += 1;
        match cmd {
            '{' | '}' | '=' | 'd' | 'D' | 'g' | 'G' | 'h' | 'H' | 'n' | 'N' | 'p' | 'P' | 'x'
            | 'z' | 'F' => {}
            'l' | 'q' | 'Q' | 'L' => {
                while i < len && (b[i] == ' ' || b[i].is_ascii_digit()) {
                    i += 1;
                }
            }
            'b' | 't' | 'T' | ':' => {
                while i < len && b[i] != '\n' && b[i] != ';' && b[i] != '}' {
                    i += 1;
                }
            }
            'a' | 'i' | 'c' | 'r' | 'R' | '#' => skip_to_eol(&mut i),
            's' => {
                let Some(&d) = b.get(i) else { return true };
                if d == '\n' || d == '\\' {
                    return true;
                }
                i += 1;
                if !skip_part(&mut i, d) || !skip_part(&mut i, d) {
                    return true;
                }
                while i < len && !matches!(b[i], ';' | '\n' | '}' | ' ') {
                    if matches!(b[i], 'w' | 'W' | 'e') {
                        return true;
                    }
                    i += 1;
                }
            }
            'y' => {
                let Some(&d) = b.get(i) else { return true };
                i += 1;
                if !skip_part(&mut i, d) || !skip_part(&mut i, d) {
                    return true;
                }
            }
            _ => return true, // w, W, e, and anything unknown
        }
    }
}

/// `awk` with only `-F` and `-v`, and a program that neither redirects
/// `print` output, pipes, calls `system`, nor loads extensions.
fn awk(c: &SimpleCommand) -> Option<String> {
    let w = &c.words;
    let mut i = 1;
    while i < w.len() {
        let a = w[i].as_str();
        if a == "--" {
            i += 1;
            break;
        }
        if matches!(a, "-F" | "-v" | "--field-separator" | "--assign") {
            i += 2;
        } else if (a.starts_with("-F") || a.starts_with("-v"))
            || long_has(a, &["--field-separator", "--assign"])
        {
            i += 1;
        } else if a.starts_with('-') && a.len() > 1 {
            return Some(format!("awk {a} (only -F and -v)"));
        } else {
            break;
        }
    }
    let Some(program) = w.get(i) else {
        return Some("awk without a program".into());
    };
    awk_program_unsafe(program).map(|why| format!("awk program that {why}"))
}

fn awk_program_unsafe(p: &str) -> Option<&'static str> {
    let b: Vec<char> = p.chars().collect();
    let mut i = 0;
    let mut in_print = false;
    // Whether a `/` here starts a regex (an operand is expected).
    let mut operand_expected = true;
    let mut ident = String::new();
    while i < b.len() {
        let ch = b[i];
        if ch.is_ascii_alphanumeric() || ch == '_' {
            ident.push(ch);
            i += 1;
            if i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '_') {
                continue;
            }
            match ident.as_str() {
                "print" | "printf" => in_print = true,
                "system" => return Some("calls system()"),
                _ => {}
            }
            ident.clear();
            operand_expected = false;
            continue;
        }
        match ch {
            '"' => {
                i += 1;
                while i < b.len() && b[i] != '"' {
                    if b[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                operand_expected = false;
            }
            '/' if operand_expected => {
                i += 1;
                while i < b.len() && b[i] != '/' {
                    if b[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                operand_expected = false;
            }
            '#' => {
                while i < b.len() && b[i] != '\n' {
                    i += 1;
                }
            }
            '|' => {
                if b.get(i + 1) == Some(&'|') {
                    i += 1;
                    operand_expected = true;
                } else {
                    return Some("pipes to or from a command");
                }
            }
            '>' if in_print => return Some("redirects print output to a file"),
            '@' => return Some("uses a gawk directive"),
            ';' | '{' | '}' | '\n' => {
                in_print = false;
                operand_expected = true;
            }
            ' ' | '\t' => {}
            ')' | ']' | '$' => operand_expected = ch == '$',
            _ => operand_expected = true,
        }
        i += 1;
    }
    None
}

/// `curl` fetching to stdout: no output files, cookie jars, traces,
/// uploads, request bodies or config files.
fn curl(c: &SimpleCommand) -> Option<String> {
    const LONG: &[&str] = &[
        "--output",
        "--remote-name",
        "--remote-name-all",
        "--dump-header",
        "--cookie-jar",
        "--trace",
        "--trace-ascii",
        "--stderr",
        "--config",
        "--libcurl",
        "--etag-save",
        "--hsts",
        "--alt-svc",
        "--upload-file",
        "--data",
        "--data-binary",
        "--data-raw",
        "--data-urlencode",
        "--data-ascii",
        "--json",
        "--form",
        "--form-string",
        "--request",
        "--create-dirs",
        "--output-dir",
        "--trace-config",
    ];
    for a in options(c) {
        if long_has(a, LONG) || cluster_has(a, "oODcKTdFX", "HuAebrmwxEYyzCPQt") {
            return Some(format!("curl {a} (writes files or sends data)"));
        }
        if (a == "-w" || long_has(a, &["--write-out"]))
            && c.words.iter().any(|w| w.contains("%output"))
        {
            return Some("curl --write-out %output".into());
        }
    }
    None
}

/// `wget` printing to stdout (`-O -` / `-qO-`) or `--spider`, with a few
/// display options.
fn wget(c: &SimpleCommand) -> Option<String> {
    let w = &c.words;
    let mut to_stdout = false;
    let mut spider = false;
    let mut i = 1;
    while i < w.len() {
        let a = w[i].as_str();
        match a {
            "-O" | "--output-document" => {
                if w.get(i + 1).map(String::as_str) != Some("-") {
                    return Some("wget -O to a file".into());
                }
                to_stdout = true;
                i += 2;
                continue;
            }
            "--output-document=-" | "-O-" | "-qO-" | "-qO" => {
                if a == "-qO" {
                    if w.get(i + 1).map(String::as_str) != Some("-") {
                        return Some("wget -O to a file".into());
                    }
                    i += 1;
                }
                to_stdout = true;
            }
            "--spider" => spider = true,
            "-q"
            | "--quiet"
            | "-S"
            | "--server-response"
            | "-nv"
            | "--no-verbose"
            | "--no-check-certificate"
            | "-4"
            | "-6" => {}
            "-U" | "--user-agent" | "--header" | "-T" | "--timeout" | "-t" | "--tries" => {
                i += 2;
                continue;
            }
            _ if long_has(a, &["--user-agent", "--header", "--timeout", "--tries"]) => {}
            _ if a.starts_with('-') => return Some(format!("wget {a}")),
            _ => {}
        }
        i += 1;
    }
    (!to_stdout && !spider).then(|| "wget saving a file (use -O - or --spider)".into())
}

/// `tar` listing an archive (`tar tf`, `tar -tvzf`, `tar --list`).
fn tar(c: &SimpleCommand) -> Option<String> {
    const SHORT: &str = "tvfzjJaOk";
    const LONG: &[&str] = &[
        "--list",
        "--file",
        "--verbose",
        "--gzip",
        "--bzip2",
        "--xz",
        "--zstd",
        "--auto-compress",
        "--wildcards",
        "--exclude",
        "--to-stdout",
        "--numeric-owner",
        "--full-time",
    ];
    let w = &c.words;
    let mut listing = false;
    let mut i = 1;
    while i < w.len() {
        let a = w[i].as_str();
        let cluster = if i == 1 && !a.starts_with('-') {
            Some(a) // old style: `tar tvf x.tar`
        } else if a.starts_with('-') && !a.starts_with("--") {
            Some(&a[1..])
        } else {
            None
        };
        if let Some(cl) = cluster {
            if !cl.chars().all(|ch| SHORT.contains(ch)) {
                return Some(format!("tar {a} (only listing: t)"));
            }
            listing |= cl.contains('t');
            if cl.ends_with('f') {
                i += 1; // the archive
            }
        } else if a.starts_with("--") {
            if !long_has(a, LONG) {
                return Some(format!("tar {a} (only listing)"));
            }
            listing |= a == "--list";
            if a == "--file" {
                i += 1;
            }
        }
        i += 1;
    }
    (!listing).then(|| "tar without t (only listing archives)".into())
}
