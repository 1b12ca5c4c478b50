//! The top-level help, held as a snapshot so changes show up in review.
//!
//! After an intended change, refresh it with
//! `UPDATE_SNAPSHOTS=1 cargo test -p overstory-cli --test it help`.

use crate::support::{command, run};

#[test]
fn top_level_help_matches_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    // A fixed width, so the wrapping does not depend on the terminal.
    let help = run(command(dir.path()).arg("--help").env("COLUMNS", "100"))
        .ok()
        .stdout;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/snapshots/help.txt");
    if overstory_core::env::is_set("UPDATE_SNAPSHOTS") {
        std::fs::write(&path, &help).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        help, want,
        "ov --help changed; if intended, run UPDATE_SNAPSHOTS=1 cargo test -p overstory-cli --test it help"
    );
}

/// Issue 11: `ov sling` alone printed "the following required arguments were
/// not provided:" with nothing after the colon.
#[test]
fn missing_arguments_are_named_in_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let r = crate::support::ov(dir.path(), &["sling"]).fails();
    assert!(
        r.stderr.starts_with(
            "Error [USAGE_ERROR]: the following required arguments were not provided: <TASK_ID>\n"
        ),
        "{r:#?}"
    );
    let r = crate::support::ov(dir.path(), &["mail", "send", "--to", "x", "--json"]).fails();
    let v = r.json();
    assert_eq!(
        v["error"],
        "the following required arguments were not provided: --subject <text>, --body <text>"
    );
}

/// Issue 11: an empty name is refused wherever a name is taken, filters
/// included (an empty `--agent` matched nothing and looked like "no events").
#[test]
fn empty_names_are_refused_by_every_command_that_takes_one() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["status", "--agent", ""][..],
        &["feed", "--agent", ""],
        &["errors", "--agent", ""],
        &["replay", "--agent", ""],
        &["mail", "list", "--to", ""],
        &["mail", "list", "--from", ""],
        &["trace", ""],
    ] {
        let r = crate::support::ov(dir.path(), args).fails();
        assert!(
            r.stderr
                .starts_with("Error [USAGE_ERROR]: a value is required for '")
                && r.stderr.contains("but none was supplied"),
            "{args:?}: {r:#?}"
        );
    }
}
