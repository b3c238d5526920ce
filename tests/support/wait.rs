//! The one way tests wait for something another process does: poll, and fail naming
//! what never came. Not a timing test: the timeout only bounds a hung run.

use std::time::{Duration, Instant};

/// Polls `check` every 20 ms until it returns `Some`, or panics naming `what` after
/// `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what} ({} s)",
            timeout.as_secs_f64()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// [`wait_for`] a condition.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    wait_for(what, timeout, || f().then_some(()));
}
