#!/usr/bin/env bash
# Builds the Debian package with `cargo deb`, checks its contents, installs it on this
# machine, checks what it installed and what the maintainer scripts did (account,
# secrets directory, enabled timer, an administrator's secret kept across a reinstall),
# verifies the systemd units, then purges it and checks that only what Debian policy
# keeps is left (the system account). Needs root and dpkg; run by .ci/run.
# Idempotent: an installation left by an earlier run is purged first; any other
# installation stops the test (MMNOTIFY_PACKAGE_TEST_ALLOW_PURGE=1 lets it go).
set -euo pipefail
cd "$(dirname "$0")/.."

PKG=mmnotify
ACCOUNT=openclaw-notify
SECRETS_DIR=/etc/openclaw/secrets.d/mattermost
UNIT_DIR=/usr/lib/systemd/system
UNITS=(mmnotify-flush.service mmnotify-flush.timer mmnotify-gateway.service)

step() { printf '== package: %s\n' "$*"; }
fail() {
    printf 'package-test: FAIL: %s\n' "$*" >&2
    exit 1
}
quiet() { "$@" >/dev/null; }
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    "$@" || fail "$what"
    printf '  ok  %s\n' "$what"
}
phase_start=$SECONDS
phase_end() { printf '  (%ss)\n' "$((SECONDS - phase_start))"; phase_start=$SECONDS; }

[ "$(id -u)" = 0 ] || fail "needs root (it installs and purges the package with dpkg)"
command -v dpkg-deb >/dev/null || fail "dpkg-deb is missing: this test needs a Debian-based machine"
command -v cargo-deb >/dev/null || fail "cargo-deb is missing: cargo install cargo-deb --locked"

# Present from this test's first `dpkg -i` until its last purge: an installed package
# without it is someone's real installation, whose purge would delete its spool,
# deduplication records and /etc/default/mmnotify, and whose secrets directory the
# checks below would chmod. Such a machine is not a CI machine; stop before touching it.
MARKER=${MMNOTIFY_PACKAGE_TEST_MARKER:-/run/lock/mmnotify-package-test.installed}
if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -qv 'not-installed' &&
    [ ! -e "$MARKER" ] && [ "${MMNOTIFY_PACKAGE_TEST_ALLOW_PURGE:-}" != 1 ]; then
    fail "$PKG is installed on this machine, and not by this test: purging it would delete
  /var/lib/mmnotify (spool, deduplication records) and /etc/default/mmnotify. Run the test on
  a CI machine, or set MMNOTIFY_PACKAGE_TEST_ALLOW_PURGE=1 if that installation may go."
fi

# Two runs at once would fight over the dpkg database and the installed files.
exec 9>/run/lock/mmnotify-package-test.lock
flock -w 900 9 || fail "another package test holds /run/lock/mmnotify-package-test.lock"

