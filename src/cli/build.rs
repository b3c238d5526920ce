//! `build`: the build-event fields, where events come from, and deduplication.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::parse::{parse_on_name, parse_ttl};
use super::{CommonArgs, GatewayArgs, QueueArgs, RouteArgs, StoreArgs};
use crate::build_event::event::{with_build_event_fields, BuildEvent, State};
use crate::text::time::Timestamp;

/// The build event's fields as flags, from the one field list in `build_event::event`.
macro_rules! build_event_args {
    (
        $(
            $(#[doc = $doc:literal])*
            [$($flag:tt)*]
            pub $field:ident: Option<$ty:ty> as $codec:ident,
        )*
    ) => {
        /// A build event as given: every field optional until [`BuildEvent::validate`]. As
        /// flags, these override `--event` and the CI environment.
        #[derive(Clone, Debug, Default, PartialEq, Args)]
        #[command(next_help_heading = "Event")]
        pub(crate) struct BuildEventArgs {
            $( $(#[doc = $doc])* #[arg($($flag)*)] pub $field: Option<$ty>, )*
        }

        impl From<&BuildEventArgs> for BuildEvent {
            fn from(a: &BuildEventArgs) -> BuildEvent {
                BuildEvent { $( $field: a.$field.clone(), )* }
            }
        }
    };
}

with_build_event_fields!(build_event_args);

/// `State` as a flag value: the wire names (`timed_out`), as in JSON.
impl clap::ValueEnum for State {
    fn value_variants<'a>() -> &'a [Self] {
        &State::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

/// The bot account (issue 18): one post per run, updated in place, with the details in
/// its thread. First match wins: --bot-file, --bot, then MATTERMOST_URL +
/// MATTERMOST_BOT_TOKEN.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Bot account")]
pub(crate) struct BotArgs {
    /// Secrets file: the server's base URL, then a bot token (one post per run)
    #[arg(
        long,
        value_name = "PATH",
        env = "MMNOTIFY_BOT_FILE",
        hide_env_values = true
    )]
    pub bot_file: Option<PathBuf>,

    /// Use NAME.bot from the secrets directory
    #[arg(long, value_name = "NAME")]
    pub bot: Option<String>,
}

#[derive(Debug, Clone, Args)]
// `--channel` is shared with `send` and `run`; a bot takes two more forms.
#[command(mut_arg("channel", |a| a.help(
    "Channel (`name`) or direct message (`@user`); with a bot, TEAM/CHANNEL or a channel id"
)))]
pub(crate) struct BuildArgs {
    #[command(flatten)]
    pub event: BuildEventArgs,

    /// Read one event JSON object from FILE (`-` = stdin)
    #[arg(
        long = "event",
        value_name = "FILE",
        conflicts_with = "events",
        help_heading = "Event"
    )]
    pub event_file: Option<PathBuf>,

    /// Newline-delimited events from FILE (`-` = stdin), one post each
    #[arg(long, value_name = "FILE", help_heading = "Event")]
    pub events: Option<PathBuf>,

    /// Do not fill missing fields from the CI environment
    #[arg(long, help_heading = "Event")]
    pub no_env: bool,

    /// Post only for these states or transitions (broken, still_failing, fixed, changes,
    /// failures; others: `filtered`)
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "LIST",
        value_parser = parse_on_name
    )]
    pub on: Vec<String>,

    /// Post a still-failing run only every N failures in a row (with or without --on)
    #[arg(long, value_name = "N")]
    pub remind_every: Option<std::num::NonZeroU32>,

    /// Text line with {field} placeholders, e.g. "{emoji} {workflow}"
    #[arg(long, value_name = "TEMPLATE")]
    pub text_template: Option<String>,

    /// Post even if this run and state were already posted
    #[arg(long, help_heading = "Deduplication")]
    pub no_dedupe: bool,

    /// How long a delivered run+state is remembered
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_ttl, help_heading = "Deduplication")]
    pub dedupe_ttl: Duration,

    /// Mention the run's actor and author (mapped by the config's [people]) for these
    /// states or transitions, as --on [default: broken]
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "LIST",
        value_parser = parse_on_name,
        help_heading = "Post"
    )]
    pub mention_on: Vec<String>,

    /// Also mention this Mattermost user (repeatable), under the same --mention-on gate
    #[arg(long, value_name = "USER", help_heading = "Post")]
    pub mention: Vec<String>,

    /// How long a job's history (its streak) is kept after its last run
    #[arg(long, value_name = "DURATION", default_value = "90d", value_parser = parse_ttl, help_heading = "Deduplication")]
    pub history_ttl: Duration,

    /// Print the payload, send nothing; checks a given webhook offline
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    #[command(flatten)]
    // Boxed: the bot's two paths would make `build` too large a `Command` variant.
    pub bot: Box<BotArgs>,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub gateway: GatewayArgs,
    #[command(flatten)]
    pub queue: QueueArgs,
    #[command(flatten)]
    pub route: RouteArgs,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub rate: super::RateArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::time::{parse_duration, parse_timestamp};

    fn ts(s: &str) -> Timestamp {
        parse_timestamp(s).unwrap()
    }

    /// The one field list in `build_event::event` feeds the flags too.
    #[test]
    fn every_event_field_is_a_flag() {
        let cmd = <BuildEventArgs as Args>::augment_args(clap::Command::new("x"));
        let ids: Vec<&str> = cmd.get_arguments().map(|a| a.get_id().as_str()).collect();
        assert_eq!(ids, BuildEvent::FIELDS);
    }

    #[test]
    fn state_flag_values_are_the_wire_names() {
        for st in State::ALL {
            let v = <State as clap::ValueEnum>::to_possible_value(&st).unwrap();
            assert_eq!(v.get_name(), st.as_str());
        }
    }

    #[test]
    fn clap_parsers() {
        use clap::Parser;
        #[derive(Parser)]
        struct Args {
            #[arg(long)]
            state: State,
            #[arg(long, value_parser = parse_duration)]
            duration: Duration,
            #[arg(long, value_parser = parse_timestamp)]
            started_at: Timestamp,
        }
        let args = Args::try_parse_from([
            "x",
            "--state",
            "timed_out",
            "--duration",
            "90",
            "--started-at",
            "2026-11-23T14:00:00+02:00",
        ])
        .unwrap();
        assert_eq!(args.state, State::TimedOut);
        assert_eq!(args.duration, Duration::from_secs(90));
        assert_eq!(args.started_at, ts("2026-11-23T12:00:00Z"));
        let bad = [
            "x",
            "--state",
            "done",
            "--duration",
            "1s",
            "--started-at",
            "2026-11-23T12:00:00Z",
        ];
        let err = Args::try_parse_from(bad).err().unwrap();
        assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue);
        let bad = [
            "x",
            "--state",
            "failed",
            "--duration",
            "-1",
            "--started-at",
            "2026-11-23T12:00:00Z",
        ];
        assert!(Args::try_parse_from(bad).is_err());
    }
}
