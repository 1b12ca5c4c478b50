//! `ov completions <shell>`.

use crate::support::ov;

#[test]
fn completions_for_each_shell() {
    let dir = tempfile::tempdir().unwrap();
    let bash = ov(dir.path(), &["completions", "bash"]).ok().stdout;
    assert!(bash.contains("_ov()"), "{bash}");
    assert!(bash.contains("complete -F _ov"), "{bash}");
    assert!(bash.contains("init"), "subcommands are listed");
    let zsh = ov(dir.path(), &["completions", "ZSH"]).ok().stdout;
    assert!(zsh.starts_with("#compdef ov"), "{zsh}");
    let fish = ov(dir.path(), &["completions", "fish"]).ok().stdout;
    assert!(fish.contains("complete -c ov"), "{fish}");
}

#[test]
fn unknown_shell_fails_with_the_supported_list() {
    let dir = tempfile::tempdir().unwrap();
    let run = ov(dir.path(), &["completions", "tcsh"]).fails();
    assert!(
        run.stderr.contains("unknown shell 'tcsh'"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Supported shells: bash, zsh, fish"));
    assert_eq!(run.stdout, "");
}
