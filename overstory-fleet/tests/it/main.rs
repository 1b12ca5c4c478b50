//! Integration tests of overstory-fleet against real git repositories,
//! processes and a real tmux server: stop, clean, groups, hooks install,
//! worktrees, the tmux manager, and sling embedded in an async program.
#![allow(clippy::unwrap_used, clippy::print_stderr, clippy::disallowed_methods)]

mod clean;
mod embed;
mod groups;
mod reconcile;
mod root_hooks;
mod stop;
mod tmux;
mod watchdog;
mod worktree;

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
