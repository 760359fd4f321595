//! The job compiled for the hot path: which fields decoders fill (deduplicated
//! slots), how a decoded line becomes a record (event time, encoded key, one
//! value per aggregate input), alert conditions resolved against aggregate
//! outputs and key fields, and the history functions' X expressions resolved
//! the same way (their arithmetic is `crate::history`'s). Built once; shared
//! read-only by every thread.

use std::hash::BuildHasher;

use crate::agg::{AggFunc, AggPlan, AggSpec, AggValue, SlotValue};
use crate::alert::{Condition, Rule};
use crate::decode::{DecodeError, FieldSlots};
use crate::error::{Error, Result};
use crate::expr::{Compiled, Ref, Value};
use crate::history::{HistFunc, HistoryPlan, KeyHistory, Spacing};
use crate::job::{Job, WindowSpec};
use crate::lookup::{Lookups, NO_ROW};
use crate::origin::TextOrigin;
use crate::time::{TimeError, TimeFormat};

/// Seed of the key and value hashes: fixed, so shard routing and distinct
/// sketches are the same in every run (checkpoints depend on it).
const HASH_SEED: u64 = 0x7669_6769_6c00_0001;

/// The fixed-seed hasher used for keys and `distinct` values.
pub fn hasher() -> foldhash::fast::FixedState {
    foldhash::fast::FixedState::with_seed(HASH_SEED)
}

#[inline]
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    hasher().hash_one(bytes)
}

/// Appends one field to an encoded key: its length (u32, little-endian),
/// then its bytes. Key fields are short, and `extend_from_slice` of a
/// length known only at run time is a call to libc's memcpy that costs more
/// than the copy (it showed as 1.7% of the keyed benchmark's profile): up to
/// 16 bytes are moved by fixed-size (overlapping) unaligned loads and stores,
/// inline, straight into the key's spare capacity. (Assembling them in a
/// stack buffer first and copying that cost a stalled load per field: the
/// buffer's 16-byte read could not be forwarded from its smaller writes.)
#[inline(always)]
pub fn push_key_field(key: &mut Vec<u8>, v: &[u8]) {
    let n = v.len();
    if n > 16 {
        key.extend_from_slice(&(n as u32).to_le_bytes());
        key.extend_from_slice(v);
        return;
    }
    let len = key.len();
    key.reserve(20);
    // SAFETY: 20 bytes past `len` are reserved, and every store below ends
    // within the first 4 + n <= 20 of them; every load reads within `v`
    // (the overlapping pairs start at 0 and end at n). The bytes 4..4 + n
    // are all written, so `set_len` exposes no uninitialised byte.
    unsafe {
        let to = key.as_mut_ptr().add(len);
        let from = v.as_ptr();
        std::ptr::write_unaligned(to.cast::<[u8; 4]>(), (n as u32).to_le_bytes());
        let body = to.add(4);
        match n {
            8..=16 => {
                let head = std::ptr::read_unaligned(from.cast::<u64>());
                let tail = std::ptr::read_unaligned(from.add(n - 8).cast::<u64>());
                std::ptr::write_unaligned(body.cast::<u64>(), head);
                std::ptr::write_unaligned(body.add(n - 8).cast::<u64>(), tail);
            }
            4..=7 => {
                let head = std::ptr::read_unaligned(from.cast::<u32>());
                let tail = std::ptr::read_unaligned(from.add(n - 4).cast::<u32>());
                std::ptr::write_unaligned(body.cast::<u32>(), head);
                std::ptr::write_unaligned(body.add(n - 4).cast::<u32>(), tail);
            }
            1..=3 => {
                *body = *from;
                *body.add(n / 2) = *from.add(n / 2);
                *body.add(n - 1) = *from.add(n - 1);
            }
            _ => {}
        }
        key.set_len(len + 4 + n);
    }
}

/// Key bytes equal. Keys are short (a length-prefixed field or two), so
/// they are compared inline (`decode::short_eq`), not by a call to memcmp.
#[inline(always)]
pub fn same_key(a: &[u8], b: &[u8]) -> bool {
    crate::decode::short_eq(a, b)
}

/// Where an expression reference or aggregate input takes its value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Source {
    Field(usize),
    Eval(usize),
    /// a `--lookup` table's field, from the row the record's key joins
    Lookup {
        table: usize,
        field: usize,
    },
}

/// An alert rule resolved against the plan.
#[derive(Debug, Clone)]
pub struct RulePlan {
    pub rule: Rule,
    pub condition: Option<Compiled>,
    pub clear: Option<Compiled>,
    refs: Vec<RuleRef>,
    /// Output index of the first aggregate in the condition (the event's `value`).
    pub value_output: Option<usize>,
    pub absent_ms: Option<i64>,
}

impl RulePlan {
    /// The aggregates (indices into [`RecordPlan::specs`]) that the rule's
    /// condition and clear condition use.
    pub fn outputs_used(&self) -> impl Iterator<Item = usize> + '_ {
        self.refs.iter().filter_map(|r| match r {
            RuleRef::Output(o) => Some(*o),
            RuleRef::Key(_) | RuleRef::Lookup { .. } => None,
        })
    }
}

/// What a window-level name (in a rule or a history function's X) reads.
#[derive(Debug, Clone, Copy)]
enum RuleRef {
    Output(usize),
    Key(usize),
    /// a `--lookup` table's field, from the row the window's key joins
    Lookup {
        table: usize,
        field: usize,
    },
}

