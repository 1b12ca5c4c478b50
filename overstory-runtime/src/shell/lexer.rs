//! The tokenizer: shell text into raw simple commands, plus the text of
//! every command substitution found on the way (to be parsed in turn).
//!
//! It removes quotes like a shell does, decodes `$'…'`, and remembers for
//! each word whether its value is only known at run time (an expansion
//! `$x`, `${x}`, `$(…)`, `` `…` ``, `<(…)`, `$((…))`, or brace expansion
//! `{a,b}`): such a word is *dynamic*.

use super::{Redirect, SimpleCommand};

pub(super) struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    commands: Vec<SimpleCommand>,
    current: SimpleCommand,
    word: String,
    in_word: bool,
    /// The current word contains an expansion.
    word_dynamic: bool,
    /// The current word used quoting (for heredoc delimiters).
    word_quoted: bool,
    /// The current word's unquoted characters, quoted ones replaced by
    /// `\0` (for brace-expansion detection).
    shape: String,
    pending_redirect: Option<String>,
    /// Heredoc delimiters waiting for the next newline, with whether the
    /// body is expanded (unquoted delimiter).
    heredocs: Vec<(String, bool)>,
    /// Texts of command substitutions and process substitutions.
    pub(super) nested: Vec<String>,
    /// A literal word (quoted, not expanded) holds `$(` or a backtick.
    pub(super) literal_command_text: bool,
    /// Arithmetic is evaluated (`$((…))`, `((…))`, `let`, `[[`,
    /// `declare -i`), which expands variables recursively.
    pub(super) arithmetic: bool,
}

impl<'a> Lexer<'a> {
    pub(super) fn new(src: &'a str) -> Self {
        Self {
            chars: src.chars().peekable(),
            commands: Vec::new(),
            current: SimpleCommand::default(),
            word: String::new(),
            in_word: false,
            word_dynamic: false,
            word_quoted: false,
            shape: String::new(),
            pending_redirect: None,
            heredocs: Vec::new(),
            nested: Vec::new(),
            literal_command_text: false,
            arithmetic: false,
        }
    }

