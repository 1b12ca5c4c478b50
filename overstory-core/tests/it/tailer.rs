//! The NDJSON tailer (following, offsets and rotation, and the partial-line, restart and
//! truncation fixes).

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use overstory_core::events::{
    EventFilter, EventStore, SessionIdSink, Tailer, TailerOptions, find_latest_stdout_log,
    spawn_tailer,
};

struct Fixture {
    dir: tempfile::TempDir,
    store: EventStore,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(&dir.path().join("events.db")).unwrap();
        Self { dir, store }
    }

    fn log(&self) -> std::path::PathBuf {
        self.dir.path().join("stdout.log")
    }

    fn opts(&self) -> TailerOptions {
        TailerOptions {
            stdout_log: self.log(),
            agent_name: "coordinator".into(),
            run_id: Some("run-1".into()),
            offset_file: Some(self.dir.path().join("stdout.log.offset")),
            poll_interval: Duration::from_millis(10),
        }
    }

    fn append(&self, text: &str) {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }

    fn events(&self) -> Vec<overstory_core::events::StoredEvent> {
        self.store
            .by_agent("coordinator", &EventFilter::default())
            .unwrap()
    }
}

#[test]
fn maps_types_fields_and_levels_and_skips_malformed_lines() {
    let mut f = Fixture::new();
    let mut t = Tailer::new(f.opts(), None);
    assert_eq!(
        t.poll(&mut f.store).unwrap(),
        0,
        "a missing file is tolerated"
    );
    f.append(concat!(
        "{\"type\":\"tool_start\",\"tool\":\"Bash\"}\n",
        "not json\n",
        "\n",
        "{\"type\":\"tool_end\",\"tool_name\":\"Bash\",\"duration_ms\":12.4}\n",
        "{\"type\":\"error\",\"message\":\"boom\"}\n",
        "{\"type\":\"assistant\",\"toolName\":\"Read\"}\n",
        "{\"no_type\":1}\n",
    ));
    assert_eq!(t.poll(&mut f.store).unwrap(), 5);
    let e = f.events();
    let kinds: Vec<_> = e.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        kinds,
        ["tool_start", "tool_end", "error", "custom", "custom"]
    );
    assert_eq!(e[0].tool_name.as_deref(), Some("Bash"));
    assert_eq!(e[1].tool_duration_ms, Some(12));
    assert_eq!(e[2].level, "error");
    assert_eq!(e[3].tool_name.as_deref(), Some("Read"));
    assert!(e.iter().all(|e| e.run_id.as_deref() == Some("run-1")));
    assert!(
        e.iter()
            .all(|e| e.tool_args.is_none() && e.session_id.is_none())
    );
    assert_eq!(e[2].data_json().unwrap()["message"], "boom");
    // Appended lines are picked up.
    f.append("{\"type\":\"progress\"}\n");
    assert_eq!(t.poll(&mut f.store).unwrap(), 1);
}

#[test]
fn a_partial_last_line_waits_for_its_newline() {
    let mut f = Fixture::new();
    let mut t = Tailer::new(f.opts(), None);
    f.append("{\"type\":\"progress\",\"text\":\"caf");
    assert_eq!(t.poll(&mut f.store).unwrap(), 0);
    f.append("é\"}\n");
    assert_eq!(t.poll(&mut f.store).unwrap(), 1);
    assert_eq!(f.events()[0].data_json().unwrap()["text"], "café");
}

#[test]
fn a_restarted_tailer_resumes_from_the_persisted_offset() {
    let mut f = Fixture::new();
    f.append("{\"type\":\"progress\"}\n{\"type\":\"progress\"}\n");
    Tailer::new(f.opts(), None).poll(&mut f.store).unwrap();
    let mut again = Tailer::new(f.opts(), None);
    assert_eq!(
        again.poll(&mut f.store).unwrap(),
        0,
        "no duplicates after a restart"
    );
    f.append("{\"type\":\"result\"}\n");
    assert_eq!(again.poll(&mut f.store).unwrap(), 1);
    assert_eq!(f.events().len(), 3);
}

