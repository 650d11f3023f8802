//! What each subcommand does, between the parsed command line and the library.

use crate::ami::Limits;
use crate::cli::{Command, Replay};
use std::io::Write;
use std::process::ExitCode;

/// Runs one subcommand and returns the process exit status: 0 on success,
/// 1 on a runtime failure, 2 on bad input (a broken config, a missing file).
pub fn execute(command: Command) -> ExitCode {
    match command {
        Command::Replay(r) => replay(&r),
        Command::Run(_) | Command::CheckConfig(_) | Command::Record(_) => {
            eprintln!("ctibridge: this command is not available in this build yet");
            ExitCode::from(1)
        }
    }
}

fn replay(r: &Replay) -> ExitCode {
    let bytes = match std::fs::read(&r.file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("ctibridge: cannot read {}: {e}", r.file);
            return ExitCode::from(2);
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut warn = std::io::stderr();
    let result = if r.packets {
        crate::packets::write_packets(&bytes, Limits::default(), &mut out, &mut warn).map(|_| ())
    } else {
        // The config (protocol, users' lines, tracker options) is mapped here
        // once `config` exists; until then the defaults apply.
        let opts = crate::calls::TrackerOptions::default();
        crate::replay::run(&bytes, &opts, None, &mut out, &mut warn).map(|_| ())
    }
    .and_then(|_| out.flush());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is not the file's fault.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ctibridge: cannot write the output: {e}");
            ExitCode::from(1)
        }
    }
}
