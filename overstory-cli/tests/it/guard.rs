//! Every file in `tests/it/` must be a module of this one test binary;
//! a file left out would silently never run.

#[test]
fn every_test_file_is_declared_in_main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let main = std::fs::read_to_string(dir.join("main.rs")).unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let module = if path.is_dir() {
            if !path.join("mod.rs").exists() {
                continue; // data, e.g. snapshots/
            }
            name.clone()
        } else if let Some(stem) = name.strip_suffix(".rs") {
            if stem == "main" {
                continue;
            }
            stem.to_owned()
        } else {
            continue;
        };
        assert!(
            main.lines().any(|l| l.trim() == format!("mod {module};")),
            "tests/it/{name} is not declared in tests/it/main.rs"
        );
        checked += 1;
    }
    assert!(checked >= 5, "found only {checked} modules");
}
