//! What a run tells the person watching it: the progress bar for files, the
//! spinner for streams (stderr, only on a terminal or with --progress), and
//! the summary line at the end. Reads counters; changes nothing.

use std::io::IsTerminal;
use std::time::Duration;

use crate::alert::notify::NotifyStats;
use crate::checkpoint;
use crate::deliver::DeliveryStats;
use crate::job::Job;
use crate::stats::Counters;

/// The bar for files: decimal units (MB, as the summary line's
/// `throughput=...MB/s`), and a bar that takes what the terminal's width
/// leaves, so the line never wraps.
const BAR_TEMPLATE: &str =
    "{wide_bar} {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec} eta {eta}";
/// The spinner for streams: records so far and a whole number of records per second.
const SPINNER_TEMPLATE: &str = "{spinner} {human_pos} records, {records_per_sec}, {elapsed}";
/// Width used when stderr is not a terminal (`--progress`) and COLUMNS is unset.
const DEFAULT_COLUMNS: u16 = 80;

/// Where the bar is drawn: the terminal, or with `--progress` on a
/// non-terminal, one plain line per update (once a second) sized by COLUMNS.
fn draw_target(job: &Job) -> Option<indicatif::ProgressDrawTarget> {
    if job.quiet {
        return None;
    }
    if std::io::stderr().is_terminal() {
        return Some(indicatif::ProgressDrawTarget::stderr());
    }
    if !job.progress {
        return None;
    }
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<u16>().ok())
        .filter(|w| *w >= 20)
        .unwrap_or(DEFAULT_COLUMNS);
    Some(indicatif::ProgressDrawTarget::term_like_with_hz(
        Box::new(LineLog {
            width,
            line: std::sync::Mutex::new(String::new()),
        }),
        1,
    ))
}

/// A draw target for a stderr that is not a terminal: no cursor movement,
/// each drawing written as one line.
#[derive(Debug)]
struct LineLog {
    width: u16,
    line: std::sync::Mutex<String>,
}

impl indicatif::TermLike for LineLog {
    fn width(&self) -> u16 {
        self.width
    }
    fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.write_str(s)
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        let mut line = self.line.lock().unwrap_or_else(|e| e.into_inner());
        line.push_str(s);
        Ok(())
    }
    fn clear_line(&self) -> std::io::Result<()> {
        Ok(())
    }
    fn flush(&self) -> std::io::Result<()> {
        let mut line = self.line.lock().unwrap_or_else(|e| e.into_inner());
        if !line.trim().is_empty() {
            use std::io::Write;
            let mut err = std::io::stderr().lock();
            writeln!(err, "{}", line.trim_end())?;
        }
        line.clear();
        Ok(())
    }
}

/// `1,234,567`: an integer with thousands separators.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A bar over the total bytes of the file inputs.
pub fn progress_bar(job: &Job, total: u64) -> Option<indicatif::ProgressBar> {
    let target = draw_target(job)?;
    let bar = indicatif::ProgressBar::with_draw_target(Some(total), target);
    bar.set_style(
        indicatif::ProgressStyle::with_template(BAR_TEMPLATE)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

/// A spinner with the record rate, for streams (no known size).
pub fn progress_spinner(job: &Job) -> Option<indicatif::ProgressBar> {
    let target = draw_target(job)?;
    let spinner = indicatif::ProgressBar::with_draw_target(None, target);
    spinner.set_style(
        indicatif::ProgressStyle::with_template(SPINNER_TEMPLATE)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner())
            .with_key(
                "records_per_sec",
                |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let rate = state.per_sec();
                    let rate = if rate.is_finite() {
                        rate.round() as u64
                    } else {
                        0
                    };
                    let _ = write!(w, "{}/s", grouped(rate));
                },
            ),
    );
    // a terminal animates; a log gets a line a second
    let tick = if std::io::stderr().is_terminal() {
        200
    } else {
        1000
    };
    spinner.enable_steady_tick(Duration::from_millis(tick));
    Some(spinner)
}

/// What the summary line reports.
pub struct Summary<'a> {
    pub counters: &'a Counters,
    pub bytes_read: u64,
    /// alerts still firing at the end (no resolved event is invented for them)
    pub firing: usize,
    pub elapsed: Duration,
    pub notify: &'a NotifyStats,
    /// webhook and Alertmanager deliveries
    pub delivery: &'a DeliveryStats,
    pub store: Option<&'a checkpoint::Store>,
    /// TCP inputs: connections accepted, refused (--max-connections), bad
    pub connections: Option<&'a super::streams::ConnectionCounts>,
}

/// The `vigil: key=value ...` line: the spec's keys first and in its order.
pub fn summary_line(s: &Summary<'_>) -> String {
    let c = s.counters;
    let secs = s.elapsed.as_secs_f64();
    let mut line = format!(
        "vigil: records={} bad={} bad_values={} late={} dropped={} windows={} alerts={} elapsed={:.3}s",
        c.records, c.bad, c.bad_values, c.late, c.dropped, c.windows, c.alerts, secs
    );
    if secs > 0.0 {
        line.push_str(&format!(
            " throughput={:.1}MB/s records_per_s={:.0}",
            s.bytes_read as f64 / 1e6 / secs,
            c.records as f64 / secs
        ));
    }
    line.push_str(&format!(" firing={}", s.firing));
    if c.filtered > 0 {
        line.push_str(&format!(" filtered={}", c.filtered));
    }
    if let Some(st) = s.store {
        line.push_str(&format!(
            " checkpoints={} checkpoint_bytes={} checkpoint_max_stall={:.1}ms checkpoint_max_write={:.1}ms",
            st.saved,
            st.bytes,
            st.max_stall.as_secs_f64() * 1000.0,
            st.max_write().as_secs_f64() * 1000.0
        ));
    }
    if let Some(c) = s.connections {
        line.push_str(&format!(
            " connections={} refused_connections={} bad_connections={}",
            c.accepted, c.refused, c.bad
        ));
    }
    // --on-alert commands and HTTP deliveries share the failed/dropped counts.
    let commands = s.notify.started > 0;
    let http = s.delivery.targets > 0;
    if commands || http {
        line.push_str(&format!(
            " notify_failed={}",
            s.notify.failed + s.delivery.failed
        ));
        if commands {
            line.push_str(&format!(" notify_timed_out={}", s.notify.timed_out));
        }
        line.push_str(&format!(
            " notify_dropped={}",
            s.notify.dropped + s.delivery.dropped
        ));
        if http {
            line.push_str(&format!(
                " notify_delivered={} notify_resent={}",
                s.delivery.delivered, s.delivery.resent
            ));
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(2_396_870), "2,396,870");
    }
}
