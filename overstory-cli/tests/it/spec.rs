//! `ov spec write` wiring.

use std::io::Write as _;

use crate::support::{command, initialized_repo, ov};

#[test]
fn spec_write_from_body_and_stdin() {
    let repo = initialized_repo();
    let p = repo.path();
    let v = ov(
        p,
        &[
            "spec", "write", "task-1", "--body", "Do it", "--agent", "lead-1", "--json",
        ],
    )
    .ok()
    .json();
    assert_eq!(v["command"], "spec-write");
    assert_eq!(v["taskId"], "task-1");
    let path = v["path"].as_str().unwrap();
    assert!(path.ends_with(".overstory/specs/task-1.md"));
    assert_eq!(
        std::fs::read_to_string(path).unwrap(),
        "<!-- written-by: lead-1 -->\nDo it\n"
    );

    let mut child = command(p)
        .args(["spec", "write", "task-2"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from stdin\n")
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    assert_eq!(
        std::fs::read_to_string(p.join(".overstory/specs/task-2.md")).unwrap(),
        "from stdin\n",
        "the newline is never doubled"
    );
}

#[test]
fn spec_write_refuses_escaping_ids_and_blank_bodies() {
    let repo = initialized_repo();
    let p = repo.path();
    for bad in ["../escape", "a/b", ".hidden"] {
        let v = ov(p, &["spec", "write", bad, "--body", "x", "--json"])
            .fails()
            .json();
        assert_eq!(v["code"], "VALIDATION_ERROR", "{bad}");
    }
    assert!(!p.join(".overstory/escape.md").exists());
    let v = ov(p, &["spec", "write", "t-1", "--body", "  ", "--json"])
        .fails()
        .json();
    assert_eq!(v["code"], "VALIDATION_ERROR");
}
