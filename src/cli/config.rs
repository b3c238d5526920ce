//! `mmnotify config …`: the config file's own commands (`--config` itself is global, on
//! [`super::Cli`]).

use clap::{Args, Subcommand};

use super::help;

#[derive(Debug, Clone, Args)]
pub(crate) struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Check the config file (trust rules, keys, routes, templates) and print its routes in
    /// the order an event meets them
    #[command(after_help = help::after_help("config check"))]
    Check(ConfigCheckArgs),
}

#[derive(Debug, Clone, Args)]
pub(crate) struct ConfigCheckArgs {
    /// Where the routes' NAME.url files should be (a missing one is warned about)
    #[command(flatten)]
    pub secrets_dir: super::SecretsDirArgs,
}
