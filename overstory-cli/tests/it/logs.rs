//! `ov logs`: the agents' NDJSON logs, queried and followed.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use overstory_core::clock;
use overstory_core::process::{Sig, signal_process};
use overstory_sessions::Session;

use crate::sessions_support::{Project, json, stderr, stdout};

fn log_file(p: &Project, agent: &str, session: &str) -> PathBuf {
    let dir = p.layout.logs_dir().join(agent).join(session);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("events.ndjson")
}

fn entry(ts: &str, level: &str, agent: &str, event: &str) -> String {
    format!(
        "{}\n",
        serde_json::json!({"timestamp": ts, "level": level, "event": event,
                           "agentName": agent, "data": {"toolName": "Bash"}})
    )
}

fn append(path: &PathBuf, text: &str) {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

#[test]
fn no_log_files_is_an_empty_envelope_not_bare_brackets() {
    let p = Project::new();
    let o = p.ov(&["logs", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["success"], true);
    assert_eq!(v["command"], "logs");
    assert_eq!(v["entries"], serde_json::json!([]));
    assert_eq!(stdout(&p.ov(&["logs"])).trim(), "No log files found.");
}

#[test]
fn filters_by_agent_level_and_time_and_keeps_the_newest() {
    let p = Project::new();
    let a = log_file(&p, "builder-1", "2026-01-01T00-00-00");
    let b = log_file(&p, "builder-2", "2026-01-01T00-00-00");
    for i in 0..5 {
        append(
            &a,
            &entry(
                &format!("2026-01-01T00:00:0{i}.000Z"),
                if i == 3 { "error" } else { "info" },
                "builder-1",
                "tool.start",
            ),
        );
    }
    append(&a, "not json\n{\"event\":\"no timestamp\"}\n");
    let recent = clock::format_millis(clock::now_millis() - 60_000);
    append(&b, &entry(&recent, "warn", "builder-2", "tool.end"));

    let v = json(&p.ov(&["logs", "--json"]));
    let all = v["entries"].as_array().unwrap();
    assert_eq!(all.len(), 6, "bad lines skipped: {v}");
    assert_eq!(all[5]["agentName"], "builder-2", "sorted by time");
    assert_eq!(
        all[0]["data"]["toolName"], "Bash",
        "entries are the written records"
    );

    let v = json(&p.ov(&["logs", "--agent", "builder-1", "--limit", "2", "--json"]));
    let got: Vec<_> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["timestamp"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        got,
        ["2026-01-01T00:00:03.000Z", "2026-01-01T00:00:04.000Z"],
        "the newest N, oldest first"
    );

    let v = json(&p.ov(&["logs", "--level", "error", "--json"]));
    assert_eq!(v["entries"].as_array().unwrap().len(), 1);

    let v = json(&p.ov(&["logs", "--since", "1h", "--json"]));
    assert_eq!(v["entries"].as_array().unwrap().len(), 1, "relative age");
    let v = json(&p.ov(&[
        "logs",
        "--since",
        "2026-01-01T00:00:01Z",
        "--until",
        "2026-01-01T00:00:02Z",
        "--json",
    ]));
    assert_eq!(v["entries"].as_array().unwrap().len(), 2, "window");

    let text = stdout(&p.ov(&["logs", "--agent", "builder-2"]));
    assert!(text.contains("WARN  builder-2"), "{text}");
    assert!(text.contains("tool.end"), "{text}");
    assert!(text.contains("toolName=Bash"), "{text}");

    for bad in [
        ["logs", "--level", "loud"],
        ["logs", "--since", "soon"],
        ["logs", "--limit", "0"],
    ] {
        let o = p.ov(&bad);
        assert_eq!(o.status.code(), Some(1), "{bad:?}");
        assert!(stderr(&o).contains("VALIDATION_ERROR"), "{}", stderr(&o));
    }
}

#[test]
fn logs_written_by_the_hook_are_queryable() {
    let p = Project::new();
    p.add(&Session::new(
        "builder-1".parse().unwrap(),
        "builder".parse().unwrap(),
    ));
    let mut child = p
        .cmd()
        .args(["log", "tool-start", "--agent", "builder-1", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            serde_json::json!({"tool_name": "Bash", "session_id": "s-1",
                               "tool_input": {"command": "cargo test"}})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
    assert!(child.wait().unwrap().success());
    let v = json(&p.ov(&["logs", "--agent", "builder-1", "--json"]));
    let entries = v["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["event"] == "tool.start" && e["data"]["args"]["command"] == "cargo test"),
        "{v}"
    );
}

#[test]
fn follow_prints_only_new_whole_lines_that_match_and_stops_on_sigint() {
    let p = Project::new();
    let file = log_file(&p, "builder-1", "s1");
    // History: the initial screen shows only the newest --limit entries.
    for i in 0..5 {
        append(
            &file,
            &entry(
                &format!("2026-01-01T00:00:0{i}.000Z"),
                "info",
                "builder-1",
                &format!("old.{i}"),
            ),
        );
    }
    let mut child = p
        .cmd()
        .args([
            "logs", "--follow", "--json", "--limit", "2", "--level", "info",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<serde_json::Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                break;
            }
        }
    });
    let next = || rx.recv_timeout(Duration::from_secs(15)).unwrap();
    let first = next();
    assert_eq!(first["command"], "logs");
    assert_eq!(first["entry"]["event"], "old.3", "history is the newest 2");
    assert_eq!(next()["entry"]["event"], "old.4");

    // A filtered-out line, then a line written in two pieces, and a new
    // file of a new session: each whole matching line arrives once.
    let now = clock::now_rfc3339();
    append(&file, &entry(&now, "error", "builder-1", "filtered.out"));
    let whole = entry(&now, "info", "builder-1", "torn.line");
    let (head, tail) = whole.split_at(20);
    append(&file, head);
    std::thread::sleep(Duration::from_millis(1500)); // let a poll see the torn line
    append(&file, tail);
    assert_eq!(next()["entry"]["event"], "torn.line");
    let second = log_file(&p, "builder-1", "s2");
    append(&second, &entry(&now, "info", "builder-1", "new.file"));
    assert_eq!(next()["entry"]["event"], "new.file");
    assert!(rx.recv_timeout(Duration::from_millis(1500)).is_err());

    signal_process(i32::try_from(child.id()).unwrap(), Sig::Int).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
