//! completions/ and man/ are generated from the clap definition and checked in. These tests
//! fail when they drift; `MMNOTIFY_REGENERATE=1 cargo test --test integration generated`
//! rewrites them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap_complete::{Generator, Shell};
use clap_mangen::roff::{bold, italic, roman, Roff};
use mmnotify::cli::help;

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

/// `mmnotify(1)` and one page per subcommand: `clap_mangen`'s sections from the clap
/// definition, then the prose of `mmnotify::cli::help` as roff sections of their own.
fn man_pages() -> BTreeMap<String, String> {
    let mut cmd = mmnotify::cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = BTreeMap::new();
    let main = clap_mangen::Man::new(cmd.clone());
    pages.insert(main.get_filename(), render_page(&main, &cmd, None));
    add_subcommand_pages(&cmd, "", &mut pages);
    pages
}

/// A page per subcommand, nested ones (`spool list`) included.
fn add_subcommand_pages(cmd: &clap::Command, prefix: &str, pages: &mut BTreeMap<String, String>) {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("{prefix}{}", sub.get_name());
        // Subcommands carry no version of their own; the footer names the program's.
        let man = clap_mangen::Man::new(sub.clone())
            .source(concat!("mmnotify ", env!("CARGO_PKG_VERSION")));
        let page = help::page(&name).unwrap_or_else(|| panic!("no help page for `{name}`"));
        pages.insert(man.get_filename(), render_page(&man, sub, Some(page)));
        add_subcommand_pages(sub, &format!("{name} "), pages);
    }
}

fn render_page(man: &clap_mangen::Man, cmd: &clap::Command, page: Option<&help::Page>) -> String {
    let mut out = Vec::new();
    man.render_title(&mut out).unwrap();
    section(&mut out, |w| man.render_name_section(w));
    section(&mut out, |w| man.render_synopsis_section(w));
    section(&mut out, |w| man.render_description_section(w));
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        section(&mut out, |w| man.render_options_section(w));
    }
    if cmd.has_subcommands() {
        section(&mut out, |w| man.render_subcommands_section(w));
    }
    let mut roff = Roff::new();
    match page {
        None => main_sections(&mut roff, cmd),
        Some(page) => {
            for (heading, text) in page.notes {
                roff.control("SH", [heading.to_uppercase().as_str()]);
                roff.text([roman(*text)]);
            }
            examples(&mut roff, page.examples);
            roff.control("SH", ["SEE ALSO"]);
            roff.text([bold("mmnotify"), roman("(1)")]);
        }
    }
    out.extend_from_slice(without_preamble(roff.render().as_bytes()));
    if cmd.get_version().is_some() {
        section(&mut out, |w| man.render_version_section(w));
    }
    String::from_utf8(out).unwrap()
}

/// Appends one of `clap_mangen`'s sections.
fn section(out: &mut Vec<u8>, render: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) {
    let mut buf = Vec::new();
    render(&mut buf).unwrap();
    out.extend_from_slice(without_preamble(&buf));
}

/// Every rendered part starts with the same two lines defining `Aq`; the page needs
/// them once, at the top.
fn without_preamble(roff: &[u8]) -> &[u8] {
    const PREAMBLE: &[u8] = b".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";
    roff.strip_prefix(PREAMBLE).unwrap_or(roff)
}

/// What only `mmnotify(1)` has: the exit codes, the environment, the files, examples
/// of each command, the security notes and the other pages.
fn main_sections(roff: &mut Roff, cmd: &clap::Command) {
    roff.control("SH", ["EXIT STATUS"]);
    definitions(roff, help::EXIT_CODES);
    roff.control("PP", []).text([roman(help::RUN_EXIT)]);
    roff.control("SH", ["ENVIRONMENT"]);
    definitions(roff, help::ENVIRONMENT);
    roff.control("SH", ["FILES"]);
    for (path, text) in help::FILES {
        roff.control("TP", [])
            .text([italic(*path)])
            .text([roman(*text)]);
    }
    // The first example of each page, each command line once: `spool` and `spool list`
    // open with the same one.
    let mut firsts: Vec<help::Example> = Vec::new();
    for (what, command) in help::PAGES.iter().filter_map(|p| p.examples.first()) {
        if !firsts.iter().any(|(_, c)| c == command) {
            firsts.push((what, command));
        }
    }
    examples(roff, &firsts);
    roff.control("SH", ["SECURITY"]);
    for paragraph in help::SECURITY {
        roff.control("PP", []).text([roman(*paragraph)]);
    }
    roff.control("SH", ["SEE ALSO"]);
    let mut refs = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if !refs.is_empty() {
            refs.push(roman(", "));
        }
        refs.push(bold(format!("mmnotify-{}", sub.get_name())));
        refs.push(roman("(1)"));
    }
    refs.push(roman(", "));
    refs.push(bold("curl"));
    refs.push(roman("(1)"));
    roff.text(refs);
}

