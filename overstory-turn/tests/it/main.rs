//! Integration tests of overstory-turn: every case of the original's
//! turn-runner suite against real processes, SQLite files and locks (with a
//! scriptable fake child where a real one cannot fail on cue), and dispatch
//! waking agents on mail.
#![allow(clippy::unwrap_used, clippy::print_stderr, clippy::disallowed_methods)]

mod dispatch;
mod fake_child;
mod orphans;
mod spend;
mod turn_runner;

#[test]
fn every_test_module_is_declared() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let main = std::fs::read_to_string(dir.join("main.rs")).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(module) = name.strip_suffix(".rs")
            && module != "main"
        {
            assert!(
                main.contains(&format!("mod {module};")),
                "tests/it/{name} is not declared in main.rs"
            );
        }
    }
}
