//! Integration tests of the mail bus against real database files.
#![allow(clippy::unwrap_used, clippy::print_stdout, reason = "tests")]

mod client;
mod concurrency;
mod events;
mod framing;
mod group;
mod schema;
mod side_files;
mod store;
mod support;
mod undecodable;

#[test]
fn every_test_module_is_declared() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let main = std::fs::read_to_string(dir.join("main.rs")).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(stem) = name.strip_suffix(".rs").filter(|s| *s != "main") {
            assert!(
                main.contains(&format!("mod {stem};")),
                "tests/it/{name} is not declared in main.rs"
            );
        }
    }
}
