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
    catch(SIGNALS);
}

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// From now on one idle thread of its own takes the signals, never the thread that
/// posts: a handler run there interrupts the socket read in hand, and a read on a socket
/// with a receive timeout (every Redis and HTTP read here) fails with EINTR whatever
/// `SA_RESTART` says (signal(7)), which failed the entry being finished. The thread is
/// started before this one blocks them, so it alone keeps them unblocked; the threads
/// started later inherit the block. A default action (a stop while starting) still ends
/// the process, whichever thread takes it. Without the thread, signals come as before.
fn own_thread() {
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(|| loop {
            // SAFETY: pause has no preconditions; it returns after each handler.
            unsafe {
                libc::pause();
            }
        });
    if spawned.is_ok() {
        // SAFETY: the set is initialised by sigemptyset before use; pthread_sigmask only
        // changes this thread's mask.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&raw mut set);
            for sig in SIGNALS {
                libc::sigaddset(&raw mut set, sig);
            }
            libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, std::ptr::null_mut());
        }
    }
}

/// SIGHUP from the first moment of a gateway: its default action ends the process, and
/// systemd counts an end by SIGHUP as a clean exit, so a `systemctl reload` while the
/// gateway was still starting (reading its config, connecting to a slow Redis) stopped
/// it for good (`Restart=on-failure` does not restart it). Caught now, it is acted on
/// at the first step. SIGINT/SIGTERM keep their default until the loop can finish an
/// entry: a stop while starting ends it at once.
pub(crate) fn catch_reload() {
    catch([libc::SIGHUP]);
    own_thread();
}

fn catch<const N: usize>(signals: [libc::c_int; N]) {
    for sig in signals {
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
