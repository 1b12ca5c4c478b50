//! Unwrapping: from a raw simple command to the program that really runs.
//!
//! Assignments and keywords are removed; runners (programs that execute
//! their arguments) are replaced by their target, recorded in
//! [`SimpleCommand::runners`]; scripts handed to shells and script runners
//! are parsed in turn; and what cannot be resolved is reported.

use super::{MAX_DEPTH, Redirect, Script, SimpleCommand, collect, shell_word};

/// Reserved words that may start a command and are not programs.
const KEYWORDS: &[&str] = &[
    "!", "{", "}", "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "in",
    "function", "coproc",
];

/// Shells: `-c <script>`, a script file, or the script on stdin.
const SHELLS: &[&str] = &[
    "sh", "bash", "zsh", "dash", "ksh", "ash", "mksh", "lksh", "fish", "yash", "posh", "rbash",
    "tcsh", "csh",
];

/// What a command's first word does with the rest.
enum Plan {
    /// Not a runner: judge the command itself.
    Program,
    /// A runner executing the command that starts at word `start`.
    Target {
        start: usize,
        /// Arguments are appended at run time.
        appended: bool,
        /// Words containing this are filled in at run time (`{}`).
        placeholder: Option<String>,
        /// A file the runner itself writes (`time -o FILE`).
        writes: Option<String>,
    },
    /// A runner executing shell text.
    Script {
        text: String,
        appended: bool,
        placeholder: Option<String>,
    },
    /// A runner with nothing to run (`env` alone prints the environment).
    Nothing,
    /// Cannot be resolved without running it.
    Unresolved(String),
}

fn target(start: usize) -> Plan {
    Plan::Target {
        start,
        appended: false,
        placeholder: None,
        writes: None,
    }
}

/// Removes assignments, keywords and runners from `cmd` and records the
/// commands that would run in `out`.
pub(super) fn unwrap_command(mut cmd: SimpleCommand, depth: usize, out: &mut Script) {
    loop {
        let Some(first) = cmd.words.first().cloned() else {
            if !cmd.redirects.is_empty() {
                out.commands.push(cmd);
            }
            return;
        };
        let fixed = !cmd.is_dynamic(0);
        if cmd.runners.is_empty() {
            // The name of an assignment is literal even when its value is not.
            if is_assignment(&first) {
                if holds_command_text(&cmd, 0) {
                    out.push_unresolved(format!(
                        "the variable in \"{first}\" holds command text, which arithmetic or eval could run"
                    ));
                    return;
                }
                cmd.assignments.push(first);
                cmd.drop_front(1);
                continue;
            }
            if fixed && KEYWORDS.contains(&first.as_str()) {
                cmd.drop_front(1);
                continue;
            }
            if fixed && matches!(first.as_str(), "for" | "select" | "case") {
                // `for x in WORDS` / `case WORD in`: the words are data.
                return;
            }
        }
        if !fixed || is_glob(&first) {
            out.push_unresolved(format!(
                "\"{first}\" is used as a command name, and what it runs is only known at run time"
            ));
            return;
        }
        let prog = first.rsplit('/').next().unwrap_or(&first).to_owned();
        match plan(&prog, &mut cmd) {
            Plan::Program => {
                program(cmd, &prog, depth, out);
                return;
            }
            Plan::Nothing => {
                push_redirects_only(&cmd, out);
                return;
            }
            Plan::Unresolved(reason) => {
                out.push_unresolved(reason);
                return;
            }
            Plan::Target {
                start,
                appended,
                placeholder,
                writes,
            } => {
                cmd.runners.push(prog);
                cmd.drop_front(start);
                if cmd.words.is_empty() {
                    push_redirects_only(&cmd, out);
                    return;
                }
                cmd.appended_args |= appended;
                if let Some(p) = placeholder {
                    mark_placeholder(&mut cmd, &p);
                }
                if let Some(target) = writes {
                    cmd.redirects.push(Redirect {
                        op: ">".into(),
                        target,
                    });
                }
            }
            Plan::Script {
                text,
                appended,
                placeholder,
            } => {
                if depth + 1 > MAX_DEPTH {
                    out.push_unresolved(format!(
                        "nesting deeper than {MAX_DEPTH} levels of substitutions, shells or runners"
                    ));
                    return;
                }
                let mut inner = Script::default();
                collect(&text, depth + 1, &mut inner);
                for mut c in inner.commands {
                    let mut runners = cmd.runners.clone();
                    runners.push(prog.clone());
                    runners.append(&mut c.runners);
                    c.runners = runners;
                    let mut assignments = cmd.assignments.clone();
                    assignments.append(&mut c.assignments);
                    c.assignments = assignments;
                    c.appended_args |= appended;
                    if let Some(p) = &placeholder {
                        mark_placeholder(&mut c, p);
                    }
                    out.commands.push(c);
                }
                out.unresolved.extend(inner.unresolved);
                // The runner's own redirections still apply.
                push_redirects_only(&cmd, out);
                return;
            }
        }
    }
}

