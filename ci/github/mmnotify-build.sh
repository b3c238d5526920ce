#!/bin/sh
# The GitHub Action's post step (action.yml runs this file; tests/recipes.rs runs it with
# a runner's variables). mmnotify fills the run id, link, branch, commit, workflow and
# repository from GITHUB_*; this script only turns the action's inputs into flags.
# The webhook URL arrives in MATTERMOST_WEBHOOK_URL and is never put on a command line.
set -eu

# job.status says success/failure/cancelled; mmnotify's states are also accepted as is.
case "${INPUT_STATE:-}" in
success | succeeded) state=succeeded ;;
failure | failed) state=failed ;;
cancelled | canceled) state=cancelled ;;
timed_out) state=timed_out ;;
*)
    echo "mmnotify action: input 'state' is '${INPUT_STATE:-}'; pass \${{ job.status }} or one of succeeded, failed, cancelled, timed_out" >&2
    exit 2
    ;;
esac

if [ -z "${MATTERMOST_WEBHOOK_URL:-}" ]; then
    echo "mmnotify action: input 'webhook-url' is empty; set it from a secret (secrets are not passed to workflows run from forks)" >&2
    exit 3
fi

set -- build --state "$state"
# The runner's name says more than a hosted runner's random host name.
if [ -n "${RUNNER_NAME:-}" ]; then set -- "$@" --node "$RUNNER_NAME"; fi
if [ -n "${INPUT_ON:-}" ]; then set -- "$@" --on "$INPUT_ON"; fi
if [ -n "${INPUT_TEXT_TEMPLATE:-}" ]; then set -- "$@" --text-template "$INPUT_TEXT_TEMPLATE"; fi
if [ -n "${INPUT_CHANNEL:-}" ]; then set -- "$@" --channel "$INPUT_CHANNEL"; fi

exec mmnotify "$@"
