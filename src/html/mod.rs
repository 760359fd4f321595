//! `--html FILE`: one self-contained page (inline SVG and CSS, no scripts, no
//! network resources) with a chart per visible aggregate, the alert spans on
//! them, the alert events and the run's counters. This room owns the page's
//! memory of the run ([`store`]), its drawing ([`svg`], [`axis`]), the
//! page ([`page`]) and the background thread that replaces the file
//! atomically. The pipeline feeds it the rows and alert events it writes and
//! asks for a page at each checkpoint and at the end; it reads no input,
//! touches no other output, and keeps no state outside [`PageStore`], which
//! the checkpoint carries.

pub mod axis;
pub mod page;
pub mod series;
pub mod store;
pub mod svg;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use store::PageStore;

use crate::agg::AggFunc;
use crate::error::{Error, Result};
use crate::job::{Job, WindowSpec};
use crate::plan::RecordPlan;
use crate::shard::{AlertEvent, Row};
use crate::sink::Durability;
use crate::stats::Counters;

/// Appends `s` escaped for HTML text and attribute values; control
/// characters (invalid in a page) become U+FFFD.
pub fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(' '),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
}

/// At most `max` characters of `s`, with `…` when cut.
pub fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((at, _)) => format!("{}…", &s[..at]),
    }
}

/// Characters of a rule name, severity or aggregate name shown at most.
const MAX_LABEL: usize = 60;

/// One alert rule as the page describes it.
#[derive(Debug, Clone)]
pub struct PageRule {
    pub name: String,
    pub severity: String,
    pub text: String,
    /// Visible aggregates the rule's conditions use; empty: none (absent(),
    /// or aggregates only the rule computes), and then its spans go on every chart.
    pub charts: Vec<usize>,
}

/// What the page says about the job: fixed for the run.
#[derive(Debug, Clone)]
pub struct PageJob {
    pub inputs: Vec<String>,
    pub window: String,
    /// The window step in ms (tumbling: size; sliding: slide; else 1).
    pub step: i64,
    /// Lines break where a key has no window (time windows); None: never.
    pub break_gap: Option<i64>,
    pub key: Vec<String>,
    pub aggs: Vec<String>,
    pub count_column: Option<usize>,
    pub where_text: Option<String>,
    pub evals: Vec<String>,
    pub max_delay: i64,
    pub rules: Vec<PageRule>,
}

impl PageJob {
    pub fn new(job: &Job, plan: &RecordPlan) -> PageJob {
        let visible = &plan.specs[..plan.visible];
        let (step, break_gap) = match job.window {
            WindowSpec::Tumbling { size } => (size, Some(0)),
            WindowSpec::Sliding { slide, .. } => (slide, Some(0)),
            WindowSpec::Session { .. } | WindowSpec::Count { .. } => (1, None),
        };
        PageJob {
            inputs: job.inputs.iter().map(|i| i.describe()).collect(),
            window: job.window.describe(),
            step,
            break_gap,
            key: job.key.clone(),
            aggs: visible
                .iter()
                .map(|s| shorten(&s.column, MAX_LABEL))
                .collect(),
            count_column: visible.iter().position(|s| s.func == AggFunc::Count),
            where_text: job.where_text.clone(),
            evals: job
                .evals
                .iter()
                .map(|(n, _, t)| format!("{n} = {t}"))
                .collect(),
            max_delay: job.max_delay,
            rules: plan
                .rules
                .iter()
                .map(|r| {
                    let mut charts: Vec<usize> =
                        r.outputs_used().filter(|&o| o < plan.visible).collect();
                    charts.sort_unstable();
                    charts.dedup();
                    PageRule {
                        name: shorten(&r.rule.name, MAX_LABEL),
                        severity: shorten(&r.rule.severity, MAX_LABEL),
                        text: r.rule.text.clone(),
                        charts,
                    }
                })
                .collect(),
        }
    }

    pub fn new_store(&self) -> PageStore {
        PageStore::new(self.aggs.len(), self.count_column, self.step, &self.inputs)
    }
}

