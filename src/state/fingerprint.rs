//! The keyed fingerprint that ties an `env` spool item to its webhook without storing
//! the URL: HMAC-SHA-256 under a random key kept in `STATE_DIR/spool.key` (0600). A plain
//! hash would let anyone who reads the spool test guessed URLs against it; the key makes
//! the fingerprint useless without the state directory's own secret.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use anyhow::Context;
use ring::hmac;
use ring::rand::SecureRandom;

use crate::error;
use crate::state::statedir;

const KEY_FILE: &str = "spool.key";
const KEY_LEN: usize = 32;

/// The key of one state directory.
pub(crate) struct FingerprintKey(hmac::Key);

impl FingerprintKey {
    /// The key, created (atomically, 0600) when the state directory has none yet.
    pub(crate) fn load_or_create(state_dir: &Path) -> anyhow::Result<FingerprintKey> {
        if let Some(key) = FingerprintKey::load(state_dir)? {
            return Ok(key);
        }
        let mut bytes = [0u8; KEY_LEN];
        ring::rand::SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
        // Written under a temp name, then hard-linked into place: link never replaces an
        // existing file, so two processes racing here both end up with the winner's key.
        let tmp = statedir::write_atomic(
            state_dir,
            &format!(".{KEY_FILE}-{}", std::process::id()),
            &bytes,
        )?;
        let final_path = state_dir.join(KEY_FILE);
        let linked = fs::hard_link(&tmp, &final_path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(e).with_context(|| format!("cannot create {}", final_path.display()))
            }
        }
        FingerprintKey::load(state_dir)?.ok_or_else(|| {
            anyhow::anyhow!("{} vanished after it was created", final_path.display())
        })
    }

    /// The existing key, or `None` when there is none. A key file that is not ours
    /// (owner, mode, type, length) is refused: whoever could plant it could steer items
    /// to their own webhook.
    pub(crate) fn load(state_dir: &Path) -> anyhow::Result<Option<FingerprintKey>> {
        let path = state_dir.join(KEY_FILE);
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(error::config(format!(
                    "cannot open {} ({e}); it must be a regular file, mode 0600, owned by you",
                    path.display()
                )))
            }
        };
        let meta = file
            .metadata()
            .with_context(|| format!("cannot stat {}", path.display()))?;
        let me = crate::secret::current_uid();
        let mode = meta.mode() & 0o7777;
        if !meta.is_file() || meta.uid() != me || mode != 0o600 || meta.len() != KEY_LEN as u64 {
            return Err(error::config(format!(
                "{} is not a {KEY_LEN}-byte regular file of mode 0600 owned by you (uid {me}); \
                 remove it (items spooled from MATTERMOST_WEBHOOK_URL will then stay until \
                 dropped)",
                path.display()
            )));
        }
        let mut bytes = Vec::with_capacity(KEY_LEN);
        (&file)
            .take(KEY_LEN as u64)
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Some(FingerprintKey(hmac::Key::new(
            hmac::HMAC_SHA256,
            &bytes,
        ))))
    }

    /// Lowercase hex HMAC-SHA-256 of `url`.
    pub(crate) fn fingerprint(&self, url: &str) -> String {
        let tag = hmac::sign(&self.0, url.as_bytes());
        hex(tag.as_ref())
    }

    /// Whether `fingerprint` is this key's fingerprint of `url`, compared in constant
    /// time.
    pub(crate) fn matches(&self, url: &str, fingerprint: &str) -> bool {
        let Some(tag) = decode_hex(fingerprint) else {
            return false;
        };
        hmac::verify(&self.0, url.as_bytes(), &tag).is_ok()
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Lowercase hex of `bytes`, two digits each.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0xf)]])
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn one_key_per_state_dir_and_fingerprints_match_only_their_url() {
        let tmp = tempfile::tempdir().unwrap();
        let a = FingerprintKey::load_or_create(tmp.path()).unwrap();
        let b = FingerprintKey::load_or_create(tmp.path()).unwrap();
        let path = tmp.path().join(KEY_FILE);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(fs::read(&path).unwrap().len(), KEY_LEN);
        let names: Vec<_> = fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file left");

        let url = "https://chat.example.com/hooks/abcdefghijklmnopqrstuvwxyz";
        let f = a.fingerprint(url);
        assert_eq!(f.len(), 64);
        assert!(!f.contains("abcdefghij"));
        assert!(b.matches(url, &f));
        assert!(!b.matches(
            "https://chat.example.com/hooks/zzzzzzzzzzzzzzzzzzzzzzzzzz",
            &f
        ));
        assert!(!b.matches(url, "zz"));

        let other = tempfile::tempdir().unwrap();
        let c = FingerprintKey::load_or_create(other.path()).unwrap();
        assert_ne!(c.fingerprint(url), f, "keys are random per state dir");
    }

    #[test]
    fn a_loose_key_file_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        FingerprintKey::load_or_create(tmp.path()).unwrap();
        let path = tmp.path().join(KEY_FILE);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = FingerprintKey::load(tmp.path()).err().unwrap();
        assert_eq!(error::exit_kind(&err), error::ExitKind::Config);
    }
}