/// One history function's series X, resolved against the window's outputs.
#[derive(Debug, Clone)]
struct SeriesX {
    text: String,
    compiled: Compiled,
    refs: Vec<RuleRef>,
}

/// The job's history functions (SPEC 9), resolved: one series per distinct X,
/// and for each function the output it fills.
#[derive(Debug, Clone, Default)]
pub struct HistoryEval {
    pub plan: HistoryPlan,
    pub spacing: Option<Spacing>,
    series: Vec<SeriesX>,
    /// per history function (the plan's numbering): its spec index
    outputs: Vec<usize>,
}

/// One history function as `vigil check` shows it.
pub struct HistoryColumn<'a> {
    pub spec: &'a AggSpec,
    pub func: HistFunc,
    /// X's text
    pub series: &'a str,
    /// most points kept per key (None: O(1) smoothing state)
    pub max_points: Option<usize>,
    /// false when only a rule uses it (not a report column)
    pub reported: bool,
}

/// Everything the per-record path needs, resolved.
#[derive(Debug)]
pub struct RecordPlan {
    /// Field names decoders fill, in slot order.
    pub fields: Vec<String>,
    /// For each field, the option that first named it (`--time`, `--key`,
    /// `--agg (avg_value)`, `job.toml:5: key 'where'`), for messages.
    pub field_uses: Vec<String>,
    pub time_slot: Option<usize>,
    /// `--input-field`: the slot filled with the record's input name, not by decoders
    pub input_slot: Option<usize>,
    pub key_slots: Vec<usize>,
    pub key_names: Vec<String>,
    evals: Vec<(Compiled, Vec<Source>)>,
    where_: Option<(Compiled, Vec<Source>)>,
    inputs: Vec<(Source, bool)>,
    pub agg: AggPlan,
    /// All aggregate specs: the user's first (`visible` of them), then the
    /// rules' own (up to `rule_specs_end`), then those only history functions' X use.
    pub specs: Vec<AggSpec>,
    pub visible: usize,
    pub rule_specs_end: usize,
    pub rules: Vec<RulePlan>,
    pub history: HistoryEval,
    /// `--max-line-bytes`: a longer line is a bad record, never decoded
    pub max_line: usize,
    /// `--lookup` tables (shared with the job)
    pub lookups: Lookups,
    /// the tables `--where`, `--eval` or aggregate inputs read: joined per record
    record_tables: Vec<usize>,
    /// true when a rule or history function reads a lookup field: each key
    /// joins its rows once ([`RecordPlan::window_rows`])
    window_lookups: bool,
}

/// Reusable per-thread buffers for [`RecordPlan::extract`].
#[derive(Debug, Default)]
pub struct Scratch {
    pub slots: FieldSlots,
    evals: Vec<Option<f64>>,
    /// per lookup table, the row the current record joins (or NO_ROW)
    rows: Vec<u32>,
}

impl Scratch {
    pub fn new(plan: &RecordPlan) -> Scratch {
        Scratch {
            slots: FieldSlots::new(plan.fields.len()),
            evals: vec![None; plan.evals.len()],
            rows: vec![NO_ROW; plan.lookups.tables.len()],
        }
    }
}

/// What the aggregate inputs (fields read as numbers) of some records held:
/// per input slot, how many values were numbers and how many were present
/// but not numbers (`bad_values`). An input with no number at all makes its
/// aggregates empty: the run warns about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValueTally {
    pub numbers: Vec<u64>,
    pub not_numbers: Vec<u64>,
}

impl ValueTally {
    /// Zeroes the tally for a plan with `inputs` aggregate inputs.
    pub fn reset(&mut self, inputs: usize) {
        self.numbers.clear();
        self.numbers.resize(inputs, 0);
        self.not_numbers.clear();
        self.not_numbers.resize(inputs, 0);
    }
    pub fn add(&mut self, other: &ValueTally) {
        if self.numbers.len() < other.numbers.len() {
            self.reset(other.numbers.len());
        }
        for (a, b) in self.numbers.iter_mut().zip(&other.numbers) {
            *a += b;
        }
        for (a, b) in self.not_numbers.iter_mut().zip(&other.not_numbers) {
            *a += b;
        }
    }
    /// Values present but not numbers, over all inputs.
    pub fn bad_values(&self) -> u64 {
        self.not_numbers.iter().sum()
    }
}

/// What became of one decoded line.
pub enum Extracted {
    Record { time: i64 },
    Filtered,
}

