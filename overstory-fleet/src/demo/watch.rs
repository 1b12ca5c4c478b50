//! Watching the swarm: progress lines from `sessions.db`, `events.db`,
//! `mail.db` and git, emitted in time order.

use super::*;

impl Demo {
    /// Emits one line now (after anything noted and not yet emitted).
    pub(super) fn emit(
        &mut self,
        progress: &mut dyn FnMut(&Progress),
        kind: &'static str,
        agent: Option<&str>,
        text: String,
    ) {
        self.note(kind, agent, text, None);
        self.flush(progress);
    }

    /// Notes a line that happened at `at` (an RFC 3339 time), else now.
    pub(super) fn note(
        &mut self,
        kind: &'static str,
        agent: Option<&str>,
        text: String,
        at: Option<&str>,
    ) {
        let elapsed = at
            .and_then(overstory_core::clock::parse_rfc3339)
            .map_or_else(
                || millis(self.started.elapsed()),
                |ms| u64::try_from(ms - self.start_ms).unwrap_or(0),
            );
        self.buf.push(Progress {
            elapsed_ms: elapsed,
            kind,
            agent: agent.map(str::to_owned),
            text,
        });
    }

    /// Emits the noted lines in time order, never going back in time.
    pub(super) fn flush(&mut self, progress: &mut dyn FnMut(&Progress)) {
        let mut lines = std::mem::take(&mut self.buf);
        lines.sort_by_key(|p| p.elapsed_ms);
        for mut p in lines {
            p.elapsed_ms = p.elapsed_ms.max(self.last_emitted);
            self.last_emitted = p.elapsed_ms;
            progress(&p);
        }
    }

    pub(super) fn emit_to(&mut self, progress: &mut dyn FnMut(&Progress), mut p: Progress) {
        p.elapsed_ms = millis(self.started.elapsed()).max(self.last_emitted);
        self.last_emitted = p.elapsed_ms;
        progress(&p);
    }

    /// Reads everything new: sessions, events, mail, commits.
    pub(super) fn poll(&mut self, progress: &mut dyn FnMut(&Progress)) -> Result<(), DemoError> {
        self.poll_sessions()?;
        self.poll_events()?;
        self.poll_mail()?;
        self.poll_commits();
        self.flush(progress);
        Ok(())
    }

    pub(super) fn poll_sessions(&mut self) -> Result<(), DemoError> {
        let all = SessionStore::open(&self.layout.sessions_db())?.all()?;
        for s in all {
            match self.states.get(s.agent_name.as_str()) {
                None => {
                    let text = if s.capability == Capability::Coordinator.as_str() {
                        format!("{} ({}, persistent)", s.agent_name, s.capability)
                    } else {
                        format!(
                            "{} ({}, parent {}, depth {}) on {}",
                            s.agent_name,
                            s.capability,
                            s.parent_agent.as_deref().unwrap_or("none"),
                            s.depth,
                            s.branch_name
                        )
                    };
                    self.note("spawn", Some(&s.agent_name), text, Some(&s.started_at));
                    self.order.push(s.agent_name.to_string());
                    self.worktrees
                        .insert(s.agent_name.to_string(), s.worktree_path.clone());
                }
                Some(prev) if *prev != s.state => {
                    let text = format!("{} is {}", s.agent_name, s.state);
                    self.note("state", Some(&s.agent_name), text, None);
                }
                Some(_) => continue,
            }
            self.states.insert(s.agent_name.to_string(), s.state);
        }
        Ok(())
    }

