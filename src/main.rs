use std::process::ExitCode;

use anyhow::Result;
use clap::FromArgMatches;
use mmnotify::cli::{self, Cli, Command};
use mmnotify::commands::output;
use mmnotify::error::exit_kind;
use mmnotify::secret::scrub_hook_ids;

fn main() -> ExitCode {
    // The long version is set here, not in cli::command(), so the man pages generated
    // from that do not change with every commit.
    let cli = match cli::command()
        .long_version(cli::LONG_VERSION)
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let json = cli.command.json_output();
    match dispatch(cli) {
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
            let code = exit_kind(&err).code();
            // Last line of defence: library errors may quote any hook's URL.
            let message = scrub_hook_ids(&format!("{err:#}")).into_owned();
            output::print_stderr_line(&format!("mmnotify: error: {message}"));
            if json && !output::outcome_printed() {
                output::print_stdout_line(&output::early_failure(&message, code).to_string());
            }
            ExitCode::from(code)
        }
    }
}

/// clap quotes a rejected value back (`invalid value '…' for '--timeout'`); a webhook URL
/// pasted into the wrong flag must not reach the terminal or a CI log that way.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        // Quotes nothing the user typed; `exit` ignores a closed stdout.
        e.exit();
    }
    // print_stderr_line redacts hook ids; a bare token pasted as a value is shortened too.
    let rendered = e.render().to_string();
    output::print_stderr_line(mmnotify::secret::redact_id_runs(rendered.trim_end()).as_ref());
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}

fn dispatch(cli: Cli) -> Result<u8> {
    cli.command.refuse_urls_in_paths()?;
    match cli.command {
        Command::Send(args) => mmnotify::commands::send::run(args),
        Command::Build(args) => mmnotify::commands::build::run(args),
        Command::Run(args) => mmnotify::commands::run::run(args),
        Command::Probe(args) => mmnotify::commands::probe::run(args),
        Command::Doctor(args) => mmnotify::commands::doctor::run(args),
        Command::Flush(args) => mmnotify::commands::flush::run(args),
        Command::Webhooks(args) => mmnotify::commands::webhooks::run(args),
        Command::Spool(args) => mmnotify::commands::spool::run(args),
        Command::Completions { shell } => {
            // Into a buffer first: clap_complete panics on a failed write (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cli::command(), "mmnotify", &mut script);
            output::print_stdout_bytes(&script);
            Ok(0)
        }
    }
}