impl RecordPlan {
    pub fn new(job: &Job) -> Result<RecordPlan> {
        let mut fields = Fields::default();
        let origins = &job.origins;
        let time_slot = job
            .time_field
            .as_deref()
            .map(|t| fields.slot(t, || origins.time.clone()));
        let key_slots: Vec<usize> = job
            .key
            .iter()
            .map(|k| fields.slot(k, || origins.key.clone()))
            .collect();

        // A per-record expression: names are fields, or --eval names defined before.
        fn compile_record_expr(
            expr: &crate::expr::Expr,
            flag: &str,
            origin: &TextOrigin,
            eval_names: &[String],
            lookups: &Lookups,
            fields: &mut Fields,
        ) -> Result<(Compiled, Vec<Source>)> {
            let mut sources = Vec::new();
            let compiled = expr
                .compile(&mut |r: &Ref<'_>| match r {
                    Ref::Field(f) => {
                        let s = match eval_names.iter().position(|e| e == f) {
                            Some(i) => Source::Eval(i),
                            None => match lookups.field(f) {
                                Some((table, field)) => Source::Lookup { table, field },
                                None => Source::Field(fields.slot(f, || origin.label.clone())),
                            },
                        };
                        sources.push(s);
                        Ok(sources.len() - 1)
                    }
                    Ref::Call { name, .. } => Err(format!(
                        "'{name}(...)' is an aggregate; {} works on one record's fields",
                        flag.split(' ').next().unwrap_or(flag)
                    )),
                })
                .map_err(|e| Error::usage(origin.describe(&e)))?;
            Ok((compiled, sources))
        }
        let mut eval_names: Vec<String> = Vec::new();
        let mut evals = Vec::new();
        for (i, (name, expr, text)) in job.evals.iter().enumerate() {
            let flag = format!("--eval {name}");
            let origin = match origins.evals.get(i) {
                Some(o) if !o.pieces.is_empty() => o.clone(),
                _ => TextOrigin::flag(&format!("eval {name}"), text),
            };
            evals.push(compile_record_expr(
                expr,
                &flag,
                &origin,
                &eval_names,
                &job.lookups,
                &mut fields,
            )?);
            eval_names.push(name.clone());
        }
        let where_ = match &job.where_expr {
            None => None,
            Some(expr) => {
                let origin = if origins.where_.label.is_empty() {
                    TextOrigin::flag("where", job.where_text.as_deref().unwrap_or(""))
                } else {
                    origins.where_.clone()
                };
                Some(compile_record_expr(
                    expr,
                    "--where",
                    &origin,
                    &eval_names,
                    &job.lookups,
                    &mut fields,
                )?)
            }
        };

