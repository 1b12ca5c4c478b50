//! `ov hooks` wiring.

use crate::support::{initialized_repo, ov};

#[test]
fn install_refuses_then_merges_with_force_and_uninstall_keeps_user_hooks() {
    let repo = initialized_repo();
    let p = repo.path();
    let settings = p.join(".claude/settings.local.json");
    std::fs::create_dir_all(p.join(".claude")).unwrap();
    let user = serde_json::json!({
        "permissions": {"allow": ["Bash(ls)"]},
        "hooks": {"Stop": [{"matcher": "", "hooks": [{"type": "command", "command": "echo mine"}]}]}
    });
    std::fs::write(&settings, user.to_string()).unwrap();

    let r = ov(p, &["hooks", "install"]).ok();
    assert!(r.stdout.contains("already present"), "{r:?}");
    assert!(r.stdout.contains("--force"));

    ov(p, &["hooks", "install", "--force"]).ok();
    ov(p, &["hooks", "install", "--force"]).ok();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert_eq!(v["permissions"]["allow"][0], "Bash(ls)");
    let stop = v["hooks"]["Stop"].as_array().unwrap();
    assert_eq!(
        stop.len(),
        2,
        "merged once, deduped on the second run: {stop:?}"
    );
    assert!(v["hooks"]["SessionStart"].is_array());

    let st = ov(p, &["hooks", "status", "--json"]).ok().json();
    assert_eq!(st["command"], "hooks status");
    assert_eq!(st["sourceExists"], true);
    assert_eq!(st["installed"], true);

    ov(p, &["hooks", "uninstall"]).ok();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert_eq!(v["hooks"]["Stop"].as_array().unwrap().len(), 1);
    assert_eq!(v["hooks"]["Stop"][0]["hooks"][0]["command"], "echo mine");
    assert!(v["hooks"].get("SessionStart").is_none());
    assert_eq!(v["permissions"]["allow"][0], "Bash(ls)");
}

#[test]
fn install_without_source_is_a_validation_error() {
    let repo = initialized_repo();
    let p = repo.path();
    std::fs::remove_file(p.join(".overstory/hooks.json")).unwrap();
    let r = ov(p, &["hooks", "install"]).fails();
    assert!(r.stderr.contains("VALIDATION_ERROR"), "{r:?}");
}
