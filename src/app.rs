//! Builds the pipeline from a [`Job`] and runs it: inputs are cut into
//! batches of lines; each batch is decoded in parallel, stamped with the
//! watermark record by record in input order, applied to the key shards in
//! parallel, and the windows it closed are written in report order. Batch
//! boundaries are consistent cuts, where checkpoints are taken.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::agg::SlotValue;
use crate::alert::notify::{Notifier, NotifyStats};
use crate::checkpoint::{self, Checkpoint, InputPosition};
use crate::decode::{self, DecodeError, Format, LineDecoder};
use crate::error::{Error, Result};
use crate::job::{BadRecordPolicy, FormatChoice, InputSpec, Job};
use crate::plan::{compare_keys, Extracted, RecordPlan, Scratch};
use crate::shard::{Engine, KeyBudget, RecordView, Routed, Shard};
use crate::sink::{write_error, AlertWriter, Output, ReportWriter, RuleInfo};
use crate::source::{self, StreamChunk};
use crate::stats::Counters;
use crate::time::TimeFormat;
use crate::window::Layout;

/// Bytes of a mapped file decoded per batch: large enough to keep every core
/// busy, small enough that a checkpoint is never far away.
const BATCH_BYTES: usize = 8 << 20;
/// Pieces per thread in a batch, so uneven lines still balance.
const PIECES_PER_THREAD: usize = 4;
/// Bad records reported on stderr before the rest are only counted.
const BAD_REPORTS: u64 = 10;
/// Stream chunks merged into one batch at most.
const STREAM_BATCH_CHUNKS: usize = 256;
/// How often a stream run wakes up without input (signals, wall-clock windows).
const IDLE_TICK: Duration = Duration::from_millis(20);
/// Concurrent `--on-alert` commands, and each one's time limit.
const NOTIFY_RUNNING: usize = 4;
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// How a run ended, for the exit status.
pub struct Outcome {
    pub alerts_fired: u64,
}

/// What the decoder of one input stream needs.
struct InputState {
    name: Arc<str>,
    decoder: Box<dyn LineDecoder>,
    time_format: TimeFormat,
    header: Option<Vec<u8>>,
}

/// One piece of input to decode: whole lines of one input.
struct Piece<'a> {
    input: usize,
    data: &'a [u8],
    /// stream offset of `data`
    offset: u64,
    /// line number of the first line, when known (streams)
    first_line: Option<u64>,
    /// the whole mapped file, to count lines in only when one must be reported
    whole: Option<&'a [u8]>,
    arrival_ms: i64,
}

#[derive(Debug, Clone, Copy)]
struct ParsedRec {
    time: i64,
    hash: u64,
    key_start: u32,
    key_len: u32,
    val_start: u32,
    line_start: u32,
    line_len: u32,
    filtered: bool,
}

struct BadLine {
    line_start: u32,
    line_len: u32,
    error: DecodeError,
}

/// The decoded form of one piece. Reused from batch to batch.
#[derive(Default)]
struct Parsed {
    recs: Vec<ParsedRec>,
    keys: Vec<u8>,
    values: Vec<SlotValue>,
    bad: Vec<BadLine>,
    lines: u64,
    bad_values: u64,
    filtered: u64,
}

/// Lines of `data`, without terminators, with their start offsets; blank lines skipped.
fn for_each_line(data: &[u8], mut f: impl FnMut(usize, &[u8])) {
    let mut start = 0;
    let mut handle = |s: usize, e: usize| {
        let mut line = &data[s..e];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        if !line.is_empty() {
            f(s, line);
        }
    };
    for nl in memchr::memchr_iter(b'\n', data) {
        handle(start, nl);
        start = nl + 1;
    }
    if start < data.len() {
        handle(start, data.len());
    }
}

