//! Global conventions: unknown commands, usage errors, exit codes, version,
//! `--json` anywhere, colour, timing.

use crate::support::{TempRepo, command, initialized_repo, ov, run};

#[test]
fn unknown_command_suggests_the_nearest_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let run = ov(dir.path(), &["initt"]).fails();
    assert!(
        run.stderr.contains("Unknown command: initt"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Did you mean 'init'?"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Run 'ov --help' for usage"));
    assert_eq!(run.stdout, "");
    let far = ov(dir.path(), &["zzzzzzzzzz"]).fails();
    assert!(!far.stderr.contains("Did you mean"), "{}", far.stderr);
    // Only commands that exist are suggested: never a hidden one, nor one
    // of the original's that this ov does not have.
    let hidden = ov(dir.path(), &["dispatc"]).fails();
    assert!(!hidden.stderr.contains("Did you mean"), "{}", hidden.stderr);
    let absent = ov(dir.path(), &["ecosystm"]).fails();
    assert!(!absent.stderr.contains("'ecosystem'"), "{}", absent.stderr);
    let config = ov(dir.path(), &["confg"]).fails();
    assert!(
        config.stderr.contains("Did you mean 'config'?"),
        "{}",
        config.stderr
    );
}

#[test]
fn unknown_command_under_json_is_an_error_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let run = ov(dir.path(), &["initt", "--json"]).fails();
    let v = run.json();
    assert_eq!(v["success"], false);
    assert_eq!(v["command"], "ov");
    assert_eq!(v["error"], "Unknown command: initt");
}

#[test]
fn usage_errors_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let run = ov(dir.path(), &["init", "--bogus"]).fails();
    assert!(run.stderr.contains("--bogus"), "{}", run.stderr);
    let run = ov(dir.path(), &["completions"]).fails();
    assert!(!run.stderr.is_empty());
    let bare = ov(dir.path(), &[]).fails();
    assert!(bare.stderr.contains("Usage: ov"), "{}", bare.stderr);
}

#[test]
fn help_exits_0_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let run = ov(dir.path(), &["--help"]).ok();
    assert!(run.stdout.contains("Usage: ov"));
    let run = ov(dir.path(), &["init", "--help"]).ok();
    assert!(run.stdout.contains("--force"));
}

#[test]
fn version_plain_and_json() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(ov(dir.path(), &["--version"]).ok().stdout, "0.10.3\n");
    assert_eq!(ov(dir.path(), &["-v"]).ok().stdout, "0.10.3\n");
    for args in [["--version", "--json"], ["--json", "-v"]] {
        let v = ov(dir.path(), &args).ok().json();
        assert_eq!(v["name"], "@os-eco/overstory-cli");
        assert_eq!(v["version"], "0.10.3");
        assert_eq!(v["runtime"], "rust");
        let platform = v["platform"].as_str().unwrap();
        assert!(platform.starts_with(std::env::consts::OS), "{platform}");
    }
}

#[test]
fn json_flag_works_before_and_after_the_command() {
    for args in [["--json", "init"], ["init", "--json"]] {
        let repo = TempRepo::new();
        let v = ov(repo.path(), &args).ok().json();
        assert_eq!(v["command"], "init");
        assert_eq!(v["success"], true);
    }
}

#[test]
fn no_color_wins_over_force_color() {
    let with_color = TempRepo::new();
    let out = run(command(with_color.path())
        .arg("init")
        .env_remove("NO_COLOR")
        .env("FORCE_COLOR", "1"))
    .ok();
    assert!(out.stdout.contains("\x1b["), "FORCE_COLOR alone colours");

    let repo = TempRepo::new();
    let out = run(command(repo.path())
        .arg("init")
        .env("FORCE_COLOR", "1")
        .env("NO_COLOR", "1"))
    .ok();
    assert!(!out.stdout.contains('\x1b'), "{:?}", out.stdout);
    assert!(!out.stderr.contains('\x1b'));
}

#[test]
fn term_dumb_and_pipes_disable_colour() {
    let repo = TempRepo::new();
    let out = run(command(repo.path())
        .arg("init")
        .env_remove("NO_COLOR")
        .env_remove("FORCE_COLOR")
        .env("TERM", "dumb"))
    .ok();
    assert!(!out.stdout.contains('\x1b'));
}

#[test]
fn timing_prints_done_to_stderr() {
    let repo = initialized_repo();
    let run = ov(repo.path(), &["config", "--timing"]).ok();
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("Done in "), "{}", run.stderr);
    assert!(last.ends_with("ms") || last.ends_with('s'));
}
