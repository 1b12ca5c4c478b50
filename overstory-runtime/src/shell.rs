//! POSIX shell words: a small lexer for guard decisions, and the quoting
//! used to build command lines ([`shell_quote`], [`shell_word`]); a word
//! quoted here lexes back to itself.
//!
//! The lexer does not run anything. It splits a command line into the simple
//! commands a shell would run — across `;`, `&&`, `||`, `|`, `&`, newlines,
//! subshells `( … )`, groups `{ …; }`, command substitutions `$( … )` and
//! backticks (also inside double quotes), and the strings given to
//! `sh -c`/`bash -c`/`eval` — and unwraps prefixes such as `env X=1`,
//! `command`, `nohup`, `timeout 5`, `sudo` or `xargs`, so that a guard sees
//! `git push` however it is dressed up.

/// An output or input redirection of a simple command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The operator without a leading fd number (`>`, `>>`, `<`, `&>`, `>&`).
    pub op: String,
    /// The target word (a path, or an fd number for `>&`).
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
}

/// One simple command: its words (quotes removed) and redirections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimpleCommand {
    /// The words after quote removal; `$…` expansions are kept literally.
    pub words: Vec<String>,
    /// Its redirections, in source order.
    pub redirects: Vec<Redirect>,
}

impl SimpleCommand {
    /// Returns the program's base name (`/usr/bin/git` ⇒ `git`).
    pub fn program(&self) -> Option<&str> {
        self.words
            .first()
            .map(|w| w.rsplit('/').next().unwrap_or(w))
    }

    /// Returns the command as text (for reasons and logs).
    pub fn display(&self) -> String {
        let mut s = self.words.join(" ");
        for r in &self.redirects {
            s.push_str(&format!(" {}{}", r.op, r.target));
        }
        s
    }
}

const MAX_DEPTH: usize = 8;

/// Splits `src` into every simple command it would run, nested ones included,
/// with wrappers (`env`, `sudo`, `nohup`, …) removed.
pub fn commands(src: &str) -> Vec<SimpleCommand> {
    let mut out = Vec::new();
    collect(src, 0, &mut out);
    out
}

fn collect(src: &str, depth: usize, out: &mut Vec<SimpleCommand>) {
    if depth > MAX_DEPTH {
        // Absurd nesting: keep the text as one opaque command so guards that
        // look for words still see it.
        out.push(SimpleCommand {
            words: src.split_whitespace().map(str::to_owned).collect(),
            redirects: Vec::new(),
        });
        return;
    }
    let mut lexer = Lexer::new(src);
    let raw = lexer.run();
    for nested in lexer.nested {
        collect(&nested, depth + 1, out);
    }
    for cmd in raw {
        unwrap_command(cmd, depth, out);
    }
}

const KEYWORDS: &[&str] = &[
    "!", "{", "}", "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "for",
    "case", "esac", "in", "function", "select", "coproc", "time",
];

/// Removes assignments, keywords and wrapper programs, recursing into
/// `sh -c` strings, `eval`, `find -exec` and `xargs`.
fn unwrap_command(mut cmd: SimpleCommand, depth: usize, out: &mut Vec<SimpleCommand>) {
    loop {
        let Some(first) = cmd.words.first().cloned() else {
            if !cmd.redirects.is_empty() {
                out.push(cmd);
            }
            return;
        };
        if KEYWORDS.contains(&first.as_str()) || is_assignment(&first) {
            cmd.words.remove(0);
            continue;
        }
        let prog = first.rsplit('/').next().unwrap_or(&first).to_owned();
        let skip = match prog.as_str() {
            "env" => skip_options(
                &cmd.words[1..],
                &["-u", "--unset", "-C", "--chdir", "-S"],
                true,
            ),
            "command" | "builtin" | "exec" | "nohup" | "setsid" | "unbuffer" => {
                skip_options(&cmd.words[1..], &[], false)
            }
            "sudo" | "doas" => skip_options(
                &cmd.words[1..],
                &["-u", "-g", "-C", "-D", "-h", "-p", "-U"],
                true,
            ),
            "nice" => skip_options(&cmd.words[1..], &["-n"], false),
            "ionice" => skip_options(&cmd.words[1..], &["-c", "-n", "-p"], false),
            "stdbuf" => skip_options(&cmd.words[1..], &[], false),
            "timeout" => {
                let n = skip_options(
                    &cmd.words[1..],
                    &["-s", "--signal", "-k", "--kill-after"],
                    false,
                );
                n + 1 // the duration
            }
            "xargs" => skip_options(
                &cmd.words[1..],
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
                ],
                false,
            ),
            _ => 0,
        };
        if prog == "env"
            || matches!(
                prog.as_str(),
                "command"
                    | "builtin"
                    | "exec"
                    | "nohup"
                    | "setsid"
                    | "unbuffer"
                    | "sudo"
                    | "doas"
                    | "nice"
                    | "ionice"
                    | "stdbuf"
                    | "timeout"
                    | "xargs"
            )
        {
            let n = (1 + skip).min(cmd.words.len());
            cmd.words.drain(..n);
            continue;
        }
        if matches!(
            prog.as_str(),
            "sh" | "bash" | "zsh" | "dash" | "ksh" | "ash" | "fish"
        ) && let Some(script) = shell_c_script(&cmd.words[1..])
        {
            collect(&script, depth + 1, out);
            // The shell itself is also kept, so its redirections count.
            out.push(cmd);
            return;
        }
        if prog == "eval" {
            let script = cmd.words[1..].join(" ");
            collect(&script, depth + 1, out);
            out.push(cmd);
            return;
        }
        if prog == "find" {
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
                    let inner = SimpleCommand {
                        words: cmd.words[start..end.min(cmd.words.len())].to_vec(),
                        redirects: Vec::new(),
                    };
                    unwrap_command(inner, depth + 1, out);
                    i = end;
                }
                i += 1;
            }
        }
        out.push(cmd);
        return;
    }
}

fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

/// Counts leading option words (and their values for `with_value` options,
/// and `NAME=value` words when `assignments`).
fn skip_options(words: &[String], with_value: &[&str], assignments: bool) -> usize {
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        if w == "--" {
            return i + 1;
        }
        if assignments && is_assignment(w) {
            i += 1;
            continue;
        }
        if w.starts_with('-') && w.len() > 1 {
            i += if with_value.contains(&w.as_str()) {
                2
            } else {
                1
            };
            continue;
        }
        break;
    }
    i.min(words.len())
}

/// Returns the script of `sh -c <script>` (flags may be combined: `-lc`).
fn shell_c_script(args: &[String]) -> Option<String> {
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a.starts_with('-') && !a.starts_with("--") && a.contains('c') {
            return args.get(i + 1).cloned();
        }
        if a.starts_with('-') {
            i += 1;
            continue;
        }
        return None;
    }
    None
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    commands: Vec<SimpleCommand>,
    current: SimpleCommand,
    word: String,
    in_word: bool,
    pending_redirect: Option<String>,
    heredocs: Vec<String>,
    nested: Vec<String>,
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str) -> Self {
        Self {
            chars: src.chars().peekable(),
            commands: Vec::new(),
            current: SimpleCommand::default(),
            word: String::new(),
            in_word: false,
            pending_redirect: None,
            heredocs: Vec::new(),
            nested: Vec::new(),
        }
    }

    fn run(&mut self) -> Vec<SimpleCommand> {
        while let Some(c) = self.chars.next() {
            match c {
                ' ' | '\t' => self.end_word(),
                '\n' => {
                    self.end_command();
                    self.skip_heredocs();
                }
                ';' | '&' | '|' | '(' | ')' => {
                    if c == '&' && self.chars.peek() == Some(&'>') {
                        self.chars.next();
                        self.end_word();
                        let op = if self.chars.peek() == Some(&'>') {
                            self.chars.next();
                            "&>>"
                        } else {
                            "&>"
                        };
                        self.pending_redirect = Some(op.to_owned());
                        continue;
                    }
                    self.end_command();
                    // `&&`, `||`, `;;`, `|&` are one separator; either way
                    // the command ends here.
                    if matches!(self.chars.peek(), Some('&' | '|' | ';')) && c != '(' && c != ')' {
                        self.chars.next();
                    }
                }
                '>' | '<' => self.redirect(c),
                '#' if !self.in_word => {
                    for n in self.chars.by_ref() {
                        if n == '\n' {
                            self.end_command();
                            self.skip_heredocs();
                            break;
                        }
                    }
                }
                '\'' => {
                    self.in_word = true;
                    for n in self.chars.by_ref() {
                        if n == '\'' {
                            break;
                        }
                        self.word.push(n);
                    }
                }
                '"' => {
                    self.in_word = true;
                    self.double_quoted();
                }
                '\\' => {
                    self.in_word = true;
                    match self.chars.next() {
                        Some('\n') | None => {}
                        Some(n) => self.word.push(n),
                    }
                }
                '`' => {
                    self.in_word = true;
                    let inner = self.backtick();
                    self.word.push_str("$(");
                    self.word.push_str(&inner);
                    self.word.push(')');
                    self.nested.push(inner);
                }
                '$' if self.chars.peek() == Some(&'(') => {
                    self.in_word = true;
                    self.chars.next();
                    let inner = self.balanced();
                    self.word.push_str("$(");
                    self.word.push_str(&inner);
                    self.word.push(')');
                    self.nested.push(inner);
                }
                _ => {
                    self.in_word = true;
                    self.word.push(c);
                }
            }
        }
        self.end_command();
        std::mem::take(&mut self.commands)
    }

    fn redirect(&mut self, c: char) {
        // A word made only of digits just before the operator is an fd.
        if self.in_word && !self.word.is_empty() && self.word.chars().all(|d| d.is_ascii_digit()) {
            self.word.clear();
            self.in_word = false;
        } else {
            self.end_word();
        }
        let mut op = c.to_string();
        while let Some(&n) = self.chars.peek() {
            if (n == '>' && c == '>') || (n == '<' && c == '<') || n == '&' || n == '|' {
                op.push(n);
                self.chars.next();
                if n == '&' || n == '|' {
                    break;
                }
            } else {
                break;
            }
        }
        if op == "<<" || op == "<<-" || op.starts_with("<<") && op.len() == 2 {
            // Heredoc: the next word is the delimiter; its body is data.
            self.pending_redirect = Some("<<".to_owned());
            return;
        }
        self.pending_redirect = Some(op);
    }

    fn double_quoted(&mut self) {
        while let Some(n) = self.chars.next() {
            match n {
                '"' => return,
                '\\' => match self.chars.next() {
                    Some(e @ ('"' | '\\' | '$' | '`')) => self.word.push(e),
                    Some('\n') => {}
                    Some(e) => {
                        self.word.push('\\');
                        self.word.push(e);
                    }
                    None => return,
                },
                '`' => {
                    let inner = self.backtick();
                    self.word.push_str("$(");
                    self.word.push_str(&inner);
                    self.word.push(')');
                    self.nested.push(inner);
                }
                '$' if self.chars.peek() == Some(&'(') => {
                    self.chars.next();
                    let inner = self.balanced();
                    self.word.push_str("$(");
                    self.word.push_str(&inner);
                    self.word.push(')');
                    self.nested.push(inner);
                }
                _ => self.word.push(n),
            }
        }
    }

    /// Reads up to the matching `)` (quotes respected) and returns the inside.
    fn balanced(&mut self) -> String {
        let mut depth = 1usize;
        let mut inner = String::new();
        while let Some(n) = self.chars.next() {
            match n {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return inner;
                    }
                }
                '\'' => {
                    inner.push(n);
                    for q in self.chars.by_ref() {
                        inner.push(q);
                        if q == '\'' {
                            break;
                        }
                    }
                    continue;
                }
                '"' => {
                    inner.push(n);
                    while let Some(q) = self.chars.next() {
                        inner.push(q);
                        if q == '\\' {
                            if let Some(e) = self.chars.next() {
                                inner.push(e);
                            }
                            continue;
                        }
                        if q == '"' {
                            break;
                        }
                    }
                    continue;
                }
                '\\' => {
                    inner.push(n);
                    if let Some(e) = self.chars.next() {
                        inner.push(e);
                    }
                    continue;
                }
                _ => {}
            }
            inner.push(n);
        }
        inner
    }

    fn backtick(&mut self) -> String {
        let mut inner = String::new();
        while let Some(n) = self.chars.next() {
            match n {
                '`' => break,
                '\\' => {
                    if let Some(e) = self.chars.next() {
                        inner.push(e);
                    }
                }
                _ => inner.push(n),
            }
        }
        inner
    }

    fn end_word(&mut self) {
        if !self.in_word {
            return;
        }
        let word = std::mem::take(&mut self.word);
        self.in_word = false;
        match self.pending_redirect.take() {
            Some(op) if op == "<<" => {
                let delim = word.trim_start_matches('-').to_owned();
                self.heredocs.push(delim.clone());
                self.current.redirects.push(Redirect { op, target: delim });
            }
            Some(op) => self.current.redirects.push(Redirect { op, target: word }),
            None => self.current.words.push(word),
        }
    }

    fn end_command(&mut self) {
        self.end_word();
        if let Some(op) = self.pending_redirect.take() {
            self.current.redirects.push(Redirect {
                op,
                target: String::new(),
            });
        }
        let cmd = std::mem::take(&mut self.current);
        if !cmd.words.is_empty() || !cmd.redirects.is_empty() {
            self.commands.push(cmd);
        }
    }

    fn skip_heredocs(&mut self) {
        let delims = std::mem::take(&mut self.heredocs);
        for delim in delims {
            let mut line = String::new();
            loop {
                match self.chars.next() {
                    None => return,
                    Some('\n') => {
                        if line.trim() == delim {
                            break;
                        }
                        line.clear();
                    }
                    Some(c) => line.push(c),
                }
            }
        }
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

    #[test]
    fn comments_are_ignored() {
        assert_eq!(progs("ls # git push"), [vec!["ls"]]);
    }
}