fn parse_piece(plan: &RecordPlan, input: &InputState, piece: &Piece<'_>, out: &mut Parsed) {
    out.recs.clear();
    out.keys.clear();
    out.values.clear();
    out.bad.clear();
    out.lines = 0;
    out.bad_values = 0;
    out.filtered = 0;
    let mut decoder = input.decoder.fork();
    let mut scratch = Scratch::new(plan);
    let nvals = plan.agg.input_slots().len();
    for_each_line(piece.data, |start, line| {
        out.lines += 1;
        scratch.slots.clear();
        let bad = |error: DecodeError, out: &mut Parsed| {
            out.bad.push(BadLine {
                line_start: start as u32,
                line_len: line.len() as u32,
                error,
            });
        };
        if let Err(e) = decoder.decode(line, &mut scratch.slots) {
            return bad(e, out);
        }
        let key_start = out.keys.len();
        let val_start = out.values.len();
        match plan.extract(
            line,
            &mut scratch,
            &input.time_format,
            piece.arrival_ms,
            &mut out.keys,
            &mut out.values,
            &mut out.bad_values,
        ) {
            Err(e) => {
                out.keys.truncate(key_start);
                out.values.truncate(val_start);
                bad(e, out)
            }
            Ok(Extracted::Filtered) => {
                out.filtered += 1;
                out.recs.push(ParsedRec {
                    time: plan_time_of_filtered(plan, line, &scratch, input, piece.arrival_ms),
                    hash: 0,
                    key_start: 0,
                    key_len: 0,
                    val_start: 0,
                    line_start: start as u32,
                    line_len: line.len() as u32,
                    filtered: true,
                });
            }
            Ok(Extracted::Record { time }) => {
                debug_assert_eq!(out.values.len() - val_start, nvals);
                let key = &out.keys[key_start..];
                out.recs.push(ParsedRec {
                    time,
                    hash: crate::plan::hash_bytes(key),
                    key_start: key_start as u32,
                    key_len: key.len() as u32,
                    val_start: val_start as u32,
                    line_start: start as u32,
                    line_len: line.len() as u32,
                    filtered: false,
                });
            }
        }
    });
}

/// A filtered record still moves the watermark, by its own time when readable.
fn plan_time_of_filtered(
    plan: &RecordPlan,
    line: &[u8],
    scratch: &Scratch,
    input: &InputState,
    arrival: i64,
) -> i64 {
    match plan.time_slot {
        None => arrival,
        Some(s) => scratch
            .slots
            .get(line, s)
            .and_then(|raw| input.time_format.parse(raw))
            .unwrap_or(i64::MIN),
    }
}

/// The running pipeline: shards, watermark, sinks and counters.
struct Pipeline<'a> {
    job: &'a Job,
    engine: Engine<'a>,
    shards: Vec<Shard>,
    routed: Vec<Vec<Routed>>,
    parsed: Vec<Parsed>,
    report: ReportWriter,
    alerts: AlertWriter,
    late: Option<Output>,
    bad_file: Option<Output>,
    notifier: Option<Notifier>,
    /// max event time seen (i64::MIN: none)
    max_seen: i64,
    wm: i64,
    seq: u64,
    counters: Counters,
    bad_reported: u64,
    warned_keys: bool,
    /// byte offset reached in each file input (checkpoints)
    positions: Vec<InputPosition>,
    last_arrival: Instant,
    bytes_read: u64,
}

fn stamp_wm(max_seen: i64, delay: i64) -> i64 {
    if max_seen == i64::MIN {
        i64::MIN
    } else {
        max_seen.saturating_sub(delay)
    }
}

