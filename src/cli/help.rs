//! The prose around the flags, written once: `--help` shows it as text after the options,
//! and the man page generator (`tests/generated.rs`) turns the same items into roff
//! sections. The exit-code table and the secrets paragraph belong to `mmnotify --help`
//! and `mmnotify(1)` only, so that each subcommand's help stays short.

/// One entry of a definition list: a term (an exit code, a variable, a path) and what it
/// means. Texts are single lines: `--help` indents them, roff wraps them.
pub type Entry = (&'static str, &'static str);

/// The contract's exit codes.
pub const EXIT_CODES: &[Entry] = &[
    (
        "0",
        "delivered, or deliberately skipped (duplicate, filtered by --on)",
    ),
    ("1", "unexpected internal error"),
    ("2", "usage error (bad flags or arguments)"),
    (
        "3",
        "configuration or secret error (no source, bad secrets file, malformed URL, \
         bad CA/cert/key)",
    ),
    ("4", "invalid input, found before anything was sent"),
    (
        "5",
        "network failure after retries (DNS, connect, TLS, timeout, reset)",
    ),
    (
        "6",
        "server failure: 429 or 5xx after retries, or a 500 (not retried)",
    ),
    (
        "7",
        "any other non-success HTTP answer (3xx, 401 except with a bot, 405, 413, 501, other 4xx)",
    ),
    (
        "40",
        "HTTP 400: Mattermost rejected the request (deleted webhook, archived channel, \
         bad payload)",
    ),
    (
        "43",
        "HTTP 403: webhook locked to another channel, no access to a private channel; a \
         bot's 401 too",
    ),
    (
        "44",
        "HTTP 404: not found (unknown --channel, or a wrong URL path)",
    ),
];

/// How `run` differs from the table.
pub const RUN_EXIT: &str = "`mmnotify run` exits with the wrapped command's code instead \
     (124 on --max-runtime, 128+N for signal N, 127/126 when it could not start); --strict \
     makes a failed post win.";

/// Where the webhook comes from, and why not from the command line.
pub(crate) const SECRETS: &str = "The webhook URL is a password: it is never taken from the \
     command line. Give it as --webhook-file PATH, --webhook NAME (reads NAME.url in \
     --secrets-dir) or the MATTERMOST_WEBHOOK_URL environment variable; output only ever \
     shows scheme://host:port/hooks/…LAST4.";

pub const ENVIRONMENT: &[Entry] = &[
    (
        "MATTERMOST_WEBHOOK_URL",
        "The webhook URL itself, for CI systems that inject secrets as variables; used when \
         neither --webhook-file nor --webhook is given.",
    ),
    (
        "MMNOTIFY_WEBHOOK_FILE",
        "Default for --webhook-file: a secrets file holding the URL.",
    ),
    (
        "MMNOTIFY_WEBHOOK",
        "Default for --webhook: a NAME whose NAME.url is read from the secrets directory.",
    ),
    (
        "MMNOTIFY_BOT_FILE",
        "Default for build's --bot-file: a secrets file holding the server's base URL, then \
         a bot access token (one post per run, updated in place).",
    ),
    (
        "MATTERMOST_URL",
        "With MATTERMOST_BOT_TOKEN: the server's base URL for the bot account, used when \
         neither --bot-file nor --bot is given.",
    ),
    (
        "MATTERMOST_BOT_TOKEN",
        "With MATTERMOST_URL: the bot account's access token; never passed to a run job.",
    ),
    (
        "MMNOTIFY_CONFIG",
        "Default for --config: the config file (routes, people, templates). Without either, \
         the first that exists of $XDG_CONFIG_HOME/mmnotify/config.toml \
         (~/.config/mmnotify/config.toml) and /etc/mmnotify/config.toml; none means no config.",
    ),
    (
        "MMNOTIFY_SECRETS_DIR",
        "Default for --secrets-dir (/etc/openclaw/secrets.d/mattermost).",
    ),
    (
        "MMNOTIFY_STATE_DIR",
        "Default for --state-dir: where the spool and the deduplication store live.",
    ),
    (
        "XDG_STATE_HOME",
        "The state directory is $XDG_STATE_HOME/mmnotify when no --state-dir is given \
         (else ~/.local/state/mmnotify).",
    ),
    (
        "MMNOTIFY_QUEUE_FILE",
        "Default for --queue-file: a secrets file holding the queue's Redis URL (build \
         --enqueue, build --consume, doctor, flush).",
    ),
    (
        "MMNOTIFY_QUEUE",
        "The queue's Redis URL itself, used when no --queue-file or --queue is given; a URL \
         with a password belongs here or in a secrets file, never in --queue.",
    ),
    (
        "MMNOTIFY_DEDUPE_STORE_FILE",
        "Default for --dedupe-store-file: a secrets file holding the shared dedupe store's \
         Redis URL.",
    ),
    (
        "MMNOTIFY_DEDUPE_STORE",
        "The shared dedupe store's Redis URL itself, used when no --dedupe-store-file or \
         --dedupe-store is given.",
    ),
    (
        "MMNOTIFY_PROXY",
        "Default for --proxy: a proxy for mmnotify alone, or `none`.",
    ),
    (
        "HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY",
        "The usual proxy variables (either case), honoured unless --proxy says otherwise.",
    ),
    (
        "MMNOTIFY_CA_FILE",
        "Default for --ca-file: extra trusted root certificates (PEM).",
    ),
    (
        "SSL_CERT_FILE, SSL_CERT_DIR",
        "The system's trusted roots, as curl and git read them; consulted when a server's \
         issuer is not in the bundled Mozilla roots (not with --no-system-roots).",
    ),
    (
        "MMNOTIFY_RUN_SOCKET",
        "Set by `mmnotify run` for its job: `mmnotify send` and `build` inside the job post \
         through it, without the token.",
    ),
    (
        "LC_ALL, LC_CTYPE, LANG",
        "When the locale is not UTF-8, ✓, ✗ and → are printed as ASCII.",
    ),
];

