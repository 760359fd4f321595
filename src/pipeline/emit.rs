//! The one room that writes a run's outputs: the report rows and alert events
//! the shards produced (in report order), late records, bad records (file,
//! stderr messages, `--on-bad-record fail`), the `--on-alert` hook, the
//! HTTP delivery targets (`deliver`, handed each event in order) and the
//! `--html` page (fed the same rows, events and per-input counts). Reads
//! what the shards and the parser left in their buffers; changes no state of
//! theirs beyond draining those buffers.

use crate::alert::notify::Notifier;
use crate::deliver::{Delivery, DeliveryEvent};
use crate::error::{Error, Result};
use crate::html::{HtmlReport, RunFigures};
use crate::job::BadRecordPolicy;
use crate::plan::{compare_keys, RecordPlan};
use crate::shard::{AlertEvent, Row, RowBuf, Shard};
use crate::sink::{write_error, AlertWriter, Output, ReportWriter, RuleInfo};
use crate::source::pieces::{line_number, Piece};
use crate::stats::Counters;

use super::input::InputState;
use super::parse::BadLine;

/// A late record's line, to be written to `--late-output` in input order.
#[derive(Debug, Clone, Copy)]
pub struct LateRef {
    pub seq: u64,
    /// the batch piece that holds it
    pub piece: u32,
    pub line_start: u32,
    pub line_len: u32,
}

/// Rows the report writes at a time (and the `--html` page then takes):
/// enough for the report's parallel formatting, few enough to stay in cache.
const WRITE_SLICE_ROWS: usize = 16 << 10;
/// Bad records reported on stderr before the rest are only counted.
const BAD_REPORTS: u64 = 10;

/// Every output of a run.
pub struct Emitter {
    pub report: ReportWriter,
    pub alerts: AlertWriter,
    pub late: Option<Output>,
    pub bad_file: Option<Output>,
    pub notifier: Option<Notifier>,
    pub html: Option<HtmlReport>,
    /// webhooks and Alertmanagers; also keeps the firing set for checkpoints
    pub delivery: Delivery,
    fail_on_bad: bool,
    bad_reported: u64,
    warned_keys: bool,
    /// report columns already warned about for a result beyond f64's range
    warned_overflow: Vec<bool>,
    /// the shards write rows as text (`Emitter::row_text`)
    text_rows: bool,
    /// (shard, row) in report order, reused
    merged: Vec<(u32, u32)>,
}

/// Who hears of each alert event besides the alert file: the `--on-alert`
/// command and the HTTP delivery targets.
pub struct AlertHooks {
    pub notifier: Option<Notifier>,
    pub delivery: Delivery,
}

impl Emitter {
    pub fn new(
        report: ReportWriter,
        alerts: AlertWriter,
        late: Option<Output>,
        bad_file: Option<Output>,
        hooks: AlertHooks,
        html: Option<HtmlReport>,
        policy: &BadRecordPolicy,
    ) -> Emitter {
        Emitter {
            report,
            alerts,
            late,
            bad_file,
            notifier: hooks.notifier,
            html,
            delivery: hooks.delivery,
            fail_on_bad: *policy == BadRecordPolicy::Fail,
            bad_reported: 0,
            warned_keys: false,
            warned_overflow: Vec::new(),
            text_rows: false,
            merged: Vec::new(),
        }
    }

    /// How the shards should write their rows: as text where they close
    /// them, when the report is CSV or JSON lines and no page needs the
    /// values; else (None) with their values, formatted by the report writer.
    pub fn row_text(&mut self) -> Option<crate::sink::RowText> {
        let text = self.report.row_text().filter(|_| self.html.is_none());
        self.text_rows = text.is_some();
        text
    }

