//! `--exclusive`: the gateways of a group hold one lease in Redis, and only the holder
//! consumes. The lease is `SET key "<token> <since ms> <holder>" NX PX <lease>`; the
//! token is random and known only to the process that took it, so renewing and releasing
//! compare the whole value in a script: a holder whose lease expired and was taken never
//! extends or deletes the new holder's, and a value someone else wrote (a forged lease)
//! is never ours to touch. `since` is the Redis server's clock, as is the `held for` that
//! [`owner`] reports, so the gateways' clocks never enter it.

use std::time::Duration;

use anyhow::Result;
use redis::Script;

use crate::gateway::client::Redis;

const PREFIX: &str = "mmnotify:lease:";
/// A holder name longer than this is cut (it is only shown by `doctor`).
const MAX_HOLDER: usize = 128;

/// The longest lease a gateway takes: `--lease` is at most a day (`cli/parse.rs`, which
/// may not import this layer). A key that expires later was not written by a gateway.
const MAX_LEASE: Duration = Duration::from_secs(86_400);

/// Takes the lease if free. KEYS: lease. ARGV: token, holder, PX, the longest lease (ms).
/// Returns the value written, or nil when another holds it. A key no mmnotify wrote, one
/// without an expiry, expiring later than any lease, or of another type (forged, or
/// left by hand), would hold every gateway on standby for good (or for years): it is
/// not a lease, and is replaced.
const ACQUIRE: &str = r"
if redis.replicate_commands then redis.replicate_commands() end
local kind = redis.call('TYPE', KEYS[1])
if type(kind) == 'table' then kind = kind['ok'] end
local ttl = redis.call('PTTL', KEYS[1])
if (kind ~= 'none' and kind ~= 'string') or ttl == -1 or ttl > tonumber(ARGV[4]) then
  redis.call('DEL', KEYS[1])
end
local t = redis.call('TIME')
local since = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local value = ARGV[1] .. ' ' .. string.format('%.0f', since) .. ' ' .. ARGV[2]
if redis.call('SET', KEYS[1], value, 'NX', 'PX', ARGV[3]) then
  return value
end
return false";

/// Extends the lease if it is still exactly ours. KEYS: lease. ARGV: value, PX.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0";

/// Deletes the lease if it is still exactly ours. KEYS: lease. ARGV: value.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0";

/// The lease's value (its first KiB: ours are shorter, and a forged one of 100 MB must
/// not be read by every standby at every turn), its time to live, the server's clock
/// and the key's type, for `doctor` and a standby's notice. A key of another type is not
/// read (`GET` would fail with `WRONGTYPE`).
const OWNER: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local kind = redis.call('TYPE', KEYS[1])
if type(kind) == 'table' then kind = kind['ok'] end
local value = ''
if kind == 'string' then value = redis.call('GETRANGE', KEYS[1], 0, 1023) end
return {value, redis.call('PTTL', KEYS[1]), string.format('%.0f', now), kind}";

/// The Redis key of the lease of a group of gateways: `<stream>:<group>`.
pub(crate) fn group_lease_key(stream: &str, group: &str) -> String {
    lease_key(&format!("{stream}:{group}"))
}

/// The Redis key of the lease of `name` (the stream and group it guards).
pub(crate) fn lease_key(name: &str) -> String {
    format!("{PREFIX}{name}")
}

/// A lease this process holds.
#[derive(Debug, Clone)]
pub(crate) struct Lease {
    key: String,
    /// The exact value written, token included: renewing and releasing compare it.
    value: String,
}

/// Who holds a lease, as `doctor` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    /// The holder's name as it gave it (printable characters only, cut to 128).
    pub holder: String,
    /// How long it has held the lease (None when the value is not one of ours).
    pub held_for: Option<Duration>,
    /// Time left before the lease expires unless renewed.
    pub expires_in: Duration,
}

/// Takes the lease `key` for `ttl` unless another holds it. `holder` names this process
/// for `doctor` (e.g. `host:pid`).
pub(crate) fn acquire(
    redis: &mut Redis,
    key: &str,
    holder: &str,
    ttl: Duration,
) -> Result<Option<Lease>> {
    let token = new_token();
    let value: Option<String> = redis.run("cannot take the --exclusive lease", |con| {
        Script::new(ACQUIRE)
            .key(key)
            .arg(&token)
            .arg(clean_holder(holder))
            .arg(px(ttl))
            .arg(px(MAX_LEASE))
            .invoke(con)
    })?;
    Ok(value.map(|value| Lease {
        key: key.to_string(),
        value,
    }))
}

