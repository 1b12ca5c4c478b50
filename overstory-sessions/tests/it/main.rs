//! Integration tests of overstory-sessions, on real SQLite files.
#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::print_stdout,
    reason = "tests"
)]

mod compat;
mod concurrency;
mod discover;
mod hook_events;
mod ledger;
mod legacy;
mod metrics;
mod observe;
mod runs;
mod status;
mod store;
mod support;
mod transitions;
mod typed_rows;

#[test]
fn every_test_module_is_declared() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let main = std::fs::read_to_string(dir.join("main.rs")).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(m) = name.strip_suffix(".rs").filter(|m| *m != "main") {
            assert!(
                main.contains(&format!("mod {m};")),
                "tests/it/{name} is not declared in main.rs"
            );
        }
    }
}
