//! Integration tests of overstory-runtime: the real `claude` binary against
//! the mock Messages API, the scripted player in real git repositories, and
//! a property test of the stream-json parser.
//!
//! Tests that need the `ov` binary (deployed guards, the scripted agent as a
//! child process) live in `overstory-cli/tests/it/`, where Cargo provides
//! `CARGO_BIN_EXE_ov`.
#![allow(clippy::unwrap_used, clippy::print_stderr, clippy::disallowed_methods)]

mod claude_headless;
mod lead_gate;
mod parser_props;
mod scripted_play;
mod support;

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
