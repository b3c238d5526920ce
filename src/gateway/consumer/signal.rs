//! SIGINT/SIGTERM: finish the entry in hand, then stop. A second one also cuts short the
//! wait for Redis to record what was posted during an outage.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Signals received.
static STOPS: AtomicUsize = AtomicUsize::new(0);
/// SIGHUPs not yet acted on (a storm of them is one reload).
static RELOADS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    if sig == libc::SIGHUP {
        RELOADS.fetch_add(1, Ordering::SeqCst);
    } else {
        STOPS.fetch_add(1, Ordering::SeqCst);
    }
}

pub(super) fn install() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a handler that only stores to an atomic is async-signal-safe; the
        // sigaction struct is fully initialised. SA_RESTART keeps a blocking Redis read
        // from failing with EINTR; the read's short BLOCK bounds the delay instead.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&raw mut sa.sa_mask);
            libc::sigaction(sig, &raw const sa, std::ptr::null_mut());
        }
    }
}

/// Whether a SIGHUP came since the last call.
pub(super) fn take_reload() -> bool {
    RELOADS.swap(0, Ordering::SeqCst) > 0
}

pub(super) fn stopping() -> bool {
    STOPS.load(Ordering::SeqCst) > 0
}

/// A second signal: stop waiting for anything.
pub(super) fn insisting() -> bool {
    STOPS.load(Ordering::SeqCst) > 1
}
