//! Where mmnotify keeps its state (dedupe markers, spool), and the two primitives every
//! state file goes through: a private directory and an atomic write.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::error;

/// The state directory: `--state-dir`/`MMNOTIFY_STATE_DIR` (merged by clap into
/// `explicit`), else `$XDG_STATE_HOME/mmnotify`, else `$HOME/.local/state/mmnotify`.
pub(crate) fn resolve(
    explicit: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<PathBuf> {
    let dir = choose(explicit, env)?;
    // Whatever variable it came from, a directory named after a webhook URL would write
    // the token to disk.
    crate::secret::refuse_url_as_path(
        dir.as_os_str(),
        "the state directory (--state-dir, MMNOTIFY_STATE_DIR, XDG_STATE_HOME or HOME)",
    )?;
    Ok(dir)
}

fn choose(
    explicit: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<PathBuf> {
    if let Some(dir) = explicit {
        if dir.as_os_str().is_empty() {
            return Err(error::config(
                "the state directory (--state-dir / MMNOTIFY_STATE_DIR) is empty",
            ));
        }
        return Ok(dir.to_path_buf());
    }
    // The XDG spec says relative values are invalid and must be ignored.
    if let Some(xdg) = env("XDG_STATE_HOME").filter(|v| Path::new(v).is_absolute()) {
        return Ok(PathBuf::from(xdg).join("mmnotify"));
    }
    match env("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/state/mmnotify")),
        None => Err(error::config(
            "cannot choose a state directory: HOME is not set; \
             pass --state-dir or set MMNOTIFY_STATE_DIR or XDG_STATE_HOME",
        )),
    }
}

/// Creates `path` and its missing parents with mode 0700. An existing directory must be
/// ours (see [`check_trusted_dir`]); it is otherwise left as it is. Failure is a
/// configuration error (exit 3).
pub(crate) fn ensure_private_dir(path: &Path) -> anyhow::Result<()> {
    if check_trusted_dir(path)? {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| {
            error::config(format!(
                "cannot create state directory {}: {e}",
                path.display()
            ))
        })?;
    // Checked again: another process may have created it meanwhile, not necessarily
    // the way we would have.
    if check_trusted_dir(path)? {
        Ok(())
    } else {
        Err(error::config(format!(
            "cannot create state directory {}",
            path.display()
        )))
    }
}

/// The Trust rules for a state directory: what mmnotify reads back from it decides what
/// gets posted, so it must be as private as a secrets file. `Ok(false)` when `path`
/// does not exist (or cannot be looked at: creating it will tell why); `Err` (exit 3,
/// with the command that fixes it) when it is a symlink, not a directory, owned by
/// someone else, or writable by the group or others.
pub(crate) fn check_trusted_dir(path: &Path) -> anyhow::Result<bool> {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return Ok(false);
    };
    let shown = path.display();
    if meta.file_type().is_symlink() {
        return Err(error::config(format!(
            "state directory {shown} is a symlink; mmnotify only trusts a real directory \
             there: replace it with one (rm {shown} && mkdir -m 0700 {shown}) or point \
             --state-dir at the target"
        )));
    }
    if !meta.is_dir() {
        return Err(error::config(format!(
            "state directory {shown} is not a directory; move it away or choose another \
             --state-dir"
        )));
    }
    let me = crate::secret::current_uid();
    if meta.uid() != me {
        return Err(error::config(format!(
            "state directory {shown} is owned by uid {}, not by you (uid {me}); another \
             user could plant messages there; fix it with: chown {me} {shown}",
            meta.uid()
        )));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(error::config(format!(
            "state directory {shown} has mode {mode:04o}, which lets the group or others \
             write to it; fix it with: chmod {:04o} {shown}",
            mode & !0o022 & 0o777
        )));
    }
    Ok(true)
}

/// Writes `dir/final_name` so that no reader ever sees a partial file: a 0600 temp file
/// in the same directory, fsynced, renamed over the final name, then the directory
/// fsynced so the rename survives a crash.
pub(crate) fn write_atomic(dir: &Path, final_name: &str, bytes: &[u8]) -> anyhow::Result<PathBuf> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let final_path = dir.join(final_name);
    // pid + time + a per-process sequence: unique across processes and threads, and the
    // `.tmp-` prefix lets readers and prune recognise leftovers of a killed writer.
    let tmp_path = dir.join(format!(
        ".tmp-{final_name}-{}-{}-{}",
        std::process::id(),
        now_nanos(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));

    let written = (|| -> anyhow::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp_path)
            .with_context(|| format!("cannot create {}", tmp_path.display()))?;
        file.write_all(bytes)
            .with_context(|| format!("cannot write {}", tmp_path.display()))?;
        file.sync_all()
            .with_context(|| format!("cannot sync {}", tmp_path.display()))?;
        fs::rename(&tmp_path, &final_path).with_context(|| {
            format!(
                "cannot rename {} to {}",
                tmp_path.display(),
                final_path.display()
            )
        })
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp_path);
        return Err(e);
    }

    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync directory {}", dir.display()))?;
    Ok(final_path)
}