    /// Writes the input's header to `--late-output` once, so late records in
    /// CSV can be read back.
    pub fn late_header(&mut self, input: &InputState) -> Result<()> {
        if let (Some(late), Some(h)) = (&mut self.late, &input.header) {
            if late.written() == 0 {
                late.write_all(h)
                    .and_then(|_| late.write_all(b"\n"))
                    .map_err(|e| write_error("late records", e))?;
            }
        }
        Ok(())
    }

    /// Bad lines of a batch, in input order: counted, collected, reported.
    pub fn bad_lines<'b>(
        &mut self,
        inputs: &[InputState],
        pieces: &[Piece<'_>],
        bad: impl Iterator<Item = &'b [BadLine]>,
        counters: &mut Counters,
    ) -> Result<()> {
        for (piece, lines) in pieces.iter().zip(bad) {
            let input = &inputs[piece.input];
            if let (Some(h), false) = (&mut self.html, lines.is_empty()) {
                h.add_input_counts(&input.name, lines.len() as u64, 0);
            }
            for b in lines {
                counters.bad += 1;
                let raw = &piece.data[b.line_start as usize..(b.line_start + b.line_len) as usize];
                if let Some(out) = &mut self.bad_file {
                    out.write_all(raw)
                        .and_then(|_| out.write_all(b"\n"))
                        .map_err(|e| write_error("bad records", e))?;
                }
                if self.bad_reported < BAD_REPORTS || self.fail_on_bad {
                    self.bad_reported += 1;
                    let line_no = line_number(piece, b.line_start as usize);
                    let msg = format!("bad record at {}:{}: {}", input.name, line_no, b.error);
                    if self.fail_on_bad {
                        return Err(Error::runtime(format!("{msg} (--on-bad-record fail)")));
                    }
                    crate::diag!("vigil: {msg}");
                    if self.bad_reported == BAD_REPORTS {
                        crate::diag!("vigil: further bad records are counted, not shown");
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes everything the shards produced, in report order. `inputs`
    /// and `pieces` are the batch's (empty when windows close without one).
    #[allow(clippy::too_many_arguments)]
    pub fn drain(
        &mut self,
        plan: &RecordPlan,
        max_keys: u64,
        shards: &mut [Shard],
        inputs: &[InputState],
        pieces: &[Piece<'_>],
        late: &mut Vec<LateRef>,
        counters: &mut Counters,
    ) -> Result<()> {
        let mut alerts = Vec::new();
        let mut dropped = 0;
        for shard in shards.iter_mut() {
            alerts.append(&mut shard.out.alerts);
            dropped += shard.out.dropped.len();
            shard.out.dropped.clear();
            let c = std::mem::take(&mut shard.out.counters);
            counters.add(&c);
        }
        if dropped > 0 && !self.warned_keys {
            self.warned_keys = true;
            crate::diag!(
                "vigil: --max-keys {max_keys} reached: records for further new keys are dropped (counted as dropped)"
            );
        }
        self.write_rows(plan, shards)?;
        if !alerts.is_empty() {
            alerts.sort_by(|a, b| {
                a.time
                    .cmp(&b.time)
                    .then_with(|| compare_keys(&a.key, &b.key))
                    .then(a.rule.cmp(&b.rule))
            });
            self.write_alerts(plan, &alerts)?;
        }
        if let Some(h) = &mut self.html {
            h.add_alerts(&alerts);
            if !late.is_empty() {
                let mut per_piece = vec![0u64; pieces.len()];
                for l in late.iter() {
                    per_piece[l.piece as usize] += 1;
                }
                for (piece, n) in pieces.iter().zip(per_piece) {
                    h.add_input_counts(&inputs[piece.input].name, 0, n);
                }
            }
        }
        if let Some(out) = &mut self.late {
            late.sort_unstable_by_key(|l| l.seq);
            for l in late.drain(..) {
                let data = pieces[l.piece as usize].data;
                let raw = &data[l.line_start as usize..(l.line_start + l.line_len) as usize];
                out.write_all(raw)
                    .and_then(|_| out.write_all(b"\n"))
                    .map_err(|e| write_error("late records", e))?;
            }
        }
        // they point into this batch's pieces: none may outlive it
        late.clear();
        Ok(())
    }

    /// The shards' rows in report order: each shard's are sorted already
    /// (in parallel, by `sort_rows`), so they are merged. Rows the shards
    /// wrote as text are copied to the report; rows kept with their values
    /// are formatted here and the page (if any) takes them.
    fn write_rows(&mut self, plan: &RecordPlan, shards: &mut [Shard]) -> Result<()> {
        let mut order = std::mem::take(&mut self.merged);
        for shard in shards.iter_mut() {
            // (sorted in parallel by the shard phase, as a rule)
            shard.out.rows.sort();
        }
        merge_rows(shards, &mut order);
        if !order.is_empty() {
            let row = |&(s, i): &(u32, u32)| shards[s as usize].out.rows.row(i as usize);
            self.warn_overflow(plan, order.iter().map(row));
            if self.text_rows {
                for &(s, i) in &order {
                    self.report
                        .write_text(shards[s as usize].out.rows.text(i as usize))
                        .map_err(|e| write_error("the report", e))?;
                }
                self.report
                    .end_rows()
                    .map_err(|e| write_error("the report", e))?;
            } else {
                // The report is written a slice at a time, and the page (if
                // any) takes each slice right after, while its rows' keys and
                // values are still in cache (fed after the whole batch, each
                // row cost two cache misses: +11% CPU). Slices also bound the
                // report's formatting buffers.
                let mut slice = Vec::with_capacity(order.len().min(WRITE_SLICE_ROWS));
                for part in order.chunks(WRITE_SLICE_ROWS) {
                    slice.clear();
                    slice.extend(part.iter().map(row));
                    self.report
                        .write_rows(&slice)
                        .map_err(|e| write_error("the report", e))?;
                    if let Some(h) = &mut self.html {
                        h.add_rows(&slice);
                    }
                }
            }
        }
        for shard in shards.iter_mut() {
            shard.out.rows.clear();
        }
        order.clear();
        self.merged = order;
        Ok(())
    }

    /// A result beyond f64's range is written as undefined (see
    /// `agg::write_value`); say so once per column, the first time.
    fn warn_overflow<'r>(&mut self, plan: &RecordPlan, rows: impl Iterator<Item = Row<'r>>) {
        for row in rows {
            for (i, v) in row.values.iter().enumerate() {
                if !v.beyond_f64() {
                    continue;
                }
                if self.warned_overflow.len() <= i {
                    self.warned_overflow.resize(i + 1, false);
                }
                if !std::mem::replace(&mut self.warned_overflow[i], true) {
                    let mut end = Vec::new();
                    crate::time::format_rfc3339_ms(row.end, &mut end);
                    eprintln!(
                        "vigil: warning: {} is beyond the range of a 64-bit float (1.8e308) in the window ending {}; such results are written as undefined (empty in CSV, null in JSON)",
                        plan.specs[i].column,
                        String::from_utf8_lossy(&end)
                    );
                }
            }
        }
    }

    fn write_alerts(&mut self, plan: &RecordPlan, alerts: &[AlertEvent]) -> Result<()> {
        let mut json = Vec::new();
        for e in alerts {
            let rule = &plan.rules[e.rule].rule;
            let info = RuleInfo {
                name: &rule.name,
                severity: &rule.severity,
                text: &rule.text,
            };
            self.alerts
                .write(e, &info)
                .map_err(|err| write_error("alerts", err))?;
            json.clear();
            if self.notifier.is_some() || self.delivery.has_webhooks() {
                self.alerts.event_json(e, &info, &mut json);
            }
            self.delivery.on_event(
                &DeliveryEvent {
                    rule: e.rule,
                    key: &e.key,
                    state: e.transition,
                    time: e.time,
                    value: e.value,
                },
                &json,
            );
            if let Some(n) = &self.notifier {
                let key = crate::plan::key_fields(&e.key)
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect::<Vec<_>>()
                    .join(",");
                let mut value = Vec::new();
                crate::agg::write_value(e.value, &mut value);
                let mut time = Vec::new();
                crate::time::format_rfc3339_ms(e.time, &mut time);
                n.notify(
                    String::from_utf8_lossy(&json).into_owned(),
                    vec![
                        ("VIGIL_RULE", rule.name.clone()),
                        (
                            "VIGIL_STATE",
                            crate::sink::state_name(e.transition).to_string(),
                        ),
                        ("VIGIL_SEVERITY", rule.severity.clone()),
                        ("VIGIL_KEY", key),
                        ("VIGIL_VALUE", String::from_utf8_lossy(&value).into_owned()),
                        ("VIGIL_TIME", String::from_utf8_lossy(&time).into_owned()),
                    ],
                );
            }
        }
        self.alerts
            .end_batch()
            .map_err(|e| write_error("alerts", e))
    }

    /// Writes the `--html` page now (in the background), if there is one.
    pub fn page(&mut self, figures: impl FnOnce() -> RunFigures) -> Result<()> {
        match &mut self.html {
            Some(h) => h.write(&figures()),
            None => Ok(()),
        }
    }

    /// True when a page is due by wall time (runs without a checkpoint).
    pub fn page_due(&self) -> bool {
        self.html.as_ref().is_some_and(|h| h.due())
    }

    /// The final page: the last windows complete, written and in place.
    pub fn finish_page(&mut self, figures: impl FnOnce() -> RunFigures) -> Result<()> {
        match &mut self.html {
            Some(h) => h.finish(&figures()),
            None => Ok(()),
        }
    }

    /// End of the run: everything written and flushed.
    pub fn finish(&mut self) -> Result<()> {
        self.report
            .finish()
            .map_err(|e| write_error("the report", e))?;
        self.alerts.finish().map_err(|e| write_error("alerts", e))?;
        if let Some(l) = &mut self.late {
            l.flush().map_err(|e| write_error("late records", e))?;
        }
        if let Some(b) = &mut self.bad_file {
            b.flush().map_err(|e| write_error("bad records", e))?;
        }
        Ok(())
    }

    /// Output files in checkpoint order (report, alerts, late, bad), flushed:
    /// their lengths (0 for stdout/stderr or an output not given), and the
    /// files for the checkpoint writer to fsync before it records them.
    pub fn flush_lengths(&mut self) -> Result<(Vec<u64>, crate::checkpoint::OutputsToSync)> {
        let mut lengths = Vec::new();
        let mut to_sync = Vec::new();
        for out in [
            Some(self.report.output()),
            Some(self.alerts.output()),
            self.late.as_mut(),
            self.bad_file.as_mut(),
        ] {
            match out {
                Some(o) if o.path().is_some() => {
                    if let Some(f) = o.flush_for_sync().map_err(|e| write_error("output", e))? {
                        to_sync.push((o.path().expect("a file").to_path_buf(), f));
                    }
                    lengths.push(o.written());
                }
                _ => lengths.push(0),
            }
        }
        Ok((lengths, to_sync))
    }
}

/// Merges the shards' sorted rows into report order, as (shard, row).
fn merge_rows(shards: &[Shard], order: &mut Vec<(u32, u32)>) {
    let bufs: Vec<&RowBuf> = shards.iter().map(|s| &s.out.rows).collect();
    order.reserve(bufs.iter().map(|b| b.len()).sum());
    let mut at = vec![0usize; bufs.len()];
    loop {
        // the least next row among the shards (a handful of them)
        let mut best: Option<usize> = None;
        for (s, b) in bufs.iter().enumerate() {
            if at[s] < b.len() && best.is_none_or(|t| b.before(at[s], bufs[t], at[t])) {
                best = Some(s);
            }
        }
        let Some(s) = best else { break };
        order.push((s as u32, at[s] as u32));
        at[s] += 1;
    }
}
