//! What a run tells the person watching it: the progress bar for files, the
//! spinner for streams (stderr, only on a terminal or with --progress), and
//! the summary line at the end. Reads counters; changes nothing.

use std::io::IsTerminal;
use std::time::Duration;

use crate::alert::notify::NotifyStats;
use crate::checkpoint;
use crate::job::Job;
use crate::stats::Counters;

fn wanted(job: &Job) -> bool {
    !job.quiet && (job.progress || std::io::stderr().is_terminal())
}

/// A bar over the total bytes of the file inputs.
pub fn progress_bar(job: &Job, total: u64) -> Option<indicatif::ProgressBar> {
    if !wanted(job) {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

/// A spinner with the record rate, for streams (no known size).
pub fn progress_spinner(job: &Job) -> Option<indicatif::ProgressBar> {
    if !wanted(job) {
        return None;
    }
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos} records, {per_sec}, {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    spinner.enable_steady_tick(Duration::from_millis(200));
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
    pub store: Option<&'a checkpoint::Store>,
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
            " checkpoints={} checkpoint_bytes={} checkpoint_max_stall={:.1}ms",
            st.saved,
            st.bytes,
            st.max_stall.as_secs_f64() * 1000.0
        ));
    }
    if s.notify.started > 0 {
        line.push_str(&format!(
            " notify_failed={} notify_timed_out={} notify_dropped={}",
            s.notify.failed, s.notify.timed_out, s.notify.dropped
        ));
    }
    line
}
