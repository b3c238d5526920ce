//! Why a secrets file cannot be opened: who may read it against who is asking, in the
//! words an administrator needs to fix it.

use std::ffi::CStr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The explanation for `EACCES` on `path`: the file's owner, group and mode (or its
/// directory's, when the directory is what stops us), the caller's uid and groups, and
/// the usual fix. Only metadata is read.
pub(super) fn explain_denied(path: &Path) -> String {
    let me = Caller::current();
    // The file itself can be stat'ed when only its mode stops us; otherwise a directory
    // on the way is not searchable.
    let (what, target, meta) = if let Ok(m) = std::fs::metadata(path) {
        ("the file", path.to_path_buf(), Some(m))
    } else {
        let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        let m = std::fs::metadata(&dir).ok();
        ("its directory", dir, m)
    };
    let Some(meta) = meta else {
        return format!(
            "you ({}) may not reach it; ask an administrator who may read it",
            me.describe()
        );
    };
    let owner = user_name(meta.uid());
    let group = group_name(meta.gid());
    let mode = meta.mode() & 0o7777;
    let group_bit = if what == "the file" { 0o040 } else { 0o010 };
    // Adding people to root's group would give them far more than this file.
    let fix = if mode & group_bit != 0 && meta.gid() != 0 {
        format!(
            "the usual fix: add yourself to group `{group}` (usermod -aG {group} {user}), then \
             log in again (a new login picks up the group)",
            user = me.user
        )
    } else if what == "the file" {
        format!(
            "only its owner may read it; to share it with a group: chgrp GROUP {p} && chmod \
             0640 {p}, then usermod -aG GROUP {user} and log in again",
            p = target.display(),
            user = me.user
        )
    } else {
        format!(
            "let the group through the directory: chgrp GROUP {p} && chmod 0750 {p}, then \
             usermod -aG GROUP {user} and log in again",
            p = target.display(),
            user = me.user
        )
    };
    format!(
        "{what} {} is owned by {owner}:{group} with mode {mode:04o}, and you are {}; {fix}",
        target.display(),
        me.describe()
    )
}

struct Caller {
    uid: u32,
    user: String,
    groups: Vec<String>,
}

impl Caller {
    fn current() -> Caller {
        let uid = super::current_uid();
        // SAFETY: getegid has no preconditions and cannot fail.
        let egid = unsafe { libc::getegid() };
        let mut gids = vec![egid];
        // SAFETY: asking for the count with a null list is allowed; the second call gets
        // a buffer of that many entries.
        let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
        if let Ok(len @ 1..) = usize::try_from(n) {
            let mut list = vec![0 as libc::gid_t; len];
            // SAFETY: `list` holds `n` entries.
            let got = unsafe { libc::getgroups(n, list.as_mut_ptr()) };
            if let Ok(got @ 1..) = usize::try_from(got) {
                list.truncate(got);
                gids.extend(list.into_iter().filter(|g| *g != egid));
            }
        }
        Caller {
            uid,
            user: user_name(uid),
            groups: gids.into_iter().map(group_name).collect(),
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} (uid {}) in groups {}",
            self.user,
            self.uid,
            self.groups.join(", ")
        )
    }
}

/// The account name of `uid`, or the number when it has none.
fn user_name(uid: u32) -> String {
    lookup(|buf| {
        // SAFETY: every pointer is valid for the call; `pwd` and `buf` outlive `result`'s
        // use, which ends inside this closure.
        unsafe {
            let mut pwd: libc::passwd = std::mem::zeroed();
            let mut result = std::ptr::null_mut();
            let rc = libc::getpwuid_r(
                uid,
                &raw mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &raw mut result,
            );
            (rc, (!result.is_null()).then(|| cstr(pwd.pw_name)))
        }
    })
    .unwrap_or_else(|| uid.to_string())
}

/// The group name of `gid`, or the number when it has none.
fn group_name(gid: u32) -> String {
    lookup(|buf| {
        // SAFETY: as in `user_name`.
        unsafe {
            let mut grp: libc::group = std::mem::zeroed();
            let mut result = std::ptr::null_mut();
            let rc = libc::getgrgid_r(
                gid,
                &raw mut grp,
                buf.as_mut_ptr(),
                buf.len(),
                &raw mut result,
            );
            (rc, (!result.is_null()).then(|| cstr(grp.gr_name)))
        }
    })
    .unwrap_or_else(|| gid.to_string())
}

/// Calls a `get*_r` function with a growing buffer until it fits (ERANGE).
fn lookup(
    mut call: impl FnMut(&mut [libc::c_char]) -> (libc::c_int, Option<String>),
) -> Option<String> {
    let mut size = 1024;
    while size <= 1 << 20 {
        let mut buf = vec![0 as libc::c_char; size];
        match call(&mut buf) {
            (libc::ERANGE, _) => size *= 4,
            (0, name) => return name.filter(|n| !n.is_empty()),
            _ => return None,
        }
    }
    None
}

/// SAFETY: `p` is null or a NUL-terminated string that lives for the call.
unsafe fn cstr(p: *const libc::c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: the caller's promise above.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_has_a_name_and_unknown_ids_fall_back_to_numbers() {
        assert_eq!(user_name(0), "root");
        assert_eq!(group_name(0), "root");
        assert_eq!(user_name(4_000_000_000), "4000000000");
        assert_eq!(group_name(4_000_000_000), "4000000000");
    }

    #[test]
    fn explains_owner_group_mode_and_caller() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ops.url");
        std::fs::write(&p, "").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let msg = explain_denied(&p);
        assert!(msg.contains("mode 0640"), "{msg}");
        assert!(
            msg.contains(&format!("uid {}", super::super::current_uid())),
            "{msg}"
        );
        assert!(msg.contains("usermod -aG"), "{msg}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(explain_denied(&p).contains("chgrp GROUP"));
    }
}
