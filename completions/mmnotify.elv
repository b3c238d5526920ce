
use builtin;
use str;

set edit:completion:arg-completer[mmnotify] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'mmnotify'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'mmnotify'= {
            cand --config 'Config file: routes, people, templates (see FILES in `man mmnotify`)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand send 'Post one message (text, attachment, props)'
            cand build 'Post one build-status message from normalized CI fields, deduplicated'
            cand run 'Run a command, then post its outcome (status, duration, output tail)'
            cand probe 'Post a test message, visible in the channel, and print HTTP status and latency (no retries)'
            cand doctor 'Check secret, URL, proxy, DNS, TCP and TLS without posting anything'
            cand flush 'Re-deliver messages saved in the spool after failed deliveries'
            cand webhooks 'List the named webhooks in the secrets directory: name, redacted target, and whether the file passes the rules'
            cand spool 'Show what the spool holds, or remove items from it'
            cand config 'Check the config file (routes, people, templates)'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mmnotify;send'= {
            cand --payload 'Webhook JSON object from FILE (`-` = stdin); flags override its fields'
            cand --text-file 'Read the message text from FILE (UTF-8) instead of arguments'
            cand --code 'Wrap the text in a code block (columns kept), LANG highlights it'
            cand --card 'Set props.card: Markdown shown in the post''s info panel'
            cand --prop 'Set props.KEY to a JSON value (repeatable)'
            cand --max-payload-bytes 'Largest JSON body in bytes (server default)'
            cand --channel 'Channel (`name`) or direct message (`@user`) to post to'
            cand --username 'Display name; ignored unless the admin enabled overrides'
            cand --icon-url 'Avatar URL; ignored unless the server enabled icon overrides'
            cand --icon-emoji 'Avatar emoji (`:rocket:`); ignored unless overrides are enabled'
            cand --priority 'Post priority label'
            cand --root-id 'Post in this thread (the root post''s id); older servers ignore it'
            cand --color 'Colour of the attachment''s side bar in Mattermost: good, warning, danger or #RRGGBB (it colours the attachment, not the terminal)'
            cand --title 'Attachment title'
            cand --title-link 'Link opened by the title'
            cand --pretext 'Text shown above the attachment'
            cand --attachment-text 'Attachment body (Markdown)'
            cand --field 'A field shown as a table row (repeatable)'
            cand --field-short 'A short field, shown side by side with others (repeatable)'
            cand --footer 'Small text at the bottom of the attachment'
            cand --image-url 'Image shown in the attachment'
            cand --thumb-url 'Thumbnail shown on the right of the attachment'
            cand --webhook-file 'Secrets file holding the webhook URL'
            cand -w 'Use NAME.url from the secrets directory'
            cand --webhook 'Use NAME.url from the secrets directory'
            cand --secrets-dir 'Directory of NAME.url files'
            cand --timeout 'Budget of one delivery, retries included'
            cand --attempt-timeout 'Longest wait of a single attempt'
            cand --retries 'Retries of network errors, 408, 429, 502, 503, 504'
            cand --proxy 'Proxy for mmnotify alone, or `none`'
            cand --ca-file 'Extra trusted root certificates (PEM)'
            cand --client-cert 'Client certificate chain (PEM) for mutual TLS'
            cand --client-key 'Private key (PEM) matching --client-cert'
            cand --state-dir 'State dir [default: $XDG_STATE_HOME/mmnotify]'
            cand -o 'Outcome format'
            cand --output 'Outcome format'
            cand --rate-limit 'Cap on posts per webhook, N/s or N/min (shared through a Redis store)'
            cand --rate-burst 'Posts allowed at once under --rate-limit [default: N]'
            cand --config 'Config file: routes, people, templates (see FILES in `man mmnotify`)'
            cand --split 'Send text over 16383 characters whole, as several posts, not cut'
            cand -n 'Print the payload, send nothing; checks a given webhook offline'
            cand --dry-run 'Print the payload, send nothing; checks a given webhook offline'
            cand --requested-ack 'Ask recipients to acknowledge the post'
            cand --no-system-roots 'Trust only the bundled roots and --ca-file, not the system store'
            cand --no-spool 'Do not save undelivered messages in the spool'
            cand -v 'Print target (redacted), status, attempts and time on stderr'
            cand --verbose 'Print target (redacted), status, attempts and time on stderr'
            cand -q 'Silence warnings'
            cand --quiet 'Silence warnings'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mmnotify;build'= {
            cand --workflow 'Workflow or pipeline name'
            cand --state 'State'
            cand --branch 'Branch or tag'
            cand --commit 'Commit SHA (shortened to 8 characters in the text)'
            cand --run-url 'Link to the CI run'
            cand --node 'Builder node that ran the job [default: this host''s name]'
            cand --run-id 'The CI''s run id: the deduplication key, with the state'
            cand --provider 'CI provider name (github, gitlab, jenkins, …)'
            cand --repository 'Repository (owner/name)'
            cand --duration 'Build duration (humantime like 4m 30s, or seconds)'
            cand --started-at 'Build start time (RFC 3339)'
            cand --actor 'Who started the run (CI login or e-mail), mentioned through the config''s people'
            cand --author 'The commit''s author (e-mail or login), mentioned through the config''s people'
            cand --event 'Read one event JSON object from FILE (`-` = stdin)'
            cand --events 'Newline-delimited events from FILE (`-` = stdin), one post each'
            cand --on 'Post only for these states or transitions (broken, still_failing, fixed, changes, failures; others: `filtered`)'
            cand --remind-every 'Post a still-failing run only every N failures in a row (with or without --on)'
            cand --text-template 'Text line with {field} placeholders, e.g. "{emoji} {workflow}"'
            cand --dedupe-ttl 'How long a delivered run+state is remembered'
            cand --mention-on 'Mention the run''s actor and author (mapped by the config''s [people]) for these states or transitions, as --on [default: broken]'
            cand --mention 'Also mention this Mattermost user (repeatable), under the same --mention-on gate'
            cand --history-ttl 'How long a job''s history (its streak) is kept after its last run'
            cand --bot-file 'Secrets file: the server''s base URL, then a bot token (one post per run)'
            cand --bot 'Use NAME.bot from the secrets directory'
            cand --dedupe-store-file 'Secrets file: a shared store''s Redis URL'
            cand --dedupe-store 'Shared dedupe store''s Redis URL, without a password'
            cand --group 'Consumer group (made when missing)'
            cand --consumer 'This gateway''s name in the group [default: HOST-PID]'
            cand --claim-idle 'Take over entries left unacknowledged this long'
            cand --max-deliveries 'Tries of one entry before it goes to <stream>:dead'
            cand --summary-every 'With --consume: log the counts so far this often (and at exit)'
            cand --lease 'With --exclusive: how long the lease lasts unless renewed'
            cand --metrics-file 'With --consume: keep this Prometheus textfile (node_exporter) up to date'
            cand --queue-file 'Secrets file holding the queue''s Redis URL'
            cand --queue 'Queue''s Redis URL; a password goes in --queue-file or MMNOTIFY_QUEUE'
            cand --stream 'Redis stream that carries the events'
            cand --replicas 'Redis replicas that must confirm each write (WAIT) [default: 1 with a Sentinel URL, else 0]'
            cand --username 'Display name; ignored unless the admin enabled overrides'
            cand --icon-url 'Avatar URL; ignored unless the server enabled icon overrides'
            cand --icon-emoji 'Avatar emoji (`:rocket:`); ignored unless overrides are enabled'
            cand --priority 'Post priority label'
            cand --root-id 'Post in this thread (the root post''s id); older servers ignore it'
            cand --webhook-file 'Secrets file holding the webhook URL'
            cand -w 'Use NAME.url from the secrets directory'
            cand --webhook 'Use NAME.url from the secrets directory'
            cand --secrets-dir 'Directory of NAME.url files'
            cand --timeout 'Budget of one delivery, retries included'
            cand --attempt-timeout 'Longest wait of a single attempt'
            cand --retries 'Retries of network errors, 408, 429, 502, 503, 504'
            cand --proxy 'Proxy for mmnotify alone, or `none`'
            cand --ca-file 'Extra trusted root certificates (PEM)'
            cand --client-cert 'Client certificate chain (PEM) for mutual TLS'
            cand --client-key 'Private key (PEM) matching --client-cert'
            cand --state-dir 'State dir [default: $XDG_STATE_HOME/mmnotify]'
            cand -o 'Outcome format'
            cand --output 'Outcome format'
            cand --rate-limit 'Cap on posts per webhook, N/s or N/min (shared through a Redis store)'
            cand --rate-burst 'Posts allowed at once under --rate-limit [default: N]'
            cand --channel 'Channel (`name`) or direct message (`@user`); with a bot, TEAM/CHANNEL or a channel id'
            cand --config 'Config file: routes, people, templates (see FILES in `man mmnotify`)'
            cand --no-env 'Do not fill missing fields from the CI environment'
            cand --no-dedupe 'Post even if this run and state were already posted'
            cand -n 'Print the payload, send nothing; checks a given webhook offline'
            cand --dry-run 'Print the payload, send nothing; checks a given webhook offline'
            cand --enqueue 'Put the event on the Redis queue instead of posting it'
            cand --consume 'Gateway: post the Redis queue''s events until SIGTERM; SIGHUP reads the webhook or bot file and the config again'
            cand --drain 'With --consume: stop when nothing is left to take'
            cand --exclusive 'With --consume: only the holder of the group''s lease consumes; others stand by'
            cand --requested-ack 'Ask recipients to acknowledge the post'
            cand --no-system-roots 'Trust only the bundled roots and --ca-file, not the system store'
            cand --no-spool 'Do not save undelivered messages in the spool'
            cand -v 'Print target (redacted), status, attempts and time on stderr'
            cand --verbose 'Print target (redacted), status, attempts and time on stderr'
            cand -q 'Silence warnings'
            cand --quiet 'Silence warnings'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mmnotify;run'= {
            cand --name 'Task name in the report [default: the command line]'
            cand --log-url 'Link to the full log, shown in the report'
            cand --tail 'Output lines kept for the report (stdout and stderr together)'
            cand --max-runtime 'Stop the command after this long: SIGTERM, then SIGKILL after --kill-grace'
            cand --kill-grace 'Time between SIGTERM and SIGKILL when --max-runtime is reached'
            cand --on 'Post only for these outcomes (comma-separated)'
            cand --channel 'Channel (`name`) or direct message (`@user`) to post to'
            cand --username 'Display name; ignored unless the admin enabled overrides'
            cand --icon-url 'Avatar URL; ignored unless the server enabled icon overrides'
            cand --icon-emoji 'Avatar emoji (`:rocket:`); ignored unless overrides are enabled'
            cand --priority 'Post priority label'
            cand --root-id 'Post in this thread (the root post''s id); older servers ignore it'
            cand --card 'Set props.card: Markdown shown in the post''s info panel'
            cand --prop 'Set props.KEY to a JSON value (repeatable)'
            cand --max-payload-bytes 'Largest JSON body in bytes (server default)'
            cand --color 'Colour of the attachment''s side bar in Mattermost: good, warning, danger or #RRGGBB (it colours the attachment, not the terminal)'
            cand --title 'Attachment title'
            cand --title-link 'Link opened by the title'
            cand --pretext 'Text shown above the attachment'
            cand --attachment-text 'Attachment body (Markdown)'
            cand --field 'A field shown as a table row (repeatable)'
            cand --field-short 'A short field, shown side by side with others (repeatable)'
            cand --footer 'Small text at the bottom of the attachment'
            cand --image-url 'Image shown in the attachment'
            cand --thumb-url 'Thumbnail shown on the right of the attachment'
            cand --webhook-file 'Secrets file holding the webhook URL'
            cand -w 'Use NAME.url from the secrets directory'
            cand --webhook 'Use NAME.url from the secrets directory'
            cand --secrets-dir 'Directory of NAME.url files'
            cand --timeout 'Budget of one delivery, retries included'
            cand --attempt-timeout 'Longest wait of a single attempt'
            cand --retries 'Retries of network errors, 408, 429, 502, 503, 504'
            cand --proxy 'Proxy for mmnotify alone, or `none`'
            cand --ca-file 'Extra trusted root certificates (PEM)'
            cand --client-cert 'Client certificate chain (PEM) for mutual TLS'
            cand --client-key 'Private key (PEM) matching --client-cert'
            cand --state-dir 'State dir [default: $XDG_STATE_HOME/mmnotify]'
            cand -o 'Outcome format'
            cand --output 'Outcome format'
            cand --rate-limit 'Cap on posts per webhook, N/s or N/min (shared through a Redis store)'
            cand --rate-burst 'Posts allowed at once under --rate-limit [default: N]'
            cand --config 'Config file: routes, people, templates (see FILES in `man mmnotify`)'
            cand --strict 'Exit with the notifier''s code when the report could not be posted'
            cand -n 'Print the report, send nothing; checks a given webhook offline'
            cand --dry-run 'Print the report, send nothing; checks a given webhook offline'
            cand --no-run-socket 'Do not offer the job MMNOTIFY_RUN_SOCKET, through which `mmnotify send` and `build` inside it post without the token'
            cand --requested-ack 'Ask recipients to acknowledge the post'
            cand --no-system-roots 'Trust only the bundled roots and --ca-file, not the system store'
            cand --no-spool 'Do not save undelivered messages in the spool'
            cand -v 'Print target (redacted), status, attempts and time on stderr'
            cand --verbose 'Print target (redacted), status, attempts and time on stderr'
            cand -q 'Silence warnings'
            cand --quiet 'Silence warnings'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mmnotify;probe'= {
            cand --text 'Probe text [default: "mmnotify probe from HOST"]'
            cand --webhook-file 'Secrets file holding the webhook URL'
            cand -w 'Use NAME.url from the secrets directory'
            cand --webhook 'Use NAME.url from the secrets directory'
            cand --secrets-dir 'Directory of NAME.url files'
            cand --timeout 'Budget of one delivery, retries included'
            cand --attempt-timeout 'Longest wait of a single attempt'
            cand --proxy 'Proxy for mmnotify alone, or `none`'
            cand --ca-file 'Extra trusted root certificates (PEM)'
            cand --client-cert 'Client certificate chain (PEM) for mutual TLS'
            cand --client-key 'Private key (PEM) matching --client-cert'
            cand -o 'Outcome format'
            cand --output 'Outcome format'
            cand --config 'Config file: routes, people, templates (see FILES in `man mmnotify`)'
            cand --no-system-roots 'Trust only the bundled roots and --ca-file, not the system store'
            cand -v 'Print target (redacted), status, attempts and time on stderr'
            cand --verbose 'Print target (redacted), status, attempts and time on stderr'
            cand -q 'Silence warnings'
            cand --quiet 'Silence warnings'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mmnotify;doctor'= {
            cand --webhook-file 'Secrets file holding the webhook URL'
            cand -w 'Use NAME.url from the secrets directory'
            cand --webhook 'Use NAME.url from the secrets directory'
            cand --secrets-dir 'Directory of NAME.url files'
            cand --timeout 'Budget of one delivery, retries included'
            cand --attempt-timeout 'Longest wait of a single attempt'
            cand --retries 'Retries of network errors, 408, 429, 502, 503, 504'
            cand --proxy 'Proxy for mmnotify alone, or `none`'
            cand --ca-file 'Extra trusted root certificates (PEM)'
            cand --client-cert 'Client certificate chain (PEM) for mutual TLS'
            cand --client-key 'Private key (PEM) matching --client-cert'
            cand -o 'Outcome format'
            cand --output 'Outcome format'
            cand --queue-file 'Secrets file holding the queue''s Redis URL'
            cand --queue 'Queue''s Redis URL; a password goes in --queue-file or MMNOTIFY_QUEUE'
            cand --stream 'Redis stream that carries the events'
            cand --replicas 'Redis replicas that must confirm each write (WAIT) [default: 1 with a Sentinel URL, else 0]'
            cand --group 'Consumer group whose consumers and pending entries to check (with a queue)'
            cand --config 'Config file: routes, people, templates (see FILES in `man mmnotify`)'
            cand --no-system-roots 'Trust only the bundled roots and --ca-file, not the system store'
            cand -v 'Print target (redacted), status, attempts and time on stderr'
            cand --verbose 'Print target (redacted), status, attempts and time on stderr'
            cand -q 'Silence warnings'
            cand --quiet 'Silence warnings'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mmnotify;flush'= {
            cand --secrets-dir 'Directory of NAME.url files'
            cand --timeout 'Budget of one delivery, retries included'
            cand --attempt-timeout 'Longest wait of a single attempt'
            cand --retries 'Retries of network errors, 408, 429, 502, 503, 504'
            cand --proxy 'Proxy for mmnotify alone, or `none`'
            cand --ca-file 'Extra trusted root certificates (PEM)'
            cand --client-cert 'Client certificate chain (PEM) for mutual TLS'
            cand --client-key 'Private key (PEM) matching --client-cert'
            cand --rate-limit 'Cap on posts per webhook, N/s or N/min (shared through a Redis store)'
            cand --rate-burst 'Posts allowed at once under --rate-limit [default: N]'
            cand --queue-file 'Secrets file holding the queue''s Redis URL'
            cand --queue 'Queue''s Redis URL; a password goes in --queue-file or MMNOTIFY_QUEUE'
            cand --stream 'Redis stream that carries the events'
            cand --replicas 'Redis replicas that must confirm each write (WAIT) [default: 1 with a Sentinel URL, else 0]'
            cand --dedupe-store-file 'Secrets file: a shared store''s Redis URL'
            cand --dedupe-store 'Shared dedupe store''s Redis URL, without a password'
            cand --state-dir 'State dir [default: $XDG_STATE_HOME/mmnotify]'
            cand --max-age 'Move items first tried longer ago than this (e.g. 2d) to spool/rejected/ with the reason `expired` instead of posting them'
            cand -o 'Outcome format'
            cand --output 'Outcome format'
            cand --config 'Config file: routes, people, templates (see FILES in `man mmnotify`)'
            cand --no-system-roots 'Trust only the bundled roots and --ca-file, not the system store'
            cand -v 'Print target (redacted), status, attempts and time on stderr'
            cand --verbose 'Print target (redacted), status, attempts and time on stderr'
            cand -q 'Silence warnings'
            cand --quiet 'Silence warnings'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mmnotify;webhooks'= {
            cand --secrets-dir 'Directory of NAME.url files'
            cand -o 'Outcome format'
            cand --output 'Outcome format'
            cand --config 'Config file: routes, people, templates (see FILES in `man mmnotify`)'
            cand -v 'Print target (redacted), status, attempts and time on stderr'
            cand --verbose 'Print target (redacted), status, attempts and time on stderr'
            cand -q 'Silence warnings'
            cand --quiet 'Silence warnings'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mmnotify;spool'= {
            cand --config 'Config file: routes, people, templates (see FILES in `man mmnotify`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand list 'One line per spooled message: id, kind, age, attempts, last error, source'
            cand drop 'Remove spooled messages by id (as `spool list` shows them), or all of them'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mmnotify;spool;list'= {
            cand --state-dir 'State dir [default: $XDG_STATE_HOME/mmnotify]'
            cand -o 'Outcome format'
            cand --output 'Outcome format'
            cand --config 'Config file: routes, people, templates (see FILES in `man mmnotify`)'
            cand --rejected 'List spool/rejected/ instead, with the reason each item was set aside'
            cand -v 'Print target (redacted), status, attempts and time on stderr'
            cand --verbose 'Print target (redacted), status, attempts and time on stderr'
            cand -q 'Silence warnings'
            cand --quiet 'Silence warnings'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mmnotify;spool;drop'= {
            cand --state-dir 'State dir [default: $XDG_STATE_HOME/mmnotify]'
            cand -o 'Outcome format'
            cand --output 'Outcome format'
            cand --config 'Config file: routes, people, templates (see FILES in `man mmnotify`)'
            cand --all 'Remove every item'
            cand --rejected 'Act on spool/rejected/ instead'
            cand -v 'Print target (redacted), status, attempts and time on stderr'
            cand --verbose 'Print target (redacted), status, attempts and time on stderr'
            cand -q 'Silence warnings'
            cand --quiet 'Silence warnings'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mmnotify;spool;help'= {
            cand list 'One line per spooled message: id, kind, age, attempts, last error, source'
            cand drop 'Remove spooled messages by id (as `spool list` shows them), or all of them'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mmnotify;spool;help;list'= {
        }
        &'mmnotify;spool;help;drop'= {
        }
        &'mmnotify;spool;help;help'= {
        }
        &'mmnotify;config'= {
            cand --config 'Config file: routes, people, templates (see FILES in `man mmnotify`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand check 'Check the config file (trust rules, keys, routes, templates) and print its routes in the order an event meets them'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mmnotify;config;check'= {
            cand --secrets-dir 'Directory of NAME.url files'
            cand --config 'Config file: routes, people, templates (see FILES in `man mmnotify`)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mmnotify;config;help'= {
            cand check 'Check the config file (trust rules, keys, routes, templates) and print its routes in the order an event meets them'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mmnotify;config;help;check'= {
        }
        &'mmnotify;config;help;help'= {
        }
        &'mmnotify;completions'= {
            cand --config 'Config file: routes, people, templates (see FILES in `man mmnotify`)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mmnotify;help'= {
            cand send 'Post one message (text, attachment, props)'
            cand build 'Post one build-status message from normalized CI fields, deduplicated'
            cand run 'Run a command, then post its outcome (status, duration, output tail)'
            cand probe 'Post a test message, visible in the channel, and print HTTP status and latency (no retries)'
            cand doctor 'Check secret, URL, proxy, DNS, TCP and TLS without posting anything'
            cand flush 'Re-deliver messages saved in the spool after failed deliveries'
            cand webhooks 'List the named webhooks in the secrets directory: name, redacted target, and whether the file passes the rules'
            cand spool 'Show what the spool holds, or remove items from it'
            cand config 'Check the config file (routes, people, templates)'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mmnotify;help;send'= {
        }
        &'mmnotify;help;build'= {
        }
        &'mmnotify;help;run'= {
        }
        &'mmnotify;help;probe'= {
        }
        &'mmnotify;help;doctor'= {
        }
        &'mmnotify;help;flush'= {
        }
        &'mmnotify;help;webhooks'= {
        }
        &'mmnotify;help;spool'= {
            cand list 'One line per spooled message: id, kind, age, attempts, last error, source'
            cand drop 'Remove spooled messages by id (as `spool list` shows them), or all of them'
        }
        &'mmnotify;help;spool;list'= {
        }
        &'mmnotify;help;spool;drop'= {
        }
        &'mmnotify;help;config'= {
            cand check 'Check the config file (trust rules, keys, routes, templates) and print its routes in the order an event meets them'
        }
        &'mmnotify;help;config;check'= {
        }
        &'mmnotify;help;completions'= {
        }
        &'mmnotify;help;help'= {
        }
    ]
    $completions[$command]
}
