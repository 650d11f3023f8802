//! The ctibridge binary: parses the command line and hands over to the library.

use ctibridge::cli::Cli;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli: Cli = argh::from_env();
    if cli.version {
        println!("ctibridge {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    match cli.command {
        Some(command) => ctibridge::commands::execute(command),
        None => {
            eprintln!(
                "ctibridge: say what to do: run, check-config, replay or record (see --help)"
            );
            ExitCode::from(2)
        }
    }
}