pub const FILES: &[Entry] = &[
    (
        "$XDG_CONFIG_HOME/mmnotify/config.toml, /etc/mmnotify/config.toml",
        "The config file (TOML): routes to named webhooks, the people map, templates; the \
         first that exists, read by build, doctor and config check when no --config or \
         MMNOTIFY_CONFIG names one. It holds no secrets; owned by root or you and not \
         writable by group or others. `mmnotify config check` validates it.",
    ),
    (
        "/etc/openclaw/secrets.d/mattermost/NAME.url",
        "A named webhook: the first line that is neither blank nor a # comment. Owned by \
         root or you; mode 0400, 0440, 0600 or 0640.",
    ),
    (
        "/etc/openclaw/secrets.d/mattermost/NAME.bot",
        "A bot account (--bot NAME): the server's base URL, then the bot's access token, \
         blank lines and # comments skipped; the rules of NAME.url.",
    ),
    (
        "$XDG_STATE_HOME/mmnotify/ (~/.local/state/mmnotify/)",
        "The state directory, created 0700.",
    ),
    (
        "STATE_DIR/spool/",
        "Messages whose delivery failed after retries (mode 0600), re-delivered by \
         `mmnotify flush`; rejected ones move to spool/rejected/ with the reason.",
    ),
    (
        "STATE_DIR/dedupe/",
        "Which build run and state were already posted, each job's history (last state, \
         streak) and a bot's post per run (`mmnotify build`).",
    ),
    (
        "STATE_DIR/spool.key",
        "The key of the fingerprints that bind spooled MATTERMOST_WEBHOOK_URL messages to \
         their webhook.",
    ),
];

pub const SECURITY: &[&str] = &[
    SECRETS,
    "Secrets files are opened once and checked on that descriptor: a regular file, owned by \
     root or by you, granting nothing to others and no write to the group (mode & 0o027 == \
     0). A file that fails is refused (exit 3) with the chmod that fixes it.",
    "Text mmnotify did not write (server answers, library errors, a job's output) is \
     scrubbed of every /hooks/ id before it is printed, posted or saved; a message that \
     contains the configured token is refused. `mmnotify run` removes the webhook variables \
     from its job's environment.",
    "Plain http to a host other than loopback works, with a warning: the token then travels \
     unencrypted.",
];

/// An example: what it does, and the command line.
pub type Example = (&'static str, &'static str);

/// What `mmnotify --help` adds after the command list.
pub(crate) fn main_after_help() -> String {
    let mut s = String::from("Exit codes:\n");
    for (code, meaning) in EXIT_CODES {
        s.push_str(&format!("  {code:<3} {meaning}\n"));
    }
    s.push('\n');
    s.push_str(&wrap(RUN_EXIT, 88, ""));
    s.push_str("\n\n");
    s.push_str(&wrap(SECRETS, 88, ""));
    s.push_str(
        "\n\nEach command's --help shows its options and examples; `man mmnotify` has more.",
    );
    s
}

/// The examples (and any notes) of a subcommand, for `--help` and its man page.
pub struct Page {
    /// The words after `mmnotify`: `send`, `spool list`.
    pub name: &'static str,
    /// Sections of their own: a heading and its text.
    pub notes: &'static [(&'static str, &'static str)],
    pub examples: &'static [Example],
}

