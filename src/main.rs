//! `collapse-explorer`: thin entry point.

use clap::Parser;

/// Runs the command; an error is printed as one `error: …` line with its causes (no
/// backtrace, whatever `RUST_BACKTRACE` says: the message is for the user) and exit status 1.
fn main() -> std::process::ExitCode {
    match collapse_explorer::cli::run(collapse_explorer::cli::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
