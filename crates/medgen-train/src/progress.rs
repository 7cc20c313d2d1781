//! Progress reporting for long training or sampling loops.
//!
//! On a terminal, [`TrainingProgress`] draws an indicatif bar with the loss, throughput and
//! ETA. When stderr is not a terminal (CI logs, `nohup`, a file), a redrawn bar would fill
//! the log with control characters, so it prints one plain line at most every few seconds
//! instead:
//!
//! ```text
//! [train] step 1200/10000 (12.0%)  loss 0.04213  avg 0.04407  15.2 it/s  ETA 9m 38s
//! ```

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Smoothing factor of the running loss average shown next to the raw loss.
const AVERAGE_BETA: f64 = 0.98;
/// Default time between plain lines.
const DEFAULT_LINE_INTERVAL: Duration = Duration::from_secs(10);

enum Output {
    Bar(ProgressBar),
    Lines { out: Box<dyn Write + Send>, interval: Duration, last: Option<Instant> },
    Hidden,
}

/// A progress display for a loop of `total` steps that reports a loss (see the
/// [module documentation](self)).
pub struct TrainingProgress {
    label: String,
    total: usize,
    start_step: usize,
    position: usize,
    started: Instant,
    average: RunningAverage,
    output: Output,
}

impl std::fmt::Debug for TrainingProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainingProgress")
            .field("label", &self.label)
            .field("total", &self.total)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

impl TrainingProgress {
    /// A bar on stderr if it is a terminal, else plain lines on stderr every 10 s.
    pub fn new(label: impl Into<String>, total: usize) -> Self {
        let label = label.into();
        if !std::io::stderr().is_terminal() {
            return Self::lines(label, total, DEFAULT_LINE_INTERVAL, std::io::stderr());
        }
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{prefix} {bar:30.cyan/blue} {pos}/{len} [{elapsed_precise}<{eta_precise}] \
             {per_sec} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(label.clone());
        Self::with_output(label, total, Output::Bar(bar))
    }

    /// Plain lines written to `out` at most every `interval` (and for the last step).
    pub fn lines(
        label: impl Into<String>,
        total: usize,
        interval: Duration,
        out: impl Write + Send + 'static,
    ) -> Self {
        let output = Output::Lines { out: Box::new(out), interval, last: None };
        Self::with_output(label, total, output)
    }

    /// A display that shows nothing (for tests and quiet runs).
    pub fn hidden(label: impl Into<String>, total: usize) -> Self {
        Self::with_output(label, total, Output::Hidden)
    }

    fn with_output(label: impl Into<String>, total: usize, output: Output) -> Self {
        Self {
            label: label.into(),
            total,
            start_step: 0,
            position: 0,
            started: Instant::now(),
            average: RunningAverage::default(),
            output,
        }
    }

    /// Starts the display at `step` (a resumed run): throughput and ETA count from there.
    pub fn resume_from(mut self, step: usize) -> Self {
        self.start_step = step;
        self.position = step;
        self.started = Instant::now();
        if let Output::Bar(bar) = &self.output {
            bar.set_position(step as u64);
            bar.reset_eta();
        }
        self
    }

    /// Reports that `step` steps are done and the latest loss is `loss`.
    pub fn update(&mut self, step: usize, loss: f32) {
        self.position = step;
        let average = self.average.push(loss);
        match &mut self.output {
            Output::Bar(bar) => {
                bar.set_position(step as u64);
                bar.set_message(format!("loss {}  avg {}", fmt_loss(loss), fmt_loss(average)));
            }
            Output::Lines { out, interval, last } => {
                let now = Instant::now();
                let due = last.is_none_or(|t| now.duration_since(t) >= *interval);
                if due || step >= self.total {
                    *last = Some(now);
                    let status = Status {
                        label: &self.label,
                        step,
                        total: self.total,
                        loss,
                        average,
                        done_since_start: step.saturating_sub(self.start_step),
                        elapsed: now.duration_since(self.started),
                    };
                    // A log line that cannot be written must not stop training.
                    let _ = writeln!(out, "{status}");
                }
            }
            Output::Hidden => {}
        }
    }

    /// Prints `message` on its own line without disturbing the bar.
    pub fn println(&mut self, message: &str) {
        match &mut self.output {
            Output::Bar(bar) => bar.println(message),
            Output::Lines { out, .. } => {
                let _ = writeln!(out, "[{}] {message}", self.label);
            }
            Output::Hidden => {}
        }
    }

