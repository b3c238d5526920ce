//! The two locks of the store: OFD byte locks on `claims.lock` (one byte per key) and
//! the `flock` on `compact.lock`.

use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::path::Path;

use anyhow::Context;

/// An OFD lock (per open file description, released on close or death) on the key's
/// byte; `F_UNLCK` releases it. Returns false when another holder has it.
pub(super) fn lock_byte(
    claims: &File,
    dir: &Path,
    byte: i64,
    kind: libc::c_int,
) -> anyhow::Result<bool> {
    let fl = libc::flock {
        l_type: libc::c_short::try_from(kind).context("lock type out of range")?,
        l_whence: libc::c_short::try_from(libc::SEEK_SET).context("SEEK_SET out of range")?,
        l_start: byte,
        l_len: 1,
        l_pid: 0,
    };
    loop {
        // SAFETY: `fl` is a valid flock for this call and the descriptor is owned by
        // `claims`, which outlives it.
        let rc = unsafe { libc::fcntl(claims.as_raw_fd(), libc::F_OFD_SETLK, &fl) };
        if rc == 0 {
            return Ok(true);
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN | libc::EACCES) => return Ok(false),
            // Interrupted: try again.
            Some(libc::EINTR) => {}
            _ => {
                return Err(err)
                    .with_context(|| format!("cannot lock {}/claims.lock", dir.display()))
            }
        }
    }
}

/// A blocking `flock`, released on drop.
pub(super) struct FlockGuard<'a>(&'a File);

impl<'a> FlockGuard<'a> {
    pub(super) fn take(
        file: &'a File,
        op: libc::c_int,
        dir: &Path,
    ) -> anyhow::Result<FlockGuard<'a>> {
        loop {
            // SAFETY: flock on a descriptor owned by `file`, alive for the call.
            if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
                return Ok(FlockGuard(file));
            }
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINTR) {
                return Err(err)
                    .with_context(|| format!("cannot lock {}/compact.lock", dir.display()));
            }
        }
    }
}

impl Drop for FlockGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: as in `take`.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}