#[test]
fn a_truncated_file_is_read_from_the_start() {
    let mut f = Fixture::new();
    let mut t = Tailer::new(f.opts(), None);
    f.append("{\"type\":\"progress\",\"n\":1}\n{\"type\":\"progress\",\"n\":2}\n");
    t.poll(&mut f.store).unwrap();
    std::fs::write(f.log(), "{\"type\":\"result\"}\n").unwrap();
    assert_eq!(t.poll(&mut f.store).unwrap(), 1);
}

#[derive(Clone, Default)]
struct Sink {
    stored: Arc<Mutex<Option<String>>>,
    mismatches: Arc<Mutex<Vec<(String, String, String)>>>,
}

impl SessionIdSink for Sink {
    fn pin(&mut self, _agent: &str, observed: &str) -> Option<String> {
        self.stored.lock().unwrap().replace(observed.to_owned())
    }
    fn mismatch(&mut self, agent: &str, prior: &str, observed: &str) {
        self.mismatches
            .lock()
            .unwrap()
            .push((agent.into(), prior.into(), observed.into()));
    }
}

#[test]
fn session_id_is_pinned_once_and_a_mismatch_is_reported() {
    let mut f = Fixture::new();
    let sink = Sink::default();
    *sink.stored.lock().unwrap() = Some("old-id".into());
    let mut t = Tailer::new(f.opts(), Some(Box::new(sink.clone())));
    f.append(concat!(
        "{\"type\":\"progress\",\"session_id\":\"ignored-not-system\"}\n",
        "{\"type\":\"system\",\"session_id\":\"new-id\"}\n",
        "{\"type\":\"result\",\"session_id\":\"later-id\"}\n",
    ));
    t.poll(&mut f.store).unwrap();
    assert_eq!(
        sink.stored.lock().unwrap().as_deref(),
        Some("new-id"),
        "observed wins, once"
    );
    assert_eq!(
        *sink.mismatches.lock().unwrap(),
        [(
            "coordinator".to_owned(),
            "old-id".to_owned(),
            "new-id".to_owned()
        )]
    );
}

#[test]
fn spawned_tailer_ingests_and_stop_is_idempotent() {
    let f = Fixture::new();
    f.append("{\"type\":\"progress\"}\n");
    let mut h = spawn_tailer(&f.dir.path().join("events.db"), f.opts(), None);
    assert!(h.is_running());
    h.stop();
    h.stop();
    assert!(!h.is_running());
    assert_eq!(
        f.events().len(),
        1,
        "the final poll on stop ingests what is there"
    );
}

#[test]
fn store_open_failure_gives_a_no_op_handle() {
    let f = Fixture::new();
    let bad = f.dir.path().join("no-such-dir/events.db");
    let mut h = spawn_tailer(&bad, f.opts(), None);
    assert!(!h.is_running());
    h.stop();
}

#[test]
fn latest_stdout_log_is_in_the_last_directory() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs/agent");
    assert_eq!(find_latest_stdout_log(&logs), None, "missing dir");
    std::fs::create_dir_all(&logs).unwrap();
    assert_eq!(find_latest_stdout_log(&logs), None, "empty dir");
    for ts in ["2026-03-05T14-52-26-089Z", "2026-03-05T15-00-00-000Z"] {
        std::fs::create_dir_all(logs.join(ts)).unwrap();
    }
    std::fs::write(logs.join("2026-03-05T14-52-26-089Z/stdout.log"), "").unwrap();
    assert_eq!(
        find_latest_stdout_log(&logs),
        None,
        "latest dir has no stdout.log"
    );
    std::fs::write(logs.join("2026-03-05T15-00-00-000Z/stdout.log"), "").unwrap();
    assert_eq!(
        find_latest_stdout_log(&logs),
        Some(logs.join("2026-03-05T15-00-00-000Z/stdout.log"))
    );
}