fn push_redirects_only(cmd: &SimpleCommand, out: &mut Script) {
    if !cmd.redirects.is_empty() {
        out.commands.push(SimpleCommand {
            redirects: cmd.redirects.clone(),
            assignments: cmd.assignments.clone(),
            runners: cmd.runners.clone(),
            ..SimpleCommand::default()
        });
    }
}

fn mark_placeholder(cmd: &mut SimpleCommand, p: &str) {
    for (w, d) in cmd.words.iter().zip(cmd.dynamic.iter_mut()) {
        if w.contains(p) || (p == "{}" && w.contains('{') && w.contains('}')) {
            *d = true;
        }
    }
}

/// Records a command that is not a runner, checking the programs that run
/// text of their own (`eval`, shells, interpreters, `find -exec`).
fn program(cmd: SimpleCommand, prog: &str, depth: usize, out: &mut Script) {
    match prog {
        "eval" => {
            out.push_unresolved("eval runs text assembled at run time");
            // Still parsed, so the universal push guard sees `eval git push`.
            collect(&cmd.words[1..].join(" "), depth + 1, out);
        }
        "source" | "." => {
            if cmd.words.len() < 2 || cmd.is_dynamic(1) {
                out.push_unresolved(format!(
                    "{prog} reads a script whose name is only known at run time"
                ));
            } else {
                out.commands.push(cmd);
            }
        }
        "alias" if cmd.words[1..].iter().any(|w| w.contains('=')) => {
            out.push_unresolved("alias definitions are not followed");
        }
        "find" => {
            find_exec(&cmd, depth, out);
            out.commands.push(cmd);
        }
        _ => {
            if let Some(reason) = reads_program_from_stdin(prog, &cmd) {
                out.push_unresolved(reason);
            } else {
                out.commands.push(cmd);
            }
        }
    }
}

/// Records the commands of `find … -exec CMD {} ;` (also `-execdir`, `-ok`,
/// `-okdir`, and the `+` form).
fn find_exec(cmd: &SimpleCommand, depth: usize, out: &mut Script) {
    let mut i = 1;
    while i < cmd.words.len() {
        if matches!(
            cmd.words[i].as_str(),
            "-exec" | "-execdir" | "-ok" | "-okdir"
        ) {
            let start = i + 1;
            let mut end = start;
            while end < cmd.words.len() && !matches!(cmd.words[end].as_str(), ";" | "+") {
                end += 1;
            }
            let mut inner = SimpleCommand {
                words: cmd.words[start..end].to_vec(),
                dynamic: cmd
                    .dynamic
                    .get(start..end)
                    .map(<[bool]>::to_vec)
                    .unwrap_or_default(),
                assignments: cmd.assignments.clone(),
                runners: cmd.runners.clone(),
                appended_args: cmd.words.get(end).map(String::as_str) == Some("+"),
                ..SimpleCommand::default()
            };
            inner.dynamic.resize(inner.words.len(), false);
            inner.runners.push("find".into());
            mark_placeholder(&mut inner, "{}");
            unwrap_command(inner, depth + 1, out);
            i = end;
        }
        i += 1;
    }
}

