//! `collapse-explorer`: thin entry point.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    collapse_explorer::cli::run(collapse_explorer::cli::Cli::parse())
}