    pub(super) fn run(&mut self) -> Vec<SimpleCommand> {
        while let Some(c) = self.chars.next() {
            match c {
                ' ' | '\t' | '\r' => self.end_word(),
                '\n' => {
                    self.end_command();
                    self.read_heredocs();
                }
                ';' | '&' | '|' | '(' | ')' => {
                    if c == '(' && self.chars.peek() == Some(&'(') {
                        self.arithmetic = true;
                    }
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
                '>' | '<' if self.chars.peek() == Some(&'(') => {
                    // Process substitution: a command whose output (or
                    // input) is a file name known only at run time.
                    self.chars.next();
                    let inner = self.balanced();
                    self.substitution(c, &inner);
                }
                '>' | '<' => self.redirect(c),
                '#' if !self.in_word => {
                    while let Some(&n) = self.chars.peek() {
                        if n == '\n' {
                            break;
                        }
                        self.chars.next();
                    }
                }
                '\'' => {
                    self.start_quoted();
                    for n in self.chars.by_ref() {
                        if n == '\'' {
                            break;
                        }
                        self.word.push(n);
                        self.shape.push('\0');
                    }
                }
                '"' => {
                    self.start_quoted();
                    self.double_quoted(true);
                }
                '\\' => {
                    self.start_quoted();
                    match self.chars.next() {
                        Some('\n') | None => {}
                        Some(n) => {
                            self.word.push(n);
                            self.shape.push('\0');
                        }
                    }
                }
                '`' => {
                    self.in_word = true;
                    let inner = self.backtick();
                    self.substitution('$', &inner);
                }
                '$' => {
                    self.in_word = true;
                    self.dollar(false);
                }
                _ => {
                    self.in_word = true;
                    self.word.push(c);
                    self.shape.push(c);
                }
            }
        }
        self.end_command();
        std::mem::take(&mut self.commands)
    }

    fn start_quoted(&mut self) {
        self.in_word = true;
        self.word_quoted = true;
    }

    /// Records a command substitution `$(inner)` (or `<(inner)`, `>(inner)`)
    /// in the current word.
    fn substitution(&mut self, sigil: char, inner: &str) {
        self.in_word = true;
        self.word_dynamic = true;
        self.word.push(sigil);
        self.word.push('(');
        self.word.push_str(inner);
        self.word.push(')');
        self.shape.push('\0');
        self.nested.push(inner.to_owned());
    }

    /// Handles a `$` (already consumed), unquoted or inside double quotes.
    fn dollar(&mut self, in_double_quotes: bool) {
        match self.chars.peek().copied() {
            Some('(') => {
                self.chars.next();
                let content = self.balanced();
                // `$((…))` is arithmetic only when it also closes with `))`
                // (bash's rule); `$( (cmd) )` is a substitution of a subshell.
                match content.strip_prefix('(').and_then(|c| c.strip_suffix(')')) {
                    Some(expr) => {
                        self.arithmetic = true;
                        // Not a command, but it may hold substitutions.
                        let mut sub = Lexer::new(expr);
                        sub.double_quoted(false);
                        self.nested.append(&mut sub.nested);
                        self.word_dynamic = true;
                        self.word.push_str("$(");
                        self.word.push_str(&content);
                        self.word.push(')');
                        self.shape.push('\0');
                    }
                    None => self.substitution('$', &content),
                }
            }
            Some('\'') if !in_double_quotes => {
                self.chars.next();
                self.word_quoted = true;
                self.ansi_c_quoted();
            }
            Some('"') if !in_double_quotes => {
                self.chars.next();
                self.word_quoted = true;
                self.double_quoted(true);
            }
            Some(n) if n.is_ascii_alphanumeric() || "_{@*#?$!-".contains(n) => {
                self.word_dynamic = true;
                self.word.push('$');
                self.shape.push('\0');
                if n == '{' {
                    // `${…}` up to the matching brace; substitutions inside
                    // are found by reading it as double-quoted text.
                    self.chars.next();
                    let mut depth = 1usize;
                    let mut inner = String::new();
                    for q in self.chars.by_ref() {
                        match q {
                            '{' => depth += 1,
                            '}' => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                        inner.push(q);
                    }
                    let mut sub = Lexer::new(&inner);
                    sub.double_quoted(false);
                    self.nested.append(&mut sub.nested);
                    self.word.push('{');
                    self.word.push_str(&inner);
                    self.word.push('}');
                }
            }
            _ => {
                self.word.push('$');
                self.shape.push('$');
            }
        }
    }

    /// Reads `$'…'` (the opening quote consumed), decoding escapes.
    fn ansi_c_quoted(&mut self) {
        while let Some(n) = self.chars.next() {
            let decoded = match n {
                '\'' => return,
                '\\' => match self.chars.next() {
                    None => return,
                    Some('n') => '\n',
                    Some('t') => '\t',
                    Some('r') => '\r',
                    Some('a') => '\x07',
                    Some('b') => '\x08',
                    Some('e' | 'E') => '\x1b',
                    Some('f') => '\x0c',
                    Some('v') => '\x0b',
                    Some('x') => self.radix_char(16, 2),
                    Some('u') => self.radix_char(16, 4),
                    Some('U') => self.radix_char(16, 8),
                    Some(d @ '0'..='7') => {
                        let mut v = d.to_digit(8).unwrap_or(0);
                        for _ in 0..2 {
                            match self.chars.peek().and_then(|c| c.to_digit(8)) {
                                Some(x) => {
                                    v = v * 8 + x;
                                    self.chars.next();
                                }
                                None => break,
                            }
                        }
                        char::from_u32(v).unwrap_or('\u{fffd}')
                    }
                    Some(other) => other,
                },
                other => other,
            };
            self.word.push(decoded);
            self.shape.push('\0');
        }
    }

    fn radix_char(&mut self, radix: u32, max: usize) -> char {
        let mut v = 0u32;
        for _ in 0..max {
            match self.chars.peek().and_then(|c| c.to_digit(radix)) {
                Some(x) => {
                    v = v.saturating_mul(radix).saturating_add(x);
                    self.chars.next();
                }
                None => break,
            }
        }
        char::from_u32(v).unwrap_or('\u{fffd}')
    }

    fn redirect(&mut self, c: char) {
        // A word made only of digits just before the operator is an fd.
        if self.in_word
            && !self.word_quoted
            && !self.word.is_empty()
            && self.word.chars().all(|d| d.is_ascii_digit())
        {
            self.reset_word();
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
        if op == "<<" {
            // Heredoc: the next word is the delimiter; its body is stdin.
            if self.chars.peek() == Some(&'-') {
                self.chars.next();
            }
            self.pending_redirect = Some("<<".to_owned());
            return;
        }
        self.pending_redirect = Some(op);
    }

    /// Reads double-quoted text up to the closing quote (or, with
    /// `closing == false`, to the end: heredoc bodies and `${…}`).
    fn double_quoted(&mut self, closing: bool) {
        while let Some(n) = self.chars.next() {
            match n {
                '"' if closing => return,
                '\\' => match self.chars.next() {
                    Some(e @ ('"' | '\\' | '$' | '`')) => {
                        self.word.push(e);
                        self.shape.push('\0');
                    }
                    Some('\n') => {}
                    Some(e) => {
                        self.word.push('\\');
                        self.word.push(e);
                        self.shape.push_str("\0\0");
                    }
                    None => return,
                },
                '`' => {
                    let inner = self.backtick();
                    self.substitution('$', &inner);
                }
                '$' => self.dollar(true),
                _ => {
                    self.word.push(n);
                    self.shape.push('\0');
                }
            }
        }
    }

    /// Reads up to the matching `)` (quotes respected) and returns the inside.
    fn balanced(&mut self) -> String {
        let mut depth = 1usize;
        let mut inner = String::new();
        // Heredocs opened inside: their bodies may hold unbalanced quotes
        // and parentheses, so they are copied through verbatim.
        let mut heredocs: Vec<String> = Vec::new();
        // Inside `case … esac` a `)` ends a pattern, not the substitution.
        let mut cases = 0usize;
        let mut token = String::new();
        while let Some(n) = self.chars.next() {
            if n.is_ascii_alphanumeric() || n == '_' {
                token.push(n);
            } else {
                match token.as_str() {
                    "case" => cases += 1,
                    "esac" => cases = cases.saturating_sub(1),
                    _ => {}
                }
                token.clear();
            }
            match n {
                ')' if depth == 1 && cases > 0 => {}
                '<' if self.chars.peek() == Some(&'<') => {
                    self.chars.next();
                    inner.push_str("<<");
                    if self.chars.peek() == Some(&'<') {
                        continue; // a here-string
                    }
                    if self.chars.peek() == Some(&'-') {
                        self.chars.next();
                        inner.push('-');
                    }
                    while let Some(&c) = self.chars.peek() {
                        if c != ' ' && c != '\t' {
                            break;
                        }
                        inner.push(c);
                        self.chars.next();
                    }
                    let mut delim = String::new();
                    while let Some(&c) = self.chars.peek() {
                        if c.is_whitespace() || ";|&()<>".contains(c) {
                            break;
                        }
                        inner.push(c);
                        self.chars.next();
                        if !matches!(c, '\'' | '"' | '\\') {
                            delim.push(c);
                        }
                    }
                    if !delim.is_empty() {
                        heredocs.push(delim);
                    }
                    continue;
                }
                '\n' if !heredocs.is_empty() => {
                    inner.push('\n');
                    for delim in std::mem::take(&mut heredocs) {
                        let mut line = String::new();
                        for c in self.chars.by_ref() {
                            inner.push(c);
                            if c == '\n' {
                                if line.trim_start_matches('\t') == delim {
                                    break;
                                }
                                line.clear();
                            } else {
                                line.push(c);
                            }
                        }
                    }
                    continue;
                }
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
                '\\' => match self.chars.next() {
                    Some(e @ ('`' | '\\' | '$')) => inner.push(e),
                    Some(e) => {
                        inner.push('\\');
                        inner.push(e);
                    }
                    None => {}
                },
                _ => inner.push(n),
            }
        }
        inner
    }

    fn reset_word(&mut self) {
        self.word.clear();
        self.shape.clear();
        self.in_word = false;
        self.word_dynamic = false;
        self.word_quoted = false;
    }

    fn end_word(&mut self) {
        if !self.in_word {
            return;
        }
        let word = std::mem::take(&mut self.word);
        let dynamic = self.word_dynamic || has_brace_expansion(&self.shape);
        if !self.word_dynamic && (word.contains("$(") || word.contains('`')) {
            self.literal_command_text = true;
        }
        let quoted = self.word_quoted;
        self.reset_word();
        match self.pending_redirect.take() {
            Some(op) if op == "<<" => {
                self.heredocs.push((word.clone(), !quoted));
                self.current.redirects.push(Redirect { op, target: word });
            }
            Some(op) => self.current.redirects.push(Redirect { op, target: word }),
            None => {
                self.current.words.push(word);
                self.current.dynamic.push(dynamic);
            }
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
        let start = cmd
            .words
            .iter()
            .position(|w| {
                !matches!(
                    w.as_str(),
                    "do" | "then" | "else" | "elif" | "!" | "{" | "if" | "while" | "until" | "time"
                )
            })
            .unwrap_or(cmd.words.len());
        let first = cmd.words.get(start).map(String::as_str);
        let integer_declaration = matches!(first, Some("declare" | "typeset" | "local"))
            && cmd.words[start..]
                .iter()
                .any(|w| w.starts_with('-') && w.contains('i'));
        if matches!(first, Some("let"))
            || cmd.words.iter().any(|w| w == "[[")
            || integer_declaration
        {
            self.arithmetic = true;
        }
        if !cmd.words.is_empty() || !cmd.redirects.is_empty() {
            self.commands.push(cmd);
        }
    }

    /// Consumes the bodies of pending heredocs. A body whose delimiter was
    /// unquoted is expanded by the shell, so its substitutions are commands.
    fn read_heredocs(&mut self) {
        let delims = std::mem::take(&mut self.heredocs);
        for (delim, expanded) in delims {
            let mut body = String::new();
            let mut line = String::new();
            loop {
                match self.chars.next() {
                    None => {
                        body.push_str(&line);
                        break;
                    }
                    Some('\n') => {
                        if line.trim_start_matches('\t') == delim {
                            break;
                        }
                        body.push_str(&line);
                        body.push('\n');
                        line.clear();
                    }
                    Some(c) => line.push(c),
                }
            }
            if !expanded && (body.contains("$(") || body.contains('`')) {
                self.literal_command_text = true;
            }
            if expanded {
                let mut sub = Lexer::new(&body);
                sub.double_quoted(false);
                self.nested.append(&mut sub.nested);
            }
        }
    }
}

/// Returns whether an unquoted `{…}` holding `,` or `..` appears (the
/// shell would expand it into several words).
fn has_brace_expansion(shape: &str) -> bool {
    let mut rest = shape;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return false;
        };
        let inside = &after[..close];
        if inside.contains(',') || inside.contains("..") {
            return true;
        }
        rest = &after[close + 1..];
    }
    false
}
