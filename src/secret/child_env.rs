//! What a child process must not inherit: the variables that hold or point at a secret.

/// Variables that carry a webhook URL, a bot token, a Redis URL with its password, or the path of a
/// file holding one. `run` removes them from its job's environment.
pub(crate) const SECRET_ENV_VARS: &[&str] = &[
    "MATTERMOST_WEBHOOK_URL",
    "MMNOTIFY_WEBHOOK_FILE",
    "MMNOTIFY_QUEUE",
    "MMNOTIFY_QUEUE_FILE",
    "MMNOTIFY_DEDUPE_STORE",
    "MMNOTIFY_DEDUPE_STORE_FILE",
    // The bot account (issue 18): its token, and the file that holds it.
    "MATTERMOST_BOT_TOKEN",
    "MMNOTIFY_BOT_FILE",
];
