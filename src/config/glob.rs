//! The globs of a `[[route]]`: `*` matches any characters (`/` included: the contract
//! says "any characters", and `release/*` should match `release/2026/q4`); every other
//! character matches itself. A list matches when any of its globs does.

use std::fmt;

/// One glob, kept as the pieces between its stars.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Glob {
    text: String,
}

impl Glob {
    pub(crate) fn new(text: &str) -> Glob {
        Glob {
            text: text.to_string(),
        }
    }

    /// Whether `s` matches. Linear in `s` for any glob (the leftmost match of each
    /// piece between stars is the right one, and `str::find` is linear), so a hostile
    /// glob cannot make matching slow.
    pub(crate) fn matches(&self, s: &str) -> bool {
        let mut pieces = self.text.split('*');
        let first = pieces.next().unwrap_or_default();
        let Some(mut rest) = s.strip_prefix(first) else {
            return false;
        };
        let middle: Vec<&str> = pieces.collect();
        let Some((last, middle)) = middle.split_last() else {
            // No star: exact.
            return rest.is_empty();
        };
        for piece in middle {
            match rest.find(piece) {
                Some(at) => rest = &rest[at + piece.len()..],
                None => return false,
            }
        }
        rest.len() >= last.len() && rest.ends_with(last)
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }
}

/// A glob or a list of globs: matches when any does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Globs(pub(crate) Vec<Glob>);

impl Globs {
    pub(crate) fn matches(&self, s: &str) -> bool {
        self.0.iter().any(|g| g.matches(s))
    }
}

impl fmt::Display for Globs {
    /// `main | release/*`, each glob with control characters escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = self.0.iter().map(|g| super::shown(g.as_str())).collect();
        f.write_str(&shown.join(" | "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(glob: &str, s: &str) -> bool {
        Glob::new(glob).matches(s)
    }

    #[test]
    fn stars_and_exact() {
        assert!(m("main", "main"));
        assert!(!m("main", "main2"));
        assert!(!m("main", "Main"));
        assert!(m("release/*", "release/1.2"));
        assert!(m("release/*", "release/2026/q4"));
        assert!(m("release/*", "release/"));
        assert!(!m("release/*", "release"));
        assert!(m("acme/*", "acme/app"));
        assert!(!m("acme/*", "other/acme/app"));
        assert!(m("*", ""));
        assert!(m("**", "x"));
        assert!(m("deploy*", "deploy"));
        assert!(m("*-prod", "eu-prod"));
        assert!(!m("*-prod", "eu-prod2"));
        assert!(m("a*b*c", "abc"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxcyyb"));
        // The last piece must not overlap the ones before it.
        assert!(!m("ab*ba", "aba"));
        assert!(m("ab*ba", "abba"));
        assert!(m("", ""));
        assert!(!m("", "x"));
        // Other glob syntax is literal.
        assert!(m("v?.[0-9]", "v?.[0-9]"));
        assert!(!m("v?", "v1"));
    }

    #[test]
    fn lists_match_any() {
        let g = Globs(vec![Glob::new("main"), Glob::new("release/*")]);
        assert!(g.matches("main") && g.matches("release/x") && !g.matches("dev"));
        assert!(!Globs(vec![]).matches("main"));
        assert_eq!(g.to_string(), "main | release/*");
    }

    #[test]
    fn hostile_globs_stay_fast() {
        // Exponential for a backtracking matcher; linear here.
        let glob = format!("{}b", "*a".repeat(500));
        let s = "a".repeat(100_000);
        assert!(!m(&glob, &s));
    }

    /// A reference matcher by dynamic programming over (glob, text) positions.
    fn reference(glob: &[char], s: &[char]) -> bool {
        let mut dp = vec![vec![false; s.len() + 1]; glob.len() + 1];
        dp[0][0] = true;
        for i in 1..=glob.len() {
            dp[i][0] = dp[i - 1][0] && glob[i - 1] == '*';
            for j in 1..=s.len() {
                dp[i][j] = if glob[i - 1] == '*' {
                    dp[i - 1][j] || dp[i][j - 1]
                } else {
                    dp[i - 1][j - 1] && glob[i - 1] == s[j - 1]
                };
            }
        }
        dp[glob.len()][s.len()]
    }

    proptest! {
        #[test]
        fn agrees_with_the_reference(glob in "[ab*/]{0,8}", s in "[ab/]{0,12}") {
            let g: Vec<char> = glob.chars().collect();
            let t: Vec<char> = s.chars().collect();
            prop_assert_eq!(m(&glob, &s), reference(&g, &t), "{} vs {}", glob, s);
        }

        #[test]
        fn a_string_matches_itself_and_star(s in "[^*]{0,30}") {
            prop_assert!(m(&s, &s));
            prop_assert!(m("*", &s));
        }
    }
}
