//! The door: clap's values turned into the plain configuration the layers below take
//! (as cargo's commands turn arguments into `CompileOptions`). Nothing below
//! `commands/` sees a `*Args` type; each conversion is written here once.

use crate::build_event::event::BuildEvent;
use crate::cli::{
    AttachmentArgs, BuildArgs, DeliveryArgs, DoctorArgs, GatewayArgs, OutputArgs, OutputFormat,
    Priority, PropsArgs, QueueArgs, RateArgs, RetryLimit, RouteArgs, StateArgs, StoreArgs,
    WebhookArgs,
};
use crate::gateway;
use crate::gateway::consumer::Gateway;
use crate::gateway::queue::Queue;
use crate::gateway::ratelimit::Rate;
use crate::gateway::store::SharedStore;
use crate::pipeline::build;
use crate::pipeline::notify::SpoolPlan;
use crate::pipeline::output::{Names, Printer};
use crate::pipeline::pace::Pacing;
use crate::secret::{env_url, BotSources, Sources};
use crate::state::spool::SpoolKind;
use crate::story::on::OnFilter;
use crate::wire::deliver;
use crate::wire::payload::{self, Attachment, Field, Member, Payload, Route};

impl From<&OutputArgs> for Printer {
    fn from(args: &OutputArgs) -> Printer {
        Printer {
            json: args.output == OutputFormat::Json,
            verbose: args.verbose,
            quiet: args.quiet,
            names: Names::Ours,
        }
    }
}

impl From<&WebhookArgs> for Sources {
    fn from(args: &WebhookArgs) -> Sources {
        Sources {
            file: args.webhook_file.clone(),
            name: args.webhook.clone(),
            secrets_dir: args.secrets_dir.path().to_path_buf(),
            env_url: env_url(),
        }
    }
}

impl<R: RetryLimit> From<&DeliveryArgs<R>> for deliver::Settings {
    fn from(a: &DeliveryArgs<R>) -> deliver::Settings {
        deliver::Settings {
            timeout: a.timeout,
            attempt_timeout: a.attempt_timeout,
            retries: a.retry.retries(),
            proxy: a.proxy.clone(),
            ca_file: a.ca_file.clone(),
            no_system_roots: a.no_system_roots,
            client_cert: a.client_cert.clone(),
            client_key: a.client_key.clone(),
        }
    }
}

impl From<&RouteArgs> for Route {
    fn from(a: &RouteArgs) -> Route {
        Route {
            channel: a.channel.clone(),
            username: a.username.clone(),
            icon_url: a.icon_url.clone(),
            icon_emoji: a.icon_emoji.clone(),
            priority: a.priority.map(Priority::as_str),
            requested_ack: a.requested_ack,
            root_id: a.root_id.clone(),
        }
    }
}

impl From<&QueueArgs> for Queue {
    fn from(a: &QueueArgs) -> Queue {
        Queue {
            queue_file: a.queue_file.clone(),
            queue: a.queue.clone(),
            stream: a.stream.clone(),
            replicas: a.replicas,
        }
    }
}

impl From<&StoreArgs> for SharedStore {
    fn from(a: &StoreArgs) -> SharedStore {
        SharedStore {
            dedupe_store_file: a.dedupe_store_file.clone(),
            dedupe_store: a.dedupe_store.clone(),
        }
    }
}

impl From<&GatewayArgs> for Gateway {
    fn from(a: &GatewayArgs) -> Gateway {
        Gateway {
            group: a.group.clone(),
            consumer: a.consumer.clone(),
            claim_idle: a.claim_idle,
            max_deliveries: a.max_deliveries,
            drain: a.drain,
            summary_every: a.summary_every,
            metrics_file: a.fleet.metrics_file.clone(),
            exclusive: a.fleet.exclusive.then_some(a.fleet.lease),
            // Set by `commands::build`, which knows the config's source.
            reload: crate::gateway::consumer::Reload::default(),
        }
    }
}

impl From<&DoctorArgs> for gateway::doctor::Settings {
    fn from(a: &DoctorArgs) -> gateway::doctor::Settings {
        gateway::doctor::Settings {
            queue: Queue::from(&a.queue),
            group: a.group.clone(),
            delivery: deliver::Settings::from(&a.common.delivery),
        }
    }
}

