//! `mmnotify webhooks`: the named webhooks of the secrets directory, each with its
//! redacted target and whether its file passes the rules. A file that fails them is not
//! read: the check stops at what `fstat` tells.

use anyhow::Result;
use serde_json::json;

use crate::cli::WebhooksArgs;
use crate::error;
use crate::pipeline::locale;
use crate::pipeline::output::{print_stdout_line, Ending, Printer};
use crate::secret::{self, names, WebhookUrl};

/// An error before the first row (no directory) is reported as a failed outcome by
/// `main`; files failing the rules are reported in their rows, so the exit code alone
/// says so at the end.
pub(super) fn run(args: WebhooksArgs) -> Result<Ending> {
    let printer = Printer::from(&args.output);
    let dir = args.secrets_dir.path();
    let known = names::list(dir).map_err(|e| {
        error::config(format!(
            "cannot list the secrets directory {}: {e} (set --secrets-dir or \
             MMNOTIFY_SECRETS_DIR)",
            dir.display()
        ))
    })?;
    if known.is_empty() {
        printer.warn(&format!(
            "{} holds no NAME.url files; write a webhook URL to one (mode 0600) to name it",
            dir.display()
        ));
        return Ok(Ending::printed(Ok(0)));
    }
    let width = known.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let mut failing = 0;
    for name in &known {
        let path = dir.join(format!("{name}.url"));
        // A file named after its hook id (`<id>.url`) must not print the token.
        let name = secret::redact_id_runs(name);
        let file = secret::redact_id_runs(&path.to_string_lossy()).into_owned();
        let checked = secret::read_secrets_file(&path).and_then(|line| {
            WebhookUrl::parse(&line).map_err(|e| error::config(format!("{}: {e}", path.display())))
        });
        match &checked {
            Ok(url) => {
                printer.json_line(&json!({
                    "name": name, "file": file, "ok": true,
                    "target": url.redacted(), "problem": null,
                }));
                if !printer.json {
                    print_stdout_line(&locale::fit(&format!(
                        "{} {name:width$}  {url}",
                        locale::ok_mark()
                    )));
                }
            }
            Err(e) => {
                failing += 1;
                let problem = secret::redact_id_runs(&format!("{e:#}")).into_owned();
                printer.json_line(&json!({
                    "name": name, "file": file, "ok": false,
                    "target": null, "problem": problem,
                }));
                if !printer.json {
                    print_stdout_line(&locale::fit(&format!(
                        "{} {name:width$}  {problem}",
                        locale::fail_mark()
                    )));
                }
            }
        }
    }
    if failing > 0 {
        return Ok(Ending::printed(Err(error::config(format!(
            "{failing} of {} webhooks in {} fail the secrets file rules (see above)",
            known.len(),
            dir.display()
        )))));
    }
    Ok(Ending::printed(Ok(0)))
}
