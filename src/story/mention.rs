//! Who should look: the `[people]` map from CI logins and e-mail addresses to
//! Mattermost usernames, and the `cc @alice @jane` that ends a build post's text.
//! These mentions are the only `@` a build post may carry unescaped: everything from
//! event data goes through [`crate::text::markdown::escape`], as the rest of the post.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use crate::text::markdown;

/// Names that would notify a whole channel, or that Mattermost reserves.
const RESERVED: [&str; 5] = ["all", "channel", "here", "matterbot", "system"];

/// A Mattermost username that may follow `@`: what the server accepts
/// (`model.IsValidUsername`: 1 to 64 characters of lower-case letters, digits, `.`, `-`
/// and `_`; the sign-up page's 3 to 22 starting with a letter does not bind LDAP or SAML
/// accounts), and not one of the words that notify a whole channel (`all`, `channel`,
/// `here`, also with trailing `.`, `-`, `_`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Username(String);

impl Username {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Username {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let len = s.chars().count();
        let shape = (1..=64).contains(&len)
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c));
        if !shape {
            // Debug-quoted: the value may hold control characters.
            return Err(format!(
                "{s:?} is not a Mattermost username: 1 to 64 lower-case letters, digits, `.`, \
                 `-` or `_`"
            ));
        }
        // Mattermost drops a mention's trailing `.`, `-`, `_` (the end of a sentence)
        // until it finds a match: `@all.` notifies the whole channel as `@all` does.
        if RESERVED.contains(&s) || RESERVED.contains(&s.trim_end_matches(['.', '-', '_'])) {
            return Err(format!(
                "{s:?} would notify a whole channel (or is reserved), never a person"
            ));
        }
        Ok(Username(s.to_string()))
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The `[people]` map: logins matched exactly, e-mail addresses (keys holding `@`)
/// case-insensitively.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct People {
    logins: HashMap<String, Username>,
    emails: HashMap<String, Username>,
}

impl People {
    /// Adds one entry. A later entry for the same e-mail in another case wins; the
    /// config loader refuses such duplicates before they get here.
    pub(crate) fn insert(&mut self, who: &str, user: Username) {
        if who.contains('@') {
            self.emails.insert(who.to_lowercase(), user);
        } else {
            self.logins.insert(who.to_string(), user);
        }
    }

