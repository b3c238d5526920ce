//! Refusing the webhook URL where it would be echoed or written: in a path, a name or
//! a proxy setting.

use std::borrow::Cow;
use std::ffi::OsStr;

use anyhow::Result;

use crate::error;
use crate::secret::scrub_hook_ids;

/// Refuses, without echoing it, a webhook name or a path option (or its variable) that
/// holds something shaped like a webhook URL: a file or directory named after it would write the token
/// to disk, and every error about it would print it. `what` names the option.
pub(crate) fn refuse_url_as_path(value: &OsStr, what: &str) -> Result<()> {
    let text = value.to_string_lossy();
    if contains_hook_id(&text) {
        return Err(url_in_wrong_place(what));
    }
    if text.contains("://") {
        // Another URL (a Redis or proxy URL, with its password maybe): the webhook's fix
        // would mislead.
        return Err(error::config(format!(
            "{what} holds what looks like a URL; it takes the path of a file (a URL that              carries a password goes in a secrets file, named by the option for it)"
        )));
    }
    Ok(())
}

/// Refuses a proxy setting that carries a webhook id. A proxy URL itself is expected,
/// so only the id gives it away.
pub(crate) fn refuse_hook_in_proxy(value: &str, what: &str) -> Result<()> {
    if contains_hook_id(value) {
        return Err(url_in_wrong_place(what));
    }
    Ok(())
}

/// Whether `text` holds a `/hooks/<26 id characters>` anywhere.
pub(crate) fn contains_hook_id(text: &str) -> bool {
    matches!(scrub_hook_ids(text), Cow::Owned(_))
}

fn url_in_wrong_place(what: &str) -> anyhow::Error {
    error::config(format!(
        "{what} holds what looks like the webhook URL itself; the URL is a password and \
         never goes on the command line: write it to a secrets file (--webhook-file PATH) or \
         set MATTERMOST_WEBHOOK_URL"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error;

    const ID: &str = "pq3wxk8bmjsyr9cn5ue7tdo1ha";

    #[test]
    fn paths_shaped_like_urls_are_refused_without_echo() {
        let url = format!("https://chat.example.com/hooks/{ID}");
        for bad in [
            url.clone(),
            format!("/tmp/hooks/{ID}"),
            "http://x/y".to_string(),
        ] {
            let err = refuse_url_as_path(OsStr::new(&bad), "--state-dir").unwrap_err();
            let msg = format!("{err:#}");
            assert!(!msg.contains(ID), "{msg}");
            assert!(msg.contains("--state-dir"), "{msg}");
            assert_eq!(error::exit_kind(&err), error::ExitKind::Config);
        }
        for good in ["/var/lib/mmnotify", "/srv/hooks/state", "relative/dir"] {
            assert!(refuse_url_as_path(OsStr::new(good), "--state-dir").is_ok());
        }
        assert!(refuse_hook_in_proxy("http://proxy:3128", "--proxy").is_ok());
        assert!(refuse_hook_in_proxy(&url, "--proxy").is_err());
    }
}
