//! What a dry run says about the webhook: people test with `--dry-run` and believe it, so
//! it checks everything that needs no network (source, file rules, URL shape) and says
//! where the post would go, or plainly that no webhook was checked.

use anyhow::Result;

use crate::pipeline::output::{print_stderr_line, Printer};
use crate::secret::{Sources, WebhookUrl};

/// Checks the webhook a real run would use and says on stderr what was found. `Err` is
/// what the real run would have failed with (exit 3); `Ok(None)` when none was checked.
/// `relayed`: the real run would hand its post to an enclosing `run` (see
/// `run_socket::socket_for`).
pub(crate) fn check_webhook(
    webhook: &Sources,
    printer: &Printer,
    relayed: bool,
) -> Result<Option<WebhookUrl>> {
    let say = |line: String| {
        if !printer.quiet {
            print_stderr_line(&format!("mmnotify: dry run: {line}"));
        }
    };
    if relayed {
        // Inside a `run` job the parent resolves the webhook; its secret is not ours to
        // read (and the job's environment no longer points at it).
        let name = webhook
            .name
            .as_deref()
            .map(|n| format!(" `{}`", n.strip_suffix(".url").unwrap_or(n)))
            .unwrap_or_default();
        say(format!(
            "inside `mmnotify run`: the post would go through its run socket to the parent's \
             webhook{name}; no webhook was checked here; nothing was sent"
        ));
        return Ok(None);
    }
    let sources = webhook;
    if sources.file.is_none() && sources.name.is_none() && sources.env_url.is_none() {
        say(
            "no webhook given, so none was checked (pass --webhook NAME or --webhook-file \
             PATH, or set MATTERMOST_WEBHOOK_URL, to check it too); nothing was sent"
                .to_string(),
        );
        return Ok(None);
    }
    let (url, source) = sources.resolve()?;
    if !url.is_https() && !url.is_loopback() {
        printer.warn(&format!(
            "{url} uses plain http to a non-loopback host: the webhook token would travel \
             unencrypted"
        ));
    }
    say(format!(
        "would post to {url} (from {}, checked without contacting the server); nothing \
         was sent",
        source.describe()
    ));
    Ok(Some(url))
}

/// A dry run refuses what the post would refuse: a body holding the checked webhook's
/// own token (exit 4), so that the preview does not print it either.
pub(crate) fn refuse_own_token(url: Option<&WebhookUrl>, body: &[u8]) -> Result<()> {
    match url {
        Some(u) if u.appears_in(body) => Err(crate::error::input(
            crate::wire::deliver::OWN_URL_IN_MESSAGE,
        )),
        _ => Ok(()),
    }
}
