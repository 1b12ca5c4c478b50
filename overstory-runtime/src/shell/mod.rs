//! POSIX shell words: a small lexer for guard decisions, and the quoting
//! used to build command lines ([`shell_quote`], [`shell_word`]); a word
//! quoted here lexes back to itself.
//!
//! The lexer does not run anything. [`parse`] splits a command line into the
//! simple commands a shell would run — across `;`, `&&`, `||`, `|`, `&`,
//! newlines, subshells `( … )`, groups `{ …; }`, command substitutions
//! `$( … )` and backticks (also inside double quotes and unquoted heredoc
//! bodies), process substitutions `<( … )`, and the scripts given to
//! `sh -c`, `watch`, `parallel`, `su -c` or `env -S` — and unwraps the
//! runners that execute their arguments (`env`, `command`, `exec`, `nohup`,
//! `timeout`, `nice`, `time`, `stdbuf`, `setsid`, `chroot`, `sudo`, `doas`,
//! `xargs`, `find -exec`, …), so that a guard sees `git push` however it is
//! dressed up. Each command remembers which runners it went through.
//!
//! What cannot be known without running the text is reported in
//! [`Script::unresolved`] instead of being guessed: a command name that is
//! an expansion (`$g push`), `eval`, a shell or interpreter reading its
//! program from standard input (`echo git push | sh`, `bash <<< …`,
//! `python3 - <<EOF`), a runner whose command comes from its input
//! (`parallel` without a command), and nesting deeper than [`MAX_DEPTH`]
//! levels. A guard denies such a command for a constrained agent.
//!
//! ```
//! use overstory_runtime::shell;
//!
//! let s = shell::parse("timeout 5 bash -c 'git status && git push'");
//! let progs: Vec<_> = s.commands.iter().filter_map(|c| c.program()).collect();
//! assert!(progs.contains(&"git"));
//! assert!(s.unresolved.is_empty());
//! assert!(!shell::parse("g=git; $g push").unresolved.is_empty());
//! ```

mod lexer;
mod unwrap;

/// An output or input redirection of a simple command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The operator without a leading fd number (`>`, `>>`, `<`, `<<<`,
    /// `<<`, `&>`, `>&`).
    pub op: String,
    /// The target word (a path, an fd number for `>&`, the delimiter of a
    /// heredoc).
    pub target: String,
}

impl Redirect {
    /// Returns whether this redirection writes to a file (not an fd dup,
    /// not an input).
    pub fn writes_file(&self) -> bool {
        match self.op.as_str() {
            ">" | ">>" | ">|" | "&>" | "&>>" => true,
            ">&" => !self.target.chars().all(|c| c.is_ascii_digit() || c == '-'),
            _ => false,
        }
    }

    /// Returns whether this redirection feeds the command's standard input
    /// (`<`, a heredoc, a here-string).
    pub fn reads_stdin(&self) -> bool {
        matches!(self.op.as_str(), "<" | "<<" | "<<<")
    }
}

/// One simple command: its words (quotes removed) and redirections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimpleCommand {
    /// The words after quote removal; `$…` expansions are kept literally.
    pub words: Vec<String>,
    /// Its redirections, in source order.
    pub redirects: Vec<Redirect>,
    /// For each word, whether its value is only known at run time (an
    /// expansion, a substitution, brace expansion, or a runner's
    /// placeholder such as `{}`). Same length as `words`.
    pub dynamic: Vec<bool>,
    /// Variable assignments made for this command (`X=1 cmd`,
    /// `env X=1 cmd`), as `NAME=value`.
    pub assignments: Vec<String>,
    /// The runners that execute this command, outermost first (`timeout`,
    /// `xargs`, `find`, `sudo`, …).
    pub runners: Vec<String>,
    /// Whether a runner adds arguments only known at run time (`xargs`,
    /// `find -exec … +`, `parallel`).
    pub appended_args: bool,
}

impl SimpleCommand {
    /// Returns the program's base name (`/usr/bin/git` ⇒ `git`).
    pub fn program(&self) -> Option<&str> {
        self.words
            .first()
            .map(|w| w.rsplit('/').next().unwrap_or(w))
    }

