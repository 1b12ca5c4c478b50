//! The `overstory` binary: the same program as `ov`, under its long name.
fn main() -> std::process::ExitCode {
    overstory_cli::main()
}
