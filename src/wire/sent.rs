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

use ureq::unversioned::resolver::DefaultResolver;
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
        DefaultResolver::default(),
    )
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