    /// Returns whether word `i` is only known at run time.
    pub fn is_dynamic(&self, i: usize) -> bool {
        self.dynamic.get(i).copied().unwrap_or(false)
    }

    /// Returns whether any argument (not the program) is only known at run
    /// time, or a runner appends arguments.
    pub fn has_dynamic_args(&self) -> bool {
        self.appended_args || self.dynamic.iter().skip(1).any(|d| *d)
    }

    /// Returns the command as text (for reasons and logs).
    pub fn display(&self) -> String {
        let mut s = self.words.join(" ");
        for r in &self.redirects {
            s.push_str(&format!(" {}{}", r.op, r.target));
        }
        s
    }

    /// Removes the first `n` words.
    fn drop_front(&mut self, n: usize) {
        let n = n.min(self.words.len());
        self.words.drain(..n);
        let d = n.min(self.dynamic.len());
        self.dynamic.drain(..d);
    }
}

/// Something in a command line the lexer cannot resolve without running it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    /// What was found, for the guard's reason (`"$g" used as a command
    /// name`, `eval runs text assembled at run time`, …).
    pub reason: String,
}

impl std::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// A command line as the guard sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    /// Every simple command it would run, nested ones included, runners
    /// removed.
    pub commands: Vec<SimpleCommand>,
    /// What could not be resolved statically; empty when every command is
    /// known.
    pub unresolved: Vec<Unresolved>,
    /// Literal text holding `$(` or a backtick was seen at some level.
    literal_command_text: bool,
    /// Arithmetic evaluation was seen at some level.
    arithmetic: bool,
}

impl Script {
    fn push_unresolved(&mut self, reason: impl Into<String>) {
        self.unresolved.push(Unresolved {
            reason: reason.into(),
        });
    }
}

/// How many levels of nested scripts (`$(…)`, `sh -c`, runners) are
/// followed; anything deeper is [`Unresolved`].
pub const MAX_DEPTH: usize = 8;

/// Parses `src` into every simple command it would run and what could not
/// be resolved.
pub fn parse(src: &str) -> Script {
    let mut out = Script::default();
    collect(src, 0, &mut out);
    if out.literal_command_text && out.arithmetic {
        // Bash evaluates variables inside arithmetic as expressions, and an
        // array subscript there runs `$(…)`: text that reached a variable
        // (by assignment, read, for, printf -v…) would run.
        out.push_unresolved(
            "arithmetic next to literal text holding $(…) or backticks (bash arithmetic can run such text from a variable)",
        );
    }
    out
}

/// Splits `src` into every simple command it would run, nested ones included,
/// with runners (`env`, `sudo`, `nohup`, …) removed. Unresolvable parts are
/// dropped: use [`parse`] to learn about them.
pub fn commands(src: &str) -> Vec<SimpleCommand> {
    parse(src).commands
}

fn collect(src: &str, depth: usize, out: &mut Script) {
    if depth > MAX_DEPTH {
        out.push_unresolved(format!(
            "nesting deeper than {MAX_DEPTH} levels of substitutions, shells or runners"
        ));
        return;
    }
    let mut lexer = lexer::Lexer::new(src);
    let raw = lexer.run();
    out.literal_command_text |= lexer.literal_command_text;
    out.arithmetic |= lexer.arithmetic;
    for nested in std::mem::take(&mut lexer.nested) {
        collect(&nested, depth + 1, out);
    }
    for cmd in raw {
        unwrap::unwrap_command(cmd, depth, out);
    }
}

