//! `ov mail` wiring: flags reach the library, output and exit codes match
//! the original's, and many real `ov` processes share one mail.db.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("ov-mail-")
            .tempdir()
            .unwrap();
        std::fs::create_dir(dir.path().join(".overstory")).unwrap();
        std::fs::write(
            dir.path().join(".overstory/config.yaml"),
            "project:\n  name: t\n",
        )
        .unwrap();
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn state(&self, rel: &str) -> PathBuf {
        self.path().join(".overstory").join(rel)
    }

    fn cmd(&self, args: &[&str]) -> std::process::Command {
        let mut c = overstory_testkit::ov(Path::new(env!("CARGO_BIN_EXE_ov")), self.path());
        c.args(args).env("OVERSTORY_PROJECT_ROOT", self.path());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs `ov` and returns stdout, asserting success.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "ov {args:?} failed: {}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    /// Runs `ov` and returns stderr, asserting exit 1.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "ov {args:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        stderr(&out)
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let text = self.ok(&all);
        assert_eq!(text.lines().count(), 1, "compact, one line: {text}");
        serde_json::from_str(&text).unwrap()
    }

    fn send(&self, extra: &[&str]) -> String {
        let mut args = vec!["mail", "send", "--subject", "Subj", "--body", "Body text"];
        args.extend_from_slice(extra);
        self.json(&args)["id"].as_str().unwrap().to_owned()
    }

    /// Creates sessions.db with the original's `sessions` table.
    fn sessions(&self, rows: &[(&str, &str, &str, Option<&str>)]) {
        let c = rusqlite::Connection::open(self.state("sessions.db")).unwrap();
        c.execute_batch(
            "CREATE TABLE IF NOT EXISTS sessions (
               id TEXT PRIMARY KEY, agent_name TEXT NOT NULL UNIQUE, capability TEXT NOT NULL,
               worktree_path TEXT NOT NULL, branch_name TEXT NOT NULL, task_id TEXT NOT NULL,
               tmux_session TEXT NOT NULL,
               state TEXT NOT NULL DEFAULT 'booting' CHECK(state IN ('booting','working','completed','stalled','zombie')),
               pid INTEGER, parent_agent TEXT, depth INTEGER NOT NULL DEFAULT 0, run_id TEXT,
               started_at TEXT NOT NULL, last_activity TEXT NOT NULL,
               escalation_level INTEGER NOT NULL DEFAULT 0, stalled_since TEXT, transcript_path TEXT,
               prompt_version TEXT, claude_session_id TEXT)",
        )
        .unwrap();
        for (i, (name, cap, state, parent)) in rows.iter().enumerate() {
            c.execute(
                "INSERT INTO sessions (id, agent_name, capability, worktree_path, branch_name, task_id, tmux_session, state, parent_agent, started_at, last_activity)
                 VALUES (?1, ?2, ?3, '/w', 'b', 't', '', ?4, ?5, ?6, ?6)",
                rusqlite::params![format!("s-{i}"), name, cap, state, parent, format!("2026-01-01T00:00:{i:02}.000Z")],
            )
            .unwrap();
        }
    }

    fn rows(&self, sql: &str) -> i64 {
        let c = rusqlite::Connection::open(self.state("mail.db")).unwrap();
        c.query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn send_prints_sent_and_json_has_only_the_id() {
    let p = Project::new();
    let out = p.ok(&[
        "mail",
        "send",
        "--to",
        "orchestrator",
        "--subject",
        "s",
        "--body",
        "",
        "--agent",
        "lead-1",
    ]);
    assert!(out.starts_with("✓ Sent message msg-"), "{out}");
    let v = p.json(&[
        "mail",
        "send",
        "--to",
        "orchestrator",
        "--subject",
        "",
        "--body",
        "b",
        "--priority",
        "urgent",
    ]);
    assert_eq!(v["success"], true);
    assert_eq!(v["command"], "mail send");
    assert!(v["id"].as_str().unwrap().starts_with("msg-"));
    assert!(!v.to_string().contains("Queued nudge"));
    assert_eq!(
        p.rows("SELECT COUNT(*) FROM messages WHERE from_agent = 'orchestrator'"),
        1
    );
    assert_eq!(
        p.rows("SELECT COUNT(*) FROM messages WHERE from_agent = 'lead-1'"),
        1
    );
}

#[test]
fn agent_wins_over_from_and_last_repeated_flag_wins() {
    let p = Project::new();
    p.send(&[
        "--to",
        "x",
        "--to",
        "orchestrator",
        "--from",
        "a-1",
        "--agent",
        "b-1",
    ]);
    assert_eq!(
        p.rows(
            "SELECT COUNT(*) FROM messages WHERE from_agent = 'b-1' AND to_agent = 'orchestrator'"
        ),
        1
    );
}

#[test]
fn sender_defaults_to_the_agent_name_variable() {
    let p = Project::new();
    let out = p
        .cmd(&[
            "mail",
            "send",
            "--to",
            "orchestrator",
            "--subject",
            "s",
            "--body",
            "b",
        ])
        .env("OVERSTORY_AGENT_NAME", "builder-9")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        p.rows("SELECT COUNT(*) FROM messages WHERE from_agent = 'builder-9'"),
        1
    );
}

