//! Whether the request of the current attempt was handed to the network in full before
//! it failed: a timeout after that point may still have posted the message, a timeout
//! before it cannot have. ureq reports only "timed out", so the last connector of the
//! chain wraps every connection and notes the moment it first waits for an answer after
//! writing. ureq is synchronous and runs on the calling thread, so a thread-local flag
//! belongs to the attempt in hand.
//!
//! `ureq::unversioned` is not covered by semver; `Cargo.lock` pins the version this is
//! written against.

use std::cell::Cell;

use std::net::{IpAddr, SocketAddr};

use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport,
};

thread_local! {
    static SENT: Cell<bool> = const { Cell::new(false) };
    /// The connection of the attempt was made (proxy, TCP and TLS): a failure before
    /// that is one of the way there, e.g. a SOCKS proxy that could not reach the server.
    static CONNECTED: Cell<bool> = const { Cell::new(false) };
}

/// Clears the flags before an attempt.
pub(crate) fn reset() {
    SENT.with(|s| s.set(false));
    CONNECTED.with(|s| s.set(false));
}

/// Whether the attempt since [`reset`] got a connection through to the server (or wrote
/// on a pooled one).
pub(crate) fn connection_was_made() -> bool {
    CONNECTED.with(std::cell::Cell::get)
}

/// Whether the attempt since [`reset`] wrote its whole request and began waiting for the
/// answer.
pub(crate) fn request_was_sent() -> bool {
    SENT.with(std::cell::Cell::get)
}

/// An agent whose connections report [`request_was_sent`].
pub(crate) fn agent(config: ureq::config::Config) -> ureq::Agent {
    ureq::Agent::with_parts(
        config,
        DefaultConnector::new().chain(Tracker),
        LiteralFirst::default(),
    )
}

/// ureq's resolver, except that an IP literal (`127.0.0.1`, `[::1]`) is taken as it is.
/// Given a timeout, ureq resolves every host on a new thread so that it can give up on a
/// slow DNS; for a literal there is nothing to wait for, and that thread (its stack and
/// its malloc arena) was a measurable share of a `send`'s peak memory.
#[derive(Debug, Default)]
struct LiteralFirst(DefaultResolver);

impl Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        match literal_address(uri) {
            Some(addr) => {
                let mut found = self.empty();
                for a in config.ip_family().keep_wanted(std::iter::once(addr)) {
                    found.push(a);
                }
                if found.is_empty() {
                    return Err(ureq::Error::HostNotFound);
                }
                Ok(found)
            }
            None => self.0.resolve(uri, config, timeout),
        }
    }
}

/// The socket address of a URI whose host is an IP literal, with the scheme's default port
/// when none is given; `None` for a name (and for anything ureq itself should judge).
fn literal_address(uri: &Uri) -> Option<SocketAddr> {
    let authority = uri.authority()?;
    let host = authority.host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ip: IpAddr = host.parse().ok()?;
    let port = match authority.port_u16() {
        Some(p) => p,
        None => match uri.scheme_str()? {
            "http" => 80,
            "https" => 443,
            // SOCKS and anything else: leave the default port to ureq.
            _ => return None,
        },
    };
    Some(SocketAddr::new(ip, port))
}

#[derive(Debug)]
struct Tracker;

impl<In: Transport> Connector<In> for Tracker {
    type Out = Tracked<In>;

    fn connect(
        &self,
        _details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if chained.is_some() {
            CONNECTED.with(|s| s.set(true));
        }
        Ok(chained.map(|inner| Tracked {
            inner,
            wrote: false,
        }))
    }
}

#[derive(Debug)]
struct Tracked<T> {
    inner: T,
    /// Output was written since the last answer was read: the next wait for input is
    /// the wait for the answer to a request sent in full (ureq writes the whole request
    /// before it reads; `Expect: 100-continue` is never set here).
    wrote: bool,
}

impl<T: Transport> Transport for Tracked<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        // A pooled connection is not connected again: writing on it shows it is there.
        CONNECTED.with(|s| s.set(true));
        self.inner.transmit_output(amount, timeout)?;
        self.wrote = true;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        if self.wrote {
            self.wrote = false;
            SENT.with(|s| s.set(true));
        }
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

#[cfg(test)]
mod tests {
    use super::literal_address;

    fn addr(uri: &str) -> Option<String> {
        literal_address(&uri.parse().unwrap()).map(|a| a.to_string())
    }

    #[test]
    fn ip_literals_are_taken_as_they_are() {
        assert_eq!(
            addr("http://127.0.0.1:8065/hooks/x"),
            Some("127.0.0.1:8065".into())
        );
        assert_eq!(
            addr("https://127.0.0.1/hooks/x"),
            Some("127.0.0.1:443".into())
        );
        assert_eq!(addr("http://[::1]/hooks/x"), Some("[::1]:80".into()));
        assert_eq!(addr("https://[::1]:9/x"), Some("[::1]:9".into()));
    }

    #[test]
    fn names_and_other_schemes_go_to_the_resolver() {
        assert_eq!(addr("https://chat.example.com/hooks/x"), None);
        assert_eq!(addr("http://localhost:8065/"), None);
        assert_eq!(addr("socks5://127.0.0.1/"), None);
        assert_eq!(addr("http://1.2.3/"), None);
    }
}