        // Aggregates: the user's, then those the rules need.
        let mut specs = job.aggs.clone();
        let visible = specs.len();
        // the rule that added each spec beyond `visible`
        let mut spec_rule: Vec<usize> = Vec::new();
        let mut rules = Vec::new();
        for (rule_index, rule) in job.rules.iter().enumerate() {
            let rule_origin = origins
                .rules
                .get(rule_index)
                .cloned()
                .unwrap_or_else(|| TextOrigin::flag("alert", &rule.text));
            let mut refs = Vec::new();
            let mut value_output = None;
            let mut compile = |expr: &crate::expr::Expr, first: &mut Option<usize>| {
                expr.compile(&mut |r: &Ref<'_>| {
                    resolve_window_ref(r, job, &mut specs, &mut refs, first)
                })
            };
            if matches!(rule.condition, Condition::Absent(_))
                && matches!(
                    job.window,
                    crate::job::WindowSpec::Session { .. } | crate::job::WindowSpec::Count { .. }
                )
            {
                return Err(Error::usage(format!(
                    "--alert '{}': absent(DUR) is checked at the window ends of --window (and --slide); session and count windows have no such grid",
                    rule.name
                )));
            }
            let (condition, absent_ms) = match &rule.condition {
                Condition::Absent(ms) => (None, Some(*ms)),
                Condition::Expr(e) => (
                    Some(
                        compile(e, &mut value_output)
                            .map_err(|e| Error::usage(rule_origin.describe(&e)))?,
                    ),
                    None,
                ),
            };
            let mut ignore = None;
            let clear = match &rule.clear {
                None => None,
                Some(e) => Some(
                    compile(e, &mut ignore).map_err(|e| Error::usage(rule_origin.describe(&e)))?,
                ),
            };
            spec_rule.resize(specs.len() - visible, rule_index);
            rules.push(RulePlan {
                rule: rule.clone(),
                condition,
                clear,
                refs,
                value_output,
                absent_ms,
            });
        }
        let rule_specs_end = specs.len();
        // the history function whose X added each spec beyond `rule_specs_end`
        let mut spec_history: Vec<usize> = Vec::new();

        // History functions (listed, or used by rules): each distinct X is one
        // series, compiled like a rule against the window's aggregates (added
        // when not listed) and key fields.
        let mut series: Vec<SeriesX> = Vec::new();
        let mut funcs = Vec::new();
        let mut outputs = Vec::new();
        let mut i = 0;
        while i < specs.len() {
            if let AggFunc::History(func) = specs[i].func {
                let text = specs[i].field.clone().unwrap_or_default();
                let s = match series.iter().position(|x| x.text == text) {
                    Some(s) => s,
                    None => {
                        let what = format!("{}(): X", func.name());
                        let expr = crate::expr::Expr::parse(&text)
                            .map_err(|e| Error::usage(format!("{what}: {e}")))?;
                        let mut refs = Vec::new();
                        let mut first = None;
                        let compiled = expr
                            .compile(&mut |r: &Ref<'_>| {
                                resolve_window_ref(r, job, &mut specs, &mut refs, &mut first)
                            })
                            .map_err(|e| Error::usage(format!("{what}: {e}")))?;
                        spec_history.resize(specs.len() - rule_specs_end, i);
                        series.push(SeriesX {
                            text,
                            compiled,
                            refs,
                        });
                        series.len() - 1
                    }
                };
                funcs.push((func, s));
                outputs.push(i);
            }
            i += 1;
        }
        let spacing = match job.window {
            WindowSpec::Tumbling { size } => Spacing {
                step_ms: Some(size),
                min_gap_ms: Some(size),
            },
            WindowSpec::Sliding { slide, .. } => Spacing {
                step_ms: Some(slide),
                min_gap_ms: Some(slide),
            },
            WindowSpec::Session { gap } => Spacing {
                step_ms: None,
                min_gap_ms: Some(gap),
            },
            WindowSpec::Count { .. } => Spacing {
                step_ms: None,
                min_gap_ms: None,
            },
        };
        let history = HistoryEval {
            plan: HistoryPlan::new(&funcs, spacing).map_err(Error::usage)?,
            spacing: Some(spacing),
            series,
            outputs,
        };

        let agg = AggPlan::new(&specs);
        let mut inputs = Vec::new();
        for input in agg.input_slots() {
            let source = match (
                eval_names.iter().position(|e| *e == input.field),
                job.lookups.field(&input.field),
            ) {
                (Some(i), _) => Source::Eval(i),
                (None, Some((table, field))) => Source::Lookup { table, field },
                (None, None) => Source::Field(fields.slot(&input.field, || {
                    // the first aggregate over the field says who asked for it
                    let spec = specs
                        .iter()
                        .position(|s| s.field.as_deref() == Some(input.field.as_str()));
                    // an aggregate only a history function's X uses: that function asked
                    let mut spec = spec;
                    while let Some(i) = spec.filter(|i| *i >= rule_specs_end) {
                        spec = spec_history.get(i - rule_specs_end).copied();
                    }
                    match spec {
                        Some(i) if i < visible => {
                            format!("{} ({})", origins.agg.label_or("--agg"), specs[i].column)
                        }
                        Some(i) => {
                            let rule = spec_rule
                                .get(i - visible)
                                .and_then(|r| origins.rules.get(*r))
                                .map(|o| o.label.clone())
                                .unwrap_or_else(|| "--alert".to_string());
                            format!("{rule} ({})", specs[i].column)
                        }
                        None => "--agg".to_string(),
                    }
                })),
            };
            inputs.push((source, input.numeric));
        }
        let input_slot = job
            .input_field
            .as_deref()
            .and_then(|name| fields.names.iter().position(|f| f == name));
        let mut record_tables: Vec<usize> = evals
            .iter()
            .chain(where_.iter())
            .flat_map(|(_, sources)| sources.iter())
            .chain(inputs.iter().map(|(source, _)| source))
            .filter_map(|s| match s {
                Source::Lookup { table, .. } => Some(*table),
                _ => None,
            })
            .collect();
        record_tables.sort_unstable();
        record_tables.dedup();
        let window_lookups = rules
            .iter()
            .flat_map(|r| r.refs.iter())
            .chain(history.series.iter().flat_map(|x| x.refs.iter()))
            .any(|r| matches!(r, RuleRef::Lookup { .. }));
        Ok(RecordPlan {
            input_slot,
            fields: fields.names,
            field_uses: fields.uses,
            time_slot,
            key_slots,
            key_names: job.key.clone(),
            evals,
            where_,
            inputs,
            agg,
            specs,
            visible,
            rule_specs_end,
            rules,
            history,
            max_line: job.max_line_bytes,
            lookups: job.lookups.clone(),
            record_tables,
            window_lookups,
        })
    }

    /// The history functions, for `vigil check`.
    pub fn history_columns(&self) -> Vec<HistoryColumn<'_>> {
        let h = &self.history;
        h.outputs
            .iter()
            .filter_map(|&o| {
                let spec = &self.specs[o];
                let AggFunc::History(func) = spec.func else {
                    return None;
                };
                let s = h
                    .series
                    .iter()
                    .position(|x| Some(&x.text) == spec.field.as_ref())?;
                Some(HistoryColumn {
                    spec,
                    func,
                    series: &h.series[s].text,
                    max_points: h
                        .spacing
                        .and_then(|sp| func.range_ms().and_then(|_| h.plan.max_points(s, sp))),
                    reported: o < self.visible,
                })
            })
            .collect()
    }

    /// Fills the history functions' places in `values` (every spec's value
    /// for the window of `key` ending at `end`; history places are `Null`) and
    /// records the window in the key's history. Called once per emitted
    /// window, before its rules are evaluated.
    pub fn eval_history(
        &self,
        history: &mut KeyHistory,
        end: i64,
        values: &mut [AggValue],
        key: &[u8],
        rows: &[u32],
    ) {
        let h = &self.history;
        if h.plan.is_empty() {
            return;
        }
        // Grows only for robust_z, once per window (not per record).
        let mut work = Vec::new();
        for (s, sx) in h.series.iter().enumerate() {
            let x = number_of(
                sx.compiled
                    .eval(&|i| window_value(sx.refs[i], values, key, &self.lookups, rows)),
            );
            h.plan.observe(history, end, s, x);
            for &f in h.plan.funcs_of(s) {
                values[h.outputs[f]] = h
                    .plan
                    .value(history, end, f, x, &mut work)
                    .map_or(AggValue::Null, AggValue::Float);
            }
        }
    }

    /// Turns a decoded line (its slots are in `scratch.slots`) into a record:
    /// appends the encoded key to `key` and one value per aggregate input to
    /// `values`. `time_format` is the input's; `arrival_ms` stamps records
    /// without `--time`. Errors name the field.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn extract(
        &self,
        line: &[u8],
        scratch: &mut Scratch,
        time_format: &TimeFormat,
        arrival_ms: i64,
        key: &mut Vec<u8>,
        values: &mut Vec<SlotValue>,
        tally: &mut ValueTally,
    ) -> Result<Extracted, DecodeError> {
        let slots = &scratch.slots;
        let time = match self.time_slot {
            None => arrival_ms,
            Some(s) => {
                let name = || self.fields[s].clone();
                let raw = slots
                    .get(line, s)
                    .ok_or_else(|| DecodeError::field(name(), "missing time"))?;
                time_format.parse_checked(raw).map_err(|e| {
                    let shown = String::from_utf8_lossy(&raw[..raw.len().min(64)]);
                    DecodeError::field(
                        name(),
                        match e {
                            TimeError::Unreadable => format!("cannot read '{shown}' as a time"),
                            TimeError::OutOfRange => format!(
                                "'{shown}' is a time outside the years 1 to 9999; expected a time from 0001-01-01 to 9999-12-31"
                            ),
                        },
                    )
                })?
            }
        };
        // The rows the record's key joins, in the tables the record path reads.
        for &t in &self.record_tables {
            let table = &self.lookups.tables[t];
            scratch.rows[t] = table.find(|k| slots.get(line, *self.key_slots.get(k)?));
        }
        let rows = &scratch.rows;
        let tables = &self.lookups;
        // Derived fields, in order; each may use the ones before it.
        for i in 0..self.evals.len() {
            let (compiled, sources) = &self.evals[i];
            let evals = &scratch.evals;
            let v = compiled.eval(&|r| lookup(sources[r], line, slots, evals, tables, rows));
            let num = match v {
                Value::Num(n) if n.is_finite() => Some(n),
                Value::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
                Value::Str(s) => parse_number(s),
                _ => None,
            };
            scratch.evals[i] = num;
        }
        if let Some((compiled, sources)) = &self.where_ {
            let evals = &scratch.evals;
            if !compiled.eval_bool(&|r| lookup(sources[r], line, slots, evals, tables, rows)) {
                return Ok(Extracted::Filtered);
            }
        }
        let key_start = key.len();
        for &s in &self.key_slots {
            match slots.get(line, s) {
                Some(v) => push_key_field(key, v),
                None => {
                    key.truncate(key_start);
                    return Err(DecodeError::field(
                        self.fields[s].clone(),
                        "missing key field",
                    ));
                }
            }
        }
        for (i, &(source, numeric)) in self.inputs.iter().enumerate() {
            let v = match source {
                Source::Eval(i) => match scratch.evals[i] {
                    Some(n) if numeric => SlotValue::Num(n),
                    Some(n) => SlotValue::Hash(hash_bytes(&n.to_bits().to_le_bytes())),
                    None => SlotValue::Missing,
                },
                Source::Field(s) => raw_value(slots.get(line, s), numeric, tally, i),
                Source::Lookup { table, field } => raw_value(
                    self.lookups.tables[table].cell(scratch.rows[table], field),
                    numeric,
                    tally,
                    i,
                ),
            };
            values.push(v);
        }
        Ok(Extracted::Record { time })
    }

    /// Evaluates rule `r`'s condition (or clear) for one emitted window.
    /// `rows`: the key's rows in the lookup tables ([`RecordPlan::window_rows`]).
    pub fn eval_rule(
        &self,
        r: usize,
        clear: bool,
        outputs: &[AggValue],
        key: &[u8],
        rows: &[u32],
    ) -> bool {
        let plan = &self.rules[r];
        let Some(compiled) = (if clear {
            plan.clear.as_ref()
        } else {
            plan.condition.as_ref()
        }) else {
            return false;
        };
        compiled.eval_bool(&|i| window_value(plan.refs[i], outputs, key, &self.lookups, rows))
    }

    /// The rows an encoded key joins in each lookup table, for the rules and
    /// history functions of its windows: resolved once per key (the shard
    /// keeps them). Empty (no allocation) when no rule reads a lookup field.
    pub fn window_rows(&self, key: &[u8]) -> Box<[u32]> {
        if !self.window_lookups {
            return Box::default();
        }
        self.lookups
            .tables
            .iter()
            .map(|t| t.find(|k| key_field(key, k)))
            .collect()
    }
}

