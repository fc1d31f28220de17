//! Progress of long work (purge batches, data-migration batches) on stderr: a bar on a
//! terminal, otherwise a log line every few seconds (rows done, rate, ETA when the total is
//! known), so a cron log or journald shows that a 300k-image migration is moving. Results are
//! printed elsewhere (stdout); nothing here repeats them.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::output::note;

/// Seconds between log lines when stderr is not a terminal (tests set it to 0: every update).
pub const INTERVAL_ENV: &str = "GLANCE_MANAGE_PROGRESS_SECONDS";
const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// How progress is shown, decided once per command.
#[derive(Debug, Clone, Copy)]
pub enum Display {
    /// Nothing (JSON output, or a quiet command).
    Off,
    /// A bar on stderr.
    Bar,
    /// A line on stderr at most every `interval`.
    Lines { interval: Duration },
}

impl Display {
    /// A bar when stderr is a terminal, log lines otherwise; nothing when `quiet`.
    pub fn for_stderr(quiet: bool) -> Display {
        if quiet {
            Display::Off
        } else if std::io::stderr().is_terminal() {
            Display::Bar
        } else {
            let interval = std::env::var(INTERVAL_ENV)
                .ok()
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64)
                .unwrap_or(DEFAULT_INTERVAL);
            Display::Lines { interval }
        }
    }
}

/// One piece of work being counted.
pub struct Progress {
    label: String,
    total: Option<u64>,
    done: u64,
    started: Instant,
    last_line: Instant,
    display: Display,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn start(display: Display, label: impl Into<String>, total: Option<u64>) -> Progress {
        Self::start_in(None, display, label, total)
    }

    /// [`Progress::start`], the bar drawn among the others of `multi` (several pieces of work
    /// at once, e.g. tables purged side by side).
    pub fn start_in(
        multi: Option<&MultiProgress>,
        display: Display,
        label: impl Into<String>,
        total: Option<u64>,
    ) -> Progress {
        let label = label.into();
        let bar = matches!(display, Display::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
            let bar = match multi {
                Some(m) => m.add(bar),
                None => bar,
            };
            let template = if total.is_some() {
                "{prefix} {wide_bar} {human_pos}/{human_len} row(s), {per_sec}, ETA {eta}"
            } else {
                "{prefix} {spinner} {human_pos} row(s), {per_sec}, {elapsed}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar.set_prefix(label.clone());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let now = Instant::now();
        Progress {
            label,
            total,
            done: 0,
            started: now,
            last_line: now,
            display,
            bar,
        }
    }

    /// `rows` more are done.
    pub fn advance(&mut self, rows: u64) {
        self.done += rows;
        if let Some(b) = &self.bar {
            b.inc(rows);
        }
        if let Display::Lines { interval } = self.display
            && self.last_line.elapsed() >= interval
        {
            self.last_line = Instant::now();
            note(&self.line());
        }
    }

    /// The log line: rows done, rate, and ETA when the total is known.
    pub fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 {
            self.done as f64 / secs
        } else {
            0.0
        };
        let mut s = match self.total {
            Some(t) => format!("{}: {}/{t} row(s)", self.label, self.done),
            None => format!("{}: {} row(s)", self.label, self.done),
        };
        s.push_str(&format!(", {rate:.0} rows/s, {secs:.1} s elapsed"));
        if let Some(t) = self.total
            && rate > 0.0
            && t > self.done
        {
            s.push_str(&format!(", ETA {:.0} s", (t - self.done) as f64 / rate));
        }
        s
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn finish(mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_has_rate_and_eta_only_with_a_total() {
        let mut p = Progress::start(Display::Off, "images.visibility", Some(1000));
        p.started = Instant::now() - Duration::from_secs(2);
        p.advance(500);
        let l = p.line();
        assert!(l.starts_with("images.visibility: 500/1000 row(s), "), "{l}");
        assert!(l.contains("rows/s") && l.contains("ETA"), "{l}");
        let mut p = Progress::start(Display::Off, "image_tags", None);
        p.advance(7);
        assert!(!p.line().contains("ETA"), "{}", p.line());
    }
}
