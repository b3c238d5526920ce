#!/bin/sh
# The GitHub Action's install step: keeps an mmnotify already on PATH (a self-hosted
# runner with the Debian package), else downloads a release asset when INPUT_VERSION
# names a published release, else builds this action's own checkout with cargo.
#
# Release assets are expected at
#   https://github.com/<owner>/<repo>/releases/download/v<VERSION>/mmnotify-<VERSION>-<target>.tar.gz
# with <target> x86_64-unknown-linux-musl or aarch64-unknown-linux-musl, next to a
# .sha256 file; no release is published yet, so today this builds from source.
set -eu

if command -v mmnotify >/dev/null 2>&1; then
    echo "mmnotify: using $(command -v mmnotify) ($(mmnotify --version | tr "\n" " " | sed "s/ $//"))"
    exit 0
fi

bin_dir="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/mmnotify-bin"
mkdir -p "$bin_dir"

if [ -n "${INPUT_VERSION:-}" ] && [ -n "${GITHUB_ACTION_REPOSITORY:-}" ]; then
    case "$(uname -m)" in
    x86_64) target=x86_64-unknown-linux-musl ;;
    aarch64 | arm64) target=aarch64-unknown-linux-musl ;;
    *) target= ;;
    esac
    if [ -n "$target" ]; then
        asset="mmnotify-${INPUT_VERSION}-${target}.tar.gz"
        base="${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_ACTION_REPOSITORY}/releases/download/v${INPUT_VERSION}"
        if curl -fsSL -o "$bin_dir/$asset" "$base/$asset" &&
            curl -fsSL -o "$bin_dir/$asset.sha256" "$base/$asset.sha256" &&
            (cd "$bin_dir" && sha256sum -c "$asset.sha256" >/dev/null); then
            tar -xzf "$bin_dir/$asset" -C "$bin_dir" mmnotify
            echo "$bin_dir" >>"$GITHUB_PATH"
            echo "mmnotify: installed release ${INPUT_VERSION} ($target)"
            exit 0
        fi
        echo "mmnotify: no release asset $asset; building from source" >&2
    fi
fi

# GITHUB_ACTION_PATH is this action's checkout: the crate itself, at the pinned ref.
cargo install --locked --root "$bin_dir" --path "${GITHUB_ACTION_PATH:?run this from action.yml}"
echo "$bin_dir/bin" >>"$GITHUB_PATH"
