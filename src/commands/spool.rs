//! `mmnotify spool list` and `spool drop`: see what waits in the spool (or was set aside
//! in `rejected/`) and remove what should never be posted. Both keep the spool's Trust
//! rules: files that are not ours are never read, shown as items, or removed.

use std::time::{Duration, UNIX_EPOCH};

use anyhow::Result;
use serde_json::{json, Value};

use crate::cli::{SpoolArgs, SpoolCommand, SpoolDropArgs, SpoolListArgs};
use crate::error::{self, ExitKind};
use crate::pipeline::notify;
use crate::pipeline::output::{print_stdout_line, Printer};
use crate::secret::{redact_id_runs, scrub_hook_ids};
use crate::state::spool::{Skipped, Spool, SpoolEntry};
use crate::text::time;

/// How long `drop` waits for a running flush to finish with the spool: a flush spends
/// about one `--timeout` (30s by default) per unreachable webhook.
const LOCK_WAIT: Duration = Duration::from_secs(120);

pub(super) fn run(args: SpoolArgs) -> Result<u8> {
    match args.command {
        SpoolCommand::List(a) => list(&a),
        SpoolCommand::Drop(a) => drop(&a),
    }
}

fn open(state_dir: Option<&std::path::Path>) -> Result<Spool> {
    Spool::open(&notify::state_dir(state_dir)?)
}

fn warn_skipped(printer: &Printer, skipped: &[Skipped]) {
    for s in skipped {
        printer.warn(&format!(
            "{} is not trusted ({}): not shown, never posted; only regular files of mode 0600 \
             owned by you are spool items",
            shown_path(&s.path),
            s.why
        ));
    }
}

fn list(args: &SpoolListArgs) -> Result<u8> {
    let printer = Printer::from(&args.output);
    let spool = open(args.state_dir.path())?;
    let (entries, skipped) = if args.rejected {
        spool.list_rejected()?
    } else {
        spool.list_checked()?
    };
    warn_skipped(&printer, &skipped);
    let where_ = if args.rejected {
        spool.rejected_dir()
    } else {
        spool.dir()
    };
    if entries.is_empty() {
        printer.info(&format!("no items in {}", where_.display()));
        return Ok(0);
    }
    let now_ms = time::now_ms();
    let rows: Vec<Value> = entries
        .iter()
        .map(|e| {
            let reason = args.rejected.then(|| spool.reason(e)).flatten();
            describe(e, reason, now_ms)
        })
        .collect();
    if printer.json {
        for row in &rows {
            print_stdout_line(&row.to_string());
        }
    } else {
        for line in table(&rows, args.rejected) {
            print_stdout_line(&line);
        }
    }
    Ok(0)
}

/// One item as `--output json` shows it; the text table is made from the same fields.
fn describe(entry: &SpoolEntry, reason: Option<String>, now_ms: u64) -> Value {
    // A file name is text anyone who can write the spool chose: a newline or an escape
    // sequence in it must not reach the terminal, nor a token reach the output.
    let mut row = json!({ "id": shown_name(&entry.id()), "path": shown_path(&entry.path) });
    match &entry.item {
        Ok(item) => {
            // A kind this build does not know is shown as written, so cleaned like text.
            row["kind"] = json!(one_line(item.kind.as_str()));
            row["created_at"] = json!(rfc3339(item.created_at_ms));
            // `age` is the contract's name; `age_s` came first and stays for the scripts
            // that read it. Both are whole seconds.
            let age_s = now_ms.saturating_sub(item.created_at_ms) / 1000;
            row["age"] = json!(age_s);
            row["age_s"] = json!(age_s);
            row["attempts"] = json!(item.attempts);
            // The source never holds a URL (the spool refuses to save one); scrubbed
            // anyway, as is the error, because a file can be edited by hand.
            row["source"] = json!(one_line(&item.source));
            row["last_error"] = json!(one_line(&item.last_error));
            row["maybe_delivered"] = json!(item.maybe_delivered);
        }
        Err(why) => row["error"] = json!(one_line(why)),
    }
    if let Some(reason) = reason {
        row["reason"] = json!(one_line(&reason));
    }
    row
}