/// Scans options from word `start`: returns the index of the first operand.
/// `value_opts` take a separate value (`-n 5`) or an attached one (`-n5`,
/// `--name=5`); `on` sees each option with its value.
fn scan(
    words: &[String],
    start: usize,
    value_opts: &[&str],
    mut on: impl FnMut(&str, Option<&str>),
) -> usize {
    let mut i = start;
    while i < words.len() {
        let w = words[i].as_str();
        if w == "--" {
            return i + 1;
        }
        if !w.starts_with('-') || w.len() < 2 {
            break;
        }
        if let Some((name, value)) = w.split_once('=').filter(|_| w.starts_with("--")) {
            on(name, Some(value));
            i += 1;
        } else if value_opts.contains(&w) {
            on(w, words.get(i + 1).map(String::as_str));
            i += 2;
        } else if let Some(short) = w
            .get(..2)
            .filter(|s| !w.starts_with("--") && value_opts.contains(s))
        {
            on(short, Some(&w[2..]));
            i += 1;
        } else {
            on(w, None);
            i += 1;
        }
    }
    i.min(words.len())
}

fn has_opt(words: &[String], end: usize, flags: &[&str]) -> bool {
    words[1..end.min(words.len())]
        .iter()
        .any(|w| flags.contains(&w.as_str()))
}

