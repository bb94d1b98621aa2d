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
    let cli = collapse_explorer::cli::Cli::parse();
    // A headless command that opens a Vulkan device (`--device gpu`, `speed`) on a machine with
    // no desktop session has no XDG_RUNTIME_DIR, and Vulkan's Wayland probe then prints
    // "error: XDG_RUNTIME_DIR is invalid or not set" once per device: not the user's error.
    // Give those commands a private runtime directory (the app keeps the desktop's, or none).
    #[cfg(target_os = "linux")]
    if !matches!(
        cli.command,
        None | Some(collapse_explorer::cli::Command::App(_))
    ) && std::env::var_os("XDG_RUNTIME_DIR").is_none()
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt};
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() };
        let dir = std::env::temp_dir().join(format!("collapse-explorer-{uid}"));
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
        // Only a directory of this user's that no one else may enter (one made by another
        // user in a shared /tmp is passed over).
        let private = std::fs::symlink_metadata(&dir)
            .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.mode() & 0o077 == 0);
        if private {
            // SAFETY: no other thread has started yet (clap parses on this one).
            unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
        }
    }
    match collapse_explorer::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", collapse_explorer::cli::error_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
