//! The `ov` binary: hands the command line to the CLI library.
fn main() -> std::process::ExitCode {
    overstory_cli::main()
}