/// Resolves a name in a rule or a history function's X: a call is an
/// aggregate of the window (added to `specs` when not there yet; `first`
/// remembers the first one), a plain name a key field.
fn resolve_window_ref(
    r: &Ref<'_>,
    job: &Job,
    specs: &mut Vec<AggSpec>,
    refs: &mut Vec<RuleRef>,
    first: &mut Option<usize>,
) -> std::result::Result<usize, String> {
    match r {
        Ref::Field(f) => match (job.key.iter().position(|k| k == f), job.lookups.field(f)) {
            (Some(k), _) => {
                refs.push(RuleRef::Key(k));
                Ok(refs.len() - 1)
            }
            (None, Some((table, field))) => {
                refs.push(RuleRef::Lookup { table, field });
                Ok(refs.len() - 1)
            }
            (None, None) => {
                let lookup: Vec<&str> = job.lookups.field_names().collect();
                let keys = if job.key.is_empty() {
                    "none".to_string()
                } else {
                    job.key.join(", ")
                };
                Err(if lookup.is_empty() {
                    format!(
                        "'{f}' is not a key field; alert conditions see aggregates such as avg({f}) and the key fields ({keys})"
                    )
                } else {
                    format!(
                        "'{f}' is not a key field or a --lookup field; alert conditions see aggregates such as avg({f}), the key fields ({keys}) and the --lookup fields ({})",
                        lookup.join(", ")
                    )
                })
            }
        },
        Ref::Call { name, args } => {
            let argv: Vec<&str> = args.iter().map(|a| a.as_str()).collect();
            let spec = AggSpec::from_call(name, &argv)?;
            let idx = match specs
                .iter()
                .position(|s| s.func == spec.func && s.field == spec.field)
            {
                Some(i) => i,
                None => {
                    specs.push(spec);
                    specs.len() - 1
                }
            };
            if first.is_none() {
                *first = Some(idx);
            }
            refs.push(RuleRef::Output(idx));
            Ok(refs.len() - 1)
        }
    }
}