/// This machine's host name, or `localhost` when it cannot be read.
pub(crate) fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the pointer and length describe `buf`, which outlives the call.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".to_string();
    }
    // POSIX leaves truncated names without a terminator; take what is there.
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..len]).trim().to_string();
    if name.is_empty() {
        "localhost".to_string()
    } else {
        name
    }
}

/// Non-blocking exclusive `flock`: true when taken, false when another open file
/// description holds it. The kernel drops it when the holder closes or dies.
pub(crate) fn try_flock(file: &File, path: &Path) -> anyhow::Result<bool> {
    loop {
        // SAFETY: flock on a descriptor owned by `file`, which is alive for the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            // Interrupted: try again.
            Some(libc::EINTR) => {}
            _ => return Err(err).with_context(|| format!("cannot lock {}", path.display())),
        }
    }
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{exit_kind, ExitKind};
    use std::collections::HashMap;
    use std::os::unix::fs::PermissionsExt;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn resolve_order() {
        let env = env_of(&[("XDG_STATE_HOME", "/xdg"), ("HOME", "/home/u")]);
        assert_eq!(
            resolve(Some(Path::new("/explicit")), &env).unwrap(),
            PathBuf::from("/explicit")
        );
        assert_eq!(resolve(None, &env).unwrap(), PathBuf::from("/xdg/mmnotify"));

        let relative_xdg = env_of(&[("XDG_STATE_HOME", "rel"), ("HOME", "/home/u")]);
        assert_eq!(
            resolve(None, &relative_xdg).unwrap(),
            PathBuf::from("/home/u/.local/state/mmnotify")
        );

        let err = resolve(None, &env_of(&[])).unwrap_err();
        assert_eq!(exit_kind(&err), ExitKind::Config);
    }

    #[test]
    fn private_dir_created_with_parents_and_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let leaf = tmp.path().join("a/b/state");
        ensure_private_dir(&leaf).unwrap();
        let mode = fs::metadata(&leaf).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // Existing: fine, untouched.
        fs::set_permissions(&leaf, fs::Permissions::from_mode(0o750)).unwrap();
        ensure_private_dir(&leaf).unwrap();
        let mode = fs::metadata(&leaf).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o750);

        let file = tmp.path().join("file");
        fs::write(&file, b"x").unwrap();
        let err = ensure_private_dir(&file.join("sub")).unwrap_err();
        assert_eq!(exit_kind(&err), ExitKind::Config);
        assert!(err.to_string().contains(&file.display().to_string()));
    }

    #[test]
    fn untrusted_dirs_are_refused_with_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        ensure_private_dir(&dir).unwrap();
        for (mode, fix) in [
            (0o777, "chmod 0755"),
            (0o720, "chmod 0700"),
            (0o702, "chmod 0700"),
        ] {
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
            let err = ensure_private_dir(&dir).unwrap_err();
            assert_eq!(exit_kind(&err), ExitKind::Config);
            assert!(err.to_string().contains(fix), "{mode:o}: {err}");
        }
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(&dir).unwrap();

        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        let err = ensure_private_dir(&link).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");

        assert!(!check_trusted_dir(&tmp.path().join("missing")).unwrap());

        // Only root can give a directory away: elsewhere this part is skipped, visibly,
        // unless MMNOTIFY_REQUIRE_ROOT=1 (CI) demands it.
        if crate::secret::current_uid() == 0 {
            std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
            let err = check_trusted_dir(&dir).unwrap_err();
            assert!(err.to_string().contains("chown 0"), "{err}");
        } else {
            assert!(
                std::env::var("MMNOTIFY_REQUIRE_ROOT").as_deref() != Ok("1"),
                "a foreign directory needs root and MMNOTIFY_REQUIRE_ROOT=1 requires it"
            );
            eprintln!(
                "untrusted_dirs_are_refused_with_the_fix: SKIPPED: a foreign directory needs root"
            );
        }
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let tmp = tempfile::tempdir().unwrap();
        let p = write_atomic(tmp.path(), "x.json", b"one").unwrap();
        let p2 = write_atomic(tmp.path(), "x.json", b"two").unwrap();
        assert_eq!(p, p2);
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("x.json")]);
    }

    #[test]
    fn atomic_write_error_names_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("missing");
        let err = write_atomic(&missing, "x", b"").unwrap_err();
        assert!(format!("{err:#}").contains(&missing.display().to_string()));
    }

    #[test]
    fn hostname_is_not_empty() {
        assert!(!hostname().is_empty());
    }
}