#[test]
fn invalid_type_priority_payload_and_names_are_validation_errors() {
    let p = Project::new();
    let base = ["mail", "send", "--to", "x", "--subject", "s", "--body", "b"];
    fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        [base, extra].concat()
    }
    let e = p.fails(&with(&base, &["--type", "bogus"]));
    assert!(
        e.starts_with(
            "Error [VALIDATION_ERROR]: Invalid --type \"bogus\". Must be one of: status, question"
        ),
        "{e}"
    );
    let e = p.fails(&with(&base, &["--priority", "asap"]));
    assert!(
        e.contains("Invalid --priority \"asap\". Must be one of: low, normal, high, urgent"),
        "{e}"
    );
    let e = p.fails(&with(&base, &["--payload", "{"]));
    assert!(
        e.contains("Error [VALIDATION_ERROR]: --payload must be valid JSON"),
        "{e}"
    );
    let e = p.fails(&with(
        &base,
        &["--type", "worker_done", "--payload", "{\"taskId\":1}"],
    ));
    assert!(
        e.contains("VALIDATION_ERROR") && e.contains("worker_done"),
        "{e}"
    );
    let e = p.fails(&[
        "mail",
        "send",
        "--to",
        "../x",
        "--subject",
        "s",
        "--body",
        "b",
    ]);
    assert!(e.contains("VALIDATION_ERROR"), "{e}");
    assert_eq!(p.rows("SELECT COUNT(*) FROM messages"), 0);
    let out = p.run(&with(&base, &["--type", "bogus", "--json"]));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (v["success"].clone(), v["command"].clone()),
        (Value::Bool(false), Value::from("ov"))
    );
    assert!(v["error"].as_str().unwrap().starts_with("Invalid --type"));
}