fn shown_path(path: &std::path::Path) -> String {
    shown_name(&path.to_string_lossy())
}

/// A file name as shown: a name made of a token (26 id characters) is cut like a token,
/// which no id mmnotify writes is (its runs of digits are 13 long at most).
fn shown_name(name: &str) -> String {
    one_line(name)
}

/// Text for one table cell: hook ids scrubbed, with or without `/hooks/` (a hand-edited
/// item, or a parse error quoting one, may hold a bare token), control characters (a
/// newline, an escape sequence) made harmless.
pub(super) fn one_line(s: &str) -> String {
    redact_id_runs(&scrub_hook_ids(s))
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// The text form: one line per item (no header, so that `wc -l` counts items), aligned
/// columns in the contract's order: id, kind, age, attempts, last error (or, for
/// rejected items, the reason), redacted source. The source is last so that a script
/// takes it with `awk '{print $NF}'` however many words the error has.
fn table(rows: &[Value], rejected: bool) -> Vec<String> {
    let mut cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or("-").to_string();
            let why = if r.get("error").is_some() {
                format!("unreadable: {}", s("error"))
            } else if rejected {
                r.get("reason")
                    .and_then(Value::as_str)
                    .map_or_else(|| "(no reason recorded)".to_string(), str::to_string)
            } else {
                s("last_error")
            };
            [
                s("id"),
                s("kind"),
                r["age_s"]
                    .as_u64()
                    .map_or_else(|| "-".into(), |a| age(Duration::from_secs(a))),
                r["attempts"]
                    .as_u64()
                    .map_or_else(|| "-".into(), |a| a.to_string()),
                why,
                s("source"),
            ]
        })
        .collect();
    // Every column but the source is padded to its widest cell: one hand-edited item's
    // 70 000-character error would pad every line to it, and a width past 65535 panics
    // the formatter. `--output json` has the whole text.
    for row in &mut cells {
        for cell in &mut row[..5] {
            cut_cell(cell);
        }
    }
    let mut widths = [0usize; 5];
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    cells
        .iter()
        .map(|row| {
            let mut line = String::new();
            for (cell, w) in row.iter().zip(widths) {
                line.push_str(&format!("{cell:<w$}  "));
            }
            line.push_str(&row[5]);
            line
        })
        .collect()
}

/// Widest a padded table cell gets, in characters: a long error still reads whole.
const CELL_MAX: usize = 300;

fn cut_cell(cell: &mut String) {
    if let Some((at, _)) = cell.char_indices().nth(CELL_MAX) {
        cell.truncate(at);
        cell.push('…');
    }
}

/// A short age for a table: `45s`, `12m`, `3h05m`, `2d04h`.
fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// A spool item's time in RFC 3339 (`-` for a clock value no calendar can show).
pub(super) fn rfc3339(ms: u64) -> String {
    time::format_system_time(UNIX_EPOCH + Duration::from_millis(ms))
}