/// Joins words back into shell text (for runners that run their
/// arguments through a shell).
fn join(words: &[String]) -> String {
    words
        .iter()
        .map(|w| shell_word(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Decides what a first word does with the rest of `cmd`.
fn plan(prog: &str, cmd: &mut SimpleCommand) -> Plan {
    let w = cmd.words.clone();
    let n = w.len();
    match prog {
        "env" => {
            let mut i = 1;
            while i < n {
                let a = w[i].as_str();
                if a == "--" {
                    i += 1;
                } else if matches!(a, "-S" | "--split-string") || a.starts_with("--split-string=") {
                    let text = a
                        .strip_prefix("--split-string=")
                        .map(str::to_owned)
                        .or_else(|| w.get(i + 1).cloned())
                        .unwrap_or_default();
                    let rest = if a.contains('=') { i + 1 } else { i + 2 };
                    let mut script = text;
                    if rest < n {
                        script.push(' ');
                        script.push_str(&join(&w[rest..]));
                    }
                    return Plan::Script {
                        text: script,
                        appended: false,
                        placeholder: None,
                    };
                } else if matches!(a, "-u" | "--unset" | "-C" | "--chdir") {
                    i += 2;
                } else if a.starts_with('-') && a.len() > 1 {
                    i += 1;
                } else if is_assignment(a) && !cmd.is_dynamic(i) {
                    cmd.assignments.push(a.to_owned());
                    i += 1;
                } else {
                    break;
                }
            }
            if i >= n { Plan::Nothing } else { target(i) }
        }
        "command" => {
            let end = scan(&w, 1, &[], |_, _| {});
            if has_opt(&w, end, &["-v", "-V", "-pv", "-vp"]) {
                Plan::Program
            } else {
                target(end)
            }
        }
        "builtin" | "nohup" | "unbuffer" | "catchsegv" | "dbus-run-session" | "proxychains"
        | "proxychains4" | "torsocks" | "firejail" | "valgrind" | "unshare" | "busybox"
        | "caffeinate" | "rlwrap" => target(scan(&w, 1, &[], |_, _| {})),
        "exec" => target(scan(&w, 1, &["-a"], |_, _| {})),
        "setsid" => target(scan(&w, 1, &[], |_, _| {})),
        "sudo" | "doas" => {
            let mut shell = false;
            let end = scan(
                &w,
                1,
                &[
                    "-u",
                    "-g",
                    "-C",
                    "-D",
                    "-h",
                    "-p",
                    "-U",
                    "-r",
                    "-t",
                    "-T",
                    "--user",
                    "--group",
                    "--chdir",
                    "--host",
                    "--prompt",
                    "--other-user",
                    "--role",
                    "--type",
                    "--command-timeout",
                ],
                |o, _| {
                    let short = !o.starts_with("--") && (o.contains('s') || o.contains('i'));
                    if short || matches!(o, "--shell" | "--login") {
                        shell = true;
                    }
                },
            );
            if end >= n {
                if shell {
                    Plan::Unresolved(format!("{prog} starts a shell reading standard input"))
                } else {
                    Plan::Nothing
                }
            } else {
                target(end)
            }
        }
        "nice" => target(scan(&w, 1, &["-n", "--adjustment"], |_, _| {})),
        "ionice" => target(scan(
            &w,
            1,
            &["-c", "-n", "-p", "--class", "--classdata"],
            |_, _| {},
        )),
        "stdbuf" => target(scan(
            &w,
            1,
            &["-i", "-o", "-e", "--input", "--output", "--error"],
            |_, _| {},
        )),
        "timeout" => {
            let end = scan(&w, 1, &["-s", "--signal", "-k", "--kill-after"], |_, _| {});
            target(end + 1) // the duration
        }
        "chrt" | "taskset" | "faketime" | "chroot" | "flock" => {
            let mut pid_form = false;
            let mut script = None;
            let value_opts: &[&str] = match prog {
                "taskset" => &[],
                "flock" => &[
                    "-w",
                    "--timeout",
                    "-E",
                    "--conflict-exit-code",
                    "-c",
                    "--command",
                ],
                "chroot" => &["--userspec", "--groups"],
                _ => &[],
            };
            let end = scan(&w, 1, value_opts, |o, v| match o {
                "-p" | "--pid" => pid_form = true,
                "-c" | "--command" if prog == "flock" => script = v.map(str::to_owned),
                _ => {}
            });
            if let Some(text) = script {
                return Plan::Script {
                    text,
                    appended: false,
                    placeholder: None,
                };
            }
            if pid_form {
                return Plan::Nothing;
            }
            // `flock FILE -c COMMAND`: the option may follow the lock file.
            if prog == "flock"
                && matches!(w.get(end + 1).map(String::as_str), Some("-c" | "--command"))
            {
                return match w.get(end + 2) {
                    Some(text) => Plan::Script {
                        text: text.clone(),
                        appended: false,
                        placeholder: None,
                    },
                    None => Plan::Nothing,
                };
            }
            // One operand (priority, mask, time, new root, lock file) first.
            if end + 1 >= n {
                if prog == "chroot" {
                    Plan::Unresolved("chroot without a command starts an interactive shell".into())
                } else {
                    Plan::Nothing
                }
            } else {
                target(end + 1)
            }
        }
        "time" => {
            let mut writes = None;
            let end = scan(&w, 1, &["-o", "--output", "-f", "--format"], |o, v| {
                if matches!(o, "-o" | "--output") {
                    writes = v.map(str::to_owned);
                }
            });
            Plan::Target {
                start: end,
                appended: false,
                placeholder: None,
                writes,
            }
        }
        "strace" | "ltrace" => {
            let mut writes = None;
            let end = scan(
                &w,
                1,
                &[
                    "-o", "-e", "-p", "-s", "-a", "-u", "-E", "-I", "-b", "-O", "-S", "-X", "-P",
                ],
                |o, v| {
                    if o == "-o" || o == "--output" {
                        writes = v.map(str::to_owned);
                    }
                },
            );
            Plan::Target {
                start: end,
                appended: false,
                placeholder: None,
                writes,
            }
        }
        "xargs" => {
            let mut placeholder = None;
            let end = scan(
                &w,
                1,
                &[
                    "-I",
                    "-n",
                    "-P",
                    "-L",
                    "-s",
                    "-d",
                    "-E",
                    "-a",
                    "--max-args",
                    "--max-procs",
                    "--delimiter",
                    "--arg-file",
                    "--eof",
                    "--max-lines",
                    "--max-chars",
                    "--process-slot-var",
                ],
                |o, v| match o {
                    "-I" | "--replace" => placeholder = Some(v.unwrap_or("{}").to_owned()),
                    "-i" => placeholder = Some("{}".to_owned()),
                    _ => {}
                },
            );
            if end >= n {
                // Without a command, xargs runs echo.
                return Plan::Nothing;
            }
            Plan::Target {
                start: end,
                appended: true,
                placeholder: placeholder.filter(|p| !p.is_empty()),
                writes: None,
            }
        }
        "watch" => {
            let mut exec = false;
            let end = scan(&w, 1, &["-n", "--interval", "-q", "--equexit"], |o, _| {
                if matches!(o, "-x" | "--exec") {
                    exec = true;
                }
            });
            if end >= n {
                Plan::Nothing
            } else if exec {
                target(end)
            } else {
                Plan::Script {
                    text: w[end..].join(" "),
                    appended: false,
                    placeholder: None,
                }
            }
        }
        "parallel" | "sem" => {
            let end = scan(
                &w,
                1,
                &[
                    "-j",
                    "--jobs",
                    "-P",
                    "-S",
                    "--sshlogin",
                    "-a",
                    "--arg-file",
                    "-n",
                    "--max-args",
                    "-N",
                    "-I",
                    "-d",
                    "--delimiter",
                    "-E",
                    "--colsep",
                    "-C",
                    "--results",
                    "--res",
                    "--joblog",
                    "--workdir",
                    "--wd",
                    "--tmpdir",
                    "--halt",
                    "--timeout",
                    "--delay",
                    "--retries",
                    "--sshloginfile",
                    "--slf",
                    "--tagstring",
                    "-L",
                    "--max-lines",
                    "-s",
                    "--max-chars",
                    "--memfree",
                    "--load",
                    "-l",
                    "--id",
                ],
                |_, _| {},
            );
            let stop = w[end..]
                .iter()
                .position(|a| a.starts_with(":::"))
                .map_or(n, |p| end + p);
            if stop == end {
                Plan::Unresolved(format!("{prog} reads the commands it runs from its input"))
            } else {
                Plan::Script {
                    text: w[end..stop].join(" "),
                    appended: true,
                    placeholder: Some("{}".into()),
                }
            }
        }
        "su" | "runuser" | "script" => {
            let mut script = None;
            let end = scan(
                &w,
                1,
                &[
                    "-c",
                    "--command",
                    "-s",
                    "--shell",
                    "-g",
                    "--group",
                    "-G",
                    "-u",
                    "--user",
                ],
                |o, v| {
                    if matches!(o, "-c" | "--command") {
                        script = v.map(str::to_owned);
                    }
                },
            );
            match script {
                Some(text) => Plan::Script {
                    text,
                    appended: false,
                    placeholder: None,
                },
                None if prog == "script" => {
                    Plan::Unresolved("script without -c starts an interactive shell".into())
                }
                None if end + 1 < n && prog == "runuser" => target(end + 1),
                None => Plan::Unresolved(format!("{prog} starts a shell reading standard input")),
            }
        }
        "trap" if n >= 3 && !matches!(w[1].as_str(), "-p" | "-l" | "-") => {
            // `trap 'COMMAND' SIGNAL…` runs COMMAND later.
            if cmd.is_dynamic(1) {
                Plan::Unresolved("trap runs a command that is only known at run time".into())
            } else {
                Plan::Script {
                    text: w[1].clone(),
                    appended: false,
                    placeholder: None,
                }
            }
        }
        _ if SHELLS.contains(&prog) => shell_plan(prog, cmd),
        _ => Plan::Program,
    }
}

/// `sh -c SCRIPT`, `sh FILE`, or `sh` reading its script from stdin.
///
/// As in bash, `-c` makes the first non-option argument the script (`-c`
/// may come before other options: `bash -c -e 'cmd'`), and each `o` or `O`
/// in a cluster takes the next word (`bash -euo pipefail -c 'cmd'`).
fn shell_plan(prog: &str, cmd: &SimpleCommand) -> Plan {
    let w = &cmd.words;
    let mut i = 1;
    let mut script_arg = false;
    let mut from_stdin = false;
    while i < w.len() {
        let a = w[i].as_str();
        if a == "--" || a == "-" {
            from_stdin |= a == "-";
            i += 1;
            break;
        }
        if a.starts_with("--") {
            if matches!(a, "--version" | "--help") {
                return Plan::Program;
            }
            i += if matches!(a, "--rcfile" | "--init-file") {
                2
            } else {
                1
            };
            continue;
        }
        if (a.starts_with('-') || a.starts_with('+')) && a.len() > 1 {
            let cluster = &a[1..];
            script_arg |= cluster.contains('c');
            from_stdin |= cluster.contains('s');
            i += 1 + cluster.chars().filter(|c| matches!(c, 'o' | 'O')).count();
            continue;
        }
        break;
    }
    if script_arg {
        return match w.get(i) {
            None => Plan::Nothing,
            Some(_) if cmd.is_dynamic(i) => Plan::Unresolved(format!(
                "{prog} -c runs a script that is only known at run time"
            )),
            Some(script) => Plan::Script {
                text: script.clone(),
                appended: false,
                placeholder: None,
            },
        };
    }
    if from_stdin || i >= w.len() {
        return Plan::Unresolved(format!(
            "{prog} reads its script from standard input (a pipe, heredoc or here-string), which cannot be checked"
        ));
    }
    if cmd.is_dynamic(i) {
        return Plan::Unresolved(format!(
            "{prog} runs a script file whose name is only known at run time"
        ));
    }
    Plan::Program
}

/// Interpreters that read their program from stdin when given none (or
/// `-`): returns why, or `None` when the program is inline, a file or a
/// module.
fn reads_program_from_stdin(prog: &str, cmd: &SimpleCommand) -> Option<String> {
    let (code_flags, value_flags): (&[&str], &[&str]) = if prog.starts_with("python") {
        (&["-c", "-m"], &["-W", "-X", "-Q"])
    } else {
        match prog {
            "perl" => (&["-e", "-E"], &["-I", "-M", "-m"]),
            "ruby" => (&["-e"], &["-I", "-r", "-C", "-E"]),
            "node" | "nodejs" => (
                &["-e", "--eval", "-p", "--print"],
                &["-r", "--require", "--input-type", "--import", "--loader"],
            ),
            "php" => (&["-r", "-f"], &["-d", "-c", "-z"]),
            "lua" | "luajit" => (&["-e"], &["-l"]),
            "Rscript" => (&["-e"], &[]),
            "tclsh" | "wish" | "osascript" | "pwsh" | "irb" => (&["-e", "-c", "-Command"], &[]),
            _ => return None,
        }
    };
    let w = &cmd.words;
    let mut i = 1;
    while i < w.len() {
        let a = w[i].as_str();
        if a == "-" {
            break;
        }
        if a == "--" {
            i += 1;
            break;
        }
        if !a.starts_with('-') {
            break;
        }
        if code_flags
            .iter()
            .any(|f| a == *f || (f.len() == 2 && a.starts_with(f)))
            || matches!(a, "--version" | "-V" | "--help" | "-h" | "-v" | "-version")
        {
            return None;
        }
        i += if value_flags.contains(&a) { 2 } else { 1 };
    }
    match w.get(i).map(String::as_str) {
        Some("-") | None => Some(format!(
            "{prog} reads its program from standard input (a pipe, heredoc or here-string), which cannot be checked"
        )),
        Some(_) if cmd.is_dynamic(i) => Some(format!(
            "{prog} runs a program file whose name is only known at run time"
        )),
        Some(_) => None,
    }
}

/// Returns whether `word` is `NAME=value`.
pub(super) fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            let name = name.strip_suffix('+').unwrap_or(name);
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

/// Returns whether a command name would undergo pathname expansion.
fn is_glob(word: &str) -> bool {
    word.contains('*') || word.contains('?') || (word.contains('[') && word.contains(']'))
}

/// Returns whether word `i` is literal text holding `$(` or a backtick
/// (a value that arithmetic evaluation or `eval` would run).
fn holds_command_text(cmd: &SimpleCommand, i: usize) -> bool {
    !cmd.is_dynamic(i) && (cmd.words[i].contains("$(") || cmd.words[i].contains('`'))
}
