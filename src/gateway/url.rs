//! The Redis URL is a credential like the webhook: [`RedisUrl`] prints as
//! `redis://user:…@host:port/db`, and the URL with its password is reachable only through
//! [`RedisUrl::expose`], which the client calls to connect.
//!
//! A Sentinel URL (`redis+sentinel://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT]…/MASTER[/DB]`,
//! `rediss+sentinel://` for TLS to the data nodes) names the Sentinels to ask and the
//! master group; its credentials are the data nodes', never sent to the Sentinels.

use std::fmt;
use std::path::PathBuf;

use anyhow::Result;

use crate::error::{self, ExitKind};
use crate::secret::{self, SourceRef};

/// A `redis://` or `rediss://` URL whose Display and Debug are redacted.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RedisUrl {
    full: String,
    tls: bool,
    user: Option<String>,
    password: Option<String>,
    /// `redis://PASSWORD@host`: shown as written, `redis://…@host`.
    bare_password: bool,
    /// For a Sentinel URL: the first Sentinel (the rest are in `sentinel`).
    host: String,
    port: u16,
    db: u32,
    sentinel: Option<SentinelAddrs>,
}

/// The Sentinels of a `redis+sentinel://` URL and the master group they watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SentinelAddrs {
    /// Host (lower case, IPv6 without brackets) and port of each Sentinel, as written.
    pub hosts: Vec<(String, u16)>,
    /// The name in `sentinel monitor NAME …`.
    pub master: String,
}

/// The Sentinel port when a host has none (Redis' own default for `--sentinel`).
const SENTINEL_PORT: u16 = 26379;
/// More Sentinels than any deployment runs; a longer list is a mistake (or an attack
/// making every connection walk it).
const MAX_SENTINELS: usize = 16;

