use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use mmnotify::cli::{self, Cli, Command};
use mmnotify::error::exit_kind;

fn main() -> ExitCode {
    match dispatch(Cli::parse()) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            // A closed stdout (`mmnotify … | head`) is the reader's choice, not a failure.
            let broken_pipe = err
                .chain()
                .filter_map(|e| e.downcast_ref::<std::io::Error>())
                .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe);
            if broken_pipe {
                return ExitCode::SUCCESS;
            }
            eprintln!("mmnotify: error: {err:#}");
            ExitCode::from(exit_kind(&err).code())
        }
    }
}

fn dispatch(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Send(args) => mmnotify::send::run(args),
        Command::Build(args) => mmnotify::build::run(args),
        Command::Run(args) => mmnotify::run::run(args),
        Command::Probe(args) => mmnotify::probe::run(args),
        Command::Doctor(args) => mmnotify::doctor::run(args),
        Command::Flush(args) => mmnotify::flush::run(args),
        Command::Completions { shell } => {
            let mut cmd = cli::command();
            clap_complete::generate(shell, &mut cmd, "mmnotify", &mut std::io::stdout().lock());
            Ok(0)
        }
    }
}
