# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_mmnotify_global_optspecs
    string join \n config= h/help V/version
end

function __fish_mmnotify_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_mmnotify_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_mmnotify_using_subcommand
    set -l cmd (__fish_mmnotify_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c mmnotify -n "__fish_mmnotify_needs_command" -l config -d 'Config file: routes, people, templates (see FILES in `man mmnotify`)' -r -F
complete -c mmnotify -n "__fish_mmnotify_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mmnotify -n "__fish_mmnotify_needs_command" -s V -l version -d 'Print version'
complete -c mmnotify -n "__fish_mmnotify_needs_command" -f -a "send" -d 'Post one message (text, attachment, props)'
complete -c mmnotify -n "__fish_mmnotify_needs_command" -f -a "build" -d 'Post one build-status message from normalized CI fields, deduplicated'
complete -c mmnotify -n "__fish_mmnotify_needs_command" -f -a "run" -d 'Run a command, then post its outcome (status, duration, output tail)'
complete -c mmnotify -n "__fish_mmnotify_needs_command" -f -a "probe" -d 'Post a test message, visible in the channel, and print HTTP status and latency (no retries)'
complete -c mmnotify -n "__fish_mmnotify_needs_command" -f -a "doctor" -d 'Check secret, URL, proxy, DNS, TCP and TLS without posting anything'
complete -c mmnotify -n "__fish_mmnotify_needs_command" -f -a "flush" -d 'Re-deliver messages saved in the spool after failed deliveries'
complete -c mmnotify -n "__fish_mmnotify_needs_command" -f -a "webhooks" -d 'List the named webhooks in the secrets directory: name, redacted target, and whether the file passes the rules'
complete -c mmnotify -n "__fish_mmnotify_needs_command" -f -a "spool" -d 'Show what the spool holds, or remove items from it'
complete -c mmnotify -n "__fish_mmnotify_needs_command" -f -a "config" -d 'Check the config file (routes, people, templates)'
complete -c mmnotify -n "__fish_mmnotify_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c mmnotify -n "__fish_mmnotify_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l payload -d 'Webhook JSON object from FILE (`-` = stdin); flags override its fields' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l text-file -d 'Read the message text from FILE (UTF-8) instead of arguments' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l code -d 'Wrap the text in a code block (columns kept), LANG highlights it' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l card -d 'Set props.card: Markdown shown in the post\'s info panel' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l prop -d 'Set props.KEY to a JSON value (repeatable)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l max-payload-bytes -d 'Largest JSON body in bytes (server default)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l channel -d 'Channel (`name`) or direct message (`@user`) to post to' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l username -d 'Display name; ignored unless the admin enabled overrides' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l icon-url -d 'Avatar URL; ignored unless the server enabled icon overrides' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l icon-emoji -d 'Avatar emoji (`:rocket:`); ignored unless overrides are enabled' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l priority -d 'Post priority label' -r -f -a "urgent\t''
important\t''"
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l root-id -d 'Post in this thread (the root post\'s id); older servers ignore it' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l color -d 'Colour of the attachment\'s side bar in Mattermost: good, warning, danger or #RRGGBB (it colours the attachment, not the terminal)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l title -d 'Attachment title' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l title-link -d 'Link opened by the title' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l pretext -d 'Text shown above the attachment' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l attachment-text -d 'Attachment body (Markdown)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l field -d 'A field shown as a table row (repeatable)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l field-short -d 'A short field, shown side by side with others (repeatable)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l footer -d 'Small text at the bottom of the attachment' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l image-url -d 'Image shown in the attachment' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l thumb-url -d 'Thumbnail shown on the right of the attachment' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l webhook-file -d 'Secrets file holding the webhook URL' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -s w -l webhook -d 'Use NAME.url from the secrets directory' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l secrets-dir -d 'Directory of NAME.url files' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l timeout -d 'Budget of one delivery, retries included' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l attempt-timeout -d 'Longest wait of a single attempt' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l retries -d 'Retries of network errors, 408, 429, 502, 503, 504' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l proxy -d 'Proxy for mmnotify alone, or `none`' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l ca-file -d 'Extra trusted root certificates (PEM)' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l client-cert -d 'Client certificate chain (PEM) for mutual TLS' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l client-key -d 'Private key (PEM) matching --client-cert' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l state-dir -d 'State dir [default: $XDG_STATE_HOME/mmnotify]' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -s o -l output -d 'Outcome format' -r -f -a "text\t''
json\t''"
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l rate-limit -d 'Cap on posts per webhook, N/s or N/min (shared through a Redis store)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l rate-burst -d 'Posts allowed at once under --rate-limit [default: N]' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l config -d 'Config file: routes, people, templates (see FILES in `man mmnotify`)' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l split -d 'Send text over 16383 characters whole, as several posts, not cut'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -s n -l dry-run -d 'Print the payload, send nothing; checks a given webhook offline'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l requested-ack -d 'Ask recipients to acknowledge the post'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l no-system-roots -d 'Trust only the bundled roots and --ca-file, not the system store'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -l no-spool -d 'Do not save undelivered messages in the spool'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -s v -l verbose -d 'Print target (redacted), status, attempts and time on stderr'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -s q -l quiet -d 'Silence warnings'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand send" -s h -l help -d 'Print help'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l workflow -d 'Workflow or pipeline name' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l state -d 'State' -r -f -a "succeeded\t''
failed\t''
cancelled\t''
timed_out\t''
running\t''"
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l branch -d 'Branch or tag' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l commit -d 'Commit SHA (shortened to 8 characters in the text)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l run-url -d 'Link to the CI run' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l node -d 'Builder node that ran the job [default: this host\'s name]' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l run-id -d 'The CI\'s run id: the deduplication key, with the state' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l provider -d 'CI provider name (github, gitlab, jenkins, …)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l repository -d 'Repository (owner/name)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l duration -d 'Build duration (humantime like 4m 30s, or seconds)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l started-at -d 'Build start time (RFC 3339)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l actor -d 'Who started the run (CI login or e-mail), mentioned through the config\'s people' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l author -d 'The commit\'s author (e-mail or login), mentioned through the config\'s people' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l event -d 'Read one event JSON object from FILE (`-` = stdin)' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l events -d 'Newline-delimited events from FILE (`-` = stdin), one post each' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l on -d 'Post only for these states or transitions (broken, still_failing, fixed, changes, failures; others: `filtered`)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l remind-every -d 'Post a still-failing run only every N failures in a row (with or without --on)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l text-template -d 'Text line with {field} placeholders, e.g. "{emoji} {workflow}"' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l dedupe-ttl -d 'How long a delivered run+state is remembered' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l mention-on -d 'Mention the run\'s actor and author (mapped by the config\'s [people]) for these states or transitions, as --on [default: broken]' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l mention -d 'Also mention this Mattermost user (repeatable), under the same --mention-on gate' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l history-ttl -d 'How long a job\'s history (its streak) is kept after its last run' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l bot-file -d 'Secrets file: the server\'s base URL, then a bot token (one post per run)' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l bot -d 'Use NAME.bot from the secrets directory' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l dedupe-store-file -d 'Secrets file: a shared store\'s Redis URL' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l dedupe-store -d 'Shared dedupe store\'s Redis URL, without a password' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l group -d 'Consumer group (made when missing)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l consumer -d 'This gateway\'s name in the group [default: HOST-PID]' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l claim-idle -d 'Take over entries left unacknowledged this long' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l max-deliveries -d 'Tries of one entry before it goes to <stream>:dead' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l summary-every -d 'With --consume: log the counts so far this often (and at exit)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l lease -d 'With --exclusive: how long the lease lasts unless renewed' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l metrics-file -d 'With --consume: keep this Prometheus textfile (node_exporter) up to date' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l queue-file -d 'Secrets file holding the queue\'s Redis URL' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l queue -d 'Queue\'s Redis URL; a password goes in --queue-file or MMNOTIFY_QUEUE' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l stream -d 'Redis stream that carries the events' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l replicas -d 'Redis replicas that must confirm each write (WAIT) [default: 1 with a Sentinel URL, else 0]' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l username -d 'Display name; ignored unless the admin enabled overrides' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l icon-url -d 'Avatar URL; ignored unless the server enabled icon overrides' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l icon-emoji -d 'Avatar emoji (`:rocket:`); ignored unless overrides are enabled' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l priority -d 'Post priority label' -r -f -a "urgent\t''
important\t''"
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l root-id -d 'Post in this thread (the root post\'s id); older servers ignore it' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l webhook-file -d 'Secrets file holding the webhook URL' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -s w -l webhook -d 'Use NAME.url from the secrets directory' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l secrets-dir -d 'Directory of NAME.url files' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l timeout -d 'Budget of one delivery, retries included' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l attempt-timeout -d 'Longest wait of a single attempt' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l retries -d 'Retries of network errors, 408, 429, 502, 503, 504' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l proxy -d 'Proxy for mmnotify alone, or `none`' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l ca-file -d 'Extra trusted root certificates (PEM)' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l client-cert -d 'Client certificate chain (PEM) for mutual TLS' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l client-key -d 'Private key (PEM) matching --client-cert' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l state-dir -d 'State dir [default: $XDG_STATE_HOME/mmnotify]' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -s o -l output -d 'Outcome format' -r -f -a "text\t''
json\t''"
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l rate-limit -d 'Cap on posts per webhook, N/s or N/min (shared through a Redis store)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l rate-burst -d 'Posts allowed at once under --rate-limit [default: N]' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l channel -d 'Channel (`name`) or direct message (`@user`); with a bot, TEAM/CHANNEL or a channel id' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l config -d 'Config file: routes, people, templates (see FILES in `man mmnotify`)' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l no-env -d 'Do not fill missing fields from the CI environment'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l no-dedupe -d 'Post even if this run and state were already posted'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -s n -l dry-run -d 'Print the payload, send nothing; checks a given webhook offline'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l enqueue -d 'Put the event on the Redis queue instead of posting it'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l consume -d 'Gateway: post the Redis queue\'s events until SIGTERM; SIGHUP reads the webhook or bot file and the config again'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l drain -d 'With --consume: stop when nothing is left to take'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l exclusive -d 'With --consume: only the holder of the group\'s lease consumes; others stand by'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l requested-ack -d 'Ask recipients to acknowledge the post'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l no-system-roots -d 'Trust only the bundled roots and --ca-file, not the system store'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -l no-spool -d 'Do not save undelivered messages in the spool'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -s v -l verbose -d 'Print target (redacted), status, attempts and time on stderr'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -s q -l quiet -d 'Silence warnings'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand build" -s h -l help -d 'Print help'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l name -d 'Task name in the report [default: the command line]' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l log-url -d 'Link to the full log, shown in the report' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l tail -d 'Output lines kept for the report (stdout and stderr together)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l max-runtime -d 'Stop the command after this long: SIGTERM, then SIGKILL after --kill-grace' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l kill-grace -d 'Time between SIGTERM and SIGKILL when --max-runtime is reached' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l on -d 'Post only for these outcomes (comma-separated)' -r -f -a "success\t''
failure\t''
timeout\t''"
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l channel -d 'Channel (`name`) or direct message (`@user`) to post to' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l username -d 'Display name; ignored unless the admin enabled overrides' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l icon-url -d 'Avatar URL; ignored unless the server enabled icon overrides' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l icon-emoji -d 'Avatar emoji (`:rocket:`); ignored unless overrides are enabled' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l priority -d 'Post priority label' -r -f -a "urgent\t''
important\t''"
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l root-id -d 'Post in this thread (the root post\'s id); older servers ignore it' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l card -d 'Set props.card: Markdown shown in the post\'s info panel' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l prop -d 'Set props.KEY to a JSON value (repeatable)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l max-payload-bytes -d 'Largest JSON body in bytes (server default)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l color -d 'Colour of the attachment\'s side bar in Mattermost: good, warning, danger or #RRGGBB (it colours the attachment, not the terminal)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l title -d 'Attachment title' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l title-link -d 'Link opened by the title' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l pretext -d 'Text shown above the attachment' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l attachment-text -d 'Attachment body (Markdown)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l field -d 'A field shown as a table row (repeatable)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l field-short -d 'A short field, shown side by side with others (repeatable)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l footer -d 'Small text at the bottom of the attachment' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l image-url -d 'Image shown in the attachment' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l thumb-url -d 'Thumbnail shown on the right of the attachment' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l webhook-file -d 'Secrets file holding the webhook URL' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -s w -l webhook -d 'Use NAME.url from the secrets directory' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l secrets-dir -d 'Directory of NAME.url files' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l timeout -d 'Budget of one delivery, retries included' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l attempt-timeout -d 'Longest wait of a single attempt' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l retries -d 'Retries of network errors, 408, 429, 502, 503, 504' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l proxy -d 'Proxy for mmnotify alone, or `none`' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l ca-file -d 'Extra trusted root certificates (PEM)' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l client-cert -d 'Client certificate chain (PEM) for mutual TLS' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l client-key -d 'Private key (PEM) matching --client-cert' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l state-dir -d 'State dir [default: $XDG_STATE_HOME/mmnotify]' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -s o -l output -d 'Outcome format' -r -f -a "text\t''
json\t''"
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l rate-limit -d 'Cap on posts per webhook, N/s or N/min (shared through a Redis store)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l rate-burst -d 'Posts allowed at once under --rate-limit [default: N]' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l config -d 'Config file: routes, people, templates (see FILES in `man mmnotify`)' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l strict -d 'Exit with the notifier\'s code when the report could not be posted'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -s n -l dry-run -d 'Print the report, send nothing; checks a given webhook offline'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l no-run-socket -d 'Do not offer the job MMNOTIFY_RUN_SOCKET, through which `mmnotify send` and `build` inside it post without the token'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l requested-ack -d 'Ask recipients to acknowledge the post'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l no-system-roots -d 'Trust only the bundled roots and --ca-file, not the system store'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -l no-spool -d 'Do not save undelivered messages in the spool'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -s v -l verbose -d 'Print target (redacted), status, attempts and time on stderr'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -s q -l quiet -d 'Silence warnings'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand run" -s h -l help -d 'Print help'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand probe" -l text -d 'Probe text [default: "mmnotify probe from HOST"]' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand probe" -l webhook-file -d 'Secrets file holding the webhook URL' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand probe" -s w -l webhook -d 'Use NAME.url from the secrets directory' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand probe" -l secrets-dir -d 'Directory of NAME.url files' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand probe" -l timeout -d 'Budget of one delivery, retries included' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand probe" -l attempt-timeout -d 'Longest wait of a single attempt' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand probe" -l proxy -d 'Proxy for mmnotify alone, or `none`' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand probe" -l ca-file -d 'Extra trusted root certificates (PEM)' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand probe" -l client-cert -d 'Client certificate chain (PEM) for mutual TLS' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand probe" -l client-key -d 'Private key (PEM) matching --client-cert' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand probe" -s o -l output -d 'Outcome format' -r -f -a "text\t''
json\t''"
complete -c mmnotify -n "__fish_mmnotify_using_subcommand probe" -l config -d 'Config file: routes, people, templates (see FILES in `man mmnotify`)' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand probe" -l no-system-roots -d 'Trust only the bundled roots and --ca-file, not the system store'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand probe" -s v -l verbose -d 'Print target (redacted), status, attempts and time on stderr'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand probe" -s q -l quiet -d 'Silence warnings'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand probe" -s h -l help -d 'Print help'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand doctor" -l webhook-file -d 'Secrets file holding the webhook URL' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand doctor" -s w -l webhook -d 'Use NAME.url from the secrets directory' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand doctor" -l secrets-dir -d 'Directory of NAME.url files' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand doctor" -l timeout -d 'Budget of one delivery, retries included' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand doctor" -l attempt-timeout -d 'Longest wait of a single attempt' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand doctor" -l retries -d 'Retries of network errors, 408, 429, 502, 503, 504' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand doctor" -l proxy -d 'Proxy for mmnotify alone, or `none`' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand doctor" -l ca-file -d 'Extra trusted root certificates (PEM)' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand doctor" -l client-cert -d 'Client certificate chain (PEM) for mutual TLS' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand doctor" -l client-key -d 'Private key (PEM) matching --client-cert' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand doctor" -s o -l output -d 'Outcome format' -r -f -a "text\t''
json\t''"
complete -c mmnotify -n "__fish_mmnotify_using_subcommand doctor" -l queue-file -d 'Secrets file holding the queue\'s Redis URL' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand doctor" -l queue -d 'Queue\'s Redis URL; a password goes in --queue-file or MMNOTIFY_QUEUE' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand doctor" -l stream -d 'Redis stream that carries the events' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand doctor" -l replicas -d 'Redis replicas that must confirm each write (WAIT) [default: 1 with a Sentinel URL, else 0]' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand doctor" -l group -d 'Consumer group whose consumers and pending entries to check (with a queue)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand doctor" -l config -d 'Config file: routes, people, templates (see FILES in `man mmnotify`)' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand doctor" -l no-system-roots -d 'Trust only the bundled roots and --ca-file, not the system store'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand doctor" -s v -l verbose -d 'Print target (redacted), status, attempts and time on stderr'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand doctor" -s q -l quiet -d 'Silence warnings'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand flush" -l secrets-dir -d 'Directory of NAME.url files' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand flush" -l timeout -d 'Budget of one delivery, retries included' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand flush" -l attempt-timeout -d 'Longest wait of a single attempt' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand flush" -l retries -d 'Retries of network errors, 408, 429, 502, 503, 504' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand flush" -l proxy -d 'Proxy for mmnotify alone, or `none`' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand flush" -l ca-file -d 'Extra trusted root certificates (PEM)' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand flush" -l client-cert -d 'Client certificate chain (PEM) for mutual TLS' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand flush" -l client-key -d 'Private key (PEM) matching --client-cert' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand flush" -l rate-limit -d 'Cap on posts per webhook, N/s or N/min (shared through a Redis store)' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand flush" -l rate-burst -d 'Posts allowed at once under --rate-limit [default: N]' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand flush" -l queue-file -d 'Secrets file holding the queue\'s Redis URL' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand flush" -l queue -d 'Queue\'s Redis URL; a password goes in --queue-file or MMNOTIFY_QUEUE' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand flush" -l stream -d 'Redis stream that carries the events' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand flush" -l replicas -d 'Redis replicas that must confirm each write (WAIT) [default: 1 with a Sentinel URL, else 0]' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand flush" -l dedupe-store-file -d 'Secrets file: a shared store\'s Redis URL' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand flush" -l dedupe-store -d 'Shared dedupe store\'s Redis URL, without a password' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand flush" -l state-dir -d 'State dir [default: $XDG_STATE_HOME/mmnotify]' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand flush" -l max-age -d 'Move items first tried longer ago than this (e.g. 2d) to spool/rejected/ with the reason `expired` instead of posting them' -r
complete -c mmnotify -n "__fish_mmnotify_using_subcommand flush" -s o -l output -d 'Outcome format' -r -f -a "text\t''
json\t''"
complete -c mmnotify -n "__fish_mmnotify_using_subcommand flush" -l config -d 'Config file: routes, people, templates (see FILES in `man mmnotify`)' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand flush" -l no-system-roots -d 'Trust only the bundled roots and --ca-file, not the system store'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand flush" -s v -l verbose -d 'Print target (redacted), status, attempts and time on stderr'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand flush" -s q -l quiet -d 'Silence warnings'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand flush" -s h -l help -d 'Print help'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand webhooks" -l secrets-dir -d 'Directory of NAME.url files' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand webhooks" -s o -l output -d 'Outcome format' -r -f -a "text\t''
json\t''"
complete -c mmnotify -n "__fish_mmnotify_using_subcommand webhooks" -l config -d 'Config file: routes, people, templates (see FILES in `man mmnotify`)' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand webhooks" -s v -l verbose -d 'Print target (redacted), status, attempts and time on stderr'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand webhooks" -s q -l quiet -d 'Silence warnings'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand webhooks" -s h -l help -d 'Print help'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand spool; and not __fish_seen_subcommand_from list drop help" -l config -d 'Config file: routes, people, templates (see FILES in `man mmnotify`)' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand spool; and not __fish_seen_subcommand_from list drop help" -s h -l help -d 'Print help'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand spool; and not __fish_seen_subcommand_from list drop help" -f -a "list" -d 'One line per spooled message: id, kind, age, attempts, last error, source'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand spool; and not __fish_seen_subcommand_from list drop help" -f -a "drop" -d 'Remove spooled messages by id (as `spool list` shows them), or all of them'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand spool; and not __fish_seen_subcommand_from list drop help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand spool; and __fish_seen_subcommand_from list" -l state-dir -d 'State dir [default: $XDG_STATE_HOME/mmnotify]' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand spool; and __fish_seen_subcommand_from list" -s o -l output -d 'Outcome format' -r -f -a "text\t''
json\t''"
complete -c mmnotify -n "__fish_mmnotify_using_subcommand spool; and __fish_seen_subcommand_from list" -l config -d 'Config file: routes, people, templates (see FILES in `man mmnotify`)' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand spool; and __fish_seen_subcommand_from list" -l rejected -d 'List spool/rejected/ instead, with the reason each item was set aside'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand spool; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Print target (redacted), status, attempts and time on stderr'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand spool; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Silence warnings'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand spool; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand spool; and __fish_seen_subcommand_from drop" -l state-dir -d 'State dir [default: $XDG_STATE_HOME/mmnotify]' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand spool; and __fish_seen_subcommand_from drop" -s o -l output -d 'Outcome format' -r -f -a "text\t''
json\t''"
complete -c mmnotify -n "__fish_mmnotify_using_subcommand spool; and __fish_seen_subcommand_from drop" -l config -d 'Config file: routes, people, templates (see FILES in `man mmnotify`)' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand spool; and __fish_seen_subcommand_from drop" -l all -d 'Remove every item'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand spool; and __fish_seen_subcommand_from drop" -l rejected -d 'Act on spool/rejected/ instead'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand spool; and __fish_seen_subcommand_from drop" -s v -l verbose -d 'Print target (redacted), status, attempts and time on stderr'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand spool; and __fish_seen_subcommand_from drop" -s q -l quiet -d 'Silence warnings'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand spool; and __fish_seen_subcommand_from drop" -s h -l help -d 'Print help'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand spool; and __fish_seen_subcommand_from help" -f -a "list" -d 'One line per spooled message: id, kind, age, attempts, last error, source'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand spool; and __fish_seen_subcommand_from help" -f -a "drop" -d 'Remove spooled messages by id (as `spool list` shows them), or all of them'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand spool; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand config; and not __fish_seen_subcommand_from check help" -l config -d 'Config file: routes, people, templates (see FILES in `man mmnotify`)' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand config; and not __fish_seen_subcommand_from check help" -s h -l help -d 'Print help'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand config; and not __fish_seen_subcommand_from check help" -f -a "check" -d 'Check the config file (trust rules, keys, routes, templates) and print its routes in the order an event meets them'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand config; and not __fish_seen_subcommand_from check help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand config; and __fish_seen_subcommand_from check" -l secrets-dir -d 'Directory of NAME.url files' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand config; and __fish_seen_subcommand_from check" -l config -d 'Config file: routes, people, templates (see FILES in `man mmnotify`)' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand config; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "check" -d 'Check the config file (trust rules, keys, routes, templates) and print its routes in the order an event meets them'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand completions" -l config -d 'Config file: routes, people, templates (see FILES in `man mmnotify`)' -r -F
complete -c mmnotify -n "__fish_mmnotify_using_subcommand completions" -s h -l help -d 'Print help'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand help; and not __fish_seen_subcommand_from send build run probe doctor flush webhooks spool config completions help" -f -a "send" -d 'Post one message (text, attachment, props)'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand help; and not __fish_seen_subcommand_from send build run probe doctor flush webhooks spool config completions help" -f -a "build" -d 'Post one build-status message from normalized CI fields, deduplicated'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand help; and not __fish_seen_subcommand_from send build run probe doctor flush webhooks spool config completions help" -f -a "run" -d 'Run a command, then post its outcome (status, duration, output tail)'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand help; and not __fish_seen_subcommand_from send build run probe doctor flush webhooks spool config completions help" -f -a "probe" -d 'Post a test message, visible in the channel, and print HTTP status and latency (no retries)'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand help; and not __fish_seen_subcommand_from send build run probe doctor flush webhooks spool config completions help" -f -a "doctor" -d 'Check secret, URL, proxy, DNS, TCP and TLS without posting anything'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand help; and not __fish_seen_subcommand_from send build run probe doctor flush webhooks spool config completions help" -f -a "flush" -d 'Re-deliver messages saved in the spool after failed deliveries'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand help; and not __fish_seen_subcommand_from send build run probe doctor flush webhooks spool config completions help" -f -a "webhooks" -d 'List the named webhooks in the secrets directory: name, redacted target, and whether the file passes the rules'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand help; and not __fish_seen_subcommand_from send build run probe doctor flush webhooks spool config completions help" -f -a "spool" -d 'Show what the spool holds, or remove items from it'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand help; and not __fish_seen_subcommand_from send build run probe doctor flush webhooks spool config completions help" -f -a "config" -d 'Check the config file (routes, people, templates)'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand help; and not __fish_seen_subcommand_from send build run probe doctor flush webhooks spool config completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand help; and not __fish_seen_subcommand_from send build run probe doctor flush webhooks spool config completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand help; and __fish_seen_subcommand_from spool" -f -a "list" -d 'One line per spooled message: id, kind, age, attempts, last error, source'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand help; and __fish_seen_subcommand_from spool" -f -a "drop" -d 'Remove spooled messages by id (as `spool list` shows them), or all of them'
complete -c mmnotify -n "__fish_mmnotify_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "check" -d 'Check the config file (trust rules, keys, routes, templates) and print its routes in the order an event meets them'