/// The run's figures for the page header.
#[derive(Debug, Clone, Default)]
pub struct RunFigures {
    /// This run's counters (what the summary line prints).
    pub run: Counters,
    /// All runs of the job together, when this one resumed from a checkpoint.
    pub all_runs: Option<Counters>,
    pub elapsed: Duration,
    /// Wall-clock time the page is written, ms since the epoch.
    pub written_at: i64,
    /// False while the run goes on (a page written at a checkpoint).
    pub finished: bool,
}

type Writer = (
    crossbeam_channel::Sender<String>,
    std::thread::JoinHandle<Result<()>>,
);

/// The `--html` output: the page's history, fed by the pipeline, and the
/// writer that replaces the file atomically on a background thread.
pub struct HtmlReport {
    path: PathBuf,
    job: PageJob,
    store: PageStore,
    writer: Option<Writer>,
    every: Duration,
    last: Instant,
}

impl HtmlReport {
    /// `every`: wall time between pages when no checkpoint sets the pace.
    pub fn new(job: &Job, plan: &RecordPlan, path: &Path, every_ms: i64) -> Result<HtmlReport> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(Error::usage(format!(
                "--html {}: the directory {} does not exist",
                path.display(),
                dir.display()
            )));
        }
        let job = PageJob::new(job, plan);
        Ok(HtmlReport {
            path: path.to_path_buf(),
            store: job.new_store(),
            job,
            writer: None,
            every: Duration::from_millis(every_ms.max(1) as u64),
            last: Instant::now(),
        })
    }

    /// Continues the history a checkpoint carried. Without one (the earlier
    /// run had no --html) the page starts with this run, and says so on stderr.
    pub fn resume(&mut self, saved: Option<PageStore>) {
        let restored = saved.and_then(|h| h.restored(self.job.aggs.len(), self.job.count_column));
        match restored {
            Some(h) => self.store = h,
            None => eprintln!(
                "vigil: the checkpoint holds no page history (the earlier run had no --html): {} starts with this run",
                self.path.display()
            ),
        }
    }

    pub fn add_rows(&mut self, rows: &[Row]) {
        self.store.add_rows(rows);
    }

    pub fn add_alerts(&mut self, events: &[AlertEvent]) {
        for e in events {
            self.store.add_alert(e);
        }
    }

    pub fn add_input_counts(&mut self, input: &str, bad: u64, late: u64) {
        self.store.add_input_counts(input, bad, late);
    }

    /// The state a checkpoint saves.
    pub fn store(&self) -> &PageStore {
        &self.store
    }

    /// True when a page is due by wall time (runs without a checkpoint).
    pub fn due(&self) -> bool {
        self.last.elapsed() >= self.every
    }

    /// Renders the page now and has it written in the background.
    pub fn write(&mut self, figures: &RunFigures) -> Result<()> {
        self.last = Instant::now();
        let page = page::render(&self.job, &self.store, figures);
        if self.writer.is_none() {
            let (tx, rx) = crossbeam_channel::bounded::<String>(1);
            let path = self.path.clone();
            let handle = std::thread::Builder::new()
                .name("html".into())
                .spawn(move || {
                    for page in rx {
                        crate::sink::write_atomic(&path, page.as_bytes(), Durability::Unsynced)?;
                    }
                    Ok(())
                })
                .map_err(|e| Error::runtime(format!("cannot start the --html writer: {e}")))?;
            self.writer = Some((tx, handle));
        }
        if let Some((tx, _)) = &self.writer {
            if tx.send(page).is_err() {
                return self.join();
            }
        }
        Ok(())
    }

    /// End of the run: the last windows are complete; writes the final page
    /// and waits until it is in place.
    pub fn finish(&mut self, figures: &RunFigures) -> Result<()> {
        self.store.finish();
        self.write(figures)?;
        self.join()
    }

    fn join(&mut self) -> Result<()> {
        match self.writer.take() {
            Some((tx, handle)) => {
                drop(tx);
                handle
                    .join()
                    .unwrap_or_else(|_| Err(Error::runtime("the --html writer panicked")))
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_shortening() {
        let mut out = String::new();
        push_escaped(&mut out, "a<b>&\"c\" 'd'\u{1}\te");
        assert_eq!(out, "a&lt;b&gt;&amp;&quot;c&quot; &#39;d&#39;\u{fffd} e");
        assert_eq!(shorten("abcdef", 3), "abc…");
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("ééééé", 2), "éé…");
    }
}
