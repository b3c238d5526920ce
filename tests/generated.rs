//! completions/ and man/ are generated from the clap definition and checked in. These tests
//! fail when they drift; `MMNOTIFY_REGENERATE=1 cargo test --test integration generated`
//! rewrites them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap_complete::{Generator, Shell};

const SHELLS: [Shell; 5] = [
    Shell::Bash,
    Shell::Zsh,
    Shell::Fish,
    Shell::Elvish,
    Shell::PowerShell,
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn completions() -> BTreeMap<String, String> {
    SHELLS
        .iter()
        .map(|shell| {
            let mut cmd = mmnotify::cli::command();
            let mut buf = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "mmnotify", &mut buf);
            (shell.file_name("mmnotify"), String::from_utf8(buf).unwrap())
        })
        .collect()
}

fn man_pages() -> BTreeMap<String, String> {
    let tmp = tempfile::tempdir().unwrap();
    clap_mangen::generate_to(mmnotify::cli::command(), tmp.path()).unwrap();
    read_dir(tmp.path())
}

fn read_dir(dir: &Path) -> BTreeMap<String, String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

fn check(dir: &str, expected: BTreeMap<String, String>) {
    let dir = repo().join(dir);
    if std::env::var_os("MMNOTIFY_REGENERATE").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for name in read_dir(&dir).keys() {
            std::fs::remove_file(dir.join(name)).unwrap();
        }
        for (name, text) in &expected {
            std::fs::write(dir.join(name), text).unwrap();
        }
        return;
    }
    let actual = read_dir(&dir);
    let stale: Vec<_> = expected
        .iter()
        .filter(|(name, text)| actual.get(*name) != Some(*text))
        .map(|(name, _)| name.clone())
        .chain(
            actual
                .keys()
                .filter(|n| !expected.contains_key(*n))
                .cloned(),
        )
        .collect();
    assert!(
        stale.is_empty(),
        "{} is out of date with the clap definition ({}): run \
         `MMNOTIFY_REGENERATE=1 cargo test --test integration generated` and commit the result",
        dir.display(),
        stale.join(", ")
    );
}

#[test]
fn completions_match_the_cli() {
    check("completions", completions());
}

#[test]
fn man_pages_match_the_cli() {
    check("man", man_pages());
}

#[test]
fn runtime_completions_match_the_checked_in_files() {
    for shell in SHELLS {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mmnotify"))
            .args(["completions", &shell.to_string()])
            .output()
            .unwrap();
        assert!(out.status.success());
        let file = repo().join("completions").join(shell.file_name("mmnotify"));
        let want = std::fs::read(&file).unwrap();
        assert!(
            out.stdout == want,
            "{} differs from `mmnotify completions {shell}`",
            file.display()
        );
    }
}

#[test]
fn help_never_shows_environment_values() {
    let secret = "https://chat.example.com/hooks/pq3wxk8bmjsyr9cn5ue7tdo1ha";
    for sub in ["send", "build", "run", "probe", "doctor", "flush"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mmnotify"))
            .args([sub, "--help"])
            .env("MMNOTIFY_WEBHOOK_FILE", secret)
            .env("MMNOTIFY_PROXY", "http://user:pw@proxy:3128")
            .env("MATTERMOST_WEBHOOK_URL", secret)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success());
        assert!(text.contains("--webhook-file"), "{sub}: {text}");
        assert!(
            !text.contains("pq3wxk8b"),
            "{sub} --help shows the webhook: {text}"
        );
        assert!(
            !text.contains("user:pw"),
            "{sub} --help shows proxy credentials"
        );
    }
}

#[test]
fn version_names_the_commit_and_the_tls_backend() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mmnotify"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let expected = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(repo())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    assert!(
        text.starts_with(concat!("mmnotify ", env!("CARGO_PKG_VERSION"), "\n")),
        "{text}"
    );
    assert!(text.contains(&format!("commit: {expected}\n")), "{text}");
    assert!(text.contains("TLS: rustls 0.23."), "{text}");
    assert!(text.contains("system store"), "{text}");
}
