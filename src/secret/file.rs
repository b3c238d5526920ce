//! The rules for a secrets file: who owns it, its mode, its size, its first line.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use anyhow::Result;

use crate::error;
use crate::secret::access;

/// Facts about a secrets file, also shown by `doctor`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileFacts {
    pub uid: u32,
    pub mode: u32,
}

/// The most a secrets file may hold: a URL and a few comments fit many times over.
pub(super) const SECRETS_FILE_LIMIT: u64 = 64 * 1024;

/// Checks the file rules: regular file (symlinks followed), owned by root or by us, and
/// nothing for others nor write for the group.
pub(crate) fn check_file(path: &Path) -> Result<FileFacts> {
    open_checked(path).map(|(_, facts)| facts)
}

/// The rules a trusted file passes: the secrets-file rules, or the config file's
/// (readable by others is fine, writable is not).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Trust {
    /// "secrets file", "config file": how messages name it.
    pub what: &'static str,
    /// Mode bits it must not have.
    pub forbidden: u32,
    /// What those bits would allow, for the message.
    pub means: &'static str,
}

const SECRETS: Trust = Trust {
    what: "secrets file",
    forbidden: 0o027,
    means: "lets others read it or the group write it",
};

/// Opens the secrets file once and checks what was opened (`fstat`), so that nothing can
/// swap the file between the check and the read.
fn open_checked(path: &Path) -> Result<(File, FileFacts)> {
    open_trusted(path, &SECRETS)
}

/// Opens `path` once and checks on the descriptor (`fstat`) that it is a regular file
/// (symlinks followed) owned by root or by us without the `trust.forbidden` mode bits.
/// `O_NONBLOCK`: opening a FIFO must not wait for a writer; it is refused as not a
/// regular file right after.
pub(crate) fn open_trusted(path: &Path, trust: &Trust) -> Result<(File, FileFacts)> {
    let what = trust.what;
    let cannot = |e: std::io::Error| {
        let why = if e.kind() == std::io::ErrorKind::PermissionDenied {
            format!("{e}: {}", access::explain_denied(path))
        } else {
            e.to_string()
        };
        error::config(format!("cannot read {what} {}: {why}", path.display()))
    };
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(error::config(format!(
            "{what} {} is not a regular file",
            path.display()
        )));
    }
    let facts = FileFacts {
        uid: meta.uid(),
        mode: meta.mode() & 0o7777,
    };
    let me = current_uid();
    if facts.uid != 0 && facts.uid != me {
        return Err(error::config(format!(
            "{what} {} is owned by uid {}, not by root or by you (uid {me}); fix it \
             with: chown root {}",
            path.display(),
            facts.uid,
            path.display()
        )));
    }
    if facts.mode & trust.forbidden != 0 {
        return Err(error::config(format!(
            "{what} {} has mode {:04o}, which {}; fix it with: chmod {:04o} {}",
            path.display(),
            facts.mode,
            trust.means,
            facts.mode & !trust.forbidden & 0o777,
            path.display()
        )));
    }
    Ok((file, facts))
}

/// The first line that is neither blank nor a `#` comment, trimmed.
pub(crate) fn read_secrets_file(path: &Path) -> Result<String> {
    let text = read_secrets_text(path).map_err(redact_path)?;
    first_value_line(&text).map(str::to_string).ok_or_else(|| {
        error::config(format!(
            "secrets file {} holds no URL (only blank lines and # comments)",
            path.display()
        ))
    })
}

/// Every line that is neither blank nor a `#` comment, trimmed (a `.bot` file: the
/// server URL, then the token), read once under the secrets-file rules.
pub(crate) fn read_secrets_values(path: &Path) -> Result<Vec<String>> {
    let text = read_secrets_text(path).map_err(redact_path)?;
    Ok(value_lines(&text).map(str::to_string).collect())
}

/// A token pasted where the file's path goes (`--bot-file TOKEN`) is not echoed: the
/// messages about a secrets file name its path, shortened where it holds an id.
fn redact_path(e: anyhow::Error) -> anyhow::Error {
    let text = format!("{e:#}");
    match crate::secret::redact_id_runs(&text) {
        std::borrow::Cow::Borrowed(_) => e,
        std::borrow::Cow::Owned(short) => error::config(short),
    }
}

