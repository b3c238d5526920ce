//! A progress bar on stderr for long work (`flush`, `build --events`), for a person
//! watching a terminal only: never in a pipe or a log, with `-q`, or with `--output
//! json`. Lines printed while a bar is up go through [`suspend`] so they do not mix
//! with it.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::pipeline::output::Printer;

/// The bar on screen, if any: every stderr line of the process hides it while printing.
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Whether a bar may be shown at all.
pub(crate) fn wanted(stderr_is_terminal: bool, printer: &Printer) -> bool {
    stderr_is_terminal && !printer.quiet && !printer.json
}

/// A bar that is cleared from the screen when dropped; does nothing when not wanted.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// `total` when known (count, rate, ETA), else a counter with its rate. `unit` names
    /// what is counted ("items", "events").
    pub(crate) fn start(printer: &Printer, total: Option<u64>, unit: &str) -> Progress {
        if !wanted(std::io::stderr().is_terminal(), printer) {
            return Progress { bar: None };
        }
        let (bar, template) = match total {
            Some(n) => (
                ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
                format!("mmnotify: [{{bar:30}}] {{pos}}/{{len}} {unit}, {{rate}}, ETA {{eta}}"),
            ),
            None => (
                ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
                format!("mmnotify: {{spinner}} {{pos}} {unit}, {{rate}}"),
            ),
        };
        let style = ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            // indicatif's own {per_sec} shows four decimals.
            .with_key(
                "rate",
                |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.1}/s", state.per_sec());
                },
            )
            .progress_chars("=> ");
        bar.set_style(style);
        // A stream may stall for minutes between events: keep the rate honest.
        bar.enable_steady_tick(Duration::from_millis(250));
        if let Ok(mut active) = ACTIVE.lock() {
            *active = Some(bar.clone());
        }
        Progress { bar: Some(bar) }
    }

    pub(crate) fn inc(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            if let Ok(mut active) = ACTIVE.lock() {
                *active = None;
            }
            bar.finish_and_clear();
        }
    }
}

/// Runs `print` with the bar (if one is up) hidden, so that a warning gets a line of
/// its own and the bar is redrawn below it.
pub(crate) fn suspend<R>(print: impl FnOnce() -> R) -> R {
    let bar = ACTIVE.lock().ok().and_then(|active| active.clone());
    match bar {
        Some(bar) => bar.suspend(print),
        None => print(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printer(json: bool, quiet: bool) -> Printer {
        Printer {
            json,
            verbose: false,
            quiet,
            names: crate::pipeline::output::Names::Ours,
        }
    }

    #[test]
    fn only_on_a_terminal_without_quiet_or_json() {
        assert!(wanted(true, &printer(false, false)));
        assert!(!wanted(false, &printer(false, false)));
        assert!(!wanted(true, &printer(false, true)));
        assert!(!wanted(true, &printer(true, false)));
    }

    #[test]
    fn suspend_without_a_bar_just_runs() {
        assert_eq!(suspend(|| 7), 7);
        // Not a terminal under `cargo test`: nothing is started or registered.
        let p = Progress::start(&printer(false, false), Some(3), "items");
        p.inc();
        assert!(p.bar.is_none() || std::io::stderr().is_terminal());
    }
}