impl<'a> Pipeline<'a> {
    /// Decodes `pieces`, applies them, writes what closed.
    fn process(&mut self, inputs: &[InputState], pieces: &[Piece<'_>]) -> Result<()> {
        let plan = self.engine.plan;
        while self.parsed.len() < pieces.len() {
            self.parsed.push(Parsed::default());
        }
        let parsed = &mut self.parsed[..pieces.len()];
        if pieces.len() == 1 {
            parse_piece(plan, &inputs[pieces[0].input], &pieces[0], &mut parsed[0]);
        } else {
            parsed
                .par_iter_mut()
                .zip(pieces.par_iter())
                .for_each(|(out, piece)| parse_piece(plan, &inputs[piece.input], piece, out));
        }

        // Bad lines, in input order.
        for (pi, p) in self.parsed[..pieces.len()].iter().enumerate() {
            if p.bad.is_empty() {
                continue;
            }
            let piece = &pieces[pi];
            let input = &inputs[piece.input];
            for b in &p.bad {
                self.counters.bad += 1;
                let raw = &piece.data[b.line_start as usize..(b.line_start + b.line_len) as usize];
                if let Some(out) = &mut self.bad_file {
                    out.write_all(raw)
                        .and_then(|_| out.write_all(b"\n"))
                        .map_err(|e| write_error("bad records", e))?;
                }
                let fail = self.job.on_bad_record == BadRecordPolicy::Fail;
                if self.bad_reported < BAD_REPORTS || fail {
                    self.bad_reported += 1;
                    let line_no = line_number(piece, b.line_start as usize);
                    let msg = format!("bad record at {}:{}: {}", input.name, line_no, b.error);
                    if fail {
                        return Err(Error::runtime(format!("{msg} (--on-bad-record fail)")));
                    }
                    eprintln!("vigil: {msg}");
                    if self.bad_reported == BAD_REPORTS {
                        eprintln!("vigil: further bad records are counted, not shown");
                    }
                }
            }
        }

        // Watermark and routing, record by record in input order.
        let nshards = self.shards.len();
        for r in &mut self.routed {
            r.clear();
        }
        let mut new_records = 0u64;
        for (ci, p) in self.parsed[..pieces.len()].iter().enumerate() {
            self.counters.records += p.lines;
            self.counters.bad_values += p.bad_values;
            self.counters.filtered += p.filtered;
            for (ri, rec) in p.recs.iter().enumerate() {
                let wm_before = self.wm;
                if !rec.filtered {
                    let shard = ((rec.hash >> 40) as usize) % nshards;
                    self.routed[shard].push(Routed {
                        chunk: ci as u32,
                        index: ri as u32,
                        wm_before,
                        seq: self.seq,
                    });
                    self.seq += 1;
                    new_records += 1;
                }
                if rec.time > self.max_seen {
                    self.max_seen = rec.time;
                    self.wm = stamp_wm(self.max_seen, self.job.max_delay);
                }
            }
        }
        for piece in pieces {
            self.bytes_read += piece.data.len() as u64;
        }
        self.apply(new_records)
    }

    /// Applies the routed records to the shards and closes windows up to the watermark.
    fn apply(&mut self, new_records: u64) -> Result<()> {
        let engine = &self.engine;
        let parsed = &self.parsed;
        let wm_end = self.wm;
        let live: u64 = self.shards.iter().map(|s| s.live_keys()).sum();
        let view = |r: &Routed| {
            let p = &parsed[r.chunk as usize];
            let rec = &p.recs[r.index as usize];
            let n = engine.plan.agg.input_slots().len();
            RecordView {
                time: rec.time,
                hash: rec.hash,
                key: &p.keys[rec.key_start as usize..(rec.key_start + rec.key_len) as usize],
                values: &p.values[rec.val_start as usize..rec.val_start as usize + n],
            }
        };
        if live + new_records <= engine.max_keys {
            let work = |(shard, routed): (&mut Shard, &Vec<Routed>)| {
                let mut budget = KeyBudget::Unlimited;
                for r in routed {
                    shard.apply(engine, &view(r), *r, &mut budget);
                }
                shard.advance(engine, wm_end, true);
                shard.sort_rows();
            };
            if self.shards.len() == 1 {
                work((&mut self.shards[0], &self.routed[0]));
            } else {
                self.shards
                    .par_iter_mut()
                    .zip(self.routed.par_iter())
                    .for_each(work);
            }
        } else {
            // Near the key limit: one record at a time in input order, so the
            // same keys are refused whatever the thread count.
            let mut order: Vec<(usize, Routed)> = Vec::with_capacity(new_records as usize);
            for (s, routed) in self.routed.iter().enumerate() {
                order.extend(routed.iter().map(|r| (s, *r)));
            }
            order.sort_unstable_by_key(|(_, r)| r.seq);
            let mut total = live;
            for (s, r) in order {
                let before = self.shards[s].live_keys();
                let mut budget = KeyBudget::Counted {
                    others: total - before,
                    max: engine.max_keys,
                    _p: std::marker::PhantomData,
                };
                self.shards[s].apply(engine, &view(&r), r, &mut budget);
                total = total - before + self.shards[s].live_keys();
            }
            for shard in &mut self.shards {
                shard.advance(engine, wm_end, true);
            }
        }
        self.last_arrival = Instant::now();
        Ok(())
    }

    /// Writes everything the shards produced, in report order.
    fn drain(&mut self, pieces: &[Piece<'_>]) -> Result<()> {
        let mut rows = Vec::new();
        let mut alerts = Vec::new();
        let mut late = Vec::new();
        let mut dropped = 0;
        for shard in &mut self.shards {
            rows.append(&mut shard.out.rows);
            alerts.append(&mut shard.out.alerts);
            late.append(&mut shard.out.late);
            dropped += shard.out.dropped.len();
            shard.out.dropped.clear();
            let c = std::mem::take(&mut shard.out.counters);
            self.counters.add(&c);
        }
        if dropped > 0 && !self.warned_keys {
            self.warned_keys = true;
            eprintln!(
                "vigil: --max-keys {} reached: records for further new keys are dropped (counted as dropped)",
                self.engine.max_keys
            );
        }
        // Each shard's rows are usually sorted already (in parallel, by
        // `sort_rows`): the stable sort merges those runs in near-linear time.
        rows.sort_by(|a, b| {
            a.order
                .cmp(&b.order)
                .then_with(|| compare_keys(&a.key, &b.key))
        });
        self.report
            .write_rows(&rows)
            .map_err(|e| write_error("the report", e))?;
        if !alerts.is_empty() {
            alerts.sort_by(|a, b| {
                a.time
                    .cmp(&b.time)
                    .then_with(|| compare_keys(&a.key, &b.key))
                    .then(a.rule.cmp(&b.rule))
            });
            let mut json = Vec::new();
            for e in &alerts {
                let rule = &self.engine.plan.rules[e.rule].rule;
                let info = RuleInfo {
                    name: &rule.name,
                    severity: &rule.severity,
                    text: &rule.text,
                };
                self.alerts
                    .write(e, &info)
                    .map_err(|err| write_error("alerts", err))?;
                if let Some(n) = &self.notifier {
                    json.clear();
                    self.alerts.event_json(e, &info, &mut json);
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
                .map_err(|e| write_error("alerts", e))?;
        }
        if let Some(out) = &mut self.late {
            late.sort_unstable_by_key(|l| l.0);
            for (_, chunk, index) in late {
                let piece = &pieces[chunk as usize];
                let rec = &self.parsed[chunk as usize].recs[index as usize];
                let raw =
                    &piece.data[rec.line_start as usize..(rec.line_start + rec.line_len) as usize];
                out.write_all(raw)
                    .and_then(|_| out.write_all(b"\n"))
                    .map_err(|e| write_error("late records", e))?;
            }
        }
        Ok(())
    }

    /// Moves the watermark without records (wall clock, idle timeout).
    fn advance_to(&mut self, wm: i64) -> Result<()> {
        if wm <= self.wm {
            return Ok(());
        }
        self.wm = wm;
        let engine = &self.engine;
        for shard in &mut self.shards {
            shard.advance(engine, wm, true);
        }
        self.drain(&[])
    }

    /// End of input: every open window is emitted.
    fn flush_all(&mut self) -> Result<()> {
        let engine = &self.engine;
        self.shards.par_iter_mut().for_each(|s| s.flush(engine));
        self.drain(&[])
    }
}

/// 1-based line number of `offset` within a piece. For mapped files lines
/// are counted only here, when a bad record is reported (bad records come in
/// file order, so the count resumes from the previous one).
fn line_number(piece: &Piece<'_>, offset: usize) -> String {
    thread_local! {
        /// (file start address, byte offset, line number at that offset)
        static CURSOR: std::cell::Cell<(usize, usize, u64)> = const { std::cell::Cell::new((0, 0, 1)) };
    }
    match (piece.first_line, piece.whole) {
        (Some(first), _) => {
            (first + memchr::memchr_iter(b'\n', &piece.data[..offset]).count() as u64).to_string()
        }
        (None, Some(whole)) => {
            let target = piece.offset as usize + offset;
            let (base, mut at, mut line) = CURSOR.with(|c| c.get());
            if base != whole.as_ptr() as usize || at > target {
                (at, line) = (0, 1);
            }
            line += memchr::memchr_iter(b'\n', &whole[at..target]).count() as u64;
            at = target;
            CURSOR.with(|c| c.set((whole.as_ptr() as usize, at, line)));
            line.to_string()
        }
        (None, None) => format!("byte {}", piece.offset + offset as u64),
    }
}

/// Chooses the format of an input and builds its decoder from its first line.
/// Returns None for the header line: whether the first line was consumed.
fn open_input(
    job: &Job,
    plan: &RecordPlan,
    name: Arc<str>,
    path_hint: Option<&std::path::Path>,
    first_line: Option<&[u8]>,
) -> Result<(InputState, bool)> {
    let format = match job.format {
        FormatChoice::Fixed(f) => f,
        FormatChoice::Auto => {
            let ext = path_hint
                .and_then(|p| p.extension())
                .and_then(|e| e.to_str())
                .unwrap_or("");
            match ext {
                "csv" => Format::Csv,
                "jsonl" | "ndjson" => Format::Jsonl,
                _ => match first_line {
                    Some(l) if l.trim_ascii_start().starts_with(b"{") => Format::Jsonl,
                    Some(l) => decode::logs::sniff(l).unwrap_or(Format::Csv),
                    None => Format::Csv,
                },
            }
        }
    };
    let fields = &plan.fields;
    let in_input = |e: String| Error::usage(format!("{name}: {e}"));
    let mut consumed = false;
    let mut header = None;
    let decoder: Box<dyn LineDecoder> = match format {
        Format::Csv => {
            let columns = if job.has_header {
                match first_line {
                    Some(line) => {
                        consumed = true;
                        header = Some(line.to_vec());
                        decode::csv::split_header(line, job.delimiter).map_err(|e| {
                            Error::usage(format!("{name}:1: cannot read the CSV header: {e}"))
                        })?
                    }
                    None => fields.clone(),
                }
            } else {
                job.columns.clone().unwrap_or_default()
            };
            Box::new(
                decode::csv::CsvDecoder::new(&columns, fields, job.delimiter).map_err(in_input)?,
            )
        }
        Format::Jsonl => decode::json::json_decoder(fields).map_err(in_input)?,
        Format::Logfmt => decode::logs::logfmt_decoder(fields).map_err(in_input)?,
        Format::Regex => decode::logs::regex_decoder(job.regex.as_deref().unwrap_or(""), fields)
            .map_err(in_input)?,
        Format::Nginx | Format::Apache | Format::Syslog => {
            decode::logs::preset_decoder(format, fields).map_err(in_input)?
        }
    };
    let time_format = match &job.time_format {
        Some(tf) => tf.clone(),
        None => match decode::logs::preset_time(format) {
            Some((field, tf)) if job.time_field.as_deref() == Some(field) => tf,
            _ => TimeFormat::Auto,
        },
    };
    Ok((
        InputState {
            name,
            decoder,
            time_format,
            header,
        },
        consumed,
    ))
}

/// Cuts `data[start..end]` into about `n` pieces at line boundaries.
fn split_pieces<'d>(
    data: &'d [u8],
    start: usize,
    end: usize,
    n: usize,
    input: usize,
    arrival: i64,
    out: &mut Vec<Piece<'d>>,
) {
    let target = ((end - start) / n.max(1)).max(1 << 16);
    let mut s = start;
    while s < end {
        let mut e = (s + target).min(end);
        if e < end {
            e = match memchr::memchr(b'\n', &data[e..end]) {
                Some(p) => e + p + 1,
                None => end,
            };
        }
        out.push(Piece {
            input,
            data: &data[s..e],
            offset: s as u64,
            first_line: None,
            whole: Some(data),
            arrival_ms: arrival,
        });
        s = e;
    }
}

/// Runs a job to completion.
pub fn run(job: &Job) -> Result<Outcome> {
    let started = Instant::now();
    let plan = RecordPlan::new(job)?;
    let layout = Layout::new(job.window);
    let engine = Engine {
        plan: &plan,
        layout,
        keep_keys: plan.rules.iter().any(|r| r.absent_ms.is_some()),
        max_keys: job.max_keys,
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(job.threads)
        .build_global()
        .ok();

    // Resume from a checkpoint if there is one.
    let fingerprint = checkpoint::fingerprint(job);
    let resumed: Option<Checkpoint> = match &job.checkpoint {
        Some(path) if !job.fresh && path.exists() => Some(checkpoint::load(path, fingerprint)?),
        _ => None,
    };
    let live = !job.all_files();
    let agg_columns: Vec<String> = plan.specs[..plan.visible]
        .iter()
        .map(|s| s.column.clone())
        .collect();
    let lens = resumed
        .as_ref()
        .map(|c| c.outputs.clone())
        .unwrap_or_default();
    let open = |path: &Option<std::path::PathBuf>, idx: usize| -> Result<Option<Output>> {
        match path {
            None => Ok(None),
            Some(p) => Output::file(
                p,
                resumed
                    .as_ref()
                    .map(|_| lens.get(idx).copied().unwrap_or(0)),
            )
            .map(Some),
        }
    };
    let report_out = open(&job.output, 0)?.unwrap_or_else(Output::stdout);
    let report_header = report_out.written() > 0;
    let report = ReportWriter::new(
        report_out,
        job.output_format,
        &job.key,
        &agg_columns,
        live,
        report_header,
    );
    let alerts_out = open(&job.alerts, 1)?.unwrap_or_else(Output::stderr);
    let alerts_header = alerts_out.written() > 0;
    let alerts = AlertWriter::new(alerts_out, job.alerts_format, &job.key, live, alerts_header);
    let late = open(&job.late_output, 2)?;
    let bad_file = match &job.on_bad_record {
        BadRecordPolicy::File(p) => open(&Some(p.clone()), 3)?,
        _ => None,
    };
    let notifier = job
        .on_alert
        .clone()
        .map(|cmd| Notifier::new(cmd, NOTIFY_RUNNING, NOTIFY_TIMEOUT));

    let mut p = Pipeline {
        job,
        engine,
        shards: (0..job.threads).map(|_| Shard::default()).collect(),
        routed: vec![Vec::new(); job.threads],
        parsed: Vec::new(),
        report,
        alerts,
        late,
        bad_file,
        notifier,
        max_seen: i64::MIN,
        wm: i64::MIN,
        seq: 0,
        counters: Counters::default(),
        bad_reported: 0,
        warned_keys: false,
        positions: Vec::new(),
        last_arrival: Instant::now(),
        bytes_read: 0,
    };
    let mut prior = Counters::default();
    if let Some(ck) = resumed {
        p.max_seen = ck.max_seen;
        p.wm = ck.wm;
        p.seq = ck.seq;
        prior = ck.counters.clone();
        p.positions = ck.positions.clone();
        for entry in ck.keys {
            let shard = ((entry.hash >> 40) as usize) % p.shards.len();
            p.shards[shard].restore(&p.engine, entry);
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, stop.clone());
    }

    let mut store = job
        .checkpoint
        .as_ref()
        .map(|path| checkpoint::Store::new(path.clone(), fingerprint, job.checkpoint_every));
    if job.all_files() {
        run_files(&mut p, job, &mut store, &prior)?;
    } else {
        run_streams(&mut p, job, &mut store, &prior, &stop)?;
    }
    if !job.incremental {
        p.flush_all()?;
    }
    p.report
        .finish()
        .map_err(|e| write_error("the report", e))?;
    p.alerts.finish().map_err(|e| write_error("alerts", e))?;
    if let Some(l) = &mut p.late {
        l.flush().map_err(|e| write_error("late records", e))?;
    }
    if let Some(b) = &mut p.bad_file {
        b.flush().map_err(|e| write_error("bad records", e))?;
    }
    if let Some(store) = &mut store {
        save_checkpoint(&mut p, store, &prior, true)?;
    }
    let notify_stats = p.notifier.take().map(Notifier::finish).unwrap_or_default();
    let elapsed = started.elapsed();
    if !job.quiet {
        print_summary(&p, elapsed, &notify_stats, store.as_ref());
    }
    Ok(Outcome {
        alerts_fired: p.counters.alerts_fired + prior.alerts_fired,
    })
}

fn print_summary(
    p: &Pipeline<'_>,
    elapsed: Duration,
    notify: &NotifyStats,
    store: Option<&checkpoint::Store>,
) {
    let c = &p.counters;
    let secs = elapsed.as_secs_f64();
    let firing: usize = p
        .shards
        .iter()
        .flat_map(|s| s.entries())
        .map(|e| e.trackers.iter().filter(|t| t.is_firing()).count())
        .sum();
    let mut line = format!(
        "vigil: records={} bad={} bad_values={} late={} dropped={} windows={} alerts={} elapsed={:.3}s",
        c.records, c.bad, c.bad_values, c.late, c.dropped, c.windows, c.alerts, secs
    );
    if secs > 0.0 {
        line.push_str(&format!(
            " throughput={:.1}MB/s records_per_s={:.0}",
            p.bytes_read as f64 / 1e6 / secs,
            c.records as f64 / secs
        ));
    }
    // alerts still firing at the end (no resolved event is invented for them)
    line.push_str(&format!(" firing={firing}"));
    if c.filtered > 0 {
        line.push_str(&format!(" filtered={}", c.filtered));
    }
    if let Some(s) = store {
        line.push_str(&format!(
            " checkpoints={} checkpoint_bytes={} checkpoint_max_stall={:.1}ms",
            s.saved,
            s.bytes,
            s.max_stall.as_secs_f64() * 1000.0
        ));
    }
    if notify.started > 0 {
        line.push_str(&format!(
            " notify_failed={} notify_timed_out={} notify_dropped={}",
            notify.failed, notify.timed_out, notify.dropped
        ));
    }
    eprintln!("{line}");
}

fn save_checkpoint(
    p: &mut Pipeline<'_>,
    store: &mut checkpoint::Store,
    prior: &Counters,
    last: bool,
) -> Result<()> {
    let mut outputs = Vec::new();
    for out in [
        Some(p.report.output()),
        Some(p.alerts.output()),
        p.late.as_mut(),
        p.bad_file.as_mut(),
    ] {
        match out {
            Some(o) if o.path().is_some() => {
                o.sync().map_err(|e| write_error("output", e))?;
                outputs.push(o.written());
            }
            _ => outputs.push(0),
        }
    }
    let mut counters = prior.clone();
    counters.add(&p.counters);
    let keys: Vec<&crate::shard::KeyEntry> = p.shards.iter().flat_map(|s| s.entries()).collect();
    store.save(&checkpoint::Snapshot {
        positions: &p.positions,
        outputs,
        max_seen: p.max_seen,
        wm: p.wm,
        seq: p.seq,
        counters,
        keys,
        last,
    })
}

/// Reads every input as a mapped file, in order.
fn run_files(
    p: &mut Pipeline<'_>,
    job: &Job,
    store: &mut Option<checkpoint::Store>,
    prior: &Counters,
) -> Result<()> {
    let plan = p.engine.plan;
    let mut files = Vec::new();
    for input in &job.inputs {
        let InputSpec::File(path) = input else {
            unreachable!("run_files takes files only")
        };
        match source::open_file(path)? {
            Some(f) => files.push(f),
            None => {
                return Err(Error::usage(format!(
                    "{} is not a regular file: read it as a stream with `cat {} | vigil run -`",
                    path.display(),
                    path.display()
                )))
            }
        }
    }
    let total: u64 = files.iter().map(|f| f.bytes().len() as u64).sum();
    let bar = progress_bar(job, total);
    let resume = std::mem::take(&mut p.positions);
    let plans = checkpoint::verify_inputs(&files, &resume, job.incremental)?;
    p.positions = plans.iter().map(|(pos, _)| pos.clone()).collect();
    let threads = job.threads;
    let mut pieces: Vec<Piece<'_>> = Vec::new();
    for (i, (file, (_, segments))) in files.iter().zip(plans.iter()).enumerate() {
        for seg in segments {
            let (bytes, from, name): (&[u8], u64, Arc<str>) = match seg {
                checkpoint::Segment::Mapped { from } => (
                    file.bytes(),
                    *from,
                    Arc::from(file.path.display().to_string()),
                ),
                checkpoint::Segment::Rotated { file: old, from } => (
                    old.bytes(),
                    *from,
                    Arc::from(old.path.display().to_string()),
                ),
            };
            if bytes.is_empty() {
                continue;
            }
            // The header is the file's first line, wherever reading resumes.
            let header_end = memchr::memchr(b'\n', bytes)
                .map(|n| n + 1)
                .unwrap_or(bytes.len());
            let (state, consumed) =
                open_input(job, plan, name, Some(&file.path), first_line(bytes))?;
            let mut pos = from as usize;
            if consumed && pos < header_end {
                pos = header_end;
                if let (Some(late), Some(h)) = (&mut p.late, &state.header) {
                    if late.written() == 0 {
                        late.write_all(h)
                            .and_then(|_| late.write_all(b"\n"))
                            .map_err(|e| write_error("late records", e))?;
                    }
                }
            }
            let inputs = [state];
            // With --incremental a last line without its newline may still be
            // being written: leave it for the next run.
            let limit = if job.incremental {
                memchr::memrchr(b'\n', bytes)
                    .map(|n| n + 1)
                    .unwrap_or(0)
                    .max(pos)
            } else {
                bytes.len()
            };
            while pos < limit {
                let mut end = (pos + BATCH_BYTES).min(limit);
                if end < limit {
                    end = match memchr::memchr(b'\n', &bytes[end..limit]) {
                        Some(n) => end + n + 1,
                        None => limit,
                    };
                }
                pieces.clear();
                split_pieces(
                    bytes,
                    pos,
                    end,
                    threads * PIECES_PER_THREAD,
                    0,
                    source::now_ms(),
                    &mut pieces,
                );
                p.process(&inputs, &pieces)?;
                p.drain(&pieces)?;
                pos = end;
                match seg {
                    checkpoint::Segment::Mapped { .. } => file.release_before(pos),
                    checkpoint::Segment::Rotated { file: old, .. } => old.release_before(pos),
                }
                p.positions[i].set_offset(seg, file, pos as u64);
                if let Some(b) = &bar {
                    b.set_position(p.bytes_read);
                }
                if let Some(s) = store {
                    if s.due() {
                        save_checkpoint(p, s, prior, false)?;
                    }
                }
            }
            p.positions[i].set_offset(seg, file, pos as u64);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(())
}

fn progress_bar(job: &Job, total: u64) -> Option<indicatif::ProgressBar> {
    if job.quiet || !(job.progress || std::io::stderr().is_terminal()) {
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
fn progress_spinner(job: &Job) -> Option<indicatif::ProgressBar> {
    if job.quiet || !(job.progress || std::io::stderr().is_terminal()) {
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

/// Reads stdin, TCP connections and non-regular files through reader threads.
fn run_streams(
    p: &mut Pipeline<'_>,
    job: &Job,
    store: &mut Option<checkpoint::Store>,
    prior: &Counters,
    stop: &Arc<AtomicBool>,
) -> Result<()> {
    let plan = p.engine.plan;
    let (tx, rx) = crossbeam_channel::bounded::<StreamChunk>(64);
    let mut next_stream = 0u32;
    let mut has_tcp = false;
    let mut names: Vec<Option<std::path::PathBuf>> = Vec::new();
    for input in &job.inputs {
        match input {
            InputSpec::Stdin => {
                source::spawn_reader(
                    Box::new(std::io::stdin()),
                    next_stream,
                    Arc::from("<stdin>"),
                    tx.clone(),
                    0,
                );
                names.push(None);
                next_stream += 1;
            }
            InputSpec::File(path) => {
                let f = std::fs::File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
                source::spawn_reader(
                    Box::new(f),
                    next_stream,
                    Arc::from(path.display().to_string()),
                    tx.clone(),
                    0,
                );
                names.push(Some(path.clone()));
                next_stream += 1;
            }
            InputSpec::Tcp(addr) => {
                has_tcp = true;
                let local = source::spawn_tcp(addr, 1 << 20, tx.clone(), stop.clone())?;
                if !job.quiet {
                    eprintln!("vigil: listening on tcp://{local}");
                }
            }
        }
    }
    drop(tx);
    let processing_time = job.time_field.is_none();
    let mut states: std::collections::HashMap<u32, InputState> = std::collections::HashMap::new();
    let mut inputs: Vec<InputState> = Vec::new();
    let mut batch: Vec<StreamChunk> = Vec::new();
    let mut stop_seen: Option<Instant> = None;
    let spinner = progress_spinner(job);
    loop {
        batch.clear();
        match rx.recv_timeout(IDLE_TICK) {
            Ok(c) => {
                batch.push(c);
                while batch.len() < STREAM_BATCH_CHUNKS {
                    match rx.try_recv() {
                        Ok(c) => batch.push(c),
                        Err(_) => break,
                    }
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
        if !batch.is_empty() {
            // Decoders for new streams; headers cut off.
            let mut pieces_spec: Vec<(usize, usize, usize)> = Vec::new(); // (chunk, input index, skip)
            inputs.clear();
            let mut index_of: std::collections::HashMap<u32, usize> =
                std::collections::HashMap::new();
            for (ci, c) in batch.iter().enumerate() {
                let mut skip = 0;
                #[allow(clippy::map_entry)] // building the state may fail with `?`
                if !states.contains_key(&c.stream) {
                    let first = first_line(&c.data);
                    if first.is_none() && c.last {
                        continue; // a connection that sent nothing
                    }
                    let hint = names.get(c.stream as usize).and_then(|n| n.clone());
                    let (state, consumed) =
                        open_input(job, plan, c.name.clone(), hint.as_deref(), first)?;
                    if consumed {
                        skip = memchr::memchr(b'\n', &c.data)
                            .map(|n| n + 1)
                            .unwrap_or(c.data.len());
                        if let (Some(late), Some(h)) = (&mut p.late, &state.header) {
                            if late.written() == 0 {
                                late.write_all(h)
                                    .and_then(|_| late.write_all(b"\n"))
                                    .map_err(|e| write_error("late records", e))?;
                            }
                        }
                    }
                    states.insert(c.stream, state);
                }
                let idx = *index_of.entry(c.stream).or_insert_with(|| {
                    let s = &states[&c.stream];
                    inputs.push(InputState {
                        name: s.name.clone(),
                        decoder: s.decoder.fork(),
                        time_format: s.time_format.clone(),
                        header: None,
                    });
                    inputs.len() - 1
                });
                pieces_spec.push((ci, idx, skip));
            }
            let pieces: Vec<Piece<'_>> = pieces_spec
                .iter()
                .map(|&(ci, idx, skip)| {
                    let c = &batch[ci];
                    Piece {
                        input: idx,
                        data: &c.data[skip..],
                        offset: c.offset + skip as u64,
                        first_line: Some(c.first_line + if skip > 0 { 1 } else { 0 }),
                        whole: None,
                        arrival_ms: c.arrival_ms,
                    }
                })
                .collect();
            p.process(&inputs, &pieces)?;
            p.drain(&pieces)?;
            if let Some(sp) = &spinner {
                sp.set_position(p.counters.records);
            }
            for c in &batch {
                if c.last {
                    states.remove(&c.stream);
                }
            }
        }
        // Wall-clock progress of event time.
        let now = source::now_ms();
        if processing_time {
            p.advance_to(now.saturating_sub(job.max_delay))?;
        } else if let Some(idle) = job.idle_timeout {
            let quiet_for = p.last_arrival.elapsed().as_millis() as i64;
            if quiet_for >= idle && p.max_seen != i64::MIN {
                let event_now = p.max_seen.saturating_add(quiet_for);
                p.advance_to(event_now.saturating_sub(job.max_delay))?;
            }
        }
        if let Some(s) = store {
            if s.due() {
                save_checkpoint(p, s, prior, false)?;
            }
        }
        if stop.load(Ordering::Relaxed) {
            // TCP readers send what they received and end by themselves, which
            // disconnects the channel; a stdin reader may block forever, so
            // stop once what it already sent is processed.
            let since = *stop_seen.get_or_insert_with(Instant::now);
            if (!has_tcp && rx.is_empty()) || since.elapsed() > Duration::from_secs(5) {
                break;
            }
        }
    }
    if let Some(sp) = spinner {
        sp.finish_and_clear();
    }
    Ok(())
}

fn first_line(data: &[u8]) -> Option<&[u8]> {
    if data.is_empty() {
        return None;
    }
    let end = memchr::memchr(b'\n', data).unwrap_or(data.len());
    let mut l = &data[..end];
    if l.last() == Some(&b'\r') {
        l = &l[..l.len() - 1];
    }
    Some(l)
}