impl Lease {
    /// Extends the lease to `ttl` from now. False: it is no longer ours (it expired, and
    /// maybe another took it); stop consuming, and `acquire` again to stand by.
    pub(crate) fn renew(&self, redis: &mut Redis, ttl: Duration) -> Result<bool> {
        let n: i64 = redis.run("cannot renew the --exclusive lease", |con| {
            Script::new(RENEW)
                .key(&self.key)
                .arg(&self.value)
                .arg(px(ttl))
                .invoke(con)
        })?;
        Ok(n == 1)
    }

    /// Gives the lease up at once (SIGTERM), so a standby takes over without waiting
    /// for it to expire. False: it was no longer ours, and nothing was deleted.
    pub(crate) fn release(self, redis: &mut Redis) -> Result<bool> {
        let n: i64 = redis.run("cannot release the --exclusive lease", |con| {
            Script::new(RELEASE)
                .key(&self.key)
                .arg(&self.value)
                .invoke(con)
        })?;
        Ok(n == 1)
    }
}

/// The current holder of `key`, or None when nobody holds it. A key no gateway could
/// have written (another type, or no expiry) is a config-kind error naming the fix: the
/// gateways replace it when they next try to take the lease, but someone put it there.
pub(crate) fn owner(redis: &mut Redis, key: &str) -> Result<Option<Owner>> {
    // The value as bytes: a forged one need not be UTF-8 (it is shown cleaned).
    let (value, pttl, now, kind): (Vec<u8>, i64, String, String) = redis
        .run("cannot read the --exclusive lease", |con| {
            Script::new(OWNER).key(key).invoke(con)
        })?;
    let forged = |what: String| {
        crate::error::config(format!(
            "the --exclusive lease key {key} holds {what}: not a lease (a gateway writes a \
             string that expires), so it was forged or left by hand; --exclusive gateways \
             replace it when they next try to take the lease; delete it with: redis-cli DEL \
             {key}"
        ))
    };
    if kind != "string" && kind != "none" {
        // The type is Redis's own word (hash, list, set, zset, stream), not the forger's.
        let kind = clean_holder(&kind);
        let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        return Err(forged(format!("{article} {kind}")));
    }
    if value.is_empty() || pttl == -2 {
        return Ok(None);
    }
    if pttl == -1 {
        return Err(forged("a value with no expiry".into()));
    }
    if u64::try_from(pttl).is_ok_and(|ms| ms > px(MAX_LEASE)) {
        return Err(forged(format!(
            "a value that expires in {} s, later than any lease can (--lease is at most a \
             day)",
            pttl / 1000
        )));
    }
    let value = String::from_utf8_lossy(&value);
    let now: Option<u64> = now.parse().ok();
    // `<token> <since> <holder>`; anything else was not written by mmnotify and is shown
    // as it is (cleaned), without a duration.
    let mut parts = value.splitn(3, ' ');
    let (token, since, holder) = (parts.next(), parts.next(), parts.next());
    let ours = token.is_some_and(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()));
    let since: Option<u64> = since.and_then(|s| s.parse().ok());
    let (holder, held_for) = match (ours, since, holder) {
        (true, Some(since), Some(holder)) => (
            clean_holder(holder),
            now.and_then(|n| n.checked_sub(since))
                .map(Duration::from_millis),
        ),
        _ => (clean_holder(&value), None),
    };
    Ok(Some(Owner {
        holder,
        held_for,
        expires_in: Duration::from_millis(u64::try_from(pttl).unwrap_or(0)),
    }))
}

/// Printable characters only (a holder name is shown on a terminal by `doctor`, and a
/// forged one could hold escape sequences), cut to [`MAX_HOLDER`].
fn clean_holder(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_control() || is_bidi_or_invisible(c) {
                '?'
            } else {
                c
            }
        })
        .take(MAX_HOLDER)
        .collect();
    if cleaned.is_empty() {
        "?".into()
    } else {
        cleaned
    }
}

/// Characters that reorder or hide text on a terminal (bidirectional overrides and
/// isolates, zero-width characters): a forged holder name could make `doctor`'s line say
/// something else than it holds.
fn is_bidi_or_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

