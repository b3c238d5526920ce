//! Names the git commit and the rustls version in `mmnotify --version`, so a bug report
//! says exactly what was built. Outside a git checkout (a source tarball, `cargo install`
//! from crates.io) the commit is "unknown".

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

/// The version of `rustls` this build links, read from Cargo.lock.
fn rustls_version() -> Option<String> {
    let lock = std::fs::read_to_string("Cargo.lock").ok()?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"rustls\"" {
            let v = lines
                .next()?
                .strip_prefix("version = \"")?
                .strip_suffix('"')?;
            return Some(v.to_string());
        }
    }
    None
}

fn main() {
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=MMNOTIFY_GIT_COMMIT={commit}");
    let rustls = rustls_version().unwrap_or_else(|| "0.23".into());
    println!("cargo:rustc-env=MMNOTIFY_RUSTLS_VERSION={rustls}");
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=MMNOTIFY_TARGET={target}");

    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=Cargo.lock");
    // HEAD moves on checkout; the branch's ref (loose or packed) moves on commit. Their
    // paths come from git because in a worktree `.git` is a file, not a directory; only
    // existing paths are named (cargo reruns every build for a missing one).
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            if Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
}