    /// The last reported step.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Closes the bar (leaving it on screen) or prints a final summary line.
    pub fn finish(&mut self) {
        match &mut self.output {
            Output::Bar(bar) => bar.finish(),
            Output::Lines { out, .. } => {
                let elapsed = self.started.elapsed();
                let _ = writeln!(
                    out,
                    "[{}] finished at step {} in {}",
                    self.label,
                    self.position,
                    fmt_duration(elapsed)
                );
            }
            Output::Hidden => {}
        }
    }
}

/// An exponential moving average with bias correction (see
/// [`LossHistory::smoothed`](crate::LossHistory::smoothed)); non-finite values skipped.
#[derive(Clone, Copy, Debug, Default)]
struct RunningAverage {
    mean: f64,
    count: i32,
}

impl RunningAverage {
    fn push(&mut self, value: f32) -> f32 {
        if value.is_finite() {
            self.mean = AVERAGE_BETA * self.mean + (1.0 - AVERAGE_BETA) * f64::from(value);
            self.count = self.count.saturating_add(1);
        }
        if self.count == 0 {
            return f32::NAN;
        }
        (self.mean / (1.0 - AVERAGE_BETA.powi(self.count))) as f32
    }
}

/// One plain progress line.
struct Status<'a> {
    label: &'a str,
    step: usize,
    total: usize,
    loss: f32,
    average: f32,
    done_since_start: usize,
    elapsed: Duration,
}

impl std::fmt::Display for Status<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let percent =
            if self.total == 0 { 100.0 } else { 100.0 * self.step as f64 / self.total as f64 };
        write!(
            f,
            "[{}] step {}/{} ({percent:.1}%)  loss {}  avg {}",
            self.label,
            self.step,
            self.total,
            fmt_loss(self.loss),
            fmt_loss(self.average)
        )?;
        let seconds = self.elapsed.as_secs_f64();
        if self.done_since_start > 0 && seconds > 0.0 {
            let rate = self.done_since_start as f64 / seconds;
            let left = self.total.saturating_sub(self.step) as f64 / rate;
            write!(
                f,
                "  {rate:.1} it/s  ETA {}",
                fmt_duration(Duration::from_secs_f64(left.min(1e9)))
            )?;
        }
        Ok(())
    }
}

/// Four significant digits, in scientific notation for very small or large losses.
fn fmt_loss(loss: f32) -> String {
    let magnitude = loss.abs();
    if !loss.is_finite() || magnitude == 0.0 || (1e-3..1e4).contains(&magnitude) {
        format!("{loss:.5}")
    } else {
        format!("{loss:.3e}")
    }
}

/// `1h 02m`, `9m 38s` or `12s`.
fn fmt_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn status_line_shows_rate_and_eta() {
        let status = Status {
            label: "train",
            step: 1200,
            total: 10_000,
            loss: 0.042_13,
            average: 0.044_07,
            done_since_start: 200,
            elapsed: Duration::from_secs(20),
        };
        assert_eq!(
            status.to_string(),
            "[train] step 1200/10000 (12.0%)  loss 0.04213  avg 0.04407  10.0 it/s  ETA 14m 40s"
        );
        assert_eq!(fmt_loss(2.5e-5), "2.500e-5");
        assert_eq!(fmt_duration(Duration::from_secs(3720)), "1h 02m");
    }

    #[test]
    fn plain_lines_are_throttled_but_the_last_step_is_printed() {
        let sink = Shared::default();
        let mut progress =
            TrainingProgress::lines("fit", 3, Duration::from_secs(3600), sink.clone());
        progress.update(1, 1.0);
        progress.update(2, 0.5);
        progress.update(3, f32::NAN);
        progress.finish();
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("[fit] step 1/3 (33.3%)  loss 1.00000  avg 1.00000"));
        // The NaN loss is shown, the average skips it: (0.98·0.02 + 0.02·0.5)/(1 − 0.98²).
        let avg = (0.98 * 0.02 + 0.02 * 0.5) / (1.0 - 0.98f64.powi(2));
        assert!(lines[1].contains("loss NaN") && lines[1].contains(&format!("avg {avg:.5}")));
        assert!(lines[2].starts_with("[fit] finished at step 3"));
    }
}