/// The value of a window-level reference.
#[inline]
fn window_value<'a>(
    r: RuleRef,
    outputs: &[AggValue],
    key: &'a [u8],
    lookups: &'a Lookups,
    rows: &[u32],
) -> Value<'a> {
    match r {
        RuleRef::Output(o) => match outputs[o] {
            AggValue::Int(n) => Value::Num(n as f64),
            // beyond f64's range: undefined, as the report writes it
            AggValue::Float(f) if f.is_finite() => Value::Num(f),
            AggValue::Float(_) | AggValue::Null => Value::Missing,
        },
        RuleRef::Key(k) => key_field(key, k).map(Value::Str).unwrap_or(Value::Missing),
        RuleRef::Lookup { table, field } => lookups.tables[table]
            .cell(rows.get(table).copied().unwrap_or(NO_ROW), field)
            .map_or(Value::Missing, Value::Str),
    }
}

/// An expression's value as a number: true is 1, false 0, a string read as a
/// number; missing, non-numbers and infinities are none.
fn number_of(v: Value<'_>) -> Option<f64> {
    match v {
        Value::Num(n) if n.is_finite() => Some(n),
        Value::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
        Value::Str(s) => parse_number(s),
        _ => None,
    }
}

/// The fields decoders fill, deduplicated, and who named each first.
#[derive(Default)]
struct Fields {
    names: Vec<String>,
    uses: Vec<String>,
}

impl Fields {
    fn slot(&mut self, name: &str, used_by: impl FnOnce() -> String) -> usize {
        match self.names.iter().position(|f| f == name) {
            Some(i) => i,
            None => {
                self.names.push(name.to_string());
                self.uses.push(used_by());
                self.names.len() - 1
            }
        }
    }
}

/// What decoders are asked for in place of the `--input-field` name: no
/// header, object or log line names a field this way.
pub const NOT_DECODED: &str = "\u{0}input";

impl RecordPlan {
    /// The field names decoders fill: `fields`, with the input field (filled
    /// from the input's name after decoding) replaced by [`NOT_DECODED`].
    pub fn decoded_fields(&self) -> Vec<String> {
        let mut f = self.fields.clone();
        if let Some(s) = self.input_slot {
            f[s] = NOT_DECODED.to_string();
        }
        f
    }

    /// Fills the input field's slot, after a line was decoded.
    #[inline]
    pub fn set_input(&self, slots: &mut FieldSlots, input_name: &str) {
        if let Some(s) = self.input_slot {
            slots.set_owned(s, input_name.as_bytes());
        }
    }

    /// One line per aggregate whose field held no number in `tally` while
    /// some of its values were not numbers (`max(path)` over text): its
    /// column is empty, which is seldom what was meant.
    pub fn never_numeric(&self, tally: &ValueTally) -> Vec<String> {
        let mut out = Vec::new();
        for (i, input) in self.agg.input_slots().iter().enumerate() {
            let (numbers, not) = (
                tally.numbers.get(i).copied().unwrap_or(0),
                tally.not_numbers.get(i).copied().unwrap_or(0),
            );
            if !input.numeric || numbers > 0 || not == 0 {
                continue;
            }
            let columns: Vec<&str> = self
                .specs
                .iter()
                .enumerate()
                .filter(|(s, _)| self.agg.output_slot(*s) == Some(i))
                .map(|(_, spec)| spec.column.as_str())
                .collect();
            let named = match columns.split_last() {
                Some((last, [])) => last.to_string(),
                Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
                None => continue,
            };
            out.push(format!(
                "field '{}' held no number ({not} values were text), so {named} {} empty; count({}) and distinct({}) work on text",
                input.field,
                if columns.len() == 1 { "is" } else { "are" },
                input.field,
                input.field
            ));
        }
        out
    }

    /// Checks every field the job names against the fields an input has
    /// (`available`: a CSV header, a log format's fields, a regex's groups);
    /// `what` says what they are ("a column", "a field of the nginx format").
    /// The message names the option that held the field and the closest
    /// available name.
    pub fn check_fields(
        &self,
        available: &[&str],
        what: &str,
        listing: &str,
    ) -> Result<(), String> {
        if let Some(at) = self.lookups.shadowed(available) {
            return Err(format!(
                "{at} is also the name of {what} of the input; expected the table's fields named unlike the input's (rename the column)"
            ));
        }
        for (i, (name, used_by)) in self.fields.iter().zip(&self.field_uses).enumerate() {
            if available.contains(&name.as_str()) || self.input_slot == Some(i) {
                continue;
            }
            // The listing may be a header any client sent: bounded and escaped.
            use crate::sink::console::{clip, escape_controls, ECHO_BYTES};
            let all = available.join(", ");
            return Err(format!(
                "{used_by} names field '{name}', which is not {what}; {listing}: {}{}",
                escape_controls(&clip(&all, ECHO_BYTES)),
                crate::suggest::did_you_mean(name, available.iter().copied())
            ));
        }
        Ok(())
    }
}

