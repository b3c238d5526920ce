use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;
use crate::build_event::event::State;
use crate::error::{exit_kind, ExitKind};
use crate::story::history::{JobKey, Transition};

const ID: &str = "pq3wxk8bmjsyr9cn5ue7tdo1ha";

fn p(text: &str) -> Result<Config> {
    parse(text, Path::new("/cfg.toml"))
}

/// The message of a refused config, checked to be exit 3.
fn refused(text: &str) -> String {
    let err = p(text).unwrap_err();
    assert_eq!(exit_kind(&err), ExitKind::Config, "{err:#}");
    format!("{err:#}")
}

fn write(dir: &Path, text: &str, mode: u32) -> PathBuf {
    let path = dir.join("config.toml");
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[test]
fn a_full_config_loads() {
    let cfg = p(r#"
default_webhook = "ops"
[people]
octocat = "alice"
"Jane@Example.com" = "jane"
[[route]]
webhook = "prod-alerts"
repository = "acme/*"
branch = ["main", "release/*"]
on = "changes"
[[route]]
webhook = "everything"
workflow = ["*"]
[templates]
broken = "{emoji} {workflow} broke on {branch} {mention}"
"#)
    .unwrap();
    assert_eq!(cfg.default_webhook.as_deref(), Some("ops"));
    assert_eq!(
        cfg.people.lookup("jane@example.com").unwrap().as_str(),
        "jane"
    );
    let job = JobKey::new(Some("acme/app"), "CI", Some("release/1"));
    let names: Vec<&str> = cfg
        .matching_routes(&job)
        .map(|r| r.webhook.as_str())
        .collect();
    assert_eq!(names, ["prod-alerts", "everything"]);
    let other = JobKey::new(Some("acme/app"), "CI", None);
    let names: Vec<&str> = cfg
        .matching_routes(&other)
        .map(|r| r.webhook.as_str())
        .collect();
    assert_eq!(names, ["everything"]);
    let on = cfg.routes[0].on.as_ref().unwrap();
    assert!(on.passes(State::Failed, Some(Transition::Broken), 1, None));
    assert_eq!(
        cfg.templates.pick(Some(Transition::Broken), State::Failed),
        Some("{emoji} {workflow} broke on {branch} {mention}")
    );
    // Mention gates: route over config over `broken`.
    assert_eq!(cfg.mention_on(Some(&cfg.routes[0])).names(), ["broken"]);
}

#[test]
fn mention_on_precedence() {
    let cfg = p("mention_on = [\"failures\"]\n[[route]]\nwebhook = \"a\"\nmention_on = \"fixed\"\n[[route]]\nwebhook = \"b\"\n").unwrap();
    assert_eq!(cfg.mention_on(Some(&cfg.routes[0])).names(), ["fixed"]);
    assert_eq!(cfg.mention_on(Some(&cfg.routes[1])).names(), ["failures"]);
    assert_eq!(cfg.mention_on(None).names(), ["failures"]);
}

#[test]
fn unknown_keys_and_wrong_types_name_key_and_line() {
    let msg =
        refused("default_webhook = \"ops\"\n\n[[route]]\nwebhook = \"a\"\nbrnach = \"main\"\n");
    assert!(msg.contains("line 5") && msg.contains("brnach"), "{msg}");
    let msg = refused("defualt_webhook = \"ops\"\n");
    assert!(
        msg.contains("line 1") && msg.contains("defualt_webhook"),
        "{msg}"
    );
    let msg = refused("[[route]]\nwebhook = 3\n");
    assert!(msg.contains("line 2") && msg.contains("`webhook`"), "{msg}");
    let msg = refused("[[route]]\nwebhook = \"a\"\nbranch = [1]\n");
    assert!(msg.contains("line 3") && msg.contains("`branch`"), "{msg}");
    let msg = refused("[templates]\nbroke = \"x\"\n");
    assert!(msg.contains("line 2") && msg.contains("broke"), "{msg}");
    let msg = refused("[[route]]\nchannel = \"ops\"\n");
    assert!(msg.contains("webhook"), "{msg}");
    let msg = refused("[people]\noctocat = \"Alice\"\n");
    assert!(
        msg.contains("line 2") && msg.contains("people.octocat"),
        "{msg}"
    );
    let msg = refused("[people]\noctocat = \"channel\"\n");
    assert!(msg.contains("whole channel"), "{msg}");
    let msg = refused("[people]\n\"a@x.org\" = \"alice\"\n\"A@X.org\" = \"bob\"\n");
    assert!(msg.contains("twice"), "{msg}");
    let msg = refused("[[route]]\nwebhook = \"a\"\non = [\"broken\", \"borken\"]\n");
    assert!(msg.contains("line 3") && msg.contains("borken"), "{msg}");
    let msg = refused("[[route]]\nwebhook = \"a\"\nbranch = []\n");
    assert!(msg.contains("line 3") && msg.contains("empty"), "{msg}");
    let msg = refused("[[route]]\nwebhook = \"a\"\nchannel = \"two words\"\n");
    assert!(msg.contains("line 3") && msg.contains("channel"), "{msg}");
    let msg = refused("x = = 1\n");
    assert!(msg.contains("line 1"), "{msg}");
}

#[test]
fn webhook_names_follow_the_webhook_rule() {
    for bad in ["", ".hidden", "a/b", "a b", "../ops"] {
        let msg = refused(&format!("[[route]]\nwebhook = {bad:?}\n"));
        assert!(
            msg.contains("line 2") && msg.contains("invalid webhook name"),
            "{msg}"
        );
    }
    let msg = refused("default_webhook = \"x y\"\n");
    assert!(msg.contains("default_webhook"), "{msg}");
    assert!(p("[[route]]\nwebhook = \"build-status.v2_x\"\n").is_ok());
}

#[test]
fn unknown_template_placeholders_are_refused_naming_them() {
    let msg = refused("[templates]\ndefault = \"ok\"\nfixed = \"{workflow} {fixxed}\"\n");
    assert!(
        msg.contains("line 3") && msg.contains("{fixxed}") && msg.contains("templates.fixed"),
        "{msg}"
    );
    assert!(p("[templates]\nstill_failing = \"{streak} {since} {broken_for} {previous_state} {actor} {author} {duration} {transition}\"\n").is_ok());
}

#[test]
fn secrets_are_refused_without_echo() {
    let hook = format!("https://chat.example.com/hooks/{ID}");
    for text in [
        format!("default_webhook = \"{hook}\"\n"),
        format!("[[route]]\nwebhook = \"{hook}\"\n"),
        format!("[people]\n\"{hook}\" = \"alice\"\n"),
        format!("# old: {hook}\n"),
        format!("[templates]\ndefault = \"see /hooks/{ID}\"\n"),
        "x = 1\n[[route]]\nwebhook = \"redis://:s3cretpw@redis.example:6379/0\"\n".to_string(),
        "[[route]]\nwebhook = \"rediss://user:s3cretpw@redis\"\n".to_string(),
        "[[route]]\nwebhook = \"redis://s3cretpw@redis\"\n".to_string(),
        "[[route]]\nwebhook = 'redis+sentinel://u:s3cretpw@h:26379/m'\n".to_string(),
        "[[route]]\nwebhook = \"https://u:s3cretpw@chat.example.com/\"\n".to_string(),
    ] {
        let msg = refused(&text);
        assert!(
            !msg.contains(&ID[..8]) && !msg.contains("s3cretpw"),
            "{msg}"
        );
        assert!(msg.contains("holds no secrets"), "{msg}");
    }
    let msg = refused("x\n[[route]]\nwebhook = \"redis://:s3cretpw@h\"\n");
    assert!(msg.contains("line 3"), "{msg}");
    // A URL without credentials is not a secret (but not a webhook NAME either).
    let msg = refused("[[route]]\nwebhook = \"redis://redis.example:6379\"\n");
    assert!(
        msg.contains("invalid webhook name") && !msg.contains("secrets"),
        "{msg}"
    );
    // A bare token in a TOML error is shortened.
    let msg = refused(&format!("[[route]]\nwebhook = \"a\"\n{ID} = 1\n"));
    assert!(!msg.contains(ID), "{msg}");
}

#[test]
fn trust_rules_on_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for mode in [0o600, 0o640, 0o644, 0o444] {
        let path = write(dir.path(), "[[route]]\nwebhook = \"ops\"\n", mode);
        let cfg = load(&path).unwrap();
        assert_eq!((cfg.routes.len(), cfg.path), (1, path));
    }
    for (mode, fix) in [
        (0o666, "chmod 0644"),
        (0o620, "chmod 0600"),
        (0o646, "chmod 0644"),
    ] {
        let path = write(dir.path(), "", mode);
        let err = load(&path).unwrap_err();
        assert_eq!(exit_kind(&err), ExitKind::Config);
        let msg = format!("{err:#}");
        assert!(msg.contains(fix) && msg.contains("config file"), "{msg}");
    }
    // Symlinks are followed; a directory or a FIFO is not a config (and does not hang).
    let target = write(dir.path(), "", 0o644);
    let link = dir.path().join("link.toml");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert!(load(&link).is_ok());
    let msg = format!("{:#}", load(dir.path()).unwrap_err());
    assert!(msg.contains("not a regular file"), "{msg}");
    let fifo = dir.path().join("fifo.toml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let msg = format!("{:#}", load(&fifo).unwrap_err());
    assert!(msg.contains("not a regular file"), "{msg}");
}

#[test]
fn size_and_encoding_limits() {
    let dir = tempfile::tempdir().unwrap();
    let big = format!(
        "# {}\n",
        "x".repeat(usize::try_from(MAX_CONFIG_BYTES).unwrap())
    );
    let path = write(dir.path(), &big, 0o644);
    let msg = format!("{:#}", load(&path).unwrap_err());
    assert!(msg.contains("larger than 1024 KiB"), "{msg}");
    let path = dir.path().join("latin1.toml");
    fs::write(&path, b"# caf\xe9\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let msg = format!("{:#}", load(&path).unwrap_err());
    assert!(msg.contains("not UTF-8"), "{msg}");
}

/// The Debian package's example: loads as shipped (all comments, so installing the
/// package changes nothing), and with its example lines uncommented.
#[test]
fn the_packaged_example_loads() {
    let text = include_str!("../../../pkg/debian/config.toml");
    let shipped = p(text).unwrap();
    assert!(shipped.routes.is_empty() && shipped.people.is_empty());
    // Example lines start with `# ` (prose with `## `): uncomment them.
    let uncommented: String = text
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(code) if !l.starts_with("## ") => code,
            _ => l,
        })
        .fold(String::new(), |mut acc, l| {
            acc.push_str(l);
            acc.push('\n');
            acc
        });
    let cfg = p(&uncommented).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(cfg.routes.len() >= 2, "{cfg:?}");
    assert!(cfg.people.len() >= 2 && cfg.default_webhook.is_some());
    assert!(!cfg.templates.keys().is_empty());
}

proptest! {
    /// Whatever the text, parsing ends in a config or an exit 3, and no message holds
    /// a hook id or the password of a URL, however the file is mangled around them.
    #[test]
    fn hostile_text_never_echoes_secrets(
        before in "[ -~\n]{0,40}", after in "[ -~\n]{0,40}", pick in 0usize..3
    ) {
        let secret = [
            format!("https://c.example/hooks/{ID}"),
            "redis://:s3cretpw@h:6379".to_string(),
            format!("/hooks/{ID}"),
        ][pick].clone();
        let text = format!("{before}{secret}{after}");
        if let Err(err) = p(&text) {
            prop_assert_eq!(exit_kind(&err), ExitKind::Config);
            let msg = format!("{err:#}");
            prop_assert!(!msg.contains(&ID[..8]) && !msg.contains("s3cretpw"), "{}", msg);
        }
    }

    /// Arbitrary text never panics the loader and only ever fails with exit 3.
    #[test]
    fn any_text_is_config_or_exit_3(text in "\\PC{0,200}") {
        if let Err(err) = p(&text) {
            prop_assert_eq!(exit_kind(&err), ExitKind::Config);
        }
    }
}

/// A hostile file nested 100,000 deep is an exit 3 (toml's recursion limit), not a
/// stack overflow.
#[test]
fn deep_nesting_is_refused_not_a_crash() {
    let depth = 100_000;
    for text in [
        format!("people = {}{}\n", "[".repeat(depth), "]".repeat(depth)),
        format!("x = {}1{}\n", "{a=".repeat(depth), "}".repeat(depth)),
    ] {
        let msg = refused(&text);
        assert!(msg.contains("line 1") && msg.contains("recursion"), "{msg}");
    }
}
