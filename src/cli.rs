//! The command line: what `ctibridge` accepts, parsed by argh.

use argh::FromArgs;

/// ctibridge links an Asterisk PBX (AMI) to operator panels and CRMs over
/// WebSocket.
#[derive(FromArgs, Debug)]
pub struct Cli {
    /// print the version and exit
    #[argh(switch)]
    pub version: bool,

    /// what to do
    #[argh(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    /// Run the bridge.
    Run(Run),
    /// Check a config file.
    CheckConfig(CheckConfig),
    /// Replay a recording.
    Replay(Replay),
    /// Record a live AMI stream.
    Record(Record),
}

/// run the bridge: log in to the PBX (or replay `filePath`) and serve clients
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "run")]
pub struct Run {
    /// the config file (JSON)
    #[argh(option, short = 'c')]
    pub config: String,
}

/// check a config file without starting anything; exit 2 when broken
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "check-config")]
pub struct CheckConfig {
    /// the config file (JSON)
    #[argh(positional)]
    pub file: String,
}

/// replay a recorded AMI stream and print the call events, one JSON per line
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "replay")]
pub struct Replay {
    /// the recording (raw AMI bytes)
    #[argh(positional)]
    pub file: String,

    /// a config file: protocol, users (only their lines are printed) and
    /// tracker options are taken from it
    #[argh(option, short = 'c')]
    pub config: Option<String>,

    /// print the parsed AMI packets instead of call events
    #[argh(switch)]
    pub packets: bool,
}

/// log in to the PBX and write the raw bytes received to a file
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "record")]
pub struct Record {
    /// the config file (JSON)
    #[argh(option, short = 'c')]
    pub config: String,

    /// where to write the bytes
    #[argh(option, short = 'o')]
    pub out: String,

    /// stop after this many seconds (default: until interrupted)
    #[argh(option)]
    pub duration: Option<u64>,
}
