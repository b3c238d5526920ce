
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'mmnotify' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'mmnotify'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'mmnotify' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file: routes, people, templates (see FILES in `man mmnotify`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('send', 'send', [CompletionResultType]::ParameterValue, 'Post one message (text, attachment, props)')
            [CompletionResult]::new('build', 'build', [CompletionResultType]::ParameterValue, 'Post one build-status message from normalized CI fields, deduplicated')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run a command, then post its outcome (status, duration, output tail)')
            [CompletionResult]::new('probe', 'probe', [CompletionResultType]::ParameterValue, 'Post a test message, visible in the channel, and print HTTP status and latency (no retries)')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Check secret, URL, proxy, DNS, TCP and TLS without posting anything')
            [CompletionResult]::new('flush', 'flush', [CompletionResultType]::ParameterValue, 'Re-deliver messages saved in the spool after failed deliveries')
            [CompletionResult]::new('webhooks', 'webhooks', [CompletionResultType]::ParameterValue, 'List the named webhooks in the secrets directory: name, redacted target, and whether the file passes the rules')
            [CompletionResult]::new('spool', 'spool', [CompletionResultType]::ParameterValue, 'Show what the spool holds, or remove items from it')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Check the config file (routes, people, templates)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mmnotify;send' {
            [CompletionResult]::new('--payload', '--payload', [CompletionResultType]::ParameterName, 'Webhook JSON object from FILE (`-` = stdin); flags override its fields')
            [CompletionResult]::new('--text-file', '--text-file', [CompletionResultType]::ParameterName, 'Read the message text from FILE (UTF-8) instead of arguments')
            [CompletionResult]::new('--code', '--code', [CompletionResultType]::ParameterName, 'Wrap the text in a code block (columns kept), LANG highlights it')
            [CompletionResult]::new('--card', '--card', [CompletionResultType]::ParameterName, 'Set props.card: Markdown shown in the post''s info panel')
            [CompletionResult]::new('--prop', '--prop', [CompletionResultType]::ParameterName, 'Set props.KEY to a JSON value (repeatable)')
            [CompletionResult]::new('--max-payload-bytes', '--max-payload-bytes', [CompletionResultType]::ParameterName, 'Largest JSON body in bytes (server default)')
            [CompletionResult]::new('--channel', '--channel', [CompletionResultType]::ParameterName, 'Channel (`name`) or direct message (`@user`) to post to')
            [CompletionResult]::new('--username', '--username', [CompletionResultType]::ParameterName, 'Display name; ignored unless the admin enabled overrides')
            [CompletionResult]::new('--icon-url', '--icon-url', [CompletionResultType]::ParameterName, 'Avatar URL; ignored unless the server enabled icon overrides')
            [CompletionResult]::new('--icon-emoji', '--icon-emoji', [CompletionResultType]::ParameterName, 'Avatar emoji (`:rocket:`); ignored unless overrides are enabled')
            [CompletionResult]::new('--priority', '--priority', [CompletionResultType]::ParameterName, 'Post priority label')
            [CompletionResult]::new('--root-id', '--root-id', [CompletionResultType]::ParameterName, 'Post in this thread (the root post''s id); older servers ignore it')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour of the attachment''s side bar in Mattermost: good, warning, danger or #RRGGBB (it colours the attachment, not the terminal)')
            [CompletionResult]::new('--title', '--title', [CompletionResultType]::ParameterName, 'Attachment title')
            [CompletionResult]::new('--title-link', '--title-link', [CompletionResultType]::ParameterName, 'Link opened by the title')
            [CompletionResult]::new('--pretext', '--pretext', [CompletionResultType]::ParameterName, 'Text shown above the attachment')
            [CompletionResult]::new('--attachment-text', '--attachment-text', [CompletionResultType]::ParameterName, 'Attachment body (Markdown)')
            [CompletionResult]::new('--field', '--field', [CompletionResultType]::ParameterName, 'A field shown as a table row (repeatable)')
            [CompletionResult]::new('--field-short', '--field-short', [CompletionResultType]::ParameterName, 'A short field, shown side by side with others (repeatable)')
            [CompletionResult]::new('--footer', '--footer', [CompletionResultType]::ParameterName, 'Small text at the bottom of the attachment')
            [CompletionResult]::new('--image-url', '--image-url', [CompletionResultType]::ParameterName, 'Image shown in the attachment')
            [CompletionResult]::new('--thumb-url', '--thumb-url', [CompletionResultType]::ParameterName, 'Thumbnail shown on the right of the attachment')
            [CompletionResult]::new('--webhook-file', '--webhook-file', [CompletionResultType]::ParameterName, 'Secrets file holding the webhook URL')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Use NAME.url from the secrets directory')
            [CompletionResult]::new('--webhook', '--webhook', [CompletionResultType]::ParameterName, 'Use NAME.url from the secrets directory')
            [CompletionResult]::new('--secrets-dir', '--secrets-dir', [CompletionResultType]::ParameterName, 'Directory of NAME.url files')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Budget of one delivery, retries included')
            [CompletionResult]::new('--attempt-timeout', '--attempt-timeout', [CompletionResultType]::ParameterName, 'Longest wait of a single attempt')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Retries of network errors, 408, 429, 502, 503, 504')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Proxy for mmnotify alone, or `none`')
            [CompletionResult]::new('--ca-file', '--ca-file', [CompletionResultType]::ParameterName, 'Extra trusted root certificates (PEM)')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate chain (PEM) for mutual TLS')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) matching --client-cert')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'State dir [default: $XDG_STATE_HOME/mmnotify]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Outcome format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Outcome format')
            [CompletionResult]::new('--rate-limit', '--rate-limit', [CompletionResultType]::ParameterName, 'Cap on posts per webhook, N/s or N/min (shared through a Redis store)')
            [CompletionResult]::new('--rate-burst', '--rate-burst', [CompletionResultType]::ParameterName, 'Posts allowed at once under --rate-limit [default: N]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file: routes, people, templates (see FILES in `man mmnotify`)')
            [CompletionResult]::new('--split', '--split', [CompletionResultType]::ParameterName, 'Send text over 16383 characters whole, as several posts, not cut')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Print the payload, send nothing; checks a given webhook offline')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the payload, send nothing; checks a given webhook offline')
            [CompletionResult]::new('--requested-ack', '--requested-ack', [CompletionResultType]::ParameterName, 'Ask recipients to acknowledge the post')
            [CompletionResult]::new('--no-system-roots', '--no-system-roots', [CompletionResultType]::ParameterName, 'Trust only the bundled roots and --ca-file, not the system store')
            [CompletionResult]::new('--no-spool', '--no-spool', [CompletionResultType]::ParameterName, 'Do not save undelivered messages in the spool')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print target (redacted), status, attempts and time on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print target (redacted), status, attempts and time on stderr')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Silence warnings')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Silence warnings')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mmnotify;build' {
            [CompletionResult]::new('--workflow', '--workflow', [CompletionResultType]::ParameterName, 'Workflow or pipeline name')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'State')
            [CompletionResult]::new('--branch', '--branch', [CompletionResultType]::ParameterName, 'Branch or tag')
            [CompletionResult]::new('--commit', '--commit', [CompletionResultType]::ParameterName, 'Commit SHA (shortened to 8 characters in the text)')
            [CompletionResult]::new('--run-url', '--run-url', [CompletionResultType]::ParameterName, 'Link to the CI run')
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'Builder node that ran the job [default: this host''s name]')
            [CompletionResult]::new('--run-id', '--run-id', [CompletionResultType]::ParameterName, 'The CI''s run id: the deduplication key, with the state')
            [CompletionResult]::new('--provider', '--provider', [CompletionResultType]::ParameterName, 'CI provider name (github, gitlab, jenkins, …)')
            [CompletionResult]::new('--repository', '--repository', [CompletionResultType]::ParameterName, 'Repository (owner/name)')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'Build duration (humantime like 4m 30s, or seconds)')
            [CompletionResult]::new('--started-at', '--started-at', [CompletionResultType]::ParameterName, 'Build start time (RFC 3339)')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who started the run (CI login or e-mail), mentioned through the config''s people')
            [CompletionResult]::new('--author', '--author', [CompletionResultType]::ParameterName, 'The commit''s author (e-mail or login), mentioned through the config''s people')
            [CompletionResult]::new('--event', '--event', [CompletionResultType]::ParameterName, 'Read one event JSON object from FILE (`-` = stdin)')
            [CompletionResult]::new('--events', '--events', [CompletionResultType]::ParameterName, 'Newline-delimited events from FILE (`-` = stdin), one post each')
            [CompletionResult]::new('--on', '--on', [CompletionResultType]::ParameterName, 'Post only for these states or transitions (broken, still_failing, fixed, changes, failures; others: `filtered`)')
            [CompletionResult]::new('--remind-every', '--remind-every', [CompletionResultType]::ParameterName, 'Post a still-failing run only every N failures in a row (with or without --on)')
            [CompletionResult]::new('--text-template', '--text-template', [CompletionResultType]::ParameterName, 'Text line with {field} placeholders, e.g. "{emoji} {workflow}"')
            [CompletionResult]::new('--dedupe-ttl', '--dedupe-ttl', [CompletionResultType]::ParameterName, 'How long a delivered run+state is remembered')
            [CompletionResult]::new('--mention-on', '--mention-on', [CompletionResultType]::ParameterName, 'Mention the run''s actor and author (mapped by the config''s [people]) for these states or transitions, as --on [default: broken]')
            [CompletionResult]::new('--mention', '--mention', [CompletionResultType]::ParameterName, 'Also mention this Mattermost user (repeatable), under the same --mention-on gate')
            [CompletionResult]::new('--history-ttl', '--history-ttl', [CompletionResultType]::ParameterName, 'How long a job''s history (its streak) is kept after its last run')
            [CompletionResult]::new('--bot-file', '--bot-file', [CompletionResultType]::ParameterName, 'Secrets file: the server''s base URL, then a bot token (one post per run)')
            [CompletionResult]::new('--bot', '--bot', [CompletionResultType]::ParameterName, 'Use NAME.bot from the secrets directory')
            [CompletionResult]::new('--dedupe-store-file', '--dedupe-store-file', [CompletionResultType]::ParameterName, 'Secrets file: a shared store''s Redis URL')
            [CompletionResult]::new('--dedupe-store', '--dedupe-store', [CompletionResultType]::ParameterName, 'Shared dedupe store''s Redis URL, without a password')
            [CompletionResult]::new('--group', '--group', [CompletionResultType]::ParameterName, 'Consumer group (made when missing)')
            [CompletionResult]::new('--consumer', '--consumer', [CompletionResultType]::ParameterName, 'This gateway''s name in the group [default: HOST-PID]')
            [CompletionResult]::new('--claim-idle', '--claim-idle', [CompletionResultType]::ParameterName, 'Take over entries left unacknowledged this long')
            [CompletionResult]::new('--max-deliveries', '--max-deliveries', [CompletionResultType]::ParameterName, 'Tries of one entry before it goes to <stream>:dead')
            [CompletionResult]::new('--summary-every', '--summary-every', [CompletionResultType]::ParameterName, 'With --consume: log the counts so far this often (and at exit)')
            [CompletionResult]::new('--lease', '--lease', [CompletionResultType]::ParameterName, 'With --exclusive: how long the lease lasts unless renewed')
            [CompletionResult]::new('--metrics-file', '--metrics-file', [CompletionResultType]::ParameterName, 'With --consume: keep this Prometheus textfile (node_exporter) up to date')
            [CompletionResult]::new('--queue-file', '--queue-file', [CompletionResultType]::ParameterName, 'Secrets file holding the queue''s Redis URL')
            [CompletionResult]::new('--queue', '--queue', [CompletionResultType]::ParameterName, 'Queue''s Redis URL; a password goes in --queue-file or MMNOTIFY_QUEUE')
            [CompletionResult]::new('--stream', '--stream', [CompletionResultType]::ParameterName, 'Redis stream that carries the events')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Redis replicas that must confirm each write (WAIT) [default: 1 with a Sentinel URL, else 0]')
            [CompletionResult]::new('--username', '--username', [CompletionResultType]::ParameterName, 'Display name; ignored unless the admin enabled overrides')
            [CompletionResult]::new('--icon-url', '--icon-url', [CompletionResultType]::ParameterName, 'Avatar URL; ignored unless the server enabled icon overrides')
            [CompletionResult]::new('--icon-emoji', '--icon-emoji', [CompletionResultType]::ParameterName, 'Avatar emoji (`:rocket:`); ignored unless overrides are enabled')
            [CompletionResult]::new('--priority', '--priority', [CompletionResultType]::ParameterName, 'Post priority label')
            [CompletionResult]::new('--root-id', '--root-id', [CompletionResultType]::ParameterName, 'Post in this thread (the root post''s id); older servers ignore it')
            [CompletionResult]::new('--webhook-file', '--webhook-file', [CompletionResultType]::ParameterName, 'Secrets file holding the webhook URL')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Use NAME.url from the secrets directory')
            [CompletionResult]::new('--webhook', '--webhook', [CompletionResultType]::ParameterName, 'Use NAME.url from the secrets directory')
            [CompletionResult]::new('--secrets-dir', '--secrets-dir', [CompletionResultType]::ParameterName, 'Directory of NAME.url files')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Budget of one delivery, retries included')
            [CompletionResult]::new('--attempt-timeout', '--attempt-timeout', [CompletionResultType]::ParameterName, 'Longest wait of a single attempt')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Retries of network errors, 408, 429, 502, 503, 504')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Proxy for mmnotify alone, or `none`')
            [CompletionResult]::new('--ca-file', '--ca-file', [CompletionResultType]::ParameterName, 'Extra trusted root certificates (PEM)')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate chain (PEM) for mutual TLS')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) matching --client-cert')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'State dir [default: $XDG_STATE_HOME/mmnotify]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Outcome format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Outcome format')
            [CompletionResult]::new('--rate-limit', '--rate-limit', [CompletionResultType]::ParameterName, 'Cap on posts per webhook, N/s or N/min (shared through a Redis store)')
            [CompletionResult]::new('--rate-burst', '--rate-burst', [CompletionResultType]::ParameterName, 'Posts allowed at once under --rate-limit [default: N]')
            [CompletionResult]::new('--channel', '--channel', [CompletionResultType]::ParameterName, 'Channel (`name`) or direct message (`@user`); with a bot, TEAM/CHANNEL or a channel id')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file: routes, people, templates (see FILES in `man mmnotify`)')
            [CompletionResult]::new('--no-env', '--no-env', [CompletionResultType]::ParameterName, 'Do not fill missing fields from the CI environment')
            [CompletionResult]::new('--no-dedupe', '--no-dedupe', [CompletionResultType]::ParameterName, 'Post even if this run and state were already posted')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Print the payload, send nothing; checks a given webhook offline')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the payload, send nothing; checks a given webhook offline')
            [CompletionResult]::new('--enqueue', '--enqueue', [CompletionResultType]::ParameterName, 'Put the event on the Redis queue instead of posting it')
            [CompletionResult]::new('--consume', '--consume', [CompletionResultType]::ParameterName, 'Gateway: post the Redis queue''s events until SIGTERM; SIGHUP reads the webhook or bot file and the config again')
            [CompletionResult]::new('--drain', '--drain', [CompletionResultType]::ParameterName, 'With --consume: stop when nothing is left to take')
            [CompletionResult]::new('--exclusive', '--exclusive', [CompletionResultType]::ParameterName, 'With --consume: only the holder of the group''s lease consumes; others stand by')
            [CompletionResult]::new('--requested-ack', '--requested-ack', [CompletionResultType]::ParameterName, 'Ask recipients to acknowledge the post')
            [CompletionResult]::new('--no-system-roots', '--no-system-roots', [CompletionResultType]::ParameterName, 'Trust only the bundled roots and --ca-file, not the system store')
            [CompletionResult]::new('--no-spool', '--no-spool', [CompletionResultType]::ParameterName, 'Do not save undelivered messages in the spool')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print target (redacted), status, attempts and time on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print target (redacted), status, attempts and time on stderr')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Silence warnings')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Silence warnings')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mmnotify;run' {
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Task name in the report [default: the command line]')
            [CompletionResult]::new('--log-url', '--log-url', [CompletionResultType]::ParameterName, 'Link to the full log, shown in the report')
            [CompletionResult]::new('--tail', '--tail', [CompletionResultType]::ParameterName, 'Output lines kept for the report (stdout and stderr together)')
            [CompletionResult]::new('--max-runtime', '--max-runtime', [CompletionResultType]::ParameterName, 'Stop the command after this long: SIGTERM, then SIGKILL after --kill-grace')
            [CompletionResult]::new('--kill-grace', '--kill-grace', [CompletionResultType]::ParameterName, 'Time between SIGTERM and SIGKILL when --max-runtime is reached')
            [CompletionResult]::new('--on', '--on', [CompletionResultType]::ParameterName, 'Post only for these outcomes (comma-separated)')
            [CompletionResult]::new('--channel', '--channel', [CompletionResultType]::ParameterName, 'Channel (`name`) or direct message (`@user`) to post to')
            [CompletionResult]::new('--username', '--username', [CompletionResultType]::ParameterName, 'Display name; ignored unless the admin enabled overrides')
            [CompletionResult]::new('--icon-url', '--icon-url', [CompletionResultType]::ParameterName, 'Avatar URL; ignored unless the server enabled icon overrides')
            [CompletionResult]::new('--icon-emoji', '--icon-emoji', [CompletionResultType]::ParameterName, 'Avatar emoji (`:rocket:`); ignored unless overrides are enabled')
            [CompletionResult]::new('--priority', '--priority', [CompletionResultType]::ParameterName, 'Post priority label')
            [CompletionResult]::new('--root-id', '--root-id', [CompletionResultType]::ParameterName, 'Post in this thread (the root post''s id); older servers ignore it')
            [CompletionResult]::new('--card', '--card', [CompletionResultType]::ParameterName, 'Set props.card: Markdown shown in the post''s info panel')
            [CompletionResult]::new('--prop', '--prop', [CompletionResultType]::ParameterName, 'Set props.KEY to a JSON value (repeatable)')
            [CompletionResult]::new('--max-payload-bytes', '--max-payload-bytes', [CompletionResultType]::ParameterName, 'Largest JSON body in bytes (server default)')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour of the attachment''s side bar in Mattermost: good, warning, danger or #RRGGBB (it colours the attachment, not the terminal)')
            [CompletionResult]::new('--title', '--title', [CompletionResultType]::ParameterName, 'Attachment title')
            [CompletionResult]::new('--title-link', '--title-link', [CompletionResultType]::ParameterName, 'Link opened by the title')
            [CompletionResult]::new('--pretext', '--pretext', [CompletionResultType]::ParameterName, 'Text shown above the attachment')
            [CompletionResult]::new('--attachment-text', '--attachment-text', [CompletionResultType]::ParameterName, 'Attachment body (Markdown)')
            [CompletionResult]::new('--field', '--field', [CompletionResultType]::ParameterName, 'A field shown as a table row (repeatable)')
            [CompletionResult]::new('--field-short', '--field-short', [CompletionResultType]::ParameterName, 'A short field, shown side by side with others (repeatable)')
            [CompletionResult]::new('--footer', '--footer', [CompletionResultType]::ParameterName, 'Small text at the bottom of the attachment')
            [CompletionResult]::new('--image-url', '--image-url', [CompletionResultType]::ParameterName, 'Image shown in the attachment')
            [CompletionResult]::new('--thumb-url', '--thumb-url', [CompletionResultType]::ParameterName, 'Thumbnail shown on the right of the attachment')
            [CompletionResult]::new('--webhook-file', '--webhook-file', [CompletionResultType]::ParameterName, 'Secrets file holding the webhook URL')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Use NAME.url from the secrets directory')
            [CompletionResult]::new('--webhook', '--webhook', [CompletionResultType]::ParameterName, 'Use NAME.url from the secrets directory')
            [CompletionResult]::new('--secrets-dir', '--secrets-dir', [CompletionResultType]::ParameterName, 'Directory of NAME.url files')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Budget of one delivery, retries included')
            [CompletionResult]::new('--attempt-timeout', '--attempt-timeout', [CompletionResultType]::ParameterName, 'Longest wait of a single attempt')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Retries of network errors, 408, 429, 502, 503, 504')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Proxy for mmnotify alone, or `none`')
            [CompletionResult]::new('--ca-file', '--ca-file', [CompletionResultType]::ParameterName, 'Extra trusted root certificates (PEM)')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate chain (PEM) for mutual TLS')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) matching --client-cert')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'State dir [default: $XDG_STATE_HOME/mmnotify]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Outcome format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Outcome format')
            [CompletionResult]::new('--rate-limit', '--rate-limit', [CompletionResultType]::ParameterName, 'Cap on posts per webhook, N/s or N/min (shared through a Redis store)')
            [CompletionResult]::new('--rate-burst', '--rate-burst', [CompletionResultType]::ParameterName, 'Posts allowed at once under --rate-limit [default: N]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file: routes, people, templates (see FILES in `man mmnotify`)')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Exit with the notifier''s code when the report could not be posted')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Print the report, send nothing; checks a given webhook offline')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the report, send nothing; checks a given webhook offline')
            [CompletionResult]::new('--no-run-socket', '--no-run-socket', [CompletionResultType]::ParameterName, 'Do not offer the job MMNOTIFY_RUN_SOCKET, through which `mmnotify send` and `build` inside it post without the token')
            [CompletionResult]::new('--requested-ack', '--requested-ack', [CompletionResultType]::ParameterName, 'Ask recipients to acknowledge the post')
            [CompletionResult]::new('--no-system-roots', '--no-system-roots', [CompletionResultType]::ParameterName, 'Trust only the bundled roots and --ca-file, not the system store')
            [CompletionResult]::new('--no-spool', '--no-spool', [CompletionResultType]::ParameterName, 'Do not save undelivered messages in the spool')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print target (redacted), status, attempts and time on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print target (redacted), status, attempts and time on stderr')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Silence warnings')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Silence warnings')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mmnotify;probe' {
            [CompletionResult]::new('--text', '--text', [CompletionResultType]::ParameterName, 'Probe text [default: "mmnotify probe from HOST"]')
            [CompletionResult]::new('--webhook-file', '--webhook-file', [CompletionResultType]::ParameterName, 'Secrets file holding the webhook URL')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Use NAME.url from the secrets directory')
            [CompletionResult]::new('--webhook', '--webhook', [CompletionResultType]::ParameterName, 'Use NAME.url from the secrets directory')
            [CompletionResult]::new('--secrets-dir', '--secrets-dir', [CompletionResultType]::ParameterName, 'Directory of NAME.url files')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Budget of one delivery, retries included')
            [CompletionResult]::new('--attempt-timeout', '--attempt-timeout', [CompletionResultType]::ParameterName, 'Longest wait of a single attempt')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Proxy for mmnotify alone, or `none`')
            [CompletionResult]::new('--ca-file', '--ca-file', [CompletionResultType]::ParameterName, 'Extra trusted root certificates (PEM)')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate chain (PEM) for mutual TLS')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) matching --client-cert')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Outcome format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Outcome format')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file: routes, people, templates (see FILES in `man mmnotify`)')
            [CompletionResult]::new('--no-system-roots', '--no-system-roots', [CompletionResultType]::ParameterName, 'Trust only the bundled roots and --ca-file, not the system store')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print target (redacted), status, attempts and time on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print target (redacted), status, attempts and time on stderr')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Silence warnings')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Silence warnings')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mmnotify;doctor' {
            [CompletionResult]::new('--webhook-file', '--webhook-file', [CompletionResultType]::ParameterName, 'Secrets file holding the webhook URL')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Use NAME.url from the secrets directory')
            [CompletionResult]::new('--webhook', '--webhook', [CompletionResultType]::ParameterName, 'Use NAME.url from the secrets directory')
            [CompletionResult]::new('--secrets-dir', '--secrets-dir', [CompletionResultType]::ParameterName, 'Directory of NAME.url files')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Budget of one delivery, retries included')
            [CompletionResult]::new('--attempt-timeout', '--attempt-timeout', [CompletionResultType]::ParameterName, 'Longest wait of a single attempt')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Retries of network errors, 408, 429, 502, 503, 504')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Proxy for mmnotify alone, or `none`')
            [CompletionResult]::new('--ca-file', '--ca-file', [CompletionResultType]::ParameterName, 'Extra trusted root certificates (PEM)')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate chain (PEM) for mutual TLS')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) matching --client-cert')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Outcome format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Outcome format')
            [CompletionResult]::new('--queue-file', '--queue-file', [CompletionResultType]::ParameterName, 'Secrets file holding the queue''s Redis URL')
            [CompletionResult]::new('--queue', '--queue', [CompletionResultType]::ParameterName, 'Queue''s Redis URL; a password goes in --queue-file or MMNOTIFY_QUEUE')
            [CompletionResult]::new('--stream', '--stream', [CompletionResultType]::ParameterName, 'Redis stream that carries the events')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Redis replicas that must confirm each write (WAIT) [default: 1 with a Sentinel URL, else 0]')
            [CompletionResult]::new('--group', '--group', [CompletionResultType]::ParameterName, 'Consumer group whose consumers and pending entries to check (with a queue)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file: routes, people, templates (see FILES in `man mmnotify`)')
            [CompletionResult]::new('--no-system-roots', '--no-system-roots', [CompletionResultType]::ParameterName, 'Trust only the bundled roots and --ca-file, not the system store')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print target (redacted), status, attempts and time on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print target (redacted), status, attempts and time on stderr')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Silence warnings')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Silence warnings')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mmnotify;flush' {
            [CompletionResult]::new('--secrets-dir', '--secrets-dir', [CompletionResultType]::ParameterName, 'Directory of NAME.url files')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Budget of one delivery, retries included')
            [CompletionResult]::new('--attempt-timeout', '--attempt-timeout', [CompletionResultType]::ParameterName, 'Longest wait of a single attempt')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Retries of network errors, 408, 429, 502, 503, 504')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Proxy for mmnotify alone, or `none`')
            [CompletionResult]::new('--ca-file', '--ca-file', [CompletionResultType]::ParameterName, 'Extra trusted root certificates (PEM)')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate chain (PEM) for mutual TLS')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) matching --client-cert')
            [CompletionResult]::new('--rate-limit', '--rate-limit', [CompletionResultType]::ParameterName, 'Cap on posts per webhook, N/s or N/min (shared through a Redis store)')
            [CompletionResult]::new('--rate-burst', '--rate-burst', [CompletionResultType]::ParameterName, 'Posts allowed at once under --rate-limit [default: N]')
            [CompletionResult]::new('--queue-file', '--queue-file', [CompletionResultType]::ParameterName, 'Secrets file holding the queue''s Redis URL')
            [CompletionResult]::new('--queue', '--queue', [CompletionResultType]::ParameterName, 'Queue''s Redis URL; a password goes in --queue-file or MMNOTIFY_QUEUE')
            [CompletionResult]::new('--stream', '--stream', [CompletionResultType]::ParameterName, 'Redis stream that carries the events')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Redis replicas that must confirm each write (WAIT) [default: 1 with a Sentinel URL, else 0]')
            [CompletionResult]::new('--dedupe-store-file', '--dedupe-store-file', [CompletionResultType]::ParameterName, 'Secrets file: a shared store''s Redis URL')
            [CompletionResult]::new('--dedupe-store', '--dedupe-store', [CompletionResultType]::ParameterName, 'Shared dedupe store''s Redis URL, without a password')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'State dir [default: $XDG_STATE_HOME/mmnotify]')
            [CompletionResult]::new('--max-age', '--max-age', [CompletionResultType]::ParameterName, 'Move items first tried longer ago than this (e.g. 2d) to spool/rejected/ with the reason `expired` instead of posting them')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Outcome format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Outcome format')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file: routes, people, templates (see FILES in `man mmnotify`)')
            [CompletionResult]::new('--no-system-roots', '--no-system-roots', [CompletionResultType]::ParameterName, 'Trust only the bundled roots and --ca-file, not the system store')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print target (redacted), status, attempts and time on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print target (redacted), status, attempts and time on stderr')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Silence warnings')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Silence warnings')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mmnotify;webhooks' {
            [CompletionResult]::new('--secrets-dir', '--secrets-dir', [CompletionResultType]::ParameterName, 'Directory of NAME.url files')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Outcome format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Outcome format')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file: routes, people, templates (see FILES in `man mmnotify`)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print target (redacted), status, attempts and time on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print target (redacted), status, attempts and time on stderr')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Silence warnings')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Silence warnings')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mmnotify;spool' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file: routes, people, templates (see FILES in `man mmnotify`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'One line per spooled message: id, kind, age, attempts, last error, source')
            [CompletionResult]::new('drop', 'drop', [CompletionResultType]::ParameterValue, 'Remove spooled messages by id (as `spool list` shows them), or all of them')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mmnotify;spool;list' {
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'State dir [default: $XDG_STATE_HOME/mmnotify]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Outcome format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Outcome format')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file: routes, people, templates (see FILES in `man mmnotify`)')
            [CompletionResult]::new('--rejected', '--rejected', [CompletionResultType]::ParameterName, 'List spool/rejected/ instead, with the reason each item was set aside')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print target (redacted), status, attempts and time on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print target (redacted), status, attempts and time on stderr')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Silence warnings')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Silence warnings')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mmnotify;spool;drop' {
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'State dir [default: $XDG_STATE_HOME/mmnotify]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Outcome format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Outcome format')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file: routes, people, templates (see FILES in `man mmnotify`)')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Remove every item')
            [CompletionResult]::new('--rejected', '--rejected', [CompletionResultType]::ParameterName, 'Act on spool/rejected/ instead')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print target (redacted), status, attempts and time on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print target (redacted), status, attempts and time on stderr')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Silence warnings')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Silence warnings')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mmnotify;spool;help' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'One line per spooled message: id, kind, age, attempts, last error, source')
            [CompletionResult]::new('drop', 'drop', [CompletionResultType]::ParameterValue, 'Remove spooled messages by id (as `spool list` shows them), or all of them')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mmnotify;spool;help;list' {
            break
        }
        'mmnotify;spool;help;drop' {
            break
        }
        'mmnotify;spool;help;help' {
            break
        }
        'mmnotify;config' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file: routes, people, templates (see FILES in `man mmnotify`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Check the config file (trust rules, keys, routes, templates) and print its routes in the order an event meets them')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mmnotify;config;check' {
            [CompletionResult]::new('--secrets-dir', '--secrets-dir', [CompletionResultType]::ParameterName, 'Directory of NAME.url files')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file: routes, people, templates (see FILES in `man mmnotify`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mmnotify;config;help' {
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Check the config file (trust rules, keys, routes, templates) and print its routes in the order an event meets them')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mmnotify;config;help;check' {
            break
        }
        'mmnotify;config;help;help' {
            break
        }
        'mmnotify;completions' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file: routes, people, templates (see FILES in `man mmnotify`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mmnotify;help' {
            [CompletionResult]::new('send', 'send', [CompletionResultType]::ParameterValue, 'Post one message (text, attachment, props)')
            [CompletionResult]::new('build', 'build', [CompletionResultType]::ParameterValue, 'Post one build-status message from normalized CI fields, deduplicated')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run a command, then post its outcome (status, duration, output tail)')
            [CompletionResult]::new('probe', 'probe', [CompletionResultType]::ParameterValue, 'Post a test message, visible in the channel, and print HTTP status and latency (no retries)')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Check secret, URL, proxy, DNS, TCP and TLS without posting anything')
            [CompletionResult]::new('flush', 'flush', [CompletionResultType]::ParameterValue, 'Re-deliver messages saved in the spool after failed deliveries')
            [CompletionResult]::new('webhooks', 'webhooks', [CompletionResultType]::ParameterValue, 'List the named webhooks in the secrets directory: name, redacted target, and whether the file passes the rules')
            [CompletionResult]::new('spool', 'spool', [CompletionResultType]::ParameterValue, 'Show what the spool holds, or remove items from it')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Check the config file (routes, people, templates)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mmnotify;help;send' {
            break
        }
        'mmnotify;help;build' {
            break
        }
        'mmnotify;help;run' {
            break
        }
        'mmnotify;help;probe' {
            break
        }
        'mmnotify;help;doctor' {
            break
        }
        'mmnotify;help;flush' {
            break
        }
        'mmnotify;help;webhooks' {
            break
        }
        'mmnotify;help;spool' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'One line per spooled message: id, kind, age, attempts, last error, source')
            [CompletionResult]::new('drop', 'drop', [CompletionResultType]::ParameterValue, 'Remove spooled messages by id (as `spool list` shows them), or all of them')
            break
        }
        'mmnotify;help;spool;list' {
            break
        }
        'mmnotify;help;spool;drop' {
            break
        }
        'mmnotify;help;config' {
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Check the config file (trust rules, keys, routes, templates) and print its routes in the order an event meets them')
            break
        }
        'mmnotify;help;config;check' {
            break
        }
        'mmnotify;help;completions' {
            break
        }
        'mmnotify;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
