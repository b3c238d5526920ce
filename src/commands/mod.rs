mod build;
mod config;
mod config_file;
mod doctor;
mod flush;
mod probe;
pub(crate) mod relay;
mod run;
mod send;
mod spool;
mod webhooks;

use anyhow::Result;

use crate::cli::{self, Cli, Command};
use crate::pipeline::output::{self, Ending};

/// Runs the command `main` parsed: the one door from the binary into the commands, so
/// that everything behind it can stay private to the crate.
///
/// # Errors
///
/// A failure before the command has an outcome of its own (a webhook URL given where a
/// path belongs, a state directory that cannot be used, …); its `ExitKind` gives the code.
pub fn dispatch(cli: Cli) -> Result<Ending> {
    cli.command.refuse_urls_in_paths()?;
    let config = cli.config.as_deref();
    check_given_config(&cli.command, config)?;
    match cli.command {
        Command::Send(args) => send::run(*args),
        Command::Build(args) => build::run(*args, config),
        Command::Run(args) => run::run(*args),
        Command::Probe(args) => probe::run(args),
        Command::Doctor(args) => doctor::run(args, config),
        Command::Flush(args) => flush::run(args),
        Command::Webhooks(args) => webhooks::run(args),
        Command::Config(args) => config_file::run(&args, config),
        // Its rows are its output; an error gets a failed outcome after them.
        Command::Spool(args) => spool::run(args).map(|c| Ending::printed(Ok(c))),
        Command::Completions { shell } => {
            // Into a buffer first: clap_complete panics on a failed write (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cli::command(), "mmnotify", &mut script);
            output::print_stdout_bytes(&script);
            Ok(Ending::printed(Ok(0)))
        }
    }
}

/// Contract, "Config file": a missing or unreadable file named by `--config` or
/// `MMNOTIFY_CONFIG` is exit 3, for every command (but `completions`), not only those
/// that route with it (`build`, `doctor` and `config check` load it themselves). It is
/// loaded, so a broken one is exit 3 everywhere alike. Without either, nothing is done:
/// the default paths are looked at only by the commands that use the config, so `send`
/// pays nothing for them.
fn check_given_config(command: &Command, given: Option<&std::path::Path>) -> Result<()> {
    let loads_it = matches!(
        command,
        Command::Build(_) | Command::Doctor(_) | Command::Config(_) | Command::Completions { .. }
    );
    match given.filter(|p| !p.as_os_str().is_empty()) {
        Some(path) if !loads_it => config_file::find(Some(path)).map(drop),
        _ => Ok(()),
    }
}