    pub(super) fn poll_events(&mut self) -> Result<(), DemoError> {
        let Some(follower) = self.events.as_mut() else {
            return Ok(());
        };
        let events = follower.poll()?;
        for e in events {
            let agent = e.agent_name.clone();
            let at = Some(e.created_at.as_str());
            let data = e.data_json().unwrap_or(Value::Null);
            match e.kind() {
                Some(EventType::SessionStart) => {
                    *self.turn_starts.entry(agent.clone()).or_insert(0) += 1;
                    let n = self.turns.get(&agent).copied().unwrap_or(0) + 1;
                    self.note(
                        "turn+",
                        Some(&agent),
                        format!("{agent} starts turn {n}"),
                        at,
                    );
                }
                Some(EventType::Result) => {
                    let n = self.turns.entry(agent.clone()).or_insert(0);
                    *n += 1;
                    let n = *n;
                    let err = data
                        .get("isError")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    let text = data.get("result").and_then(Value::as_str).unwrap_or("");
                    let text = format!(
                        "{agent} ends turn {n}{}: {}",
                        if err { " with an error" } else { "" },
                        one_line(text, 70)
                    );
                    self.note("turn-", Some(&agent), text, at);
                }
                Some(EventType::Progress) => {
                    if let Some(text) = data.get("text").and_then(Value::as_str) {
                        let text = format!("{agent}: {}", one_line(text, 80));
                        self.note("say", Some(&agent), text, at);
                    }
                }
                Some(EventType::ToolStart) => {
                    let tool = e.tool_name.clone().unwrap_or_default();
                    let args: Value = e
                        .tool_args
                        .as_deref()
                        .and_then(|a| serde_json::from_str(a).ok())
                        .unwrap_or(Value::Null);
                    let what = if let Some(p) = args.get("file_path").and_then(Value::as_str) {
                        let wt = self.worktrees.get(&agent).map_or("", String::as_str);
                        p.strip_prefix(wt)
                            .unwrap_or(p)
                            .trim_start_matches('/')
                            .to_owned()
                    } else if let Some(c) = args.get("command").and_then(Value::as_str) {
                        if let Some(id) = data.get("callId").and_then(Value::as_str) {
                            self.bash_calls
                                .insert(format!("{agent}/{id}"), c.to_owned());
                        }
                        // Mail steps show up as mail lines.
                        if c.contains("'mail' 'send'") {
                            continue;
                        }
                        self.shorten_command(c)
                    } else {
                        String::new()
                    };
                    self.note("tool", Some(&agent), format!("{agent} {tool} {what}"), at);
                }
                Some(EventType::ToolEnd) => {
                    // The lead's merge step says what it decided: show that.
                    let id = data.get("toolUseId").and_then(Value::as_str).unwrap_or("");
                    let merge_step = self
                        .bash_calls
                        .get(&format!("{agent}/{id}"))
                        .is_some_and(|c| c.contains(MERGE_STEP_SUFFIX));
                    let output = data.get("content").and_then(Value::as_str).unwrap_or("");
                    if let Some(last) = output.lines().rev().find(|l| !l.trim().is_empty())
                        && merge_step
                    {
                        let text = format!("{agent} merge step: {}", one_line(last, 80));
                        self.note("tool", Some(&agent), text, at);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Shows commands without the long absolute paths of the scratch repo.
    pub(super) fn shorten_command(&self, c: &str) -> String {
        let ov = self.opts.ov_program.to_string_lossy();
        let root = format!("{}/", self.dir.display());
        let short = c
            .replace(&shell_quote(&ov), "ov")
            .replace(ov.as_ref(), "ov")
            .replace(&root, "");
        one_line(&short, 90)
    }

    pub(super) fn poll_mail(&mut self) -> Result<(), DemoError> {
        if !self.layout.mail_db().exists() {
            return Ok(());
        }
        let store = MailStore::open(self.layout.mail_db())?;
        for (seq, m) in store.since(self.mail_cursor, 1000)? {
            self.mail_cursor = seq;
            let text = format!(
                "{} → {}  {}  \"{}\"",
                m.from,
                m.to,
                m.kind,
                one_line(&m.subject, 60)
            );
            self.note("mail", Some(&m.from), text, Some(&m.created_at));
        }
        Ok(())
    }

    pub(super) fn branch_heads(&self) -> HashMap<String, String> {
        Git::new(&self.dir)
            .run(&[
                "for-each-ref",
                "--format=%(refname:short) %(objectname)",
                "refs/heads",
            ])
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(r, h)| (r.to_owned(), h.to_owned()))
            .collect()
    }

    pub(super) fn poll_commits(&mut self) {
        let heads = self.branch_heads();
        let git = Git::new(&self.dir);
        let mut names: Vec<&String> = heads.keys().collect();
        names.sort();
        for name in names {
            let head = &heads[name];
            if self.refs.get(name) == Some(head) {
                continue;
            }
            let range = format!("{}..{head}", self.base_commit);
            let Ok(log) = git.run(&["log", "--reverse", "--format=%H%x09%h%x09%P%x09%s", &range])
            else {
                continue;
            };
            for line in log.lines() {
                let f: Vec<&str> = line.splitn(4, '\t').collect();
                if f.len() < 4 || !self.seen_commits.insert(f[0].to_owned()) {
                    continue;
                }
                let merge = f[2].split_whitespace().count() > 1;
                let c = CommitSummary {
                    sha: f[1].to_owned(),
                    branch: name.clone(),
                    subject: f[3].to_owned(),
                    merge,
                };
                let text = format!(
                    "{}{} on {}: {}",
                    c.sha,
                    if merge { " (merge)" } else { "" },
                    c.branch,
                    c.subject
                );
                self.note("commit", None, text, None);
            }
        }
        self.refs = heads;
    }

    /// Returns the commits made during the demo as the finished history
    /// holds them, the same from run to run for the same history shape
    /// (the live "commit" lines follow discovery order, which depends on
    /// when each poll ran):
    ///
    /// - each commit is labelled with the most specific branch that holds
    ///   it: of the branches containing it, the one with the fewest commits
    ///   since the base (a builder's commit is also on the lead's branch and
    ///   on main after the merges, but was made on the builder's branch), an
    ///   agent branch before the canonical one, then spawn order;
    /// - they are ordered by generation (a commit after all its parents),
    ///   then by that branch's place, then by subject.
    ///
    /// `branches` are the agent branches in spawn order.
    pub(super) fn settled_commits(&self, branches: &[String]) -> Vec<CommitSummary> {
        let git = Git::new(&self.dir);
        let not_base = format!("^{}", self.base_commit);
        let mut tips: Vec<&String> = branches.iter().collect();
        tips.push(&self.canonical);
        let log = |tip: &str| -> Vec<(String, Vec<String>, String, String)> {
            git.run(&["log", "--format=%H%x09%h%x09%P%x09%s", &not_base, tip])
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    let f: Vec<&str> = l.splitn(4, '\t').collect();
                    (f.len() == 4).then(|| {
                        (
                            f[0].to_owned(),
                            f[2].split_whitespace().map(str::to_owned).collect(),
                            f[1].to_owned(),
                            f[3].to_owned(),
                        )
                    })
                })
                .collect()
        };
        // (rank of the branch, its size) per tip; every commit's details.
        let mut holders: HashMap<String, (usize, usize)> = HashMap::new();
        let mut details: HashMap<String, (Vec<String>, String, String)> = HashMap::new();
        for (rank, tip) in tips.iter().enumerate() {
            let commits = log(tip);
            let size = commits.len();
            for (full, parents, short, subject) in commits {
                let key = (size, rank);
                let better = holders.get(&full).is_none_or(|&(r, s)| key < (s, r));
                if better {
                    holders.insert(full.clone(), (rank, size));
                }
                details.entry(full).or_insert((parents, short, subject));
            }
        }
        // Generation: 0 for a commit whose parents are all outside the set.
        let mut generation: HashMap<String, usize> = HashMap::new();
        fn depth(
            c: &str,
            details: &HashMap<String, (Vec<String>, String, String)>,
            memo: &mut HashMap<String, usize>,
        ) -> usize {
            if let Some(d) = memo.get(c) {
                return *d;
            }
            let d = details.get(c).map_or(0, |(parents, _, _)| {
                parents
                    .iter()
                    .filter(|p| details.contains_key(p.as_str()))
                    .map(|p| depth(p, details, memo) + 1)
                    .max()
                    .unwrap_or(0)
            });
            memo.insert(c.to_owned(), d);
            d
        }
        let mut out: Vec<(usize, usize, CommitSummary)> = details
            .iter()
            .map(|(full, (parents, short, subject))| {
                let rank = holders.get(full).map_or(tips.len(), |h| h.0);
                let c = CommitSummary {
                    sha: short.clone(),
                    branch: tips.get(rank).map_or_else(String::new, |t| (*t).clone()),
                    subject: subject.clone(),
                    merge: parents.len() > 1,
                };
                (depth(full, &details, &mut generation), rank, c)
            })
            .collect();
        out.sort_by(|a, b| {
            (a.0, a.1, &a.2.subject, &a.2.sha).cmp(&(b.0, b.1, &b.2.subject, &b.2.sha))
        });
        out.into_iter().map(|(_, _, c)| c).collect()
    }
}
