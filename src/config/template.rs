//! The placeholders of `[templates]`: those of `--text-template` plus the story's, and
//! the check that refuses an unknown one when the config loads (exit 3, naming it).
//! The syntax is `--text-template`'s: `{name}`, `{{` and `}}` for literal braces.

use crate::build_event::build_message::placeholder_names;

/// What a `[templates]` entry may use beyond `--text-template`'s placeholders.
pub(crate) const STORY_PLACEHOLDERS: [&str; 9] = [
    "transition",
    "streak",
    "since",
    "broken_for",
    "previous_state",
    "actor",
    "author",
    "mention",
    "duration",
];

fn known(name: &str) -> bool {
    STORY_PLACEHOLDERS.contains(&name) || placeholder_names().any(|n| n == name)
}

/// Every placeholder, as `{a} {b} …`, for messages.
pub(crate) fn known_list() -> String {
    let mut names: Vec<&str> = placeholder_names().collect();
    for n in STORY_PLACEHOLDERS {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    names
        .iter()
        .map(|n| format!("{{{n}}}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks one template; the error says what is wrong (an unknown placeholder by name,
/// control characters escaped) without the exit code or the place, which the caller
/// adds.
pub(crate) fn check(t: &str) -> Result<(), String> {
    let mut rest = t;
    while let Some(at) = rest.find(['{', '}']) {
        let tail = &rest[at..];
        let column = t[..t.len() - tail.len()].chars().count() + 1;
        if let Some(after) = tail.strip_prefix("{{").or_else(|| tail.strip_prefix("}}")) {
            rest = after;
        } else if tail.starts_with('}') {
            return Err(format!(
                "unmatched `}}` at column {column}: write `}}}}` for a literal brace"
            ));
        } else {
            let body = &tail[1..];
            let end = match body.find(['{', '}']) {
                Some(end) if body[end..].starts_with('}') => end,
                _ => {
                    return Err(format!(
                        "unclosed `{{` at column {column}: write `{{{{` for a literal brace"
                    ))
                }
            };
            let name = &body[..end];
            if !known(name) {
                return Err(format!(
                    "unknown placeholder `{{{}}}`: known placeholders are {}",
                    super::shown(name),
                    known_list()
                ));
            }
            rest = &body[end + 1..];
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build_event::build_message::check_template;
    use proptest::prelude::*;

    #[test]
    fn story_and_text_template_placeholders() {
        assert_eq!(
            check("{emoji} {workflow} broke on {branch} {mention}"),
            Ok(())
        );
        for p in STORY_PLACEHOLDERS {
            assert_eq!(check(&format!("x {{{p}}} y")), Ok(()), "{p}");
        }
        for p in placeholder_names() {
            assert_eq!(check(&format!("{{{p}}}")), Ok(()), "{p}");
        }
        assert_eq!(check("{{literal}} }} {{"), Ok(()));
        let err = check("{emoji} {brnach}").unwrap_err();
        assert!(
            err.contains("`{brnach}`") && err.contains("{streak}"),
            "{err}"
        );
        assert!(check("a } b").unwrap_err().contains("column 3"));
        assert!(check("a {b").unwrap_err().contains("unclosed"));
        assert!(check("a {b{c}").unwrap_err().contains("unclosed"));
        assert!(!check("{\u{1b}[2J}").unwrap_err().contains('\u{1b}'));
    }

    proptest! {
        /// Without story placeholders, the config's check agrees with `--text-template`'s.
        #[test]
        fn agrees_with_text_template(t in "([a-z ]|\\{|\\}|\\{workflow\\}|\\{emoji\\}|\\{nope\\}){0,12}") {
            prop_assert_eq!(check(&t).is_ok(), check_template(&t).is_ok(), "{:?}", t);
        }
    }
}