/// A field's bytes as the value of aggregate input `i`: missing when absent
/// or empty; for a numeric aggregate the number (counted in `tally` either
/// way), otherwise the hash of the bytes.
/// (Inline, so the value is pushed from registers: returned through memory,
/// its 16-byte copy into `values` stalled on the two 8-byte writes before it.)
#[inline(always)]
fn raw_value(raw: Option<&[u8]>, numeric: bool, tally: &mut ValueTally, i: usize) -> SlotValue {
    match raw {
        None | Some([]) => SlotValue::Missing,
        Some(raw) if numeric => match parse_number(raw) {
            Some(n) => {
                tally.numbers[i] += 1;
                SlotValue::Num(n)
            }
            None => {
                tally.not_numbers[i] += 1;
                SlotValue::Missing
            }
        },
        Some(raw) => SlotValue::Hash(hash_bytes(raw)),
    }
}

#[inline]
fn lookup<'a>(
    source: Source,
    line: &'a [u8],
    slots: &'a FieldSlots,
    evals: &[Option<f64>],
    lookups: &'a Lookups,
    rows: &[u32],
) -> Value<'a> {
    match source {
        Source::Field(s) => match slots.get(line, s) {
            Some(v) => Value::Str(v),
            None => Value::Missing,
        },
        Source::Eval(i) => match evals[i] {
            Some(n) => Value::Num(n),
            None => Value::Missing,
        },
        Source::Lookup { table, field } => lookups.tables[table]
            .cell(rows[table], field)
            .map_or(Value::Missing, Value::Str),
    }
}

/// A decimal number (surrounding spaces allowed); NaN and infinities are not numbers.
/// The short decimals of metrics files are read inline, where the record
/// is read; the rest out of line.
#[inline(always)]
pub fn parse_number(raw: &[u8]) -> Option<f64> {
    // (spaces around the number take the full parser's path)
    match parse_short_decimal(raw) {
        Some(n) => Some(n),
        None => parse_long_number(raw),
    }
}

/// [`parse_number`] for anything but a short decimal.
#[inline(never)]
fn parse_long_number(raw: &[u8]) -> Option<f64> {
    match fast_float2::parse::<f64, _>(raw.trim_ascii()) {
        Ok(n) if n.is_finite() => Some(n),
        _ => None,
    }
}

/// Exact powers of ten as doubles (every one up to 10^22 is).
const POW10: [f64; 20] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19,
];

/// The numbers metrics files are made of, `-?digits[.digits]` with at most
/// 19 digits whose value as an integer `m` is at most 2^53: `m` and 10^k
/// (k fraction digits) are then both exact doubles, and one IEEE division,
/// correctly rounded, gives the double nearest the decimal, which is what
/// the full parser gives too (tested on random decimals). None for anything
/// else (exponents, signs other than '-', long or huge numbers), which
/// `fast_float2` reads.
#[inline(always)]
fn parse_short_decimal(t: &[u8]) -> Option<f64> {
    let (neg, d) = match t.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, t),
    };
    if d.is_empty() || d.len() > 20 {
        return None;
    }
    let mut m = 0u64;
    let mut point = usize::MAX;
    for (i, &c) in d.iter().enumerate() {
        let x = c.wrapping_sub(b'0');
        if x < 10 {
            m = m.wrapping_mul(10).wrapping_add(x as u64);
        } else if c == b'.' && point == usize::MAX {
            point = i;
        } else {
            return None;
        }
    }
    let frac = if point == usize::MAX {
        0
    } else if point == 0 || point == d.len() - 1 {
        return None; // ".5", "5.": the full parser's
    } else {
        d.len() - point - 1
    };
    // at most 19 digits: m < 10^19 did not wrap
    let digits = d.len() - (point != usize::MAX) as usize;
    if digits > 19 || m > 1 << 53 {
        return None;
    }
    let v = m as f64 / POW10[frac];
    Some(if neg { -v } else { v })
}

/// The `index`-th field of an encoded key.
pub fn key_field(key: &[u8], index: usize) -> Option<&[u8]> {
    key_fields(key).nth(index)
}

/// The fields of an encoded key (each a little-endian u32 length, then bytes).
pub fn key_fields(key: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = key;
    std::iter::from_fn(move || {
        if rest.len() < 4 {
            return None;
        }
        let n = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let field = &rest[4..4 + n];
        rest = &rest[4 + n..];
        Some(field)
    })
}

/// Orders encoded keys field by field as byte strings.
pub fn compare_keys(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    key_fields(a).cmp(key_fields(b))
}