fn read_secrets_text(path: &Path) -> Result<String> {
    let (file, _) = open_checked(path)?;
    let mut bytes = Vec::new();
    file.take(SECRETS_FILE_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| error::config(format!("cannot read secrets file {}: {e}", path.display())))?;
    if bytes.len() as u64 > SECRETS_FILE_LIMIT {
        return Err(error::config(format!(
            "secrets file {} is larger than {} KiB; it should hold one URL",
            path.display(),
            SECRETS_FILE_LIMIT / 1024
        )));
    }
    String::from_utf8(bytes)
        .map_err(|_| error::config(format!("secrets file {} is not UTF-8 text", path.display())))
}

/// Editors on Windows save a byte-order mark first and end lines with CRLF, and old Mac
/// editors (and some `printf` recipes) end them with a lone CR: a CR is a line break
/// too, so `# comment\rhttps://…` finds the URL (a CRLF only adds an empty line).
fn first_value_line(text: &str) -> Option<&str> {
    value_lines(text).next()
}

fn value_lines(text: &str) -> impl Iterator<Item = &str> {
    text.strip_prefix('\u{feff}')
        .unwrap_or(text)
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// The caller's (effective) uid: the one home of `geteuid`, for every ownership rule
/// (secrets files, the state directory, the spool, the HMAC key, the run socket's peer).
pub(crate) fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "pq3wxk8bmjsyr9cn5ue7tdo1ha";

    #[test]
    fn bom_and_crlf_are_read() {
        assert_eq!(
            first_value_line("\u{feff}# c\r\n\r\nhttps://u\r\n"),
            Some("https://u")
        );
        assert_eq!(first_value_line("\u{feff}https://u\r\n"), Some("https://u"));
    }

    #[test]
    fn only_small_regular_files_are_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let msg = format!("{:#}", read_secrets_file(dir.path()).unwrap_err());
        assert!(msg.contains("not a regular file"), "{msg}");

        let fifo = dir.path().join("fifo.url");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let msg = format!("{:#}", read_secrets_file(&fifo).unwrap_err());
        assert!(msg.contains("not a regular file"), "{msg}");

        let big = dir.path().join("big.url");
        let mut content = format!("https://c.example/hooks/{ID}\n");
        content.push_str(&"#".repeat(usize::try_from(SECRETS_FILE_LIMIT).unwrap()));
        fs::write(&big, content).unwrap();
        fs::set_permissions(&big, fs::Permissions::from_mode(0o600)).unwrap();
        let msg = format!("{:#}", read_secrets_file(&big).unwrap_err());
        assert!(msg.contains("larger than 64 KiB"), "{msg}");
    }

    #[test]
    fn first_line_skips_comments_and_blanks() {
        assert_eq!(first_value_line("\n# c\n  \n  url  \nx"), Some("url"));
        assert_eq!(first_value_line("# only\n\n"), None);
        // Lone CRs (classic Mac line ends) break lines too.
        assert_eq!(
            first_value_line("# comment\r\rhttps://u\r# more\r"),
            Some("https://u")
        );
    }

    #[test]
    fn file_mode_rules() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hook.url");
        fs::write(
            &p,
            format!("# build status\nhttps://c.example/hooks/{ID}\n"),
        )
        .unwrap();
        for (mode, ok) in [(0o400, true), (0o440, true), (0o600, true), (0o640, true)] {
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(read_secrets_file(&p).is_ok(), ok, "{mode:o}");
        }
        for mode in [0o644, 0o660, 0o604, 0o666] {
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
            let msg = format!("{:#}", read_secrets_file(&p).unwrap_err());
            assert!(msg.contains(&format!("{mode:04o}")), "{msg}");
            assert!(msg.contains("chmod"), "{msg}");
        }
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        let msg = format!("{:#}", read_secrets_file(&p).unwrap_err());
        assert!(msg.contains("chmod 0640"), "{msg}");
    }
}
