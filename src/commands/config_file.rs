//! The config file at the door: finding and loading it for the commands that use it
//! (`build`, `doctor`), and `mmnotify config check`.

use std::path::Path;

use anyhow::Result;

use crate::cli::{ConfigArgs, ConfigCommand};
use crate::config::{self, locate, Config};
use crate::pipeline::output::{print_stdout_bytes, Ending};

/// Finds and loads the config: `given` is `--config FILE` (or `MMNOTIFY_CONFIG`). A
/// given file that is missing, and any file found that fails its rules, is exit 3.
/// `None`: no `--config`/`MMNOTIFY_CONFIG` and nothing at the default paths.
pub(super) fn find(given: Option<&Path>) -> Result<Option<Config>> {
    locate::find(given)
}

/// The line for "no config", naming where it was looked for.
pub(super) fn none_found() -> String {
    format!(
        "no config file (none given with --config or MMNOTIFY_CONFIG, none at \
         $XDG_CONFIG_HOME/mmnotify/config.toml, ~/.config/mmnotify/config.toml or {})",
        locate::SYSTEM_PATH
    )
}

/// `mmnotify config check`: exit 0 with the listing, or the load's error (exit 3).
pub(super) fn run(args: &ConfigArgs, given: Option<&Path>) -> Result<Ending> {
    let ConfigCommand::Check(_) = &args.command;
    // No config is a valid setup (every event goes to the usual webhook), so not an
    // error; the line says where it was looked for.
    let listing = find(given)?.map_or_else(
        || format!("{}\n", none_found()),
        |config| config::print::routes(&config),
    );
    print_stdout_bytes(listing.as_bytes());
    Ok(Ending::printed(Ok(0)))
}