fn px(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// 128 random bits in hex, the dedupe claims' holder token: the proof that a lease is
/// ours.
fn new_token() -> String {
    crate::gateway::store::holder_token()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::client::test_client;
    use crate::gateway::test_sentinel::{wait_for, Node};

    const LONG: Duration = Duration::from_secs(60);

    #[test]
    fn one_holder_at_a_time_and_release_hands_over_at_once() {
        let Some(node) = Node::start("one_holder_at_a_time") else {
            return;
        };
        let key = lease_key("builds:gateways");
        let (mut a, mut b) = (test_client(&node.url()), test_client(&node.url()));
        let lease = acquire(&mut a, &key, "host-a:11", LONG).unwrap().unwrap();
        assert!(acquire(&mut b, &key, "host-b:22", LONG).unwrap().is_none());
        assert!(
            acquire(&mut a, &key, "host-a:11", LONG).unwrap().is_none(),
            "not twice"
        );
        let o = owner(&mut b, &key).unwrap().unwrap();
        assert_eq!(o.holder, "host-a:11");
        assert!(o.held_for.unwrap() < LONG, "{o:?}");
        assert!(o.expires_in > Duration::from_secs(50), "{o:?}");
        assert!(lease.renew(&mut a, LONG).unwrap());
        // SIGTERM: released, and the standby takes it on its next try.
        assert!(lease.release(&mut a).unwrap());
        assert!(owner(&mut b, &key).unwrap().is_none());
        let lease_b = acquire(&mut b, &key, "host-b:22", LONG).unwrap().unwrap();
        assert_eq!(owner(&mut a, &key).unwrap().unwrap().holder, "host-b:22");
        assert!(lease_b.release(&mut b).unwrap());
    }

    #[test]
    fn an_expired_lease_is_taken_over_and_its_old_holder_cannot_touch_it() {
        let Some(node) = Node::start("an_expired_lease_is_taken_over") else {
            return;
        };
        let key = lease_key("builds:gateways");
        let (mut a, mut b) = (test_client(&node.url()), test_client(&node.url()));
        // A holder that dies (or stalls) stops renewing; its lease runs out.
        let stale = acquire(&mut a, &key, "host-a", Duration::from_millis(200))
            .unwrap()
            .unwrap();
        let taken = wait_for("the standby takes the expired lease", || {
            acquire(&mut b, &key, "host-b", LONG).unwrap()
        });
        // The old holder wakes up: it can neither extend nor delete the new lease.
        assert!(!stale.renew(&mut a, LONG).unwrap());
        assert!(!stale.release(&mut a).unwrap());
        let o = owner(&mut a, &key).unwrap().unwrap();
        assert_eq!(o.holder, "host-b");
        assert!(taken.renew(&mut b, LONG).unwrap());
    }

    #[test]
    fn a_forged_lease_is_never_renewed_or_released_by_us() {
        let Some(node) = Node::start("a_forged_lease_is_never_renewed") else {
            return;
        };
        let key = lease_key("builds:gateways");
        let mut a = test_client(&node.url());
        let lease = acquire(&mut a, &key, "host-a", LONG).unwrap().unwrap();
        let token = lease.value.split(' ').next().unwrap().to_string();
        // Someone with write access replaces the value, even reusing our token (which it
        // could read) with another holder or time: not ours any more.
        for forged in [
            format!("{token} 1 mallory"),
            format!("{} ", lease.value),
            "ffffffffffffffffffffffffffffffff 1 \x1b[31mroot\x1b[0m\nnext".to_string(),
        ] {
            let _: () = node.query(&["SET", &key, &forged, "PX", "60000"]);
            assert!(!lease.renew(&mut a, Duration::from_secs(600)).unwrap());
            let ttl: i64 = node.query(&["PTTL", &key]);
            assert!(ttl <= 60_000, "renewed a forged lease: {ttl}");
            let value: String = node.query(&["GET", &key]);
            assert_eq!(value, forged);
        }
        // The forged holder name is shown cleaned: no escape sequence, no new line.
        let o = owner(&mut a, &key).unwrap().unwrap();
        assert_eq!(o.holder, "?[31mroot?[0m?next");
        assert!(
            o.held_for.unwrap() > Duration::from_secs(3600),
            "since 1970"
        );
        // A value not in our shape at all is shown as is, without a duration.
        let _: () = node.query(&["SET", &key, "someone else", "PX", "60000"]);
        let o = owner(&mut a, &key).unwrap().unwrap();
        assert_eq!((o.holder.as_str(), o.held_for), ("someone else", None));
        assert!(!lease.release(&mut a).unwrap());
        let value: String = node.query(&["GET", &key]);
        assert_eq!(value, "someone else");
    }

    #[test]
    fn holder_names_are_printable_and_bounded() {
        assert_eq!(clean_holder("gw-1:42"), "gw-1:42");
        assert_eq!(clean_holder("a\u{7}b\u{9b}c"), "a?b?c");
        assert_eq!(clean_holder(""), "?");
        assert_eq!(clean_holder("gw\u{202E}1-wg\u{200B}\u{2066}"), "gw?1-wg??");
        assert_eq!(clean_holder(&"x".repeat(500)).len(), MAX_HOLDER);
        let t = new_token();
        assert_eq!(t.len(), 32);
        assert_ne!(t, new_token());
    }
}
