//! `collapse-explorer`: thin entry point.

use clap::Parser;

/// Runs the command; an error is printed as one `error: …` line with its causes, each once (no
/// backtrace, whatever `RUST_BACKTRACE` says: the message is for the user) and exit status 1.
fn main() -> std::process::ExitCode {
    // Output piped into a reader that stops early (`| head`) ends the process as it ends other
    // Unix tools, instead of a panic from `println!` on the broken pipe.
    #[cfg(target_os = "linux")]
    // SAFETY: restoring SIGPIPE's default action, before any thread starts, has no other effect.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    match collapse_explorer::cli::run(collapse_explorer::cli::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", collapse_explorer::cli::error_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