pub const PAGES: &[Page] = &[
    Page {
        name: "send",
        notes: &[],
        examples: &[
            (
                "Post a line to the webhook named ops:",
                "mmnotify send --webhook ops \"Backup of $(hostname) finished\"",
            ),
            (
                "Post a command's output as a code block, columns kept:",
                "df -h | mmnotify send --webhook ops --code",
            ),
            (
                "See the payload an attachment would make, without sending it:",
                "mmnotify send --dry-run --color danger --title \"Disk full\" --field Host=db1 \"Act now\"",
            ),
        ],
    },
    Page {
        name: "build",
        notes: &[],
        examples: &[
            (
                "Report a build from its fields (posted once per run id and state):",
                "mmnotify build --webhook ci --workflow deploy --state failed --run-id 4711",
            ),
            (
                "Inside a recognised CI, the other fields come from its environment:",
                "mmnotify build --webhook ci --state succeeded",
            ),
            (
                "A gateway: post what builders put on the Redis queue (see --enqueue):",
                "MMNOTIFY_QUEUE_FILE=/etc/openclaw/secrets.d/mattermost/queue.url mmnotify build --consume -w ci",
            ),
        ],
    },
    Page {
        name: "run",
        notes: &[
            ("Exit status", RUN_EXIT),
            (
                "Send options",
                "The report takes send's options, the attachment flags on its own \
                 attachment (--color replaces the outcome's colour), but not --payload, \
                 --text-file, --code or --split: the report is built from the job, is one \
                 post, and shows the output tail in a code block already.",
            ),
        ],
        examples: &[
            (
                "Run a job and report how it went:",
                "mmnotify run --webhook ops --name \"nightly backup\" -- /usr/local/bin/backup",
            ),
            (
                "Report only failures and time-outs, and stop the job after two hours:",
                "mmnotify run --webhook ops --on failure,timeout --max-runtime 2h -- make release",
            ),
        ],
    },
    Page {
        name: "probe",
        notes: &[(
            "Notes",
            "The probe is a real post: everyone in the webhook's channel sees the message \
             (--text changes it). It is the one check that shows a deleted webhook or an \
             archived channel.",
        )],
        examples: &[
            ("Post a probe and see status and latency:", "mmnotify probe --webhook ops"),
            (
                "The same as one JSON object, for monitoring:",
                "mmnotify probe --webhook ops --output json",
            ),
        ],
    },
    Page {
        name: "doctor",
        notes: &[(
            "Notes",
            "doctor posts nothing, so it cannot see a deleted webhook (or an archived \
             channel): only a post shows that. `mmnotify probe` posts a visible test \
             message.",
        )],
        examples: &[
            (
                "Check the path a post to ops would take:",
                "mmnotify doctor --webhook ops",
            ),
            (
                "Check a server behind a private CA:",
                "mmnotify doctor --webhook ops --ca-file /etc/ssl/certs/corp-ca.pem",
            ),
        ],
    },
    Page {
        name: "flush",
        notes: &[],
        examples: &[
            ("Re-deliver what the spool holds:", "mmnotify flush"),
            (
                "The same, saying what happened to each item:",
                "mmnotify flush -v",
            ),
        ],
    },
    Page {
        name: "webhooks",
        notes: &[
            (
                "Output",
                "One line per NAME.url file: a mark (passes the rules or not), the name to \
                 give to --webhook, and the target as scheme://host:port/hooks/…LAST4, or what \
                 is wrong and the fix. A file that fails the rules is not read. With --output \
                 json: one JSON object per line (name, file, ok, target, problem).",
            ),
            (
                "Exit status",
                "0 when every file passes; 3 when any fails, or the directory is missing or \
                 unreadable.",
            ),
        ],
        examples: &[
            ("List the named webhooks:", "mmnotify webhooks"),
            (
                "Another directory, as JSON lines:",
                "mmnotify webhooks --secrets-dir ~/.config/mmnotify --output json",
            ),
        ],
    },
    Page {
        name: "spool",
        notes: &[],
        examples: &[
            ("See what waits for delivery:", "mmnotify spool list"),
            (
                "Give up on everything that was set aside:",
                "mmnotify spool drop --rejected --all",
            ),
        ],
    },
    Page {
        name: "spool list",
        notes: &[],
        examples: &[
            ("What waits for delivery:", "mmnotify spool list"),
            (
                "What was set aside, with the reason:",
                "mmnotify spool list --rejected",
            ),
            (
                "Only the ids, for a script:",
                "mmnotify spool list --output json | jq -r .id",
            ),
        ],
    },
    Page {
        name: "spool drop",
        notes: &[(
            "Notes",
            "An id that does not exist is a usage error (exit 2) and nothing is removed. Only \
             regular files of mode 0600 owned by you are removed; a symlink is never followed \
             nor removed.",
        )],
        examples: &[
            (
                "Remove one message, by the id `spool list` shows:",
                "mmnotify spool drop 1764457200123-0000004242-000000",
            ),
            (
                "Remove everything that was set aside:",
                "mmnotify spool drop --rejected --all",
            ),
        ],
    },
    Page {
        name: "config",
        notes: &[],
        examples: &[
            (
                "Check a config file before installing it, and list its routes:",
                "mmnotify --config ./config.toml config check",
            ),
            (
                "Which config doctor sees, with its routes and people counts:",
                "mmnotify doctor --webhook ops",
            ),
        ],
    },
    Page {
        name: "config check",
        notes: &[
            (
                "Output",
                "The file, how many people it maps, its templates, its mention_on, then each \
                 route in the order an event meets them (an event goes to every route that \
                 matches), and where an event that matches none goes.",
            ),
            (
                "Exit status",
                "0 when the file passes; 3 when it is missing (when named by --config or \
                 MMNOTIFY_CONFIG), unreadable, not trusted (owner, mode), holds a secret, or has \
                 an unknown key, a wrong type, a value it refuses (a username, a route's \
                 channel, a state or transition name) or an unknown template placeholder (the \
                 key and line are named).",
            ),
        ],
        examples: &[
            ("Check the config found on the search path:", "mmnotify config check"),
            (
                "Check the file MMNOTIFY_CONFIG names:",
                "MMNOTIFY_CONFIG=/srv/ci/mmnotify.toml mmnotify config check",
            ),
        ],
    },
    Page {
        name: "completions",
        notes: &[],
        examples: &[
            (
                "Install bash completions for your user:",
                "mkdir -p ~/.local/share/bash-completion/completions && mmnotify completions bash > ~/.local/share/bash-completion/completions/mmnotify",
            ),
            (
                "Zsh, into the first directory of $fpath:",
                "mmnotify completions zsh > \"${fpath[1]}/_mmnotify\"",
            ),
        ],
    },
];