impl From<&BuildArgs> for build::Settings {
    fn from(args: &BuildArgs) -> build::Settings {
        build::Settings {
            event: BuildEvent::from(&args.event),
            text_template: args.text_template.clone(),
            route: Route::from(&args.route),
            // The names were checked by clap against the same list (see the test below).
            on: (!args.on.is_empty())
                .then(|| OnFilter::from_names(&args.on).ok())
                .flatten(),
            remind_every: args.remind_every,
            mention_on: (!args.mention_on.is_empty())
                .then(|| OnFilter::from_names(&args.mention_on).ok())
                .flatten(),
            // Checked by `commands::build` before this conversion.
            mention: args.mention.iter().filter_map(|u| u.parse().ok()).collect(),
            config: None,
            history_ttl: args.history_ttl,
            dry_run: args.dry_run,
            no_dedupe: args.no_dedupe,
            dedupe_ttl: args.dedupe_ttl,
            webhook: Sources::from(&args.common.webhook),
            bot: BotSources {
                file: args.bot.bot_file.clone(),
                name: args.bot.bot.clone(),
                secrets_dir: args.common.webhook.secrets_dir.path().to_path_buf(),
                ..BotSources::default()
            }
            .with_env(),
            delivery: deliver::Settings::from(&args.common.delivery),
            state_dir: args.common.state.state_dir.path().map(Into::into),
            no_spool: args.common.state.no_spool,
            output: Printer::from(&args.common.output),
            store: SharedStore::from(&args.store),
            queue: Queue::from(&args.queue),
            rate: rate(&args.rate),
        }
    }
}

/// `--rate-limit N/s|N/min` with `--rate-burst M` (default N).
pub(crate) fn rate(a: &RateArgs) -> Option<Rate> {
    a.rate_limit.map(|r| Rate {
        interval: r.per / r.count,
        burst: a.rate_burst.unwrap_or(r.count),
    })
}

/// How `send` and `run` pace their posts: per process (they share no store).
pub(crate) fn pacing(a: &RateArgs, timeout: std::time::Duration) -> Pacing {
    Pacing {
        rate: rate(a),
        shared: None,
        max_wait: Some(timeout),
        stop: None,
    }
}

/// Where a command's undelivered payloads go: its `--state-dir` and `--no-spool`.
pub(crate) fn spool_plan(args: &StateArgs, kind: SpoolKind) -> SpoolPlan {
    SpoolPlan::new(args.state_dir.state_dir.clone(), args.no_spool, kind)
}

/// The one attachment described by the attachment flags, or None without any.
pub(crate) fn attachment(a: &AttachmentArgs) -> Option<Attachment> {
    if a.is_empty() {
        return None;
    }
    let fields: Vec<Member<Field>> = a
        .field
        .iter()
        .map(|f| (f, false))
        .chain(a.field_short.iter().map(|f| (f, true)))
        .map(|((title, value), short)| Field::new(title, value.clone(), short).into())
        .collect();
    Some(Attachment {
        color: a.color.clone().into(),
        title: a.title.clone().into(),
        title_link: a.title_link.clone().into(),
        pretext: a.pretext.clone().into(),
        text: a.attachment_text.clone().into(),
        footer: a.footer.clone().into(),
        image_url: a.image_url.clone().into(),
        thumb_url: a.thumb_url.clone().into(),
        fields: (!fields.is_empty()).then_some(fields).into(),
        ..Attachment::default()
    })
}

/// `--prop` and `--card` on a post: `send`'s message or `run`'s report.
pub(crate) fn apply_props(post: &mut Payload, a: &PropsArgs) -> anyhow::Result<()> {
    if !a.prop.is_empty() {
        let props = post.props_mut()?;
        for (k, raw) in &a.prop {
            props.insert(k.clone(), payload::prop_value(k, raw)?);
        }
    }
    if let Some(card) = &a.card {
        post.set_card(card)?;
    }
    Ok(())
}

#[cfg(test)]
mod on_names {
    /// clap checks `--on` against `cli`'s list, which must be `OnFilter`'s.
    #[test]
    fn the_door_knows_every_on_name() {
        assert_eq!(
            crate::cli::ON_NAMES.to_vec(),
            crate::story::on::OnFilter::known_names()
        );
    }
}
