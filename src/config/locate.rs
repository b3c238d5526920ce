//! Where the config file is: `--config FILE` (env `MMNOTIFY_CONFIG`), else the first
//! that exists of `$XDG_CONFIG_HOME/mmnotify/config.toml` (`~/.config/…` when unset)
//! and `/etc/mmnotify/config.toml`.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::secret::refuse_url_as_path;

/// The system-wide config (the Debian package's conffile).
pub(crate) const SYSTEM_PATH: &str = "/etc/mmnotify/config.toml";

/// How the config file was found. A given one must load; a default one is optional.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// `--config FILE` or `MMNOTIFY_CONFIG` (clap merges the two).
    Given,
    /// `$XDG_CONFIG_HOME/mmnotify/config.toml` or `~/.config/mmnotify/config.toml`.
    User,
    /// [`SYSTEM_PATH`].
    System,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Located {
    pub(crate) path: PathBuf,
    pub(crate) origin: Origin,
}

/// Finds the config file. `given` is `--config FILE`, which clap fills from
/// `MMNOTIFY_CONFIG` too (a global clap flag with `env` set to that variable); `env`
/// looks up `XDG_CONFIG_HOME` and `HOME` (`&|k| std::env::var_os(k)` in production).
/// `Ok(None)`: no config. A given path is returned whether or not it exists:
/// [`super::load`] then fails with exit 3.
pub(crate) fn locate(
    given: Option<&Path>,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Option<Located>> {
    locate_in(given, env, Path::new(SYSTEM_PATH))
}

/// Finds and loads the config (`build`, `doctor`, and a gateway's SIGHUP): a given file
/// that is missing, and any file found that fails its rules, is exit 3. `None`: none
/// given and nothing at the default paths.
pub(crate) fn find(given: Option<&Path>) -> Result<Option<super::Config>> {
    match locate(given, &|k| std::env::var_os(k))? {
        None => Ok(None),
        Some(located) => Ok(Some(super::load(&located.path)?)),
    }
}

fn locate_in(
    given: Option<&Path>,
    env: &dyn Fn(&str) -> Option<OsString>,
    system: &Path,
) -> Result<Option<Located>> {
    if let Some(path) = given.filter(|p| !p.as_os_str().is_empty()) {
        refuse_url_as_path(path.as_os_str(), "--config (or MMNOTIFY_CONFIG)")?;
        return Ok(Some(Located {
            path: path.to_path_buf(),
            origin: Origin::Given,
        }));
    }
    let candidates = user_path(env)
        .map(|p| (p, Origin::User))
        .into_iter()
        .chain([(system.to_path_buf(), Origin::System)]);
    for (path, origin) in candidates {
        if present(&path) {
            return Ok(Some(Located { path, origin }));
        }
    }
    Ok(None)
}

/// The user's default config: `$XDG_CONFIG_HOME/mmnotify/config.toml`, else
/// `~/.config/mmnotify/config.toml`; `None` without an absolute `HOME` either.
pub(crate) fn user_path(env: &dyn Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |k: &str| env(k).filter(|v| !v.is_empty());
    // The XDG spec: a relative XDG_CONFIG_HOME is invalid and ignored.
    let dir = set("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            set("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|h| h.join(".config"))
        })?;
    Some(dir.join("mmnotify").join("config.toml"))
}

/// Whether a default path holds something. Only "not there" skips it: a file we may not
/// reach (a directory without search permission) is reported when it is loaded, rather
/// than silently leaving its routes out.
fn present(path: &Path) -> bool {
    match std::fs::symlink_metadata(path) {
        Ok(_) => true,
        Err(e) => !matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{exit_kind, ExitKind};
    use std::collections::HashMap;

    fn env_of(vars: &[(&str, &Path)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.as_os_str().to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn search_order() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let xdg = dir.path().join("xdg");
        let system = dir.path().join("etc.toml");
        let find = |env: &dyn Fn(&str) -> Option<OsString>, flag: Option<&Path>| {
            locate_in(flag, env, &system).unwrap()
        };
        let env = env_of(&[("HOME", &home), ("XDG_CONFIG_HOME", &xdg)]);
        assert_eq!(find(&env, None), None);

        std::fs::write(&system, "").unwrap();
        assert_eq!(find(&env, None).unwrap().origin, Origin::System);

        let home_cfg = home.join(".config/mmnotify/config.toml");
        std::fs::create_dir_all(home_cfg.parent().unwrap()).unwrap();
        std::fs::write(&home_cfg, "").unwrap();
        // XDG_CONFIG_HOME set: ~/.config is not looked at.
        assert_eq!(find(&env, None).unwrap().origin, Origin::System);
        let env_home = env_of(&[("HOME", &home)]);
        assert_eq!(
            find(&env_home, None),
            Some(Located {
                path: home_cfg.clone(),
                origin: Origin::User
            })
        );
        // A relative XDG_CONFIG_HOME is ignored.
        let env_rel = env_of(&[("HOME", &home), ("XDG_CONFIG_HOME", Path::new("rel"))]);
        assert_eq!(find(&env_rel, None).unwrap().path, home_cfg);

        let xdg_cfg = xdg.join("mmnotify/config.toml");
        std::fs::create_dir_all(xdg_cfg.parent().unwrap()).unwrap();
        std::fs::write(&xdg_cfg, "").unwrap();
        assert_eq!(find(&env, None).unwrap().path, xdg_cfg);

        // Given: beats the defaults, returned even when missing (loading it is exit 3).
        let missing = dir.path().join("missing.toml");
        assert_eq!(
            find(&env, Some(&missing)),
            Some(Located {
                path: missing.clone(),
                origin: Origin::Given
            })
        );
        // An empty --config= counts as not given.
        assert_eq!(find(&env, Some(Path::new(""))).unwrap().path, xdg_cfg);
        let err = super::super::load(&missing).unwrap_err();
        assert_eq!(exit_kind(&err), ExitKind::Config);
    }

    #[test]
    fn a_dangling_symlink_at_a_default_path_is_not_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("mmnotify/config.toml");
        std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(dir.path().join("gone"), &cfg).unwrap();
        let env = env_of(&[("XDG_CONFIG_HOME", dir.path())]);
        let found = locate_in(None, &env, &dir.path().join("none")).unwrap();
        assert_eq!(found.unwrap().path, cfg);
    }

    #[test]
    fn a_url_as_the_config_path_is_refused_without_echo() {
        let url = "https://chat.example.com/hooks/pq3wxk8bmjsyr9cn5ue7tdo1ha";
        let err = locate(Some(Path::new(url)), &|_| None).unwrap_err();
        assert_eq!(exit_kind(&err), ExitKind::Config);
        assert!(!format!("{err:#}").contains("pq3wxk8b"), "{err:#}");
    }
}