impl RedisUrl {
    /// Checks the shape of the contract; errors never repeat the URL, which may hold the
    /// password.
    pub(crate) fn parse(raw: &str) -> Result<RedisUrl> {
        let raw = raw.trim();
        let bad = |why: &str| error::config(format!("malformed Redis URL: {why}"));
        let (tls, sentinel, rest) = if let Some(r) = raw.strip_prefix("rediss://") {
            (true, false, r)
        } else if let Some(r) = raw.strip_prefix("redis://") {
            (false, false, r)
        } else if let Some(r) = raw.strip_prefix("rediss+sentinel://") {
            (true, true, r)
        } else if let Some(r) = raw.strip_prefix("redis+sentinel://") {
            (false, true, r)
        } else {
            return Err(bad(
                "it must start with redis://, rediss://, redis+sentinel:// or \
                 rediss+sentinel://, e.g. redis://gateway-redis:6379/0",
            ));
        };
        if raw.contains(char::is_whitespace) {
            return Err(bad("it contains white space"));
        }
        if rest.contains('?') || rest.contains('#') {
            return Err(bad("a query or fragment is not supported"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        // The password may contain `@`: the host starts after the last one.
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        // Userinfo without a colon is the password, as redis-cli reads `-u` (and as
        // users mean it): taken for a user name it would be shown and allowed on the
        // command line, and the server would still ask for the password.
        // So is `PASSWORD:` (an empty password after it): a user name with no password
        // authenticates nobody, and shown as one it would print the password.
        let userinfo = userinfo.map(|info| match info.split_once(':') {
            Some((u, "")) if !u.is_empty() => u,
            _ => info,
        });
        let bare_password = userinfo.is_some_and(|info| !info.contains(':') && !info.is_empty());
        let (user, password) = match userinfo {
            Some(info) => match info.split_once(':') {
                Some((u, p)) => (
                    Some(u.to_string()).filter(|u| !u.is_empty()),
                    Some(p.to_string()).filter(|p| !p.is_empty()),
                ),
                None => (None, Some(info.to_string()).filter(|p| !p.is_empty())),
            },
            None => (None, None),
        };
        let (host, port, db, sentinel) = if sentinel {
            let (addrs, db) = parse_sentinel(hostport, path).map_err(|why| bad(&why))?;
            let (h, p) = addrs.hosts[0].clone();
            (h, p, db, Some(addrs))
        } else {
            let (host, port) = split_host_port(hostport, 6379).map_err(|why| bad(&why))?;
            (host, port, parse_db(path).map_err(|why| bad(&why))?, None)
        };
        Ok(RedisUrl {
            full: raw.to_string(),
            tls,
            user,
            password,
            bare_password,
            host,
            port,
            db,
            sentinel,
        })
    }

    /// The Sentinels and master name of a `redis+sentinel://` URL.
    pub(crate) fn sentinel(&self) -> Option<&SentinelAddrs> {
        self.sentinel.as_ref()
    }

    /// The URL as given, password included: only for the run socket, which hands a
    /// job's dedupe store to the `mmnotify run` around it (same user, never printed).
    pub(crate) fn expose(&self) -> &str {
        &self.full
    }

    /// The user name, percent-decoded.
    pub(crate) fn user(&self) -> Option<String> {
        self.user.as_deref().map(percent_decode)
    }

    /// The password, percent-decoded, for the Redis client only (like [`Self::expose`]).
    pub(crate) fn expose_password(&self) -> Option<String> {
        self.password.as_deref().map(percent_decode)
    }

    pub(crate) fn db(&self) -> u32 {
        self.db
    }

    pub(crate) fn has_password(&self) -> bool {
        self.password.is_some()
    }

    pub(crate) fn is_tls(&self) -> bool {
        self.tls
    }

    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// `redis://user:…@host:port/db`: the password never shows, not even its length.
    pub(crate) fn redacted(&self) -> String {
        let scheme = match (self.tls, self.sentinel.is_some()) {
            (false, false) => "redis",
            (true, false) => "rediss",
            (false, true) => "redis+sentinel",
            (true, true) => "rediss+sentinel",
        };
        let auth = match (&self.user, &self.password) {
            (Some(u), Some(_)) => format!("{u}:…@"),
            (None, Some(_)) if self.bare_password => "…@".to_string(),
            (None, Some(_)) => ":…@".to_string(),
            (Some(u), None) => format!("{u}@"),
            (None, None) => String::new(),
        };
        match &self.sentinel {
            None => format!("{scheme}://{auth}{}:{}/{}", self.host, self.port, self.db),
            Some(s) => {
                let hosts = s
                    .hosts
                    .iter()
                    .map(|(h, p)| {
                        if h.contains(':') {
                            format!("[{h}]:{p}")
                        } else {
                            format!("{h}:{p}")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                format!("{scheme}://{auth}{hosts}/{}/{}", s.master, self.db)
            }
        }
    }

    /// Removes the URL and the password from text that came from elsewhere (library
    /// errors). A password of a few characters would match ordinary words, and the
    /// library never quotes it, so only the whole URL is replaced then.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.replace(&self.full, &self.redacted());
        if let Some(p) = &self.password {
            if p.len() >= 4 {
                out = out.replace(p.as_str(), "…");
                let decoded = percent_decode(p);
                if decoded.len() >= 4 {
                    out = out.replace(&decoded, "…");
                }
            }
        }
        out
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({})", self.redacted())
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        // Hex digits are read as bytes: slicing the str could cut a multi-byte
        // character, and the panic message would quote the password.
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(hi), Some(lo)) = (hex_digit(b[i + 1]), hex_digit(b[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn parse_db(path: &str) -> std::result::Result<u32, String> {
    if path.is_empty() {
        return Ok(0);
    }
    path.parse::<u32>()
        .map_err(|_| "the path must be a database number, e.g. /0".to_string())
}

/// `HOST:PORT[,HOST:PORT]…` and `MASTER[/DB]` of a Sentinel URL. Hosts keep IPv6
/// brackets out (the library takes bare addresses).
fn parse_sentinel(hosts: &str, path: &str) -> std::result::Result<(SentinelAddrs, u32), String> {
    if hosts.is_empty() {
        return Err(
            "it names no Sentinel, e.g. redis+sentinel://s1:26379,s2:26379/mymaster".into(),
        );
    }
    let mut addrs = Vec::new();
    for one in hosts.split(',') {
        if one.is_empty() {
            return Err(
                "the Sentinel list has an empty entry (two commas, or a trailing one)".into(),
            );
        }
        let (h, p) = split_host_port(one, SENTINEL_PORT)?;
        let h = h.trim_start_matches('[').trim_end_matches(']').to_string();
        if !addrs.contains(&(h.clone(), p)) {
            addrs.push((h, p));
        }
    }
    if addrs.len() > MAX_SENTINELS {
        return Err(format!("it names more than {MAX_SENTINELS} Sentinels"));
    }
    let (master, db) = match path.split_once('/') {
        Some((m, db)) => (m, parse_db(db)?),
        None => (path, 0),
    };
    if master.is_empty() {
        return Err(
            "it names no master group after the Sentinels, e.g. /mymaster or /mymaster/0".into(),
        );
    }
    // Sentinel accepts almost any name, but it goes into commands and log lines:
    // keeping it to a host-name alphabet keeps both unambiguous.
    if master.len() > 128
        || !master
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err("the master name may only have letters, digits, `.`, `-` and `_`".into());
    }
    Ok((
        SentinelAddrs {
            hosts: addrs,
            master: master.to_string(),
        },
        db,
    ))
}

fn split_host_port(
    hostport: &str,
    default_port: u16,
) -> std::result::Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let end = rest.find(']').ok_or("unbalanced [ in the host")?;
        let after = &rest[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err("unexpected text after the IPv6 host".into()),
        };
        (&hostport[..end + 2], port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err("it has no host".into());
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'[' | b']' | b':'))
    {
        return Err("the host contains characters a host name cannot have".into());
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or("the port is not a number from 1 to 65535")?,
        None => default_port,
    };
    Ok((host.to_ascii_lowercase(), port))
}

/// What a Redis URL is for: the event queue or the shared dedupe store. Each has its own
/// flags and variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Queue,
    Store,
}

impl Role {
    fn flags(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Role::Queue => (
                "--queue-file",
                "MMNOTIFY_QUEUE_FILE",
                "--queue",
                "MMNOTIFY_QUEUE",
            ),
            Role::Store => (
                "--dedupe-store-file",
                "MMNOTIFY_DEDUPE_STORE_FILE",
                "--dedupe-store",
                "MMNOTIFY_DEDUPE_STORE",
            ),
        }
    }

    /// The variable that holds the URL itself.
    pub(crate) fn env_var(self) -> &'static str {
        self.flags().3
    }
}

/// Where a Redis URL came from. Spool items record it (never the URL) so that `flush`
/// can find the same Redis again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RedisSource {
    File(PathBuf),
    Env,
    /// `--queue URL` / `--dedupe-store URL` (only without a password).
    Flag,
}

impl RedisSource {
    /// `file:PATH` (absolute), `env` or `flag`.
    pub(crate) fn spool_ref(&self) -> String {
        match self {
            RedisSource::File(p) => SourceRef::file(p),
            RedisSource::Env => SourceRef::Env,
            RedisSource::Flag => SourceRef::Flag,
        }
        .to_string()
    }

    /// Whether `reference` is one [`RedisSource::spool_ref`] makes. A run socket's peer
    /// hands its store's source over as text, and it is saved in the spool and quoted by
    /// `flush`: anything else (a URL with its password, a hook URL in a path) would go to
    /// disk and to the terminal as it is.
    pub(crate) fn is_spool_ref(reference: &str) -> bool {
        match reference.strip_prefix("file:") {
            Some(path) => {
                path.starts_with('/')
                    && !path.contains(char::is_control)
                    && secret::refuse_url_as_path(std::ffi::OsStr::new(path), "").is_ok()
                    && secret::redact_id_runs(path) == path
            }
            None => matches!(reference, "env" | "flag"),
        }
    }
}

/// The two ways to give one Redis URL, as found on the command line and in the
/// environment. `--queue URL` has no clap `env` fallback so that a password given as a
/// flag can be told from one given in the variable.
#[derive(Debug, Clone, Default)]
pub(crate) struct RedisSources {
    pub file: Option<PathBuf>,
    pub flag: Option<String>,
    pub env: Option<String>,
}

impl RedisSources {
    pub(crate) fn new(role: Role, file: Option<PathBuf>, flag: Option<String>) -> RedisSources {
        RedisSources {
            file,
            flag,
            env: std::env::var(role.env_var())
                .ok()
                .filter(|v| !v.trim().is_empty()),
        }
    }

    pub(crate) fn is_given(&self) -> bool {
        self.file.is_some() || self.flag.is_some() || self.env.is_some()
    }

    /// First match wins: the file, the flag, then the variable. `Ok(None)` when none is
    /// given.
    pub(crate) fn resolve(&self, role: Role) -> Result<Option<(RedisUrl, RedisSource)>> {
        let (file_flag, file_env, url_flag, url_env) = role.flags();
        if let Some(path) = &self.file {
            if path.to_string_lossy().contains("://") {
                return Err(error::config(format!(
                    "{file_flag} (or {file_env}) holds what looks like a URL; it takes the \
                     path of a secrets file that holds the URL"
                )));
            }
            let line = secret::read_secrets_file(path)?;
            let url = RedisUrl::parse(&line)
                .map_err(|e| error::config(format!("{}: {e:#}", path.display())))?;
            return Ok(Some((url, RedisSource::File(path.clone()))));
        }
        if let Some(raw) = &self.flag {
            let url =
                RedisUrl::parse(raw).map_err(|e| error::config(format!("{url_flag}: {e:#}")))?;
            if url.has_password() {
                return Err(error::fail(
                    ExitKind::Usage,
                    format!(
                        "{url_flag} was given a URL with a password, which would show in `ps` \
                         and shell history; put the URL in a secrets file ({file_flag} PATH) \
                         or in the {url_env} variable"
                    ),
                ));
            }
            return Ok(Some((url, RedisSource::Flag)));
        }
        if let Some(raw) = &self.env {
            let url =
                RedisUrl::parse(raw).map_err(|e| error::config(format!("{url_env}: {e:#}")))?;
            return Ok(Some((url, RedisSource::Env)));
        }
        Ok(None)
    }

    /// Resolves a spool item's recorded source with today's settings.
    pub(crate) fn resolve_spool_ref(
        &self,
        role: Role,
        reference: &str,
    ) -> Result<(RedisUrl, RedisSource)> {
        let parsed = reference.parse::<SourceRef>();
        let sources = match &parsed {
            Ok(SourceRef::File(path)) => RedisSources {
                file: Some(path.clone()),
                ..Default::default()
            },
            Ok(SourceRef::Env) => RedisSources {
                env: self.env.clone(),
                ..Default::default()
            },
            Ok(SourceRef::Flag) => RedisSources {
                flag: self.flag.clone(),
                ..Default::default()
            },
            Ok(SourceRef::Name(_)) | Err(_) => {
                return Err(error::config(format!("unknown Redis source `{reference}`")));
            }
        };
        sources.resolve(role)?.ok_or_else(|| {
            let (_, _, url_flag, url_env) = role.flags();
            error::config(format!(
                "the item was saved with a Redis URL from {}, which is not given now",
                if matches!(parsed, Ok(SourceRef::Env)) {
                    url_env
                } else {
                    url_flag
                }
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_forms_hide_the_password() {
        let u = RedisUrl::parse("redis://app:s3cr3t-pass@cache.example:6380/2").unwrap();
        assert_eq!(u.to_string(), "redis://app:…@cache.example:6380/2");
        assert_eq!(
            format!("{u:?}"),
            "RedisUrl(redis://app:…@cache.example:6380/2)"
        );
        let u = RedisUrl::parse("rediss://:pw%40xyz@10.0.0.1").unwrap();
        assert_eq!(u.to_string(), "rediss://:…@10.0.0.1:6379/0");
        assert!(u.is_tls() && u.has_password());
        let u = RedisUrl::parse("redis://[::1]:7000").unwrap();
        assert_eq!(u.to_string(), "redis://[::1]:7000/0");
        assert!(!u.has_password());
        // No colon: the userinfo is the password (as redis-cli reads it), not a user.
        let u = RedisUrl::parse("redis://s3cr3t-pass@cache.example").unwrap();
        assert_eq!(u.to_string(), "redis://…@cache.example:6379/0");
        assert!(u.has_password() && u.user().is_none());
        assert_eq!(u.expose_password().as_deref(), Some("s3cr3t-pass"));
    }

    #[test]
    fn percent_signs_before_non_ascii_do_not_panic() {
        for raw in [
            "redis://:%aésecretpw@h:1/0",
            "redis://:%ésecretpw@h:1/0",
            "redis://:pw%é@h/0",
        ] {
            let u = RedisUrl::parse(raw).unwrap();
            let p = u.expose_password().unwrap();
            assert!(p.contains('é'), "{p}");
        }
        assert_eq!(percent_decode("a%41%zz%4"), "aA%zz%4");
    }

    #[test]
    fn scrub_removes_url_and_password() {
        let u = RedisUrl::parse("redis://app:pw%40xyz1@h:1/0").unwrap();
        let clean = u.scrub("failed for redis://app:pw%40xyz1@h:1/0: pw@xyz1 and pw%40xyz1");
        assert!(!clean.contains("xyz1"), "{clean}");
        assert!(clean.contains("redis://app:…@h:1/0"), "{clean}");
    }

    #[test]
    fn bad_urls_are_config_errors_without_echo() {
        for (raw, want) in [
            ("http://h/0", "redis://"),
            ("redis://:secretpw@h:99999", "port"),
            ("redis://:secretpw@h/x", "database"),
            ("redis://:secretpw@h/0?tls=1", "query"),
            ("redis://:secretpw@", "no host"),
        ] {
            let err = RedisUrl::parse(raw).unwrap_err();
            let msg = format!("{err:#}");
            assert!(msg.contains(want), "{raw}: {msg}");
            assert!(!msg.contains("secretpw"), "{msg}");
            assert_eq!(error::exit_kind(&err), ExitKind::Config);
        }
    }

    #[test]
    fn sentinel_urls_name_the_sentinels_the_master_and_the_db() {
        let u = RedisUrl::parse(
            "redis+sentinel://app:p%40ss@w,rd@S1.example:26380,s2,[::1]:7000/main-cache/3",
        )
        .unwrap();
        let s = u.sentinel().unwrap();
        assert_eq!(
            s.hosts,
            [
                ("s1.example".to_string(), 26380),
                ("s2".to_string(), 26379),
                ("::1".to_string(), 7000)
            ]
        );
        assert_eq!(s.master, "main-cache");
        assert_eq!(u.db(), 3);
        assert!(!u.is_tls());
        // The password holds `@`, `%40` and `,`: the last `@` ends it.
        assert_eq!(u.expose_password().as_deref(), Some("p@ss@w,rd"));
        assert_eq!(u.user().as_deref(), Some("app"));
        assert_eq!(
            u.to_string(),
            "redis+sentinel://app:…@s1.example:26380,s2:26379,[::1]:7000/main-cache/3"
        );
        assert!(!format!("{u:?}").contains("ss@w"));

        let u = RedisUrl::parse("rediss+sentinel://:hunter22@10.0.0.1/m").unwrap();
        assert!(u.is_tls());
        assert_eq!(u.db(), 0);
        assert_eq!(
            u.sentinel().unwrap().hosts,
            [("10.0.0.1".to_string(), 26379)]
        );
        assert_eq!(u.to_string(), "rediss+sentinel://:…@10.0.0.1:26379/m/0");
        // A repeated Sentinel is asked once.
        let u = RedisUrl::parse("redis+sentinel://h:1,H:1/m").unwrap();
        assert_eq!(u.sentinel().unwrap().hosts.len(), 1);
        // A plain URL has no Sentinels.
        assert!(RedisUrl::parse("redis://h/0").unwrap().sentinel().is_none());
    }

    #[test]
    fn hostile_sentinel_urls_are_config_errors_without_echo() {
        let many = (1..=17)
            .map(|i| format!("h{i}:1"))
            .collect::<Vec<_>>()
            .join(",");
        for (raw, want) in [
            ("redis+sentinel://:secretpw@/m", "no Sentinel"),
            ("redis+sentinel:///m", "no Sentinel"),
            ("redis+sentinel://:secretpw@h:1", "no master"),
            ("redis+sentinel://:secretpw@h:1/", "no master"),
            ("redis+sentinel://:secretpw@h:1//0", "no master"),
            ("redis+sentinel://:secretpw@h:0/m", "port"),
            ("redis+sentinel://:secretpw@h:65536/m", "port"),
            ("redis+sentinel://:secretpw@h:x/m", "port"),
            ("redis+sentinel://:secretpw@h:1,,h2:1/m", "empty entry"),
            ("redis+sentinel://:secretpw@h:1,/m", "empty entry"),
            ("redis+sentinel://:secretpw@h:1/m/x", "database"),
            ("redis+sentinel://:secretpw@h:1/m/0/1", "database"),
            ("redis+sentinel://:secretpw@h:1/m%0a", "master name"),
            ("redis+sentinel://:secretpw@h:1/m;FLUSHALL", "master name"),
            ("redis+sentinel://:secretpw@h%20x:1/m", "host"),
            ("redis+sentinel://:secretpw@h:1/m?x=1", "query"),
            ("redis+sentinels://:secretpw@h:1/m", "redis+sentinel://"),
            (
                &format!("redis+sentinel://:secretpw@{many}/m"),
                "more than 16",
            ),
        ] {
            let err = RedisUrl::parse(raw).unwrap_err();
            let msg = format!("{err:#}");
            assert!(msg.contains(want), "{raw}: {msg}");
            assert!(!msg.contains("secretpw"), "{msg}");
            assert_eq!(error::exit_kind(&err), ExitKind::Config);
        }
    }

    #[test]
    fn a_password_on_the_command_line_is_a_usage_error() {
        let s = RedisSources {
            flag: Some("redis://:secretpw@h:1/0".into()),
            ..Default::default()
        };
        let err = s.resolve(Role::Queue).unwrap_err();
        assert_eq!(error::exit_kind(&err), ExitKind::Usage);
        assert!(!format!("{err:#}").contains("secretpw"));
        let s = RedisSources {
            flag: Some("redis://h:1/0".into()),
            env: Some("redis://:secretpw@h:1/0".into()),
            ..Default::default()
        };
        let (url, src) = s.resolve(Role::Store).unwrap().unwrap();
        assert_eq!(src, RedisSource::Flag);
        assert!(!url.has_password());
    }
}
