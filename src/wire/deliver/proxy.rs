//! The `--proxy` choice and how a proxy URL is shown.

use anyhow::Result;

use crate::error;

pub(crate) enum ProxyChoice {
    /// `*_PROXY` / `NO_PROXY` from the environment.
    Env,
    None,
    Url(String),
}

impl ProxyChoice {
    pub(crate) fn from_arg(arg: Option<&str>) -> ProxyChoice {
        match arg.map(str::trim) {
            None | Some("") => ProxyChoice::Env,
            Some(s) if s.eq_ignore_ascii_case("none") => ProxyChoice::None,
            Some(s) => ProxyChoice::Url(s.to_string()),
        }
    }

    pub(crate) fn resolve(&self) -> Result<Option<ureq::Proxy>> {
        match self {
            ProxyChoice::Env => Ok(ureq::Proxy::try_from_env()),
            ProxyChoice::None => Ok(None),
            ProxyChoice::Url(u) => ureq::Proxy::new(u).map(Some).map_err(|_| {
                error::config(format!(
                    "invalid --proxy URL {}: expected http://host:port or `none`",
                    redact_userinfo(u)
                ))
            }),
        }
    }
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