fn drop(args: &SpoolDropArgs) -> Result<u8> {
    let printer = Printer::from(&args.output);
    let spool = open(args.state_dir.path())?;
    let what = if args.rejected {
        "rejected item"
    } else {
        "spool item"
    };
    // Under the flush lock: a running flush may be posting the very item being dropped.
    let Some(_lock) = spool.lock(LOCK_WAIT)? else {
        return Err(anyhow::anyhow!(
            "another `mmnotify flush` has held the spool for {}; nothing was removed, try \
             again once it has finished",
            time::format_duration(LOCK_WAIT)
        ));
    };
    let paths = if args.all {
        let (entries, skipped) = if args.rejected {
            spool.list_rejected()?
        } else {
            spool.list_checked()?
        };
        warn_skipped(&printer, &skipped);
        entries.into_iter().map(|e| e.path).collect()
    } else {
        // Every id is checked before anything is removed: a typo drops nothing.
        let mut paths = Vec::with_capacity(args.ids.len());
        for id in &args.ids {
            match spool.find(id, args.rejected) {
                Ok(Some(p)) => paths.push(p),
                Ok(None) => {
                    // The usual slip: an id from `list --rejected` dropped without it.
                    let elsewhere = matches!(spool.find(id, !args.rejected), Ok(Some(_)));
                    let hint = match (elsewhere, args.rejected) {
                        (true, false) => "it is in spool/rejected/: add --rejected".to_string(),
                        (true, true) => "it is in the spool, not in rejected/: drop it \
                                         without --rejected"
                            .to_string(),
                        (false, r) => format!(
                            "see `mmnotify spool list{}`",
                            if r { " --rejected" } else { "" }
                        ),
                    };
                    return Err(error::fail(
                        ExitKind::Usage,
                        format!(
                            "no {what} `{}`; nothing was removed ({hint})",
                            shown_name(id)
                        ),
                    ));
                }
                Err(why) => return Err(error::fail(ExitKind::Usage, shown_name(&why))),
            }
        }
        paths
    };
    let mut refused = Vec::new();
    for path in &paths {
        let id = path
            .file_stem()
            .map(|s| shown_name(&s.to_string_lossy()))
            .unwrap_or_default();
        match spool.drop_item(path)? {
            Ok(()) => {
                printer.info(&format!("dropped {what} {id}"));
                printer.json_line(&json!({ "status": "dropped", "id": id }));
            }
            Err(why) => refused.push(format!("{} ({why})", shown_path(path))),
        }
    }
    if refused.is_empty() {
        return Ok(0);
    }
    Err(error::config(format!(
        "not removed, because mmnotify did not write {}: {}; remove it by hand if you \
         are sure",
        if refused.len() == 1 { "it" } else { "them" },
        refused.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_short() {
        assert_eq!(age(Duration::from_secs(45)), "45s");
        assert_eq!(age(Duration::from_secs(12 * 60 + 5)), "12m");
        assert_eq!(age(Duration::from_secs(3 * 3600 + 5 * 60)), "3h05m");
        assert_eq!(age(Duration::from_secs(2 * 86_400 + 4 * 3600)), "2d04h");
    }

    #[test]
    fn any_recorded_time_can_be_shown() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        // A hand-edited file: shown as unknown rather than a panic.
        assert_eq!(rfc3339(u64::MAX), "-");
    }

    #[test]
    fn cells_are_one_scrubbed_line() {
        let id = "abcdefghijklmnopqrstuvwxyz";
        let cell = one_line(&format!("HTTP 503 from /hooks/{id}\n\x1b[2Jnext"));
        assert!(!cell.contains(id), "{cell}");
        assert!(!cell.contains('\n') && !cell.contains('\x1b'), "{cell}");
    }

    #[test]
    fn table_aligns_and_puts_the_source_last() {
        let rows = [
            json!({"id": "1-1-1", "kind": "send", "age_s": 5, "attempts": 2,
                   "source": "name:ops", "last_error": "HTTP 503"}),
            json!({"id": "22-2-2", "kind": "enqueue", "age_s": 7200, "attempts": 10,
                   "source": "env", "last_error": "connection refused"}),
        ];
        let lines = table(&rows, false);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("1-1-1 "), "{lines:?}");
        assert!(lines[0].ends_with("name:ops"), "{lines:?}");
        assert!(lines[1].ends_with("env"), "{lines:?}");
        let col = |l: &str| l.find("HTTP 503").or(l.find("connection refused")).unwrap();
        assert_eq!(col(&lines[0]), col(&lines[1]), "{lines:?}");
        assert!(lines[1].find("connection refused") < lines[1].find("env"));
        assert!(lines[1].contains("2h00m") && lines[1].contains("enqueue"));
    }
}
