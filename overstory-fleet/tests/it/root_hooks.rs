//! Installing the orchestrator hooks into `.claude/settings.local.json`.

use overstory_core::Layout;
use overstory_fleet::root_hooks::{
    InstallOutcome, UninstallOutcome, install_hooks, target_path, uninstall_hooks,
};
use serde_json::{Value, json};

fn project() -> (tempfile::TempDir, Layout) {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path());
    std::fs::create_dir_all(layout.dir()).unwrap();
    let hooks = json!({"hooks": {
        "SessionStart": [{"matcher": "", "hooks": [{"type": "command", "command": "ov prime --agent orchestrator"}]}],
        "Stop": [{"matcher": "", "hooks": [{"type": "command", "command": "ov log session-end --agent orchestrator"}]}]
    }});
    std::fs::write(layout.hooks(), hooks.to_string()).unwrap();
    (dir, layout)
}

fn read(layout: &Layout) -> Value {
    serde_json::from_str(&std::fs::read_to_string(target_path(layout.root())).unwrap()).unwrap()
}

#[test]
fn install_into_a_fresh_project_then_uninstall_deletes_the_hooks_only_file() {
    let (_d, layout) = project();
    assert_eq!(
        install_hooks(&layout, false).unwrap(),
        InstallOutcome::Installed
    );
    let text = std::fs::read_to_string(target_path(layout.root())).unwrap();
    assert!(text.starts_with("{\n\t\"hooks\""), "tab-indented: {text}");
    assert!(text.ends_with("}\n"));
    assert_eq!(
        install_hooks(&layout, false).unwrap(),
        InstallOutcome::AlreadyPresent
    );
    assert_eq!(
        uninstall_hooks(&layout).unwrap(),
        UninstallOutcome::FileDeleted
    );
    assert!(!target_path(layout.root()).exists());
    assert_eq!(uninstall_hooks(&layout).unwrap(), UninstallOutcome::NoFile);
}

#[test]
fn force_merges_keeps_other_keys_and_dedupes() {
    let (_d, layout) = project();
    let target = target_path(layout.root());
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(
        &target,
        json!({"env": {"A": "1"}, "hooks": {"SessionStart": [{"matcher": "x", "hooks": [{"type": "command", "command": "mine"}]}]}}).to_string(),
    )
    .unwrap();
    install_hooks(&layout, true).unwrap();
    install_hooks(&layout, true).unwrap();
    let v = read(&layout);
    assert_eq!(v["env"]["A"], "1");
    assert_eq!(v["hooks"]["SessionStart"].as_array().unwrap().len(), 2);
    assert_eq!(v["hooks"]["SessionStart"][0]["hooks"][0]["command"], "mine");
    assert_eq!(v["hooks"]["Stop"].as_array().unwrap().len(), 1);

    assert_eq!(uninstall_hooks(&layout).unwrap(), UninstallOutcome::Removed);
    let v = read(&layout);
    assert_eq!(v["env"]["A"], "1");
    assert_eq!(v["hooks"]["SessionStart"].as_array().unwrap().len(), 1);
    assert!(v["hooks"].get("Stop").is_none());
}

#[test]
fn missing_source_is_a_validation_error() {
    let (_d, layout) = project();
    std::fs::remove_file(layout.hooks()).unwrap();
    let err = install_hooks(&layout, false).unwrap_err();
    assert_eq!(err.code(), "VALIDATION_ERROR");
    assert!(err.to_string().contains("hooks.json"));
}