/// The first 16 bytes of an order-preserving spelling of an encoded key, as
/// a number: where two keys' prefixes differ, they are in the order
/// [`compare_keys`] puts the keys in; where they are equal, only
/// `compare_keys` can tell. The spelling writes each field's bytes (a NUL
/// as NUL 0xFF) and then NUL NUL, so that a field sorts after its own
/// prefixes and a key ends below any further field; past its end the
/// prefix is zeros. Sorting rows compares these numbers first: 16 bytes
/// hold the usual keys (a host and a metric name) whole, so that the key
/// bytes are rarely read.
pub fn key_order_prefix(key: &[u8]) -> u128 {
    let mut out = [0u8; 16];
    let mut n = 0;
    let mut put = |b: u8| {
        if n < out.len() {
            out[n] = b;
            n += 1;
        }
        n < out.len()
    };
    'fields: for field in key_fields(key) {
        for &b in field {
            let more = if b == 0 { put(0) && put(0xff) } else { put(b) };
            if !more {
                break 'fields;
            }
        }
        if !(put(0) && put(0)) {
            break;
        }
    }
    u128::from_be_bytes(out)
}

#[cfg(test)]
mod tests {
    use super::{parse_number, parse_short_decimal, push_key_field, same_key};

    #[test]
    fn key_order_prefixes_agree_with_the_key_order() {
        use super::{compare_keys, key_order_prefix};
        use std::cmp::Ordering;
        // keys of 0 to 3 fields of 0 to 9 bytes (some spelled longer than
        // the prefix), over bytes that test the spelling (NUL, 1, 0xff) and
        // a letter; every pair whose prefixes differ must be ordered by them
        // as the keys are
        let mut rng = crate::test_rng::Rng(0x0de5);
        let alphabet = [0u8, 1, 0xff, b'a'];
        let keys: Vec<Vec<u8>> = (0..3000)
            .map(|_| {
                let mut key = Vec::new();
                for _ in 0..rng.below(4) {
                    let field: Vec<u8> = (0..rng.below(10))
                        .map(|_| alphabet[rng.below(alphabet.len())])
                        .collect();
                    push_key_field(&mut key, &field);
                }
                key
            })
            .collect();
        let (mut decided, mut ties) = (0, 0);
        for a in &keys {
            for b in keys.iter().take(300) {
                let (pa, pb) = (key_order_prefix(a), key_order_prefix(b));
                if pa == pb {
                    ties += 1;
                    continue;
                }
                decided += 1;
                assert_eq!(pa.cmp(&pb), compare_keys(a, b), "{a:?} vs {b:?}");
                assert_ne!(compare_keys(a, b), Ordering::Equal);
            }
        }
        assert!(decided > 4 * ties, "{decided} decided, {ties} ties");
    }

    #[test]
    fn short_decimals_read_as_the_full_parser_reads_them() {
        let mut rng = crate::test_rng::Rng(0x5eed_cafe);
        let mut text = String::new();
        let mut fast = 0;
        for n in 0..2_000_000 {
            text.clear();
            if rng.below(2) == 0 {
                text.push('-');
            }
            let int_digits = rng.below(12);
            for _ in 0..int_digits {
                text.push((b'0' + rng.below(10) as u8) as char);
            }
            if n % 3 != 0 {
                text.push('.');
                for _ in 0..rng.below(12) {
                    text.push((b'0' + rng.below(10) as u8) as char);
                }
            }
            let want = text.parse::<f64>().ok().filter(|x| x.is_finite());
            let got = parse_number(text.as_bytes());
            assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "{text:?}");
            fast += parse_short_decimal(text.as_bytes()).is_some() as u32;
        }
        // most of them took the short path, which must agree on its own too
        assert!(fast > 1_000_000, "{fast}");
        for edge in [
            "0",
            "-0",
            "-0.0",
            "9007199254740992",
            "9007199254740993",
            "0.1",
            "0.3",
            "1234567890123456789",
            "12345678901234567890",
            "0.0000000000000000001",
            "1.7976931348623157",
            "5.",
            ".5",
            "-",
            "-.",
            "+1.5",
            "1e5",
            "1.5e-3",
            "00012.50",
            "123456789.0123456789",
            "4503599627370497.5",
            "0.30000000000000004",
        ] {
            let want = edge.parse::<f64>().ok().filter(|x| x.is_finite());
            assert_eq!(
                parse_number(edge.as_bytes()).map(f64::to_bits),
                want.map(f64::to_bits),
                "{edge:?}"
            );
            if let Some(v) = parse_short_decimal(edge.as_bytes()) {
                assert_eq!(Some(v.to_bits()), want.map(f64::to_bits), "{edge:?}");
            }
        }
    }

    #[test]
    fn same_key_agrees_with_slice_equality_for_a_difference_at_any_byte() {
        for n in 0..48usize {
            let a: Vec<u8> = (0..n).map(|i| (i * 37 + n) as u8).collect();
            assert!(same_key(&a, &a.clone()), "len {n}");
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 1 << (at % 8);
                assert!(!same_key(&a, &b), "len {n}, byte {at}");
            }
            let mut longer = a.clone();
            longer.push(0);
            assert!(!same_key(&a, &longer), "len {n} vs {}", n + 1);
        }
    }

    #[test]
    fn push_key_field_writes_the_length_then_the_bytes_for_any_length() {
        for n in 0..48usize {
            let v: Vec<u8> = (0..n).map(|i| (i * 53 + 7 * n + 1) as u8).collect();
            // after a prefix of any length, so the writes start anywhere
            for prefix in 0..3usize {
                let mut key = vec![0xAB; prefix];
                push_key_field(&mut key, &v);
                let mut expected = vec![0xAB; prefix];
                expected.extend_from_slice(&(n as u32).to_le_bytes());
                expected.extend_from_slice(&v);
                assert_eq!(key, expected, "len {n}, prefix {prefix}");
            }
        }
    }
}
