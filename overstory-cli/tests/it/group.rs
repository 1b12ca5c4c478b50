//! `ov group` wiring.

use crate::support::{initialized_repo, ov};

#[test]
fn create_list_add_remove_status_round_trip() {
    let repo = initialized_repo();
    let p = repo.path();
    let g = ov(
        p,
        &[
            "group",
            "create",
            "wave-1",
            "a-1",
            "a-2",
            "--skip-validation",
            "--json",
        ],
    )
    .ok()
    .json();
    assert_eq!(g["command"], "group create");
    assert!(g["id"].as_str().unwrap().starts_with("group-"));
    assert_eq!(g["id"].as_str().unwrap().len(), "group-".len() + 8);
    assert_eq!(g["memberIssueIds"], serde_json::json!(["a-1", "a-2"]));
    assert_eq!(g["status"], "active");

    let v = ov(
        p,
        &[
            "group",
            "add",
            "wave-1",
            "a-3",
            "--skip-validation",
            "--json",
        ],
    )
    .ok()
    .json();
    assert_eq!(v["command"], "group add");
    assert_eq!(v["memberIssueIds"].as_array().unwrap().len(), 3);
    let v = ov(p, &["group", "remove", "wave-1", "a-1", "--json"])
        .ok()
        .json();
    assert_eq!(v["memberIssueIds"], serde_json::json!(["a-2", "a-3"]));
    let v = ov(p, &["group", "remove", "wave-1", "a-2", "a-3", "--json"])
        .fails()
        .json();
    assert_eq!(v["code"], "GROUP_ERROR");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("Cannot remove all issues")
    );

    let v = ov(p, &["group", "list", "--json"]).ok().json();
    assert_eq!(v["command"], "group list");
    assert_eq!(v["groups"].as_array().unwrap().len(), 1);

    // No tracker installed: members count as open, nothing closes.
    let v = ov(p, &["group", "status", "wave-1", "--json"]).ok().json();
    assert_eq!(v["command"], "group status");
    assert_eq!(v["total"], 2);
    assert_eq!(v["open"], 2);

    let text = std::fs::read_to_string(p.join(".overstory/groups.json")).unwrap();
    assert!(text.starts_with("[\n\t{"), "tab-indented: {text}");
    assert!(text.ends_with("]\n"));
}

#[test]
fn duplicate_names_unknown_groups_and_bad_input_are_refused() {
    let repo = initialized_repo();
    let p = repo.path();
    ov(p, &["group", "create", "w", "a", "--skip-validation"]).ok();
    let v = ov(
        p,
        &["group", "create", "w", "b", "--skip-validation", "--json"],
    )
    .fails()
    .json();
    assert_eq!(v["code"], "GROUP_ERROR");
    let v = ov(
        p,
        &["group", "create", " ", "b", "--skip-validation", "--json"],
    )
    .fails()
    .json();
    assert_eq!(v["code"], "VALIDATION_ERROR");
    let v = ov(
        p,
        &[
            "group",
            "create",
            "x",
            "b",
            "b",
            "--skip-validation",
            "--json",
        ],
    )
    .fails()
    .json();
    assert_eq!(v["code"], "VALIDATION_ERROR");
    let v = ov(p, &["group", "status", "nope", "--json"]).fails().json();
    assert_eq!(v["code"], "GROUP_ERROR");
    assert!(v["error"].as_str().unwrap().contains("not found"));
    // Without --skip-validation and no tracker, the issue cannot be found.
    let v = ov(p, &["group", "create", "y", "zz-1", "--json"])
        .fails()
        .json();
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("not found in tracker"),
        "{v}"
    );
    let v = ov(
        p,
        &["group", "add", "w", "a", "--skip-validation", "--json"],
    )
    .fails()
    .json();
    assert!(v["error"].as_str().unwrap().contains("already a member"));
}
