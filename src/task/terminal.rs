//! Handing the controlling terminal to the command while it runs.

use std::fs::File;
use std::os::fd::AsRawFd;

/// The controlling terminal, handed to the command's process group while it runs.
/// Without this the command, outside the terminal's foreground group, would be
/// stopped by SIGTTIN as soon as it read the terminal (an interactive prompt,
/// `sudo`'s password).
pub(super) struct Terminal {
    tty: File,
    our_pgrp: libc::pid_t,
}

impl Terminal {
    /// Only when mmnotify itself is in the foreground: a background mmnotify must
    /// not steal the terminal from the shell.
    pub(super) fn hand_to(pgid: libc::pid_t) -> Option<Terminal> {
        use std::os::unix::fs::OpenOptionsExt;
        let tty = File::options()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open("/dev/tty")
            .ok()?;
        let fd = tty.as_raw_fd();
        // SAFETY: getpgrp, tcgetpgrp, tcsetpgrp and kill take plain integers; `fd`
        // is open for the duration of the calls.
        unsafe {
            let our_pgrp = libc::getpgrp();
            if libc::tcgetpgrp(fd) != our_pgrp || libc::tcsetpgrp(fd, pgid) != 0 {
                return None;
            }
            // The command may have read the terminal before it was handed over and
            // been stopped for it: let it go on.
            libc::kill(-pgid, libc::SIGCONT);
            Some(Terminal { tty, our_pgrp })
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        // SAFETY: plain-integer calls on an open fd, and sigset_t values initialised
        // by sigemptyset before use. SIGTTOU is blocked for this thread because a
        // process outside the foreground group that changes the foreground group is
        // otherwise stopped by it.
        unsafe {
            let mut block: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&raw mut block);
            libc::sigaddset(&raw mut block, libc::SIGTTOU);
            libc::pthread_sigmask(libc::SIG_BLOCK, &raw const block, &raw mut old);
            libc::tcsetpgrp(self.tty.as_raw_fd(), self.our_pgrp);
            libc::pthread_sigmask(libc::SIG_SETMASK, &raw const old, std::ptr::null_mut());
        }
    }
}