apt_install() {
    step "installing $* (needed by the checks)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
command -v man >/dev/null || apt_install man-db
# The Debian systemd package provides systemd-analyze; `verify` works without systemd
# running as PID 1 (a container), which the negative control below demonstrates.
command -v systemd-analyze >/dev/null || apt_install systemd
if grep -rqs '^path-exclude=/usr/share/man' /etc/dpkg/dpkg.cfg.d/; then
    fail "dpkg is configured to drop man pages (/etc/dpkg/dpkg.cfg.d path-exclude); man -w cannot be checked"
fi

purge() {
    if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -qv 'not-installed'; then
        dpkg --purge "$PKG" >/dev/null
    fi
}

step "purging a previous installation"
purge
# A leftover from an aborted run (the administrator's secret planted below).
rm -f "$SECRETS_DIR/package-test.url"
[ -d "$SECRETS_DIR" ] && rmdir --ignore-fail-on-non-empty "$SECRETS_DIR" /etc/openclaw/secrets.d /etc/openclaw 2>/dev/null || true
phase_end

step "building the .deb (cargo deb --locked)"
deb=$(cargo deb --locked 2>/dev/null | tail -n 1)
[ -f "$deb" ] || fail "cargo deb did not print the package path (got '$deb')"
echo "  $deb"
phase_end

step "contents and permissions (dpkg-deb -c)"
contents=$(dpkg-deb -c "$deb")
# Every file with its mode, owner and path; nothing more, nothing less.
expected_files=$(
    cat <<'LIST'
-rw-r--r-- 0/0 ./etc/default/mmnotify
-rw-r--r-- 0/0 ./etc/mmnotify/config.toml
-rwxr-xr-x 0/0 ./usr/bin/mmnotify
-rw-r--r-- 0/0 ./usr/lib/systemd/system/mmnotify-flush.service
-rw-r--r-- 0/0 ./usr/lib/systemd/system/mmnotify-flush.timer
-rw-r--r-- 0/0 ./usr/lib/systemd/system/mmnotify-gateway.service
-rw-r--r-- 0/0 ./usr/share/bash-completion/completions/mmnotify
-rw-r--r-- 0/0 ./usr/share/doc/mmnotify/README.md
-rw-r--r-- 0/0 ./usr/share/doc/mmnotify/copyright
-rw-r--r-- 0/0 ./usr/share/fish/vendor_completions.d/mmnotify.fish
-rw-r--r-- 0/0 ./usr/share/zsh/vendor-completions/_mmnotify
LIST
)
# Man pages are generated from the CLI (one per subcommand): every one, gzipped.
for page in man/*.1; do
    expected_files+=$'\n'"-rw-r--r-- 0/0 ./usr/share/man/man1/$(basename "$page").gz"
done
actual_files=$(awk '$1 !~ /^d/ {print $1, $2, $6}' <<<"$contents" | sort)
if [ "$actual_files" != "$(sort <<<"$expected_files")" ]; then
    diff <(sort <<<"$expected_files") <(echo "$actual_files") >&2 || true
    fail "the package's files differ from the expected list (< expected, > actual)"
fi
printf '  ok  %s files with the expected modes, all root:root\n' "$(wc -l <<<"$actual_files")"
check "directories are 0755 root:root" \
    test -z "$(awk '$1 ~ /^d/ && ($1 != "drwxr-xr-x" || $2 != "0/0")' <<<"$contents")"
check "man pages are gzip data" \
    sh -c "dpkg-deb --fsys-tarfile '$deb' | tar -xOf - ./usr/share/man/man1/mmnotify.1.gz | gzip -t"

step "control data (dpkg-deb -I)"
info=$(dpkg-deb -I "$deb")
check "Package: $PKG" grep -q "^ Package: $PKG$" <<<"$info"
check "depends on adduser (postinst creates the account)" grep -qE '^ Depends:.*\badduser\b' <<<"$info"
check "/etc/default/mmnotify and /etc/mmnotify/config.toml are the conffiles" \
    test "$(dpkg-deb -I "$deb" conffiles | sort | tr '\n' ' ')" = "/etc/default/mmnotify /etc/mmnotify/config.toml "

for script in postinst postrm prerm; do
    check "$script is present and passes sh -n" sh -n <(dpkg-deb -I "$deb" "$script")
done
phase_end

step "installing (dpkg -i)"
: >"$MARKER"
dpkg -i "$deb" >/dev/null
check "dpkg reports it installed" \
    sh -c "dpkg-query -W -f='\${Status}' $PKG | grep -q 'install ok installed'"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
check "mmnotify -V prints $version" \
    test "$(mmnotify -V)" = "mmnotify $version"
check "mmnotify --version names $version, the commit and the TLS backend" \
    sh -c "mmnotify --version | head -n 1 | grep -qx 'mmnotify $version' &&
        mmnotify --version | grep -q '^commit: [0-9a-f]\\{7,\\}\$' &&
        mmnotify --version | grep -q '^TLS: rustls '"
check "mmnotify is /usr/bin/mmnotify" test "$(command -v mmnotify)" = /usr/bin/mmnotify
check "the shipped /etc/mmnotify/config.toml passes mmnotify config check" \
    sh -c "env -u XDG_CONFIG_HOME HOME=/nonexistent mmnotify config check | grep -qx 'config /etc/mmnotify/config.toml'"
check "man -w mmnotify finds the packaged page" \
    test "$(man -w mmnotify)" = /usr/share/man/man1/mmnotify.1.gz
check "man -w mmnotify-build finds the packaged page" \
    test "$(man -w mmnotify-build)" = /usr/share/man/man1/mmnotify-build.1.gz
check "system account $ACCOUNT exists" quiet getent passwd "$ACCOUNT"
check "group $ACCOUNT exists" quiet getent group "$ACCOUNT"
check "$ACCOUNT has no login shell" \
    test "$(getent passwd "$ACCOUNT" | cut -d: -f7)" = /usr/sbin/nologin
check "$ACCOUNT is a system account (uid < 1000)" \
    test "$(id -u "$ACCOUNT")" -lt 1000
check "$SECRETS_DIR is 750 root:$ACCOUNT" \
    test "$(stat -c '%a %U:%G %F' "$SECRETS_DIR")" = "750 root:$ACCOUNT directory"
check "mmnotify-flush.timer is enabled" \
    test -L /etc/systemd/system/timers.target.wants/mmnotify-flush.timer
check "mmnotify-gateway.service is not enabled (it needs a queue first)" \
    test ! -e /etc/systemd/system/multi-user.target.wants/mmnotify-gateway.service
phase_end

step "units (systemd-analyze verify)"
# A negative control first: verify must reject a broken unit here, or a pass means nothing.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
sed 's|^ExecStart=/usr/bin/mmnotify|ExecStart=/usr/bin/mmnotify-missing|' \
    "$UNIT_DIR/mmnotify-gateway.service" >"$scratch/mmnotify-gateway.service"
if systemd-analyze verify "$scratch/mmnotify-gateway.service" >/dev/null 2>&1; then
    fail "systemd-analyze verify accepts a unit whose ExecStart is missing: it cannot check anything here"
fi
echo "  ok  systemd-analyze verify rejects a broken unit (control)"
verify_out=$(cd "$UNIT_DIR" && systemd-analyze verify "${UNITS[@]}" 2>&1) ||
    fail "systemd-analyze verify: $verify_out"
# verify prints warnings (unknown settings, bad values) without failing.
[ -z "$verify_out" ] || fail "systemd-analyze verify warned: $verify_out"
echo "  ok  systemd-analyze verify ${UNITS[*]}: no errors, no warnings"
for unit in mmnotify-flush.service mmnotify-gateway.service; do
    for setting in User=$ACCOUNT Group=$ACCOUNT ProtectSystem=strict StateDirectory=mmnotify \
        StateDirectoryMode=0700 NoNewPrivileges=yes ProtectHome=yes PrivateTmp=yes \
        CapabilityBoundingSet= Environment=MMNOTIFY_STATE_DIR=/var/lib/mmnotify \
        EnvironmentFile=-/etc/default/mmnotify; do
        grep -qx "$setting" "$UNIT_DIR/$unit" || fail "$unit lacks $setting"
    done
done
echo "  ok  both services run as $ACCOUNT, hardened, state in /var/lib/mmnotify"
check "flush runs 'mmnotify flush -q'" grep -qx 'ExecStart=/usr/bin/mmnotify flush -q' "$UNIT_DIR/mmnotify-flush.service"
check "the timer fires every 2 minutes" grep -qx 'OnUnitActiveSec=2min' "$UNIT_DIR/mmnotify-flush.timer"
check "gateway runs 'mmnotify build --consume', Restart=on-failure" \
    sh -c "grep -qx 'ExecStart=/usr/bin/mmnotify build --consume' '$UNIT_DIR/mmnotify-gateway.service' &&
           grep -qx 'Restart=on-failure' '$UNIT_DIR/mmnotify-gateway.service'"
phase_end

step "reinstall keeps an administrator's secrets and settings"
secret="$SECRETS_DIR/package-test.url"
install -m 0440 -o root -g "$ACCOUNT" /dev/null "$secret"
printf '# planted by package-test.sh\nhttps://chat.example.com/hooks/%s\n' "$(printf 'a%.0s' {1..26})" >"$secret"
chmod 0710 "$SECRETS_DIR" # an administrator's choice, not the package's
echo 'MMNOTIFY_WEBHOOK=package-test' >>/etc/default/mmnotify
# What systemd's StateDirectory= would have created, with a spool item.
install -d -m 0700 -o "$ACCOUNT" -g "$ACCOUNT" /var/lib/mmnotify /var/lib/mmnotify/spool
install -m 0600 -o "$ACCOUNT" -g "$ACCOUNT" /dev/null /var/lib/mmnotify/spool/item.json
before=$(stat -c '%a %U:%G %s %Y' "$secret" "$SECRETS_DIR"; sha256sum "$secret")
dpkg -i "$deb" >/dev/null
check "the secret and its directory are unchanged" \
    test "$(stat -c '%a %U:%G %s %Y' "$secret" "$SECRETS_DIR"; sha256sum "$secret")" = "$before"
check "the edited /etc/default/mmnotify is kept" grep -qx 'MMNOTIFY_WEBHOOK=package-test' /etc/default/mmnotify
check "the state directory is kept" test -f /var/lib/mmnotify/spool/item.json
dpkg --remove "$PKG" >/dev/null
check "remove (not purge) keeps the conffile, state and secret" \
    sh -c "test -f /etc/default/mmnotify && test -f /var/lib/mmnotify/spool/item.json && test -f '$secret'"
dpkg -i "$deb" >/dev/null
phase_end

step "purge (dpkg --purge)"
dpkg --purge "$PKG" >/dev/null
check "the administrator's secret survives the purge" test -f "$secret"
rm -f "$secret"
rmdir "$SECRETS_DIR" /etc/openclaw/secrets.d /etc/openclaw
# Once more with nothing of the administrator's: the purge must leave no trace.
dpkg -i "$deb" >/dev/null
install -d -m 0700 -o "$ACCOUNT" -g "$ACCOUNT" /var/lib/mmnotify
dpkg --purge "$PKG" >/dev/null
check "dpkg no longer knows the package" \
    sh -c "! dpkg-query -W -f='\${Status}' $PKG 2>/dev/null | grep -q installed"
rm -f "$MARKER"
leftovers=$(find /etc /usr /var/lib /run/systemd 2>/dev/null \
    \( -name '*mmnotify*' -o -name '*openclaw*' \) -print || true)
[ -z "$leftovers" ] || fail "left after purge: $leftovers"
echo "  ok  no file named *mmnotify* or *openclaw* under /etc /usr /var/lib"
check "/etc/openclaw (created by postinst) is gone" test ! -e /etc/openclaw
check "/var/lib/mmnotify is gone" test ! -e /var/lib/mmnotify
check "the timer's enable link is gone" test ! -e /etc/systemd/system/timers.target.wants/mmnotify-flush.timer
# Debian keeps system accounts on purge: files elsewhere may still belong to them.
check "account $ACCOUNT is kept (Debian policy for system users)" quiet getent passwd "$ACCOUNT"
phase_end

echo "== package: all checks passed in ${SECONDS}s"