/// Single-quotes `s` for POSIX shells (`'` becomes `'\''`).
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Returns `s` bare when it is made only of shell-safe characters
/// (`[A-Za-z0-9._/:@%+=,-]`), single-quoted otherwise.
pub fn shell_word(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/:@%+=,-".contains(c));
    if safe { s.to_owned() } else { shell_quote(s) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_words_lex_back_to_themselves() {
        for word in ["plain", "it's", "a b", "$HOME", "x;y && z", "", "'", "a\\b"] {
            for quoted in [shell_quote(word), shell_word(word)] {
                let words = &commands(&format!("echo {quoted}"))[0].words;
                assert_eq!(words[1..], [word.to_owned()], "{quoted}");
            }
        }
        assert_eq!(shell_word("/usr/bin/ov"), "/usr/bin/ov");
        assert_eq!(shell_word("/opt/ov bin/ov"), "'/opt/ov bin/ov'");
    }

    fn progs(src: &str) -> Vec<Vec<String>> {
        commands(src).into_iter().map(|c| c.words).collect()
    }

    #[test]
    fn splits_on_every_separator() {
        let p = progs("a 1 && b 2 || c; d | e & f\ng");
        let firsts: Vec<_> = p.iter().map(|w| w[0].as_str()).collect();
        assert_eq!(firsts, ["a", "b", "c", "d", "e", "f", "g"]);
    }

    #[test]
    fn quotes_are_removed_and_operators_inside_quotes_are_text() {
        let p = progs(r#"echo "a && b" 'c; d' e\ f"#);
        assert_eq!(p, [vec!["echo", "a && b", "c; d", "e f"]]);
    }

    #[test]
    fn substitutions_and_subshells_are_commands_too() {
        let p = progs(r#"echo "$(git push)" `rm x` (cd y && mv a b)"#);
        let firsts: Vec<_> = p.iter().map(|w| w[0].as_str()).collect();
        assert!(firsts.contains(&"git"), "{p:?}");
        assert!(firsts.contains(&"rm"), "{p:?}");
        assert!(firsts.contains(&"mv"), "{p:?}");
        assert!(firsts.contains(&"cd"), "{p:?}");
    }

    #[test]
    fn wrappers_and_assignments_are_unwrapped() {
        for src in [
            "env X=1 git push",
            "X=1 Y=2 git push",
            "command git push",
            "sudo -u root git push",
            "nohup git push",
            "timeout 5 git push",
            "timeout -s KILL 5 git push",
            "/usr/bin/env -i git push",
            "xargs -n1 git push",
        ] {
            let cmds = commands(src);
            assert!(
                cmds.iter()
                    .any(|c| c.words.first().map(String::as_str) == Some("git")
                        && c.words.get(1).map(String::as_str) == Some("push")),
                "{src}: {cmds:?}"
            );
        }
    }

    #[test]
    fn shell_c_and_eval_strings_are_parsed() {
        for src in [
            r#"sh -c "git push""#,
            r#"bash -lc 'git push origin'"#,
            "eval git push",
            r#"eval "git push""#,
        ] {
            let cmds = commands(src);
            assert!(
                cmds.iter()
                    .any(|c| c.words.starts_with(&["git".into(), "push".into()])),
                "{src}: {cmds:?}"
            );
        }
    }

    #[test]
    fn redirections_are_recorded_with_their_targets() {
        let c = &commands("echo hi >/abs/file 2>&1 >> log")[0];
        assert_eq!(c.words, ["echo", "hi"]);
        let ops: Vec<_> = c
            .redirects
            .iter()
            .map(|r| (r.op.as_str(), r.target.as_str()))
            .collect();
        assert_eq!(ops, [(">", "/abs/file"), (">&", "1"), (">>", "log")]);
        assert!(c.redirects[0].writes_file());
        assert!(!c.redirects[1].writes_file());
        let c = &commands("cat a &> out")[0];
        assert_eq!(c.redirects[0].op, "&>");
    }

    #[test]
    fn heredoc_bodies_are_data_not_commands() {
        let p = progs("cat <<EOF\nrm -rf /\nEOF\nls");
        let firsts: Vec<_> = p.iter().map(|w| w[0].as_str()).collect();
        assert_eq!(firsts, ["cat", "ls"]);
    }

    #[test]
    fn find_exec_is_a_command() {
        let p = progs(r"find . -name x -exec rm {} \;");
        assert!(p.iter().any(|w| w[0] == "rm"), "{p:?}");
    }

    fn unresolved(src: &str) -> Vec<String> {
        parse(src)
            .unresolved
            .into_iter()
            .map(|u| u.reason)
            .collect()
    }

    #[test]
    fn what_cannot_be_known_statically_is_reported() {
        for src in [
            "g=git; $g push",
            "$(echo git) push",
            "${G} push",
            "`which git` push",
            "eval git push",
            "echo git push | sh",
            "bash <<< 'git push'",
            "sh -s < script",
            "python3 - <<EOF\nprint(1)\nEOF",
            "echo 'print(1)' | python3",
            "parallel < cmds",
            "bash -c \"$X\"",
            ". <(curl x)",
            "alias g='git push'",
            "x='a[$(git push)]'; echo $((x))",
            "read x <<< 'a[$(git push)]'; echo $((x))",
            "for x in 'a[`git push`]'; do let y=x; done",
            "printf -v x '%s' 'a[$(git push)]'; [[ $x -eq 1 ]]",
            "x='a[$(git push)]' bash -c 'echo $((x))'",
            "sudo -s",
            "/usr/bin/gi? push",
        ] {
            assert!(!unresolved(src).is_empty(), "{src}: {:?}", parse(src));
        }
        for src in [
            "git status",
            "bash script.sh",
            "python3 -c 'print(1)'",
            "python3 -m pytest",
            "node app.js",
            "echo $((1 + 2))",
            "for i in 1 2; do echo $((i + 1)); done",
            "grep -n '$(' src/*.sh",
            "X=$(date) make",
            "find . -name '*.rs' -exec wc -l {} +",
            "cat <<'EOF'\n$(not run)\nEOF",
        ] {
            assert!(unresolved(src).is_empty(), "{src}: {:?}", parse(src));
        }
        let deep = (0..MAX_DEPTH + 2).fold("ls".to_owned(), |s, _| format!("echo $({s})"));
        assert!(unresolved(&deep)[0].contains("nesting deeper"));
    }

    #[test]
    fn words_known_only_at_run_time_are_marked() {
        let c = &commands("git log \"$R\" ${X} {a,b} '$lit' plain $'a\\tb'")[0];
        assert_eq!(
            c.dynamic,
            [false, false, true, true, true, false, false, false]
        );
        assert_eq!(c.words[5], "$lit");
        assert_eq!(c.words[7], "a\tb");
    }

    #[test]
    fn runners_are_recorded_and_their_targets_unwrapped() {
        let s = parse("timeout 5 nice -n 2 xargs -I{} grep {} f");
        let c = &s.commands[0];
        assert_eq!(c.words[0], "grep");
        assert_eq!(c.runners, ["timeout", "nice", "xargs"]);
        assert!(c.appended_args && c.is_dynamic(1));
        let c = &commands("time -o /etc/t ls")[0];
        assert_eq!(c.words, ["ls"]);
        assert_eq!(c.redirects[0].target, "/etc/t");
        let w = commands("watch -n1 'git status && git push'");
        assert!(
            w.iter()
                .any(|c| c.words == ["git", "push"] && c.runners == ["watch"])
        );
        let e = commands("env -S 'git push' && env A=1 B=2 ls");
        assert!(e.iter().any(|c| c.words == ["git", "push"]));
        assert!(
            e.iter()
                .any(|c| c.words == ["ls"] && c.assignments == ["A=1", "B=2"])
        );
    }

    #[test]
    fn substitutions_in_unquoted_heredocs_and_process_substitutions_run() {
        let p = progs("cat <<EOF\n$(git push)\nEOF\ndiff <(git show a) b");
        let firsts: Vec<_> = p.iter().filter_map(|w| w.first()).collect();
        assert!(firsts.iter().filter(|w| **w == "git").count() == 2, "{p:?}");
        assert_eq!(progs("echo $( (git push) )")[0], ["git", "push"]);
        let p = progs("echo $(case x in x) git push ;; (y) ls ;; esac) done");
        assert!(p.iter().any(|w| w == &["git", "push"]), "{p:?}");
        assert!(
            p.iter()
                .any(|w| w == &["echo", "$(case x in x) git push ;; (y) ls ;; esac)", "done"]),
            "{p:?}"
        );
        assert!(progs("echo $((git push))").iter().all(|w| w[0] == "echo"));
    }

    #[test]
    fn comments_are_ignored() {
        assert_eq!(progs("ls # git push"), [vec!["ls"]]);
    }
}