    /// Whether `who` is already a key (e-mails compared case-insensitively).
    pub(crate) fn contains(&self, who: &str) -> bool {
        if who.contains('@') {
            self.emails.contains_key(&who.to_lowercase())
        } else {
            self.logins.contains_key(who)
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.logins.len() + self.emails.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The username for an `actor` or `author` (GitLab's `Name <email>` is looked up by
    /// its e-mail).
    pub(crate) fn lookup(&self, who: &str) -> Option<&Username> {
        let who = author_address(who);
        if who.contains('@') {
            self.emails.get(&who.to_lowercase())
        } else {
            self.logins.get(who)
        }
    }
}

/// The e-mail of GitLab's `CI_COMMIT_AUTHOR` form `Name <email>`; anything else trimmed
/// as it is.
pub(crate) fn author_address(author: &str) -> &str {
    let t = author.trim();
    match (t.rfind('<'), t.strip_suffix('>')) {
        (Some(open), Some(inner)) => inner[open + 1..].trim(),
        _ => t,
    }
}

/// Who a post mentions: mapped users (each once, in order actor, author, `--mention`),
/// and the actor's name when it has no mapping (shown without `@`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Mentions {
    pub(crate) users: Vec<Username>,
    pub(crate) unmapped_actor: Option<String>,
}

impl Mentions {
    /// Call only for an event that passes `--mention-on`.
    pub(crate) fn new(
        people: &People,
        actor: Option<&str>,
        author: Option<&str>,
        extra: &[Username],
    ) -> Mentions {
        let mut m = Mentions::default();
        let actor = actor.map(str::trim).filter(|a| !a.is_empty());
        match actor.map(|a| (a, people.lookup(a))) {
            Some((_, Some(user))) => m.add(user.clone()),
            Some((name, None)) => m.unmapped_actor = Some(name.to_string()),
            None => {}
        }
        if let Some(user) = author.and_then(|a| people.lookup(a)) {
            m.add(user.clone());
        }
        for user in extra {
            m.add(user.clone());
        }
        m
    }

    fn add(&mut self, user: Username) {
        if !self.users.contains(&user) {
            self.users.push(user);
        }
    }

    /// `cc @alice @jane` (the unmapped actor first, by name, neutralised like any
    /// event data); `None` when there is no one.
    pub(crate) fn cc_line(&self) -> Option<String> {
        let mut parts: Vec<String> = Vec::new();
        if let Some(a) = &self.unmapped_actor {
            parts.push(markdown::escape(a));
        }
        parts.extend(self.users.iter().map(|u| format!("@{u}")));
        (!parts.is_empty()).then(|| format!("cc {}", parts.join(" ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::sanitize::FENCE_BREAK;
    use proptest::prelude::*;

    fn user(s: &str) -> Username {
        s.parse().unwrap()
    }

    fn people() -> People {
        let mut p = People::default();
        p.insert("octocat", user("alice"));
        p.insert("Jane@Example.com", user("jane"));
        p.insert("bob", user("jane"));
        p
    }

    #[test]
    fn username_rules() {
        let longest = "a".repeat(64);
        for ok in [
            "abc",
            "alice",
            "j.doe",
            "a-b_c9",
            "ab",
            "x",
            "a2345678901234567890123",
            "1abc",
            "_abc",
            &longest,
        ] {
            assert!(ok.parse::<Username>().is_ok(), "{ok}");
        }
        let too_long = "a".repeat(65);
        for bad in [
            &too_long, "Alice", "al ice", "al@ice", "channel", "all", "here", "", "ałice",
        ] {
            assert!(bad.parse::<Username>().is_err(), "{bad}");
        }
    }

    #[test]
    fn logins_exact_emails_any_case() {
        let p = people();
        assert_eq!(p.lookup("octocat").map(Username::as_str), Some("alice"));
        assert_eq!(p.lookup("Octocat"), None);
        assert_eq!(
            p.lookup("jane@example.COM").map(Username::as_str),
            Some("jane")
        );
        assert_eq!(
            p.lookup("Jane Doe <JANE@example.com>")
                .map(Username::as_str),
            Some("jane")
        );
        assert!(p.contains("JANE@EXAMPLE.COM"));
        assert_eq!(p.len(), 3);
        assert!(!p.is_empty() && People::default().is_empty());
    }

    #[test]
    fn gitlab_author_form() {
        assert_eq!(
            author_address("Jane Doe <jane@example.com>"),
            "jane@example.com"
        );
        assert_eq!(author_address(" jane@example.com "), "jane@example.com");
        assert_eq!(author_address("a <b> c"), "a <b> c");
        assert_eq!(author_address("<x@y>"), "x@y");
    }

    #[test]
    fn cc_line_each_once_in_order() {
        let p = people();
        let m = Mentions::new(
            &p,
            Some("octocat"),
            Some("Jane Doe <jane@example.com>"),
            &[user("carol"), user("alice")],
        );
        assert_eq!(m.cc_line().as_deref(), Some("cc @alice @jane @carol"));
        // Actor and author mapping to one user: mentioned once.
        let m = Mentions::new(&p, Some("bob"), Some("jane@example.com"), &[]);
        assert_eq!(m.cc_line().as_deref(), Some("cc @jane"));
        assert_eq!(Mentions::new(&p, None, None, &[]).cc_line(), None);
        // An unmapped author is not shown (an e-mail address is not a name to print).
        assert_eq!(Mentions::new(&p, None, Some("x@y.z"), &[]).cc_line(), None);
    }

    #[test]
    fn unmapped_actor_pings_no_one() {
        let p = People::default();
        for hostile in ["@channel", "@all", "channel", "x @here y"] {
            let line = Mentions::new(&p, Some(hostile), None, &[])
                .cc_line()
                .unwrap();
            for word in ["@channel", "@all", "@here"] {
                assert!(!line.contains(word), "{line}");
            }
            assert!(!line.contains("@c") || line.contains(FENCE_BREAK), "{line}");
        }
        assert_eq!(
            Mentions::new(&p, Some("octocat"), None, &[])
                .cc_line()
                .as_deref(),
            Some("cc octocat")
        );
    }

    proptest! {
        /// Whatever the event data says, the only `@` that is followed by a letter is one
        /// of a validated username.
        #[test]
        fn only_usernames_ping(actor in ".{0,40}", author in ".{0,40}") {
            let line = Mentions::new(&people(), Some(&actor), Some(&author), &[]).cc_line();
            if let Some(line) = line {
                for (i, _) in line.match_indices('@') {
                    let rest = &line[i + 1..];
                    let name: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                    prop_assert!(
                        name.starts_with(FENCE_BREAK) || name.parse::<Username>().is_ok(),
                        "{line:?}"
                    );
                }
            }
        }
    }
}
