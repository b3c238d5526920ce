//! The `--proxy` choice and how a proxy URL is shown.

use anyhow::Result;

use crate::error::{self, ExitKind};

pub(crate) enum ProxyChoice {
    /// `*_PROXY` / `NO_PROXY` from the environment.
    Env,
    None,
    Url(String),
}

/// The proxy variables in the order ureq's `Proxy::try_from_env` reads them.
const PROXY_VARS: [&str; 6] = [
    "ALL_PROXY",
    "all_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
];

impl ProxyChoice {
    pub(crate) fn from_arg(arg: Option<&str>) -> ProxyChoice {
        match arg.map(str::trim) {
            None | Some("") => ProxyChoice::Env,
            Some(s) if s.eq_ignore_ascii_case("none") => ProxyChoice::None,
            Some(s) => ProxyChoice::Url(s.to_string()),
        }
    }

    /// The proxy in effect. A value that is no usable proxy URL is refused before any
    /// work, naming where it came from: `--proxy` is a usage error (2), a variable of
    /// the environment a configuration error (3). ureq alone would skip an unparsable
    /// variable silently, and read a port over 65535 as no port (80).
    pub(crate) fn resolve(&self) -> Result<Option<ureq::Proxy>> {
        match self {
            ProxyChoice::Env => {
                // ureq takes the first variable that parses; the first one that is set
                // must be right, or the user's intent is lost.
                let first = PROXY_VARS.iter().find_map(|v| {
                    std::env::var(v)
                        .ok()
                        .filter(|s| !s.trim().is_empty())
                        .map(|s| (*v, s))
                });
                let Some((var, value)) = first else {
                    return Ok(None);
                };
                check_proxy_url(&value).map_err(|why| {
                    error::config(format!(
                        "the proxy in {var} is not a valid proxy URL ({}): {why}; fix or \
                         unset {var}, or bypass it with --proxy none",
                        redact_userinfo(&value)
                    ))
                })?;
                Ok(ureq::Proxy::try_from_env())
            }
            ProxyChoice::None => Ok(None),
            ProxyChoice::Url(u) => {
                let invalid = |why: String| {
                    error::fail(
                        ExitKind::Usage,
                        format!(
                            "invalid --proxy (or MMNOTIFY_PROXY) URL {}: {why}; expected \
                             SCHEME://HOST:PORT or `none`",
                            redact_userinfo(u)
                        ),
                    )
                };
                check_proxy_url(u).map_err(invalid)?;
                ureq::Proxy::new(u)
                    .map(Some)
                    .map_err(|e| invalid(e.to_string()))
            }
        }
    }
}

const SCHEMES: [&str; 7] = [
    "http", "https", "socks4", "socks4a", "socks5", "socks5h", "socks",
];

/// What ureq would read wrongly or not at all in a proxy URL: an unknown scheme, a
/// missing host, a port that is not 1-65535, and a bare word (`bogus`), which is far
/// more often a mistake than a proxy listening on port 80. `host:port` without a scheme
/// is the common way to write an HTTP proxy and stays accepted.
pub(crate) fn check_proxy_url(value: &str) -> Result<(), String> {
    let value = value.trim();
    let (scheme, rest) = match value.split_once("://") {
        Some((s, rest)) => (Some(s), rest),
        None => (None, value),
    };
    if let Some(s) = scheme {
        if !SCHEMES.iter().any(|k| k.eq_ignore_ascii_case(s)) {
            return Err(format!(
                "unknown scheme `{}` (use http, https, socks4, socks4a, socks5 or socks5h)",
                crate::wire::diagnose::sanitize(s)
            ));
        }
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if rest.contains(['?', '#']) || !rest[authority.len()..].trim_matches('/').is_empty() {
        return Err("a proxy URL has no path, query or fragment".into());
    }
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, "")) => (h, None),
            Some((h, p)) if p.starts_with(':') => (h, Some(&p[1..])),
            _ => return Err("a bracketed IPv6 host is not closed".into()),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    match port {
        Some(p)
            if !p.chars().all(|c| c.is_ascii_digit())
                || p.parse::<u16>().map_or(true, |n| n == 0) =>
        {
            return Err(format!(
                "the port `{}` is not a number from 1 to 65535",
                crate::wire::diagnose::sanitize(p)
            ));
        }
        None if scheme.is_none() => {
            return Err("neither a scheme nor a port; write http://HOST:PORT".into());
        }
        _ => {}
    }
    ureq::Proxy::new(value)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// How a proxy is named in messages: its scheme (when not plain HTTP), host and port,
/// never its credentials.
pub(crate) fn proxy_label(p: &ureq::Proxy) -> String {
    let scheme = match p.protocol() {
        ureq::ProxyProtocol::Http => "http",
        ureq::ProxyProtocol::Https => "https",
        ureq::ProxyProtocol::Socks4 => "socks4",
        ureq::ProxyProtocol::Socks4A => "socks4a",
        ureq::ProxyProtocol::Socks5 => "socks5",
        _ => "socks5h",
    };
    let user = if p.username().is_some() { "***@" } else { "" };
    let host = if p.host().contains(':') && !p.host().starts_with('[') {
        format!("[{}]", p.host())
    } else {
        p.host().to_string()
    };
    redact_userinfo(&format!("{scheme}://{user}{host}:{}", p.port()))
}

/// Proxy URLs may carry credentials; show them without (and without any hook id, for a
/// `*_PROXY` variable set to the wrong URL).
pub(crate) fn redact_userinfo(url: &str) -> String {
    let url = crate::secret::scrub_hook_ids(url);
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        (None, Some(at)) => format!("***@{}", &url[at + 1..]),
        _ => url.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_credentials_are_hidden() {
        assert_eq!(
            redact_userinfo("http://u:p@proxy:3128"),
            "http://***@proxy:3128"
        );
        assert_eq!(redact_userinfo("http://proxy:3128"), "http://proxy:3128");
        assert_eq!(redact_userinfo("u:p@proxy:3128"), "***@proxy:3128");
    }

    #[test]
    fn proxy_urls_are_checked() {
        for good in [
            "http://p:3128",
            "p:3128",
            "socks5://u:pw@127.0.0.1:1080",
            "socks5h://[::1]:1080/",
            "https://proxy.example",
            "SOCKS5://p:1",
        ] {
            assert_eq!(check_proxy_url(good), Ok(()), "{good}");
        }
        for bad in [
            "bogus",
            "http://h:65536",
            "http://h:0",
            "h:port",
            "ftp://h:21",
            "http://:3128",
            "http://h:3128/path",
            "http://[::1:3128",
        ] {
            assert!(check_proxy_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn proxy_choice() {
        assert!(matches!(ProxyChoice::from_arg(None), ProxyChoice::Env));
        assert!(matches!(
            ProxyChoice::from_arg(Some("NONE")),
            ProxyChoice::None
        ));
        assert!(matches!(
            ProxyChoice::from_arg(Some("http://p:1")),
            ProxyChoice::Url(_)
        ));
    }
}
