//! Integration tests of the `ov` binary.
#![allow(clippy::unwrap_used, clippy::print_stderr, clippy::disallowed_methods)]

mod guard;
mod scripted_agent;

/// The `ov` binary under test.
pub fn ov_bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_ov"))
}

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
