//! Contract audit of "Build stories" (session 3): deviations a test written from the
//! contract alone would catch, each checked through the real binary.

use crate::stories::{build_run_on, pings};
use crate::support::{hooked, Hook, ServerOptions, OTHER_HOOK_ID};

/// Contract, Mentions: "The config's `[people]` table maps logins and e-mail addresses
/// ... to Mattermost usernames". The server takes any username of 1 to 64 characters of
/// `a-z`, `0-9`, `.`, `-` and `_` (`model.IsValidUsername`; 3 to 22 starting with a
/// letter is only the sign-up page's rule), and LDAP or SAML accounts carry longer names
/// or employee numbers. Such names were refused: the whole config was exit 3, `--mention`
/// exit 2.
#[test]
fn usernames_the_server_allows_are_mentioned() {
    let (env, server) = hooked(ServerOptions::default());
    let long = "alexandra.konstantinova-ext"; // 27 characters
    let config = env.write_file(
        "conf/people.toml",
        &format!("[people]\n\"octocat\" = \"{long}\"\n\"jane@example.com\" = \"40712\"\n"),
        0o600,
    );
    let mut c = env.cmd();
    c.args(["config", "check", "--config"]).arg(&config);
    env.run(&mut c)
        .assert_success()
        .assert_stdout_contains("people: 2");
    let mut c = build_run_on(
        &env,
        "main",
        "1",
        "failed",
        &["--actor", "octocat", "--author", "jane@example.com"],
    );
    c.args(["--mention", "jo", "--config"]).arg(&config);
    env.run(&mut c).assert_success();
    let post = &server.posts()[0];
    assert!(
        post.message.ends_with(&format!(" · cc @{long} @40712 @jo")),
        "{}",
        post.message
    );
    assert_eq!(pings(&post.message), [long, "40712", "jo"]);
    // Past the server's 64 characters, upper case, or a word that notifies a channel:
    // still refused.
    for bad in [&"a".repeat(65), "Alice", "all", "here."] {
        let mut c = build_run_on(&env, "main", "2", "failed", &["--mention", bad]);
        env.run(&mut c).assert_code(2);
    }
    assert_eq!(server.posts().len(), 1);
}

/// Contract, Templates: the example `broken = "{emoji} {workflow} broke on {branch}
/// {mention}"`. A broken run with no one to mention left the text ending in a space
/// ("❌ ci broke on main "), and a bot's run post (its mentions go in the replies) the
/// same. A template's text now ends where its last non-blank character does.
#[test]
fn a_template_ending_in_an_empty_mention_leaves_no_trailing_space() {
    let (env, server) = hooked(ServerOptions::default());
    let config = env.write_file(
        "conf/templates.toml",
        "[people]\n\"octocat\" = \"alice\"\n\n[templates]\n\
         broken = \"{emoji} {workflow} broke on {branch} {mention}\"\n",
        0o600,
    );
    let cfg = config.to_str().unwrap();
    env.run(&mut build_run_on(
        &env,
        "main",
        "1",
        "failed",
        &["--config", cfg],
    ))
    .assert_success();
    // With a mention the template places it; without one nothing dangles.
    env.run(&mut build_run_on(
        &env,
        "dev",
        "2",
        "failed",
        &["--config", cfg, "--actor", "octocat"],
    ))
    .assert_success();
    let posts = server.posts();
    assert_eq!(posts[0].message, "❌ ci broke on main");
    assert_eq!(posts[1].message, "❌ ci broke on dev cc @alice");
}