#[test]
fn mail_without_subcommand_prints_help_and_fails_but_help_succeeds() {
    let p = Project::new();
    let e = p.fails(&["mail"]);
    assert!(e.contains("send") && e.contains("purge"), "{e}");
    let out = p.run(&["mail", "send", "--help"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("--payload"));
    p.fails(&["mail", "send", "--to", "x"]);
    p.fails(&["mail", "bogus"]);
}

#[test]
fn list_unread_is_system_wide_with_a_total_footer() {
    let p = Project::new();
    p.send(&["--to", "a-1"]);
    p.send(&["--to", "b-1"]);
    let out = p.ok(&["mail", "list", "--unread"]);
    assert!(out.ends_with("Total: 2 messages\n"), "{out}");
    p.ok(&["mail", "check", "--agent", "a-1"]);
    let out = p.ok(&["mail", "list", "--unread"]);
    assert!(out.ends_with("Total: 1 message\n"), "{out}");
    assert!(
        out.contains("* msg-") && out.contains("From: orchestrator → To: b-1"),
        "{out}"
    );
}

#[test]
fn list_agent_is_an_alias_for_to_and_to_wins() {
    let p = Project::new();
    p.send(&["--to", "a-1"]);
    p.send(&["--to", "b-1"]);
    assert_eq!(
        p.json(&["mail", "list", "--agent", "a-1"])["messages"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let v = p.json(&["mail", "list", "--agent", "a-1", "--to", "b-1"]);
    assert_eq!(v["messages"][0]["to"], "b-1");
    p.ok(&["mail", "check", "--agent", "a-1"]);
    assert!(
        p.ok(&["mail", "list", "--agent", "a-1", "--unread"])
            .contains("No messages found")
    );
}

#[test]
fn list_type_filters_combines_with_from_and_rejects_bogus() {
    let p = Project::new();
    let payload = r#"{"branch":"b","taskId":"t","agentName":"lead-1","filesModified":[]}"#;
    p.send(&[
        "--to",
        "merger-1",
        "--agent",
        "lead-1",
        "--type",
        "merge_ready",
        "--payload",
        payload,
    ]);
    p.send(&[
        "--to",
        "merger-1",
        "--agent",
        "lead-2",
        "--type",
        "merge_ready",
        "--payload",
        payload,
    ]);
    p.send(&["--to", "merger-1", "--agent", "lead-1"]);
    let text = p.ok(&[
        "mail",
        "list",
        "--json",
        "--from",
        "lead-1",
        "--type",
        "merge_ready",
    ]);
    assert_eq!(
        text.matches("\"id\":\"").count(),
        1,
        "hook scripts grep compact JSON: {text}"
    );
    assert_eq!(
        p.json(&["mail", "list", "--type", "merge_ready"])["messages"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        p.json(&["mail", "list", "--type", "merge_ready", "--count"])["count"],
        2
    );
    assert_eq!(
        p.ok(&["mail", "list", "--from", "lead-1", "--count"]),
        "2\n"
    );
    assert_eq!(
        p.json(&["mail", "list", "--limit", "1"])["messages"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let e = p.fails(&["mail", "list", "--type", "bogus"]);
    assert!(e.contains("Invalid --type"), "{e}");
}

#[test]
fn list_json_has_the_original_message_shape() {
    let p = Project::new();
    p.send(&["--to", "a-1", "--priority", "high"]);
    let v = p.json(&["mail", "list"]);
    let m = v["messages"][0].as_object().unwrap();
    let keys: Vec<&str> = m.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "from",
            "to",
            "subject",
            "body",
            "type",
            "priority",
            "threadId",
            "payload",
            "read",
            "createdAt"
        ]
    );
    assert_eq!(
        (m["priority"].as_str(), m["read"].as_bool()),
        (Some("high"), Some(false))
    );
}

#[test]
fn reply_routes_by_sender_and_prints_reply_sent() {
    let p = Project::new();
    let id = p.send(&["--to", "builder-1"]);
    // The default sender replying to its own message reaches the recipient.
    let out = p.ok(&["mail", "reply", &id, "--body", "more"]);
    assert!(out.starts_with("✓ Reply sent msg-"), "{out}");
    assert_eq!(
        p.rows("SELECT COUNT(*) FROM messages WHERE to_agent = 'builder-1'"),
        2
    );
    // overstory-6nq: options before the positional id.
    let v = p.json(&["mail", "reply", "--agent", "builder-1", "--body", "ok", &id]);
    let reply_id = v["id"].as_str().unwrap();
    let to: String = rusqlite::Connection::open(p.state("mail.db"))
        .unwrap()
        .query_row(
            "SELECT to_agent || '|' || subject || '|' || thread_id FROM messages WHERE id = ?1",
            [reply_id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(to, format!("orchestrator|Re: Subj|{id}"));
}

#[test]
fn reply_to_worker_done_is_a_status_message() {
    let p = Project::new();
    let payload = r#"{"taskId":"t","branch":"b","exitCode":0,"filesModified":[]}"#;
    let id = p.send(&[
        "--to",
        "lead-1",
        "--agent",
        "builder-1",
        "--type",
        "worker_done",
        "--payload",
        payload,
    ]);
    p.ok(&[
        "mail", "reply", &id, "--agent", "lead-1", "--body", "thanks",
    ]);
    assert_eq!(
        p.rows("SELECT COUNT(*) FROM messages WHERE from_agent = 'lead-1' AND type = 'status'"),
        1
    );
    assert_eq!(
        p.rows(
            "SELECT COUNT(*) FROM messages WHERE from_agent = 'lead-1' AND type = 'worker_done'"
        ),
        0
    );
}

#[test]
fn read_marks_then_reports_already_read_and_unknown_id_fails() {
    let p = Project::new();
    let id = p.send(&["--to", "a-1"]);
    assert!(
        p.ok(&["mail", "read", &id])
            .contains(&format!("Marked as read {id}"))
    );
    assert!(p.ok(&["mail", "read", &id]).contains("already read"));
    assert_eq!(p.json(&["mail", "read", &id])["alreadyRead"], true);
    let e = p.fails(&["mail", "read", "msg-000000000000"]);
    assert!(
        e.starts_with("Error [MAIL_ERROR]: Message not found: msg-000000000000"),
        "{e}"
    );
}

#[test]
fn urgent_send_queues_a_nudge_marker_consumed_by_inject() {
    let p = Project::new();
    let out = p.ok(&[
        "mail",
        "send",
        "--to",
        "builder-1",
        "--subject",
        "Fire",
        "--body",
        "Stop now",
        "--priority",
        "urgent",
    ]);
    assert!(
        out.contains("Queued nudge for \"builder-1\" (urgent priority, delivered on next prompt)"),
        "{out}"
    );
    let marker: Value = serde_json::from_str(
        &std::fs::read_to_string(p.state("pending-nudges/builder-1.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(marker["reason"], "urgent priority");
    assert_eq!(marker["from"], "orchestrator");
    assert_eq!(marker["subject"], "Fire");
    assert!(marker["messageId"].as_str().unwrap().starts_with("msg-"));
    assert!(marker["createdAt"].is_string());
    let inject = p.ok(&["mail", "check", "--inject", "--agent", "builder-1"]);
    assert!(
        inject.starts_with("PRIORITY: urgent priority message from orchestrator — \"Fire\"\n\n"),
        "{inject}"
    );
    assert!(inject.contains("Stop now"));
    p.send(&["--to", "builder-1"]);
    let second = p.ok(&["mail", "check", "--inject", "--agent", "builder-1"]);
    assert!(!second.contains("PRIORITY"), "{second}");
    assert!(second.starts_with("You have 1 new message:"), "{second}");
}

#[test]
fn marker_reasons_and_no_marker_for_normal_status() {
    let p = Project::new();
    p.send(&["--to", "a-1", "--priority", "high"]);
    let done = r#"{"taskId":"t","branch":"b","exitCode":0,"filesModified":[]}"#;
    p.send(&[
        "--to",
        "b-1",
        "--from",
        "builder-3",
        "--type",
        "worker_done",
        "--payload",
        done,
    ]);
    p.send(&["--to", "c-1"]);
    let read = |a: &str| -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(p.state(&format!("pending-nudges/{a}.json"))).unwrap(),
        )
        .unwrap()
    };
    assert_eq!(read("a-1")["reason"], "high priority");
    assert_eq!(
        (read("b-1")["reason"].clone(), read("b-1")["from"].clone()),
        (Value::from("worker_done"), Value::from("builder-3"))
    );
    assert!(!p.state("pending-nudges/c-1.json").exists());
}

#[test]
fn inject_with_json_still_prints_the_hook_format_and_empty_inject_prints_nothing() {
    let p = Project::new();
    assert_eq!(p.ok(&["mail", "check", "--inject", "--agent", "a-1"]), "");
    p.send(&["--to", "a-1"]);
    let out = p.ok(&["mail", "check", "--inject", "--json", "--agent", "a-1"]);
    assert!(out.starts_with("You have 1 new message:"), "{out}");
}

#[test]
fn plain_check_lists_new_messages_and_then_says_none() {
    let p = Project::new();
    p.send(&["--to", "a-1", "--priority", "low"]);
    let out = p.ok(&["mail", "check", "--agent", "a-1"]);
    assert!(out.starts_with("1 new message:\n\n* msg-"), "{out}");
    assert!(
        out.contains("[LOW]")
            && out.contains("  Subject: Subj  (status)")
            && out.contains("  Body text"),
        "{out}"
    );
    assert!(
        p.ok(&["mail", "check", "--agent", "a-1"])
            .contains("No new messages")
    );
    assert_eq!(p.ok(&["mail", "check", "--agent", "a-1", "-q"]), "");
}

#[test]
fn check_json_lists_messages_in_the_envelope() {
    let p = Project::new();
    p.send(&["--to", "a-1"]);
    let v = p.json(&["mail", "check", "--agent", "a-1"]);
    assert_eq!(v["command"], "mail check");
    assert_eq!(v["messages"].as_array().unwrap().len(), 1);
    assert_eq!(v["messages"][0]["read"], true, "the state after the check");
}

#[test]
fn debounce_silences_a_second_check_per_agent_and_zero_never_does() {
    let p = Project::new();
    p.send(&["--to", "a-1"]);
    p.send(&["--to", "a-1"]);
    let first = p.ok(&["mail", "check", "--agent", "a-1", "--debounce", "60000"]);
    assert!(first.contains("2 new messages"), "{first}");
    p.send(&["--to", "a-1"]);
    assert_eq!(
        p.ok(&["mail", "check", "--agent", "a-1", "--debounce", "60000"]),
        ""
    );
    assert_eq!(
        p.ok(&[
            "mail",
            "check",
            "--agent",
            "a-1",
            "--inject",
            "--debounce",
            "60000"
        ]),
        ""
    );
    assert_eq!(
        p.rows("SELECT COUNT(*) FROM messages WHERE read = 0"),
        1,
        "debounced checks read nothing"
    );
    // Another agent has its own window.
    p.send(&["--to", "b-1"]);
    assert!(
        p.ok(&["mail", "check", "--agent", "b-1", "--debounce", "60000"])
            .contains("1 new message")
    );
    // Zero never silences; "10ms" parses as 10 like parseInt.
    assert!(
        p.ok(&["mail", "check", "--agent", "a-1", "--debounce", "0"])
            .contains("1 new message")
    );
    p.ok(&["mail", "check", "--agent", "a-1", "--debounce", "10ms"]);
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(p.state("mail-check-state.json")).unwrap())
            .unwrap();
    assert!(state["a-1"].is_i64() && state["b-1"].is_i64());
}

#[test]
fn without_debounce_back_to_back_checks_both_deliver_and_write_no_state() {
    let p = Project::new();
    p.send(&["--to", "a-1"]);
    assert!(
        p.ok(&["mail", "check", "--agent", "a-1"])
            .contains("1 new message")
    );
    p.send(&["--to", "a-1"]);
    assert!(
        p.ok(&["mail", "check", "--agent", "a-1"])
            .contains("1 new message")
    );
    assert!(!p.state("mail-check-state.json").exists());
}

#[test]
fn invalid_debounce_values_are_rejected() {
    let p = Project::new();
    for v in ["invalid", "-100"] {
        let e = p.fails(&["mail", "check", "--debounce", v]);
        assert!(
            e.contains(&format!(
                "--debounce must be a non-negative integer (milliseconds), got: {v}"
            )),
            "{e}"
        );
    }
}

#[test]
fn corrupt_debounce_file_is_rewritten() {
    let p = Project::new();
    std::fs::write(p.state("mail-check-state.json"), "{{{{").unwrap();
    p.ok(&["mail", "check", "--agent", "a-1", "--debounce", "500"]);
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(p.state("mail-check-state.json")).unwrap())
            .unwrap();
    assert!(state["a-1"].is_i64());
}

#[test]
fn broadcast_to_all_reaches_active_sessions_except_the_sender() {
    let p = Project::new();
    p.sessions(&[
        ("orchestrator", "orchestrator", "working", None),
        ("builder-1", "builder", "working", None),
        ("builder-2", "builder", "booting", None),
        ("scout-1", "scout", "stalled", None),
        ("gone-1", "builder", "completed", None),
    ]);
    let out = p.ok(&[
        "mail",
        "send",
        "--to",
        "@all",
        "--subject",
        "s",
        "--body",
        "b",
    ]);
    assert!(
        out.contains("Broadcast sent to 3 recipients (@all)"),
        "{out}"
    );
    for n in ["builder-1", "builder-2", "scout-1"] {
        assert!(out.contains(&format!("   → {n} (msg-")), "{out}");
    }
    assert!(!out.contains("→ orchestrator") && !out.contains("gone-1"));
    assert_eq!(p.rows("SELECT COUNT(*) FROM messages"), 3);
    let out = p.ok(&[
        "mail",
        "send",
        "--to",
        "@scouts",
        "--subject",
        "s",
        "--body",
        "b",
    ]);
    assert!(
        out.contains("Broadcast sent to 1 recipient (@scouts)"),
        "{out}"
    );
    let v = p.json(&[
        "mail",
        "send",
        "--to",
        "@builder",
        "--subject",
        "s",
        "--body",
        "b",
        "--from",
        "builder-1",
    ]);
    assert_eq!(v["recipientCount"], 1);
    assert_eq!(v["messageIds"].as_array().unwrap().len(), 1);
    let v = p.json(&[
        "mail",
        "send",
        "--to",
        "@BUILDERS",
        "--subject",
        "s",
        "--body",
        "b",
        "--priority",
        "urgent",
    ]);
    assert_eq!(v["recipientCount"], 2);
    assert!(p.state("pending-nudges/builder-2.json").exists());
    let e = p.fails(&[
        "mail",
        "send",
        "--to",
        "@reviewers",
        "--subject",
        "s",
        "--body",
        "b",
    ]);
    assert!(
        e.contains("resolved to zero recipients (no active reviewer agents)"),
        "{e}"
    );
    let e = p.fails(&[
        "mail",
        "send",
        "--to",
        "@wizards",
        "--subject",
        "s",
        "--body",
        "b",
    ]);
    assert!(
        e.contains("Unknown group address: \"@wizards\". Valid groups: @all"),
        "{e}"
    );
}

#[test]
fn sending_to_a_completed_or_zombie_agent_fails_and_stores_nothing() {
    let p = Project::new();
    p.sessions(&[
        ("done-1", "builder", "completed", None),
        ("dead-1", "builder", "zombie", None),
        ("live-1", "builder", "working", None),
    ]);
    for (who, state) in [("done-1", "completed"), ("dead-1", "zombie")] {
        let e = p.fails(&["mail", "send", "--to", who, "--subject", "s", "--body", "b"]);
        assert!(e.starts_with("Error [MAIL_ERROR]: "), "{e}");
        assert!(
            e.contains(who) && e.contains(state) && e.contains("not sent"),
            "{e}"
        );
    }
    assert_eq!(p.rows("SELECT COUNT(*) FROM messages"), 0);
    p.send(&["--to", "live-1"]);
    p.send(&["--to", "no-session-1"]);
}

#[test]
fn merge_ready_advisory_goes_to_stderr_only_when_review_is_missing() {
    let p = Project::new();
    p.sessions(&[
        ("b-1", "builder", "completed", Some("lead-1")),
        ("b-2", "builder", "completed", Some("lead-1")),
        ("b-3", "builder", "working", Some("lead-2")),
        ("r-3", "reviewer", "working", Some("lead-2")),
        ("b-4", "builder", "working", Some("lead-3")),
        ("b-5", "builder", "working", Some("lead-3")),
        ("b-6", "builder", "working", Some("lead-3")),
        ("r-4", "reviewer", "working", Some("lead-3")),
    ]);
    let payload = r#"{"branch":"b","taskId":"t","agentName":"x","filesModified":[]}"#;
    let send = |from: &str, kind: &str| {
        let mut args = vec![
            "mail",
            "send",
            "--to",
            "merger-1",
            "--subject",
            "s",
            "--body",
            "b",
            "--agent",
            from,
            "--type",
            kind,
        ];
        if kind == "merge_ready" {
            args.extend(["--payload", payload]);
        }
        let out = p.run(&args);
        assert!(out.status.success());
        stderr(&out)
    };
    let none = send("lead-1", "merge_ready");
    assert!(
        none.contains("Warning:")
            && none.contains("NO reviewer sessions found")
            && none.contains("2 builder(s)"),
        "{none}"
    );
    assert!(
        none.contains("review-before-merge requirement") && none.contains("REVIEW_SKIP"),
        "{none}"
    );
    let partial = send("lead-3", "merge_ready");
    assert!(
        partial.contains("Note: Only 1 reviewer(s) for 3 builder(s)")
            && partial.contains("review-verified"),
        "{partial}"
    );
    assert_eq!(send("lead-2", "merge_ready"), "");
    assert_eq!(send("lead-1", "status"), "");
}

#[test]
fn purge_needs_a_filter_validates_days_and_reports_the_count() {
    let p = Project::new();
    let e = p.fails(&["mail", "purge"]);
    assert!(
        e.contains("mail purge requires at least one filter: --all, --days <n>, or --agent <name>"),
        "{e}"
    );
    for bad in ["0", "-3", "x"] {
        assert!(
            p.fails(&["mail", "purge", "--days", bad])
                .contains("--days must be a positive integer")
        );
    }
    p.send(&["--to", "a-1"]);
    p.send(&["--to", "b-1"]);
    p.send(&["--to", "c-1", "--agent", "a-1"]);
    assert_eq!(p.json(&["mail", "purge", "--days", "1"])["purged"], 0);
    assert!(
        p.ok(&["mail", "purge", "--agent", "a-1"])
            .contains("Purged 2 message(s)")
    );
    assert_eq!(
        p.json(&["mail", "purge", "--all", "--agent", "nobody"])["purged"],
        1
    );
}

#[test]
fn corrupt_mail_db_error_names_the_file_and_what_to_do() {
    let p = Project::new();
    std::fs::write(p.state("mail.db"), vec![b'z'; 8192]).unwrap();
    let e = p.fails(&["mail", "list"]);
    assert!(e.starts_with("Error [MAIL_ERROR]: "), "{e}");
    assert!(e.contains("mail.db") && e.contains("corrupt"), "{e}");
    assert!(e.contains("hint: Move the damaged file aside"), "{e}");
}

#[test]
fn corrupt_mail_db_json_envelope_keeps_causes_and_hints() {
    let p = Project::new();
    std::fs::write(p.state("mail.db"), vec![b'z'; 8192]).unwrap();
    let out = p.run(&["mail", "list", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(text.trim_end()).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(v["success"], false);
    assert_eq!(v["code"], "MAIL_ERROR");
    assert!(v["error"].as_str().unwrap().contains("mail.db"), "{v}");
    let causes = v["causes"].as_array().unwrap();
    assert!(
        causes
            .iter()
            .any(|c| c.as_str().unwrap().contains("not a database")),
        "{v}"
    );
    let hints = v["hints"].as_array().unwrap();
    assert!(
        hints[0]
            .as_str()
            .unwrap()
            .starts_with("Move the damaged file aside"),
        "{v}"
    );
}

#[test]
fn uninitialised_project_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = overstory_testkit::ov(Path::new(env!("CARGO_BIN_EXE_ov")), dir.path())
        .args(["mail", "list", "--project", "."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("ov init"), "{}", stderr(&out));
}

/// 16 processes each send 500 messages through `ov mail send` while 4 more
/// drain the inbox with `ov mail check` in a loop: every message is stored
/// once, delivered at most once (here: exactly once), and nobody ever sees
/// a locked database.
#[test]
fn sixteen_senders_and_four_checkers_share_one_mail_db() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const SENDERS: usize = 16;
    const PER_SENDER: usize = 500;
    const CHECKERS: usize = 4;
    let p = Arc::new(Project::new());
    // Create the database before the storm, as `ov init` would.
    p.ok(&["mail", "list"]);
    let started = std::time::Instant::now();
    let finished = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let (p, finished) = (p.clone(), finished.clone());
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                for i in 0..PER_SENDER {
                    let body = format!("{s}-{i}");
                    let out = p.run(&[
                        "mail",
                        "send",
                        "--to",
                        "inbox",
                        "--subject",
                        "load",
                        "--body",
                        &body,
                        "--agent",
                        &format!("sender-{s}"),
                    ]);
                    if !out.status.success() || !out.stderr.is_empty() {
                        failures.push(format!("{body}: {}{}", stdout(&out), stderr(&out)));
                    }
                }
                finished.fetch_add(1, Ordering::SeqCst);
                failures
            })
        })
        .collect();
    let checkers: Vec<_> = (0..CHECKERS)
        .map(|_| {
            let (p, finished) = (p.clone(), finished.clone());
            std::thread::spawn(move || {
                let mut delivered = Vec::new();
                let mut failures = Vec::new();
                loop {
                    let last_round = finished.load(Ordering::SeqCst) == SENDERS;
                    let out = p.run(&["mail", "check", "--agent", "inbox", "--json"]);
                    if out.status.success() && out.stderr.is_empty() {
                        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
                        for m in v["messages"].as_array().unwrap() {
                            delivered.push(m["id"].as_str().unwrap().to_owned());
                        }
                    } else {
                        failures.push(format!("{}{}", stdout(&out), stderr(&out)));
                    }
                    if last_round {
                        return (delivered, failures);
                    }
                }
            })
        })
        .collect();
    let mut failures: Vec<String> = senders
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let mut delivered = Vec::new();
    for h in checkers {
        let (d, f) = h.join().unwrap();
        delivered.extend(d);
        failures.extend(f);
    }
    let elapsed = started.elapsed();
    eprintln!(
        "{} sends + {} checks' worth of deliveries in {elapsed:?}",
        SENDERS * PER_SENDER,
        delivered.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures, first: {}",
        failures.len(),
        failures[0]
    );
    assert!(!failures.iter().any(|f| f.contains("locked")));

    let total = SENDERS * PER_SENDER;
    let c = rusqlite::Connection::open(p.state("mail.db")).unwrap();
    let stored: i64 = c
        .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    let distinct_bodies: i64 = c
        .query_row("SELECT COUNT(DISTINCT body) FROM messages", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(
        (stored, distinct_bodies),
        (total as i64, total as i64),
        "every message exists exactly once"
    );
    let unique: std::collections::HashSet<&String> = delivered.iter().collect();
    assert_eq!(
        unique.len(),
        delivered.len(),
        "a message was delivered twice"
    );
    assert_eq!(delivered.len(), total, "the final checks drained the inbox");
    let events = rusqlite::Connection::open(p.state("events.db")).unwrap();
    let sent_events: i64 = events
        .query_row(
            "SELECT COUNT(*) FROM events WHERE event_type = 'mail_sent'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(sent_events, total as i64, "one mail_sent event per message");
}

#[test]
fn send_records_a_mail_sent_event_with_the_current_run() {
    let p = Project::new();
    std::fs::write(p.state("current-run.txt"), "run-1\n").unwrap();
    let id = p.send(&["--to", "builder-1", "--agent", "lead-1"]);
    let c = rusqlite::Connection::open(p.state("events.db")).unwrap();
    let (agent, kind, level, run, data): (String, String, String, Option<String>, String) = c
        .query_row(
            "SELECT agent_name, event_type, level, run_id, data FROM events",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(
        (
            agent.as_str(),
            kind.as_str(),
            level.as_str(),
            run.as_deref()
        ),
        ("lead-1", "mail_sent", "info", Some("run-1"))
    );
    let data: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(data["messageId"], id.as_str());
    assert_eq!(data["to"], "builder-1");
}

/// Runs `ov` with stdout redirected to `/dev/full`, where every write fails
/// with ENOSPC.
fn to_full_disk(p: &Project, args: &[&str]) -> Output {
    let full = std::fs::File::create("/dev/full").unwrap();
    p.cmd(args)
        .stdout(std::process::Stdio::from(full))
        .output()
        .unwrap()
}

#[test]
fn check_to_a_full_disk_exits_1_and_leaves_the_mail_for_exactly_one_later_check() {
    let p = Project::new();
    let id = p.send(&["--to", "a-1"]);
    for args in [
        &["mail", "check", "--agent", "a-1", "--json"][..],
        &["mail", "check", "--agent", "a-1"],
        &["mail", "check", "--agent", "a-1", "--inject"],
    ] {
        let out = to_full_disk(&p, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("Could not write the output to stdout")
                && err.contains("left unread")
                && err.contains("No space left on device"),
            "{args:?}: {err}"
        );
        assert_eq!(
            p.rows(&format!("SELECT read FROM messages WHERE id = '{id}'")),
            0,
            "{args:?}: the mail is still unread"
        );
    }
    let v = p.json(&["mail", "check", "--agent", "a-1"]);
    let got: Vec<&str> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [id.as_str()], "delivered once, now");
    assert!(
        p.json(&["mail", "check", "--agent", "a-1"])["messages"]
            .as_array()
            .unwrap()
            .is_empty(),
        "and never again"
    );
}

#[test]
fn inject_to_a_full_disk_keeps_the_nudge_banner_for_the_next_check() {
    let p = Project::new();
    p.send(&["--to", "a-1", "--priority", "urgent", "--subject", "Fire"]);
    let out = to_full_disk(&p, &["mail", "check", "--agent", "a-1", "--inject"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = p.ok(&["mail", "check", "--agent", "a-1", "--inject"]);
    assert!(text.contains("PRIORITY") && text.contains("Fire"), "{text}");
}

#[test]
fn every_command_fails_when_its_output_cannot_be_written() {
    let p = Project::new();
    p.send(&["--to", "a-1"]);
    for args in [
        &["mail", "list"][..],
        &["mail", "list", "--json"],
        &[
            "mail",
            "send",
            "--to",
            "a-2",
            "--subject",
            "s",
            "--body",
            "b",
        ],
        &["--version"],
        &["--help"],
        &["mail", "read", "msg-none", "--json"],
    ] {
        let out = to_full_disk(&p, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            !stderr(&out).is_empty(),
            "{args:?}: the error reaches stderr"
        );
    }
}

#[test]
fn a_bad_row_is_named_on_stderr_and_the_good_mail_is_delivered() {
    let p = Project::new();
    let first = p.send(&["--to", "a-1", "--subject", "first"]);
    let c = rusqlite::Connection::open(p.state("mail.db")).unwrap();
    c.execute_batch(
        "INSERT INTO messages (id, from_agent, to_agent, subject, body, type, priority, read, created_at)
         VALUES ('msg-bad', 'other', 'a-1', 'binary', X'FF00', 'status', 'normal', 0,
                 strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
    )
    .unwrap();
    let last = p.send(&["--to", "a-1", "--subject", "last"]);

    let out = p.run(&["mail", "list", "--to", "a-1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(&first) && text.contains(&last), "{text}");
    assert!(text.contains("Total: 2 messages"), "{text}");
    assert!(
        stderr(&out).contains("msg-bad") && stderr(&out).contains("BLOB"),
        "{}",
        stderr(&out)
    );

    let out = p.run(&["mail", "check", "--agent", "a-1", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let got: Vec<&str> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [first.as_str(), last.as_str()]);
    let err = stderr(&out);
    assert!(
        err.contains("msg-bad") && err.contains("left unread") && err.contains("ov mail read"),
        "{err}"
    );
    assert_eq!(p.rows("SELECT read FROM messages WHERE id = 'msg-bad'"), 0);
    assert_eq!(
        p.rows("SELECT COUNT(*) FROM messages WHERE to_agent = 'a-1' AND read = 1"),
        2
    );
}
