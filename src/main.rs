use std::process::ExitCode;

use clap::FromArgMatches;
use mmnotify::cli::{self, Cli};
use mmnotify::error::{exit_kind, ExitKind};
use mmnotify::pipeline::output::{self, Ending, Outcome};
use mmnotify::secret::scrub_hook_ids;

/// C's `pow`, for the one caller in the tree (indicatif's rate estimator). Defined here,
/// it keeps the binary from needing the system libm at all: `ldd` shows libc, `libgcc_s` and
/// the loader only, and every command starts without mapping libm.so (about 300 KiB of
/// peak RSS for a `send`). libm's `pow` is the rust-lang port of musl's, correctly rounded
/// to within 1 ulp like glibc's.
#[no_mangle]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

fn main() -> ExitCode {
    // The long version is set here, not in cli::command(), so the man pages generated
    // from that do not change with every commit.
    let cli = match cli::command()
        .long_version(cli::LONG_VERSION)
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        // A script that asked for JSON gets it even when its command line is wrong, so
        // the flag is looked for in the words clap refused.
        Err(e) => return usage_error(&e, output::json_requested(std::env::args_os().skip(1))),
    };
    let json = cli.json_output();
    let ending = mmnotify::commands::dispatch(cli).unwrap_or_else(|e| Ending {
        // Stopped before it had an outcome: `main` reports one for it.
        outcome: Some(Outcome::new(output::Status::Failed).answered_by(&e)),
        error: Some(e),
        code: 0,
    });
    finish(ending, json)
}

/// Prints what the command left to print and turns its ending into the exit code.
fn finish(ending: Ending, json: bool) -> ExitCode {
    let Ending {
        outcome,
        error,
        code,
    } = ending;
    let mut message = None;
    let code = match &error {
        None => code,
        Some(err) => {
            // A closed stdout (`mmnotify … | head`) is the reader's choice, not a failure.
            let broken_pipe = err
                .chain()
                .filter_map(|e| e.downcast_ref::<std::io::Error>())
                .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe);
            if broken_pipe {
                return ExitCode::SUCCESS;
            }
            // Last line of defence: library errors may quote any hook's URL.
            let text = scrub_hook_ids(&format!("{err:#}")).into_owned();
            output::print_stderr_line(&format!("mmnotify: error: {text}"));
            message = Some(text);
            exit_kind(err).code()
        }
    };
    if let (true, Some(mut outcome)) = (json, outcome) {
        outcome.exit_code = Some(code);
        if outcome.message.is_none() {
            outcome.message = message;
        }
        output::print_stdout_line(&outcome.to_json().to_string());
    }
    ExitCode::from(code)
}

/// clap quotes a rejected value back (`invalid value '…' for '--timeout'`); a webhook URL
/// pasted into the wrong flag must not reach the terminal or a CI log that way.
fn usage_error(e: &clap::Error, json: bool) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        // Quotes nothing the user typed; `exit` ignores a closed stdout.
        e.exit();
    }
    let rendered = e.render().to_string();
    // print_stderr_line redacts hook ids; a bare token pasted as a value is shortened too.
    let rendered = mmnotify::secret::redact_id_runs(&rendered).into_owned();
    output::print_stderr_line(rendered.trim_end());
    let code = u8::try_from(e.exit_code()).unwrap_or(ExitKind::Usage.code());
    if json {
        let first = rendered.lines().next().unwrap_or_default();
        let first = first.strip_prefix("error: ").unwrap_or(first);
        let message = format!("{}; see `mmnotify --help`", scrub_hook_ids(first));
        output::print_stdout_line(&Outcome::failure(&message, code).to_json().to_string());
    }
    ExitCode::from(code)
}
