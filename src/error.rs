//! The typed part of an error: what decides the exit code. Everything else is an
//! `anyhow` chain of context around it.

use std::fmt;

/// Exit codes of the command-line contract (`docs/contract.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExitKind {
    Internal = 1,
    Usage = 2,
    Config = 3,
    Input = 4,
    Network = 5,
    Server = 6,
    Http = 7,
    BadRequest = 40,
    Forbidden = 43,
    NotFound = 44,
}

impl ExitKind {
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The kind behind an exit code another mmnotify reported (the run socket's answer).
    pub(crate) fn from_code(code: u8) -> Option<ExitKind> {
        [
            ExitKind::Internal,
            ExitKind::Usage,
            ExitKind::Config,
            ExitKind::Input,
            ExitKind::Network,
            ExitKind::Server,
            ExitKind::Http,
            ExitKind::BadRequest,
            ExitKind::Forbidden,
            ExitKind::NotFound,
        ]
        .into_iter()
        .find(|k| k.code() == code)
    }

    /// How bad an outcome is when several are merged into one exit code (`build --events`):
    /// the client's own trouble first, then the server's verdicts, then transient failures.
    pub(crate) fn severity(self) -> u8 {
        match self {
            ExitKind::Internal => 10,
            ExitKind::Usage => 9,
            ExitKind::Config => 8,
            ExitKind::BadRequest | ExitKind::Forbidden | ExitKind::NotFound => 7,
            ExitKind::Http => 6,
            ExitKind::Input => 5,
            ExitKind::Server => 4,
            ExitKind::Network => 3,
        }
    }
}

/// An error that carries its exit code. Put it at the root of an `anyhow` chain and
/// add context above it as usual; [`exit_kind`] finds it anywhere in the chain.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: ExitKind,
    pub(crate) message: String,
    /// What the server answered to the request that failed, when the error stops the
    /// command (a bot whose token or channel is refused): for its JSON outcome.
    pub(crate) answered: Option<Answered>,
}

/// The server's answer an error is about: the outcome's `http_status` (`None`: no
/// answer), `error_id` and `attempts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answered {
    pub http_status: Option<u16>,
    pub error_id: Option<String>,
    pub attempts: u32,
}

/// `err` with the answer it is about, when it is a bare [`Failure`] (as the REST calls
/// make them); any other error is returned as it is.
pub(crate) fn answered(err: anyhow::Error, answer: Answered) -> anyhow::Error {
    match err.downcast::<Failure>() {
        Ok(mut f) => {
            f.answered = Some(answer);
            anyhow::Error::new(f)
        }
        Err(err) => err,
    }
}

/// The answer the first [`Failure`] in `err`'s chain is about, if it says.
pub(crate) fn answer_of(err: &anyhow::Error) -> Option<&Answered> {
    err.chain()
        .find_map(|e| e.downcast_ref::<Failure>())
        .and_then(|f| f.answered.as_ref())
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// An error with this exit kind.
pub(crate) fn fail(kind: ExitKind, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure {
        kind,
        message: message.into(),
        answered: None,
    })
}

/// Configuration or secret problem (exit 3).
pub(crate) fn config(message: impl Into<String>) -> anyhow::Error {
    fail(ExitKind::Config, message)
}

/// Invalid input found before anything was sent (exit 4). These messages quote what the
/// user gave, which is checked for the token only later, at sending: a bare token in it
/// is shortened here.
pub(crate) fn input(message: impl Into<String>) -> anyhow::Error {
    let message = message.into();
    fail(
        ExitKind::Input,
        crate::text::scrub::redact_id_runs(&message).into_owned(),
    )
}

/// The exit kind an error maps to: the first [`Failure`] in its chain, else internal.
pub fn exit_kind(err: &anyhow::Error) -> ExitKind {
    err.chain()
        .find_map(|e| e.downcast_ref::<Failure>())
        .map_or(ExitKind::Internal, |f| f.kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn exit_kind_found_under_context() {
        let err = Err::<(), _>(input("bad json"))
            .context("reading event from stdin")
            .unwrap_err();
        assert_eq!(exit_kind(&err), ExitKind::Input);
        assert_eq!(exit_kind(&err).code(), 4);
    }

    #[test]
    fn codes_map_back_to_kinds() {
        for code in [1, 2, 3, 4, 5, 6, 7, 40, 43, 44] {
            assert_eq!(ExitKind::from_code(code).map(ExitKind::code), Some(code));
        }
        assert_eq!(ExitKind::from_code(0), None);
        assert_eq!(ExitKind::from_code(41), None);
    }

    #[test]
    fn an_answer_stays_with_its_failure_and_changes_nothing_else() {
        let a = Answered {
            http_status: Some(401),
            error_id: Some("api.context.session_expired.app_error".into()),
            attempts: 1,
        };
        let err = answered(fail(ExitKind::Forbidden, "refused"), a.clone());
        assert_eq!(
            (exit_kind(&err), format!("{err:#}")),
            (ExitKind::Forbidden, "refused".into())
        );
        assert_eq!(answer_of(&err), Some(&a));
        let plain = answered(anyhow::anyhow!("boom"), a);
        assert!(answer_of(&plain).is_none());
    }

    #[test]
    fn plain_errors_are_internal() {
        let err = anyhow::anyhow!("boom");
        assert_eq!(exit_kind(&err), ExitKind::Internal);
    }
}
