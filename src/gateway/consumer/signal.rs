//! SIGINT/SIGTERM: finish the entry in hand, then stop. A second one also cuts short the
//! wait for Redis to record what was posted during an outage.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Signals received.
static STOPS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    STOPS.fetch_add(1, Ordering::SeqCst);
}

pub(super) fn install() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
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

pub(super) fn stopping() -> bool {
    STOPS.load(Ordering::SeqCst) > 0
}

/// A second signal: stop waiting for anything.
pub(super) fn insisting() -> bool {
    STOPS.load(Ordering::SeqCst) > 1
}
