//! The named webhooks of a secrets directory: which names exist, and which one a
//! mistyped name most likely meant.

use std::io;
use std::path::Path;

/// The names `NAME` of the `NAME.url` files in `dir`, sorted. Only names that
/// `--webhook` accepts are listed; nothing is opened, so a listing reads no secret.
pub(crate) fn list(dir: &Path) -> io::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(std::result::Result::ok)
        .filter_map(|entry| {
            let file = entry.file_name().into_string().ok()?;
            let name = file.strip_suffix(".url")?;
            super::check_name(name).ok()?;
            Some(name.to_string())
        })
        .collect();
    names.sort();
    Ok(names)
}

/// Edit distance over characters (optimal string alignment): insertions, deletions,
/// substitutions and swaps of two neighbours, each counting one, since `osp` for `ops`
/// is one slip of the fingers.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows suffice: a swap looks back two characters.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j - 1] + cost).min(prev[j] + 1).min(cur[j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The known name closest to `wanted`, if it is close enough to be a typo: at most a
/// third of the longer name differs (and at least one edit is always allowed), or the
/// names differ only in case.
pub(crate) fn closest<'a>(wanted: &str, known: &'a [String]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| {
            let d = if k.eq_ignore_ascii_case(wanted) {
                0
            } else {
                edit_distance(wanted, k)
            };
            (d, k)
        })
        .filter(|(d, k)| *d <= (wanted.chars().count().max(k.chars().count()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("ops", "ops"), 0);
        assert_eq!(edit_distance("ops", ""), 3);
        assert_eq!(edit_distance("", "ops"), 3);
        assert_eq!(edit_distance("osp", "ops"), 1);
        assert_eq!(edit_distance("abc", "ca"), 3);
        assert_eq!(edit_distance("op", "ops"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("dépôt", "depot"), 2);
    }

    #[test]
    fn closest_names() {
        let known: Vec<String> = ["build-status", "ops", "releases"]
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
        assert_eq!(closest("op", &known), Some("ops"));
        assert_eq!(closest("osp", &known), Some("ops"));
        assert_eq!(closest("OPS", &known), Some("ops"));
        assert_eq!(closest("build_status", &known), Some("build-status"));
        assert_eq!(closest("release", &known), Some("releases"));
        assert_eq!(closest("monitoring", &known), None);
        assert_eq!(closest("x", &[]), None);
    }

    #[test]
    fn lists_only_url_files_with_valid_names() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["ops.url", "b.url", ".hidden.url", "notes.txt", "a b.url"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert_eq!(list(dir.path()).unwrap(), ["b", "ops"]);
        assert!(list(&dir.path().join("missing")).is_err());
    }
}