/// Contract, Mentions: "the flag beats a route's `mention_on`, which beats the config's
/// top-level one" (no test showed the order; this one passed when written).
#[test]
fn mention_on_the_flag_beats_the_route_which_beats_the_top_level() {
    let mut opts = ServerOptions::default();
    opts.hooks.push(Hook::new(OTHER_HOOK_ID, "town-square"));
    let (env, server) = hooked(opts);
    env.write_secret("ops", &server.hook_url_for(OTHER_HOOK_ID));
    let config = env.write_file(
        "conf/routes.toml",
        "mention_on = [\"failed\"]\n\n[people]\n\"octocat\" = \"alice\"\n\n\
         [[route]]\nwebhook = \"ops\"\nrepository = \"acme/*\"\nmention_on = [\"succeeded\"]\n\n\
         [[route]]\nwebhook = \"hook\"\n",
        0o600,
    );
    let cfg = config.to_str().unwrap();
    let cc = |run: &str, state: &str, extra: &[&str]| -> Vec<(String, bool)> {
        let mut c = env.cmd();
        c.args(["build", "--no-env", "--workflow", "ci", "--branch", "main"])
            .args([
                "--repository",
                "acme/app",
                "--run-id",
                run,
                "--state",
                state,
            ])
            .args(["--actor", "octocat", "-o", "json", "--config", cfg])
            .args(extra);
        env.run(&mut c).assert_success();
        let posts = server.posts();
        posts[posts.len() - 2..]
            .iter()
            .map(|p| (p.hook_id.clone(), p.message.ends_with(" · cc @alice")))
            .collect()
    };
    // In route order: `ops` (the other hook), then `hook`.
    let flags = |v: Vec<(String, bool)>| {
        assert_eq!(v[0].0, OTHER_HOOK_ID);
        v.into_iter().map(|(_, m)| m).collect::<Vec<_>>()
    };
    // Route 1 (`ops`) mentions on success, route 2 falls back to the top level (failed).
    assert_eq!(flags(cc("1", "failed", &[])), [false, true]);
    assert_eq!(flags(cc("2", "succeeded", &[])), [true, false]);
    // The flag beats both.
    assert_eq!(
        flags(cc("3", "cancelled", &["--mention-on", "cancelled"])),
        [true, true]
    );
}

/// Contract, Config file: the default path is `$XDG_CONFIG_HOME/mmnotify/config.toml`,
/// `~/.config/…` only when `XDG_CONFIG_HOME` is unset. "No config file" named
/// `~/.config/…` even when it was not looked at; it now names the paths that were.
#[test]
fn no_config_names_the_paths_looked_at() {
    let (env, _server) = hooked(ServerOptions::default());
    let home = env.home().join(".config/mmnotify/config.toml");
    let mut c = env.cmd();
    c.args(["config", "check"]);
    let run = env.run(&mut c);
    run.assert_success()
        .assert_stdout_contains("no config file")
        .assert_stdout_contains(&format!("{} or /etc/mmnotify/config.toml", home.display()));
    let xdg = env.root().join("xdg");
    let mut c = env.cmd();
    c.args(["doctor", "--webhook", "hook"])
        .env("XDG_CONFIG_HOME", &xdg);
    let run = env.run(&mut c);
    run.assert_success().assert_stdout_contains(&format!(
        "{} or /etc/mmnotify/config.toml",
        xdg.join("mmnotify/config.toml").display()
    ));
    assert!(!run.stdout.contains(".config/mmnotify"), "{}", run.stdout);
}

/// `$XDG_CONFIG_HOME` is the environment's, not mmnotify's: a hook id in it (a webhook
/// URL pasted into the variable, made absolute) and an escape sequence or a bidi
/// override were printed as they were by `config check` (its stdout is written as is)
/// and `doctor`. Scrubbed and made harmless, as any text mmnotify did not write.
#[test]
fn no_config_line_shows_no_hook_id_or_control_character_from_the_environment() {
    let (mut env, _server) = hooked(ServerOptions::default());
    env.secret(OTHER_HOOK_ID);
    let xdg = format!(
        "/srv/https:/chat.example.com/hooks/{OTHER_HOOK_ID}/\u{1b}[31mred\u{1b}[0m\u{202e}x"
    );
    for args in [&["config", "check"][..], &["doctor", "--webhook", "hook"]] {
        let mut c = env.cmd();
        c.args(args).env("XDG_CONFIG_HOME", &xdg);
        let run = env.run(&mut c);
        run.assert_success().assert_stdout_contains("/hooks/");
        assert!(
            !run.stdout.contains('\u{1b}') && !run.stdout.contains('\u{202e}'),
            "{args:?}: {:?}",
            run.stdout
        );
    }
}