fn definitions(roff: &mut Roff, entries: &[help::Entry]) {
    for (term, text) in entries {
        roff.control("TP", [])
            .text([bold(*term)])
            .text([roman(*text)]);
    }
}

fn examples(roff: &mut Roff, examples: &[help::Example]) {
    roff.control("SH", ["EXAMPLES"]);
    for (what, command) in examples {
        roff.control("PP", []).text([roman(*what)]);
        // Indented and unfilled, so the command line stays one line to copy.
        roff.control("RS", ["4"]).control("nf", []);
        roff.text([roman(*command)]);
        roff.control("fi", []).control("RE", []);
    }
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

fn help_text(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mmnotify"))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Each subcommand's help ends with its examples. The README does not claim it fits a
/// screen (at 80×24 the longest does not); the bound (a tripwire, raised knowingly when a
/// command gains options) keeps it from growing unnoticed.
#[test]
fn each_subcommand_help_ends_with_examples() {
    for name in help::PAGES.iter().map(|p| p.name) {
        let mut args: Vec<&str> = name.split(' ').collect();
        args.push("--help");
        let text = help_text(&args);
        let lines = text.lines().count();
        // 100: raised from 90 when build gained --config, --remind-every and --history-ttl
        // (issue 16).
        assert!(
            // 90 before issues 16-18 added the config, fleet and bot flags.
            lines <= 120,
            "`mmnotify {name} --help` has {lines} lines:\n{text}"
        );
        assert!(text.contains("\nExamples:\n  "), "{name}: {text}");
        assert!(text.contains("mmnotify --help"), "{name}: {text}");
        // The table lives in `mmnotify --help` only.
        assert!(!text.contains("HTTP 403"), "{name} repeats the exit codes");
    }
}

/// What the README says of help: `-h` prints the same as `--help`, and `build`'s is the
/// longest, more than one 24-line screen.
#[test]
fn short_help_is_the_long_one_and_build_is_the_longest() {
    let mut longest = ("", 0);
    for name in help::PAGES.iter().map(|p| p.name) {
        let words: Vec<&str> = name.split(' ').collect();
        let long = help_text(&[words.as_slice(), &["--help"]].concat());
        let short = help_text(&[words.as_slice(), &["-h"]].concat());
        assert_eq!(short, long, "`mmnotify {name} -h` differs from --help");
        let lines = long.lines().count();
        if lines > longest.1 {
            longest = (name, lines);
        }
    }
    assert_eq!(longest.0, "build", "{longest:?}");
    assert!(longest.1 > 24, "{longest:?}");
}

/// An example that writes into a directory of the user's creates it first: a fresh
/// account has no ~/.local/share/bash-completion/completions.
#[test]
fn examples_create_the_directories_they_write_to() {
    for page in help::PAGES {
        for (_, command) in page.examples {
            let Some((_, target)) = command.split_once(" > ~/") else {
                continue;
            };
            let dir = target.rsplit_once('/').map_or("", |(d, _)| d);
            assert!(
                command.starts_with(&format!("mkdir -p ~/{dir} && ")),
                "`{command}` writes into ~/{dir} without creating it"
            );
        }
    }
}

#[test]
fn main_help_has_the_exit_codes_and_the_secrets_paragraph() {
    let text = help_text(&["--help"]);
    for (code, meaning) in help::EXIT_CODES {
        assert!(
            text.contains(&format!("  {code:<3} {meaning}\n")),
            "exit code {code} missing:\n{text}"
        );
    }
    assert!(text.contains("The webhook URL is a password"), "{text}");
    assert!(text.contains("MATTERMOST_WEBHOOK_URL"), "{text}");
    // Every line fits an 80-column terminal's worth of text plus margin.
    assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
}

#[test]
fn man_pages_have_the_sections_people_look_for() {
    let pages = man_pages();
    let main = &pages["mmnotify.1"];
    for section in [
        ".SH \"EXIT STATUS\"",
        ".SH ENVIRONMENT",
        ".SH FILES",
        ".SH EXAMPLES",
        ".SH SECURITY",
        ".SH \"SEE ALSO\"",
    ] {
        assert!(main.contains(section), "mmnotify(1) lacks {section}");
    }
    // The table is a list of .TP entries, not a block of pre-wrapped lines.
    assert!(main.contains(".TP\n\\fB44\\fR\nHTTP 404"), "{main}");
    for name in help::PAGES.iter().map(|p| p.name) {
        let page = &pages[&format!("mmnotify-{}.1", name.replace(' ', "-"))];
        assert!(page.contains(".SH EXAMPLES"), "{name} has no EXAMPLES");
        assert!(!page.contains(".SH EXTRA"), "{name}");
    }
}

/// The command lines of a page's EXAMPLES section (the unfilled blocks).
fn example_commands(page: &str) -> Vec<&str> {
    let examples = page
        .split(".SH EXAMPLES\n")
        .nth(1)
        .expect("an EXAMPLES section");
    let examples = examples.split("\n.SH ").next().unwrap();
    examples
        .split(".nf\n")
        .skip(1)
        .map(|block| block.split("\n.fi").next().unwrap())
        .collect()
}

#[test]
fn main_man_page_shows_each_example_once() {
    let pages = man_pages();
    let commands = example_commands(&pages["mmnotify.1"]);
    assert!(commands.len() >= help::PAGES.len() - 1, "{commands:?}");
    for (i, command) in commands.iter().enumerate() {
        assert!(
            !commands[..i].contains(command),
            "mmnotify(1) shows `{command}` twice: {commands:?}"
        );
    }
}

/// Every variable mmnotify reads: clap's `env = …` fallbacks, and the ones the code reads
/// itself (`MMNOTIFY_QUEUE`, `MMNOTIFY_DEDUPE_STORE`, … as string literals in src/
/// outside unit tests; `env!(…)` names are build-time and not read at run time).
fn variables_read() -> std::collections::BTreeSet<String> {
    fn from_clap(cmd: &clap::Command, out: &mut std::collections::BTreeSet<String>) {
        for arg in cmd.get_arguments() {
            if let Some(env) = arg.get_env() {
                out.insert(env.to_string_lossy().into_owned());
            }
        }
        for sub in cmd.get_subcommands() {
            from_clap(sub, out);
        }
    }
    fn from_source(dir: &Path, out: &mut std::collections::BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                from_source(&path, out);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Unit tests (at the end of a file) read switches of their own.
            let text = text.split("#[cfg(test)]").next().unwrap();
            for (i, _) in text.match_indices("\"MMNOTIFY_") {
                if text[..i].ends_with("env!(") {
                    continue;
                }
                let name: String = text[i + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                    .collect();
                if text[i + 1 + name.len()..].starts_with('"') {
                    out.insert(name);
                }
            }
        }
    }
    let mut vars = std::collections::BTreeSet::new();
    from_clap(&mmnotify::cli::command(), &mut vars);
    from_source(&repo().join("src"), &mut vars);
    vars
}

#[test]
fn man_page_environment_names_every_variable_mmnotify_reads() {
    let vars = variables_read();
    for expected in [
        "MMNOTIFY_QUEUE",
        "MMNOTIFY_QUEUE_FILE",
        "MMNOTIFY_DEDUPE_STORE",
        "MMNOTIFY_WEBHOOK_FILE",
    ] {
        assert!(vars.contains(expected), "{expected} not found: {vars:?}");
    }
    let pages = man_pages();
    let main = &pages["mmnotify.1"];
    let environment = main
        .split(".SH ENVIRONMENT\n")
        .nth(1)
        .and_then(|s| s.split("\n.SH ").next())
        .expect("an ENVIRONMENT section");
    let terms: Vec<&str> = environment
        .split(".TP\n\\fB")
        .skip(1)
        .filter_map(|entry| entry.split("\\fR").next())
        .flat_map(|term| term.split(", "))
        .collect();
    let missing: Vec<_> = vars
        .iter()
        .filter(|v| !terms.contains(&v.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "mmnotify(1) ENVIRONMENT lacks {missing:?} (add them to help::ENVIRONMENT)"
    );
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
        // The variable is named (so the value would sit next to it), but not its value.
        assert!(text.contains("[env: MMNOTIFY_PROXY]"), "{sub}: {text}");
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
        .map_or_else(
            || "unknown".to_string(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_string(),
        );
    assert!(
        text.starts_with(concat!("mmnotify ", env!("CARGO_PKG_VERSION"), "\n")),
        "{text}"
    );
    assert!(text.contains(&format!("commit: {expected}\n")), "{text}");
    assert!(text.contains("TLS: rustls 0.23."), "{text}");
    assert!(text.contains("system store"), "{text}");
}