/// The page of a subcommand.
pub fn page(name: &str) -> Option<&'static Page> {
    PAGES.iter().find(|p| p.name == name)
}

/// What a subcommand's `--help` adds after its options: its notes and examples (the
/// command lines only: their descriptions are in the man page), and where the exit codes
/// are. Kept tight: every line here is a line less for the options on one screen.
pub(crate) fn after_help(name: &str) -> String {
    let mut s = String::new();
    if let Some(page) = page(name) {
        for (heading, text) in page.notes {
            s.push_str(&format!("{heading}:\n{}\n\n", wrap(text, 88, "  ")));
        }
        s.push_str("Examples:\n");
        for (_, command) in page.examples {
            s.push_str(&format!("  {command}\n"));
        }
    }
    s.push_str("Exit codes, and where the webhook comes from: mmnotify --help");
    s
}

/// Breaks a paragraph into lines of at most `width` characters (words longer than that
/// stay whole), each starting with `indent`.
fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::from(indent);
    for word in text.split_whitespace() {
        let len = line.chars().count();
        if len > indent.len() && len + 1 + word.chars().count() > width {
            lines.push(std::mem::replace(&mut line, String::from(indent)));
        }
        if line.len() > indent.len() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_lines_fit_and_keep_every_word() {
        let text = "one two three four five six seven eight nine ten eleven twelve";
        let wrapped = wrap(text, 20, "  ");
        assert!(
            wrapped.lines().all(|l| l.chars().count() <= 20),
            "{wrapped}"
        );
        assert!(wrapped.lines().all(|l| l.starts_with("  ")), "{wrapped}");
        let words: Vec<_> = wrapped.split_whitespace().collect();
        assert_eq!(words, text.split_whitespace().collect::<Vec<_>>());
    }

    #[test]
    fn every_subcommand_has_a_page_with_examples() {
        fn check(cmd: &clap::Command, prefix: &str) {
            for sub in cmd.get_subcommands() {
                let name = format!("{prefix}{}", sub.get_name());
                let page = page(&name);
                assert!(
                    page.is_some_and(|p| (2..=3).contains(&p.examples.len())),
                    "`{name}` needs a page in cli/help.rs with two or three examples"
                );
                check(sub, &format!("{name} "));
            }
        }
        check(&crate::cli::command(), "");
    }

    #[test]
    fn the_table_has_every_exit_code_of_the_contract() {
        let codes: Vec<u8> = EXIT_CODES.iter().map(|(c, _)| c.parse().unwrap()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 6, 7, 40, 43, 44]);
    }
}
