//! Where a spooled item's secret came from, as saved with it (never the URL itself):
//! `file:PATH`, `name:NAME`, `env`, or `flag` (a Redis URL given as a flag, which holds
//! no password). Written and read here alone, for webhooks and Redis alike.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SourceRef {
    File(PathBuf),
    Name(String),
    Env,
    Flag,
}

impl SourceRef {
    /// A secrets file, made absolute: flush may run from another directory (a timer,
    /// cron).
    pub(crate) fn file(path: &std::path::Path) -> SourceRef {
        SourceRef::File(std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
    }

    /// Says something: a file or name that is not empty, or `env`/`flag`.
    pub(crate) fn is_complete(&self) -> bool {
        match self {
            SourceRef::File(p) => !p.as_os_str().is_empty(),
            SourceRef::Name(n) => !n.is_empty(),
            SourceRef::Env | SourceRef::Flag => true,
        }
    }
}

impl fmt::Display for SourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceRef::File(p) => write!(f, "file:{}", p.display()),
            SourceRef::Name(n) => write!(f, "name:{n}"),
            SourceRef::Env => f.write_str("env"),
            SourceRef::Flag => f.write_str("flag"),
        }
    }
}

/// The reference is not one of the four forms.
#[derive(Debug)]
pub(crate) struct UnknownSourceRef;

impl FromStr for SourceRef {
    type Err = UnknownSourceRef;

    fn from_str(s: &str) -> Result<SourceRef, UnknownSourceRef> {
        if let Some(path) = s.strip_prefix("file:") {
            Ok(SourceRef::File(PathBuf::from(path)))
        } else if let Some(name) = s.strip_prefix("name:") {
            Ok(SourceRef::Name(name.to_string()))
        } else {
            match s {
                "env" => Ok(SourceRef::Env),
                "flag" => Ok(SourceRef::Flag),
                _ => Err(UnknownSourceRef),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_the_rest() {
        for s in ["file:/etc/x.url", "name:ops", "env", "flag"] {
            assert_eq!(s.parse::<SourceRef>().unwrap().to_string(), s);
        }
        for s in ["", "ENV", "url:x", "https://x/hooks/y"] {
            assert!(s.parse::<SourceRef>().is_err(), "{s}");
        }
        assert!(!"name:".parse::<SourceRef>().unwrap().is_complete());
        assert!(!"file:".parse::<SourceRef>().unwrap().is_complete());
    }
}
