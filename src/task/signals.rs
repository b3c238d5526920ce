//! Catching the signals mmnotify forwards to the command, and restoring the
//! dispositions it found once the last run ends.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};

/// Signals that mmnotify catches and forwards to the command's process group.
const FORWARDED: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// How many times each signal arrived since mmnotify started. The handler only
/// increments a counter (async-signal-safe); every supervisor compares against its
/// own snapshot, so concurrent runs each see each signal.
static RECEIVED: [AtomicU32; 32] = [const { AtomicU32::new(0) }; 32];

extern "C" fn note_signal(sig: libc::c_int) {
    if let Some(count) = usize::try_from(sig).ok().and_then(|i| RECEIVED.get(i)) {
        count.fetch_add(1, Ordering::SeqCst);
    }
}

/// The dispositions mmnotify had before the first active run, restored by the last.
static INSTALLED: Mutex<(usize, Vec<(libc::c_int, libc::sigaction)>)> = Mutex::new((0, Vec::new()));

/// Handlers for [`FORWARDED`] while a command runs. A signal that was ignored when
/// mmnotify started (`nohup` ignores SIGHUP, a shell's `cmd &` ignores SIGINT and
/// SIGQUIT) stays ignored and so is inherited ignored by the command, exactly as if
/// it were run without mmnotify.
pub(super) struct SignalForwarding {
    seen: [u32; 32],
}

impl SignalForwarding {
    pub(super) fn install() -> SignalForwarding {
        let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
        if installed.0 == 0 {
            installed.1.clear();
            for sig in FORWARDED {
                if let Some(old) = replace_handler(sig) {
                    installed.1.push((sig, old));
                }
            }
        }
        installed.0 += 1;
        SignalForwarding {
            seen: std::array::from_fn(|i| RECEIVED[i].load(Ordering::SeqCst)),
        }
    }

    /// Signals received since the last call, in FORWARDED order.
    pub(super) fn take_new(&mut self) -> Vec<libc::c_int> {
        let mut new = Vec::new();
        for sig in FORWARDED {
            let Ok(i) = usize::try_from(sig) else {
                continue;
            };
            let count = RECEIVED[i].load(Ordering::SeqCst);
            if count != self.seen[i] {
                self.seen[i] = count;
                new.push(sig);
            }
        }
        new
    }
}

impl Drop for SignalForwarding {
    fn drop(&mut self) {
        let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
        installed.0 -= 1;
        if installed.0 == 0 {
            for (sig, old) in installed.1.drain(..) {
                // SAFETY: `old` was filled in by sigaction for this very signal.
                unsafe {
                    libc::sigaction(sig, &raw const old, std::ptr::null_mut());
                }
            }
        }
    }
}

/// Install `note_signal` for `sig` unless the signal is ignored; the previous action.
fn replace_handler(sig: libc::c_int) -> Option<libc::sigaction> {
    // SAFETY: an all-zero sigaction is a valid value (SIG_DFL, empty mask, no flags)
    // and sigaction only reads `new` and writes `old`, both valid for the call.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig, std::ptr::null(), &raw mut old) != 0
            || old.sa_sigaction == libc::SIG_IGN
        {
            return None;
        }
        let mut new: libc::sigaction = std::mem::zeroed();
        new.sa_sigaction = note_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SA_RESTART: the reader threads' reads and writes are not interrupted.
        new.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&raw mut new.sa_mask);
        if libc::sigaction(sig, &raw const new, &raw mut old) != 0 {
            return None;
        }
        Some(old)
    }
}
