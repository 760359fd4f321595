//! Aggregate functions: parsing `--agg` lists, per-(window, key) accumulator
//! state with `update` and `merge`, and final values. Pure: no I/O, no
//! knowledge of windows or keys. Each input field gets one accumulator that
//! keeps only what its functions need.

pub mod exact;
pub mod sketch;

use serde::{Deserialize, Serialize};

use crate::history::{self, HistFunc};
use exact::ExactSum;
pub use sketch::TopValues;
use sketch::{Distinct, Quantiles, EXACT_LIMIT};

/// One aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum AggFunc {
    /// `count()`
    Count,
    /// `count(FIELD)`: non-missing values
    CountField,
    Sum,
    Avg,
    Min,
    Max,
    Stddev,
    Var,
    First,
    Last,
    /// `rate(FIELD)`: sum / window length in seconds
    Rate,
    /// `rate()`: count / window length in seconds
    RateCount,
    /// `p50` .. `p99`, `quantile(FIELD, q)`; q in [0, 1]
    Quantile(f64),
    /// `distinct(FIELD)`
    Distinct,
    /// A history function over the key's past windows (SPEC 9). Computed by
    /// `crate::history` when the window is emitted, not here: `finish`
    /// leaves its place `Null`. The spec's `field` holds the text of X.
    History(HistFunc),
}

impl AggFunc {
    fn numeric(self) -> bool {
        !matches!(
            self,
            AggFunc::Count
                | AggFunc::CountField
                | AggFunc::RateCount
                | AggFunc::Distinct
                | AggFunc::History(_)
        )
    }
}

/// One requested aggregate: function, input field and output column name.
#[derive(Debug, Clone, PartialEq)]
pub struct AggSpec {
    pub func: AggFunc,
    /// The input field; for a history function, the text of its X.
    pub field: Option<String>,
    /// Column name: `FUNC_FIELD` (`count`, `avg_value`, `p95_latency_ms`) or the `as` alias.
    pub column: String,
}

const FUNCTIONS: &str =
    "count, sum, avg, mean, min, max, stddev, var, first, last, rate, p50, p90, p95, p99, quantile, distinct, predict_linear, deriv, zscore, robust_z, ewma, holt";

fn valid_field(f: &str) -> bool {
    !f.is_empty()
        && f.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '@' | '/'))
}

impl AggSpec {
    /// Builds a spec from a call such as `p95(latency)`: `name` is the function
    /// name, `args` the raw argument texts (trimmed). Column names: `count`,
    /// `rate`, `FUNC_FIELD` with the function as written (`mean_x`), `pNN_FIELD`
    /// for p50..p99 and for `quantile(FIELD, q)` when 100q is whole, else
    /// `q{q}_FIELD`.
    pub fn from_call(name: &str, args: &[&str]) -> Result<AggSpec, String> {
        if history::is_history_function(name) {
            return history_spec(name, args);
        }
        let args: Vec<&str> = args
            .iter()
            .map(|a| a.trim())
            .filter(|a| !a.is_empty())
            .collect();
        let field_arg = |n: usize| -> Result<String, String> {
            if args.len() != n {
                return Err(format!(
                    "{name}() takes {} argument{}, got {}",
                    n,
                    if n == 1 { "" } else { "s" },
                    args.len()
                ));
            }
            let f = args[0].trim_matches('`');
            if !valid_field(f) {
                return Err(format!("{name}(): '{f}' is not a field name"));
            }
            Ok(f.to_string())
        };
        let simple = |func: AggFunc| -> Result<AggSpec, String> {
            let field = field_arg(1)?;
            Ok(AggSpec {
                func,
                column: format!("{name}_{field}"),
                field: Some(field),
            })
        };
        match name {
            "count" if args.is_empty() => Ok(AggSpec {
                func: AggFunc::Count,
                field: None,
                column: "count".into(),
            }),
            "count" => simple(AggFunc::CountField),
            "rate" if args.is_empty() => Ok(AggSpec {
                func: AggFunc::RateCount,
                field: None,
                column: "rate".into(),
            }),
            "rate" => simple(AggFunc::Rate),
            "sum" => simple(AggFunc::Sum),
            "avg" | "mean" => simple(AggFunc::Avg),
            "min" => simple(AggFunc::Min),
            "max" => simple(AggFunc::Max),
            "stddev" => simple(AggFunc::Stddev),
            "var" => simple(AggFunc::Var),
            "first" => simple(AggFunc::First),
            "last" => simple(AggFunc::Last),
            "distinct" => simple(AggFunc::Distinct),
            "p50" | "p90" | "p95" | "p99" => {
                let q = name[1..].parse::<f64>().expect("two digits") / 100.0;
                simple(AggFunc::Quantile(q))
            }
            "quantile" => {
                if args.len() != 2 {
                    return Err(format!("quantile() takes a field and q, e.g. quantile(latency, 0.999); got {} argument(s)", args.len()));
                }
                let field = args[0].to_string();
                if !valid_field(&field) {
                    return Err(format!("quantile(): '{field}' is not a field name"));
                }
                let q: f64 = args[1]
                    .parse()
                    .ok()
                    .filter(|q: &f64| (0.0..=1.0).contains(q))
                    .ok_or_else(|| {
                        format!(
                            "quantile(): q must be a number from 0 to 1, got '{}'",
                            args[1]
                        )
                    })?;
                let pct = q * 100.0;
                let column = if (pct - pct.round()).abs() < 1e-9 {
                    format!("p{}_{field}", pct.round() as i64)
                } else {
                    format!("q{q}_{field}")
                };
                Ok(AggSpec {
                    func: AggFunc::Quantile(q),
                    field: Some(field),
                    column,
                })
            }
            other => Err(format!(
                "unknown aggregate '{other}'; expected one of {FUNCTIONS}{}",
                crate::suggest::did_you_mean(other, FUNCTIONS.split(", "))
            )),
        }
    }
}

/// A history call: its function, X's text as the field, and the column
/// `FUNC_INNER` where INNER is the column X's aggregate would have
/// (`predict_linear_avg_value`), or for a compound X its text with every run
/// of other characters made `_` (`max(used) / max(total)`: `max_used_max_total`).
/// Every aggregate inside X is checked here, so a bad one is reported with
/// the `--agg` item or rule that holds it.
fn history_spec(name: &str, args: &[&str]) -> Result<AggSpec, String> {
    let (func, inner) = history::parse_call(name, args)?;
    let expr = crate::expr::Expr::parse(&inner).map_err(|e| e.message)?;
    for r in expr.refs() {
        if let crate::expr::Ref::Call { name, args } = r {
            let argv: Vec<&str> = args.iter().map(|a| a.as_str()).collect();
            AggSpec::from_call(name, &argv)
                .map_err(|e| format!("in X of {}(): {e}", func.name()))?;
        }
    }
    let inner_column = match single_call(&inner) {
        Some((n, a)) => AggSpec::from_call(n, &split_arguments(a))?.column,
        None => {
            let mut c = String::new();
            for ch in inner.chars() {
                if ch.is_alphanumeric() {
                    c.push(ch);
                } else if !c.is_empty() && !c.ends_with('_') {
                    c.push('_');
                }
            }
            c.trim_end_matches('_').to_string()
        }
    };
    Ok(AggSpec {
        func: AggFunc::History(func),
        field: Some(inner),
        column: format!("{}_{inner_column}", func.name()),
    })
}

/// `name(args)` as a whole: the name and the text between the parentheses.
fn single_call(text: &str) -> Option<(&str, &str)> {
    let open = text.find('(')?;
    let name = text[..open].trim();
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    let close = matching_paren(text, open)?;
    (close == text.len() - 1).then(|| (name, &text[open + 1..close]))
}

/// The byte index of the ')' closing the '(' at `open` (quotes respected).
fn matching_paren(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0i32;
    let mut quote: Option<u8> = None;
    for (i, &c) in text.as_bytes().iter().enumerate().skip(open) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(c),
            (None, b'(') => depth += 1,
            (None, b')') => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Splits a call's argument text at its top-level commas (outside nested
/// parentheses and quotes); no arguments for blank text.
fn split_arguments(text: &str) -> Vec<&str> {
    if text.trim().is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<u8> = None;
    let mut start = 0;
    for (i, &c) in text.as_bytes().iter().enumerate() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(c),
            (None, b'(') => depth += 1,
            (None, b')') => depth -= 1,
            (None, b',') if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

/// Parses `count(), avg(value), p95(latency_ms) as p95_lat`. Err: (byte column, message).
pub fn parse_agg_list(text: &str) -> Result<Vec<AggSpec>, (usize, String)> {
    let mut specs = Vec::new();
    let b = text.as_bytes();
    let mut start = 0;
    let mut depth = 0i32;
    let mut quote: Option<u8> = None;
    let mut items = Vec::new();
    for (i, &c) in b.iter().enumerate() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            b'"' | b'\'' => quote = Some(c),
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth < 0 {
                    return Err((i, "unbalanced ')'".into()));
                }
            }
            b',' if depth == 0 => {
                items.push((start, &text[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err((text.len(), "expected ')' to close the call".into()));
    }
    items.push((start, &text[start..]));
    for (offset, item) in items {
        let lead = item.len() - item.trim_start().len();
        let col = offset + lead;
        let item = item.trim();
        if item.is_empty() {
            return Err((
                col,
                format!("expected an aggregate such as count() or avg(value); one of {FUNCTIONS}"),
            ));
        }
        let Some(open) = item.find('(') else {
            return Err((
                col,
                format!("expected '(' after '{item}', e.g. {item}(value)"),
            ));
        };
        let name = item[..open].trim();
        let Some(close) = matching_paren(item, open) else {
            return Err((col + item.len(), "expected ')'".into()));
        };
        let args = split_arguments(&item[open + 1..close]);
        let mut spec = AggSpec::from_call(name, &args).map_err(|m| (col, m))?;
        let rest = item[close + 1..].trim();
        if !rest.is_empty() {
            let rest_col =
                col + close + 1 + (item[close + 1..].len() - item[close + 1..].trim_start().len());
            let alias = rest
                .strip_prefix("as ")
                .or_else(|| rest.strip_prefix("AS "))
                .map(str::trim)
                .ok_or_else(|| {
                    (
                        rest_col,
                        format!("expected ',' or 'as NAME' after the call, found '{rest}'"),
                    )
                })?;
            if !valid_field(alias) {
                return Err((
                    rest_col,
                    format!("'{alias}' is not a column name; expected letters, digits and _"),
                ));
            }
            spec.column = alias.to_string();
        }
        if specs.iter().any(|s: &AggSpec| s.column == spec.column) {
            return Err((
                col,
                format!(
                    "column '{}' appears twice; give one of them another name with 'as'",
                    spec.column
                ),
            ));
        }
        specs.push(spec);
    }
    Ok(specs)
}

/// A value delivered for one input slot of one record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SlotValue {
    Missing,
    Num(f64),
    /// Hash of the raw field bytes (for `distinct` and `count(FIELD)` over non-numeric fields).
    Hash(u64),
}

/// What the decoder must deliver for one input slot.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSlot {
    pub field: String,
    /// true: parse as number (`Num`/`Missing`); false: hash of the bytes (`Hash`/`Missing`).
    pub numeric: bool,
}

/// A finished aggregate value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AggValue {
    Int(u64),
    Float(f64),
    Null,
}

impl AggValue {
    /// A result beyond f64's range (or NaN), which the report writes as
    /// undefined and the emit room warns of once per column.
    pub fn beyond_f64(self) -> bool {
        matches!(self, AggValue::Float(f) if !f.is_finite())
    }
}

/// What one slot's accumulator keeps.
#[derive(Debug, Clone, Copy, Default)]
struct Needs {
    /// the exact sum of the values (sum, avg, rate, var, stddev)
    sum: bool,
    /// the exact sum of their squares (var, stddev)
    moments: bool,
    first: bool,
    last: bool,
    quantiles: bool,
    distinct: bool,
}

/// Accumulator of one input slot.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SlotAcc {
    n: u64,
    /// exact: merging partial sums in any order gives the same bits
    sum: ExactSum,
    min: f64,
    max: f64,
    /// present when the slot's aggregates need it
    extra: Option<Box<SlotExtra>>,
    /// inline, unlike the others: a percentile's list is written on every
    /// record, and a box in between was a second cache miss a record
    /// (checkpoints are the same: serde writes a box as what it holds)
    quantiles: Option<Quantiles>,
    distinct: Option<Box<Distinct>>,
}

/// What only var, stddev, first and last need, boxed so that the slots of
/// other jobs do not carry it (128 of a slot's 208 bytes: a million keys'
/// panes held 120 MB of it unused).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SlotExtra {
    /// exact sum of squares (var, stddev); `squares_overflow` once a square passed f64
    squares: ExactSum,
    squares_overflow: bool,
    /// (time, seq, value)
    first: Option<(i64, u64, f64)>,
    last: Option<(i64, u64, f64)>,
}

/// Accumulator state for one (window, key). Serializable for checkpoints.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AggState {
    count: u64,
    slots: Vec<SlotAcc>,
}

/// The resolved set of aggregates of a job: which input slots to fill and how
/// each output is computed from accumulators.
#[derive(Debug, Clone)]
pub struct AggPlan {
    slots: Vec<InputSlot>,
    needs: Vec<Needs>,
    /// per spec: (function, slot)
    outputs: Vec<(AggFunc, Option<usize>)>,
    /// the one slot with percentiles, when one has them (merging panes by
    /// their top values: `top_of`, `merge_by_tops`)
    top_slot: Option<usize>,
    /// for every list length up to `EXACT_LIMIT`: whether the top values of
    /// a merged list that long hold every percentile asked for
    tops_serve: Box<[bool]>,
}

impl AggPlan {
    pub fn new(specs: &[AggSpec]) -> AggPlan {
        let mut slots: Vec<InputSlot> = Vec::new();
        let numeric_fields: Vec<&str> = specs
            .iter()
            .filter(|s| s.func.numeric())
            .filter_map(|s| s.field.as_deref())
            .collect();
        let slot_of = |field: &str, numeric: bool, slots: &mut Vec<InputSlot>| -> usize {
            match slots
                .iter()
                .position(|s| s.field == field && s.numeric == numeric)
            {
                Some(i) => i,
                None => {
                    slots.push(InputSlot {
                        field: field.to_string(),
                        numeric,
                    });
                    slots.len() - 1
                }
            }
        };
        let mut outputs = Vec::new();
        for spec in specs {
            if let AggFunc::History(_) = spec.func {
                outputs.push((spec.func, None));
                continue;
            }
            let slot = spec.field.as_deref().map(|f| {
                let numeric = match spec.func {
                    AggFunc::Distinct => false,
                    AggFunc::CountField => numeric_fields.contains(&f),
                    _ => true,
                };
                slot_of(f, numeric, &mut slots)
            });
            outputs.push((spec.func, slot));
        }
        let mut needs = vec![Needs::default(); slots.len()];
        for (func, slot) in &outputs {
            let Some(s) = slot else { continue };
            let n = &mut needs[*s];
            match func {
                AggFunc::Stddev | AggFunc::Var => {
                    n.sum = true;
                    n.moments = true
                }
                AggFunc::Sum | AggFunc::Avg | AggFunc::Rate => n.sum = true,
                AggFunc::First => n.first = true,
                AggFunc::Last => n.last = true,
                AggFunc::Quantile(_) => n.quantiles = true,
                AggFunc::Distinct => n.distinct = true,
                _ => {}
            }
        }
        let mut with_quantiles = needs.iter().enumerate().filter(|(_, n)| n.quantiles);
        let top_slot = match (with_quantiles.next(), with_quantiles.next()) {
            (Some((s, _)), None) => Some(s),
            _ => None,
        };
        let asked: Vec<f64> = outputs
            .iter()
            .filter_map(|(f, _)| match f {
                AggFunc::Quantile(q) => Some(*q),
                _ => None,
            })
            .collect();
        let tops_serve = match top_slot {
            Some(_) => (0..=EXACT_LIMIT)
                .map(|n| asked.iter().all(|&q| TopValues::would_hold(n, q)))
                .collect(),
            None => Box::default(),
        };
        AggPlan {
            slots,
            needs,
            outputs,
            top_slot,
            tops_serve,
        }
    }

    /// The input slot output `spec` (an index into the specs) reads, if any.
    pub fn output_slot(&self, spec: usize) -> Option<usize> {
        self.outputs.get(spec).and_then(|(_, slot)| *slot)
    }

    /// Slots the decoder fills for each record, in order.
    pub fn input_slots(&self) -> &[InputSlot] {
        &self.slots
    }

    pub fn new_state(&self) -> AggState {
        AggState {
            count: 0,
            slots: self
                .needs
                .iter()
                .map(|n| SlotAcc {
                    n: 0,
                    sum: ExactSum::default(),
                    min: f64::INFINITY,
                    max: f64::NEG_INFINITY,
                    extra: (n.moments || n.first || n.last).then(Box::default),
                    quantiles: n.quantiles.then(Quantiles::default),
                    distinct: n.distinct.then(Box::default),
                })
                .collect(),
        }
    }

    /// Empties `state` for reuse, keeping what it allocated where it can.
    pub fn reset_state(&self, state: &mut AggState) {
        state.count = 0;
        for acc in &mut state.slots {
            acc.n = 0;
            acc.sum = ExactSum::default();
            acc.min = f64::INFINITY;
            acc.max = f64::NEG_INFINITY;
            if let Some(e) = &mut acc.extra {
                **e = SlotExtra::default();
            }
            if let Some(q) = &mut acc.quantiles {
                q.clear();
            }
            if let Some(d) = &mut acc.distinct {
                d.clear();
            }
        }
    }

    /// Adds one record. `seq` is its input position (ties for first/last).
    #[inline(always)]
    pub fn update(&self, state: &mut AggState, time_ms: i64, seq: u64, values: &[SlotValue]) {
        state.count += 1;
        for ((acc, needs), value) in state.slots.iter_mut().zip(&self.needs).zip(values) {
            match *value {
                SlotValue::Missing => {}
                SlotValue::Hash(h) => {
                    acc.n += 1;
                    if let Some(d) = &mut acc.distinct {
                        d.add(h);
                    }
                }
                SlotValue::Num(v) => {
                    acc.n += 1;
                    if needs.sum {
                        acc.sum.add(v);
                    }
                    if v < acc.min {
                        acc.min = v;
                    }
                    if v > acc.max {
                        acc.max = v;
                    }
                    if let Some(e) = &mut acc.extra {
                        if needs.moments && !exact::add_square(&mut e.squares, v) {
                            e.squares_overflow = true;
                        }
                        if needs.first && e.first.is_none_or(|(t, s, _)| (time_ms, seq) < (t, s)) {
                            e.first = Some((time_ms, seq, v));
                        }
                        if needs.last && e.last.is_none_or(|(t, s, _)| (time_ms, seq) > (t, s)) {
                            e.last = Some((time_ms, seq, v));
                        }
                    }
                    if let Some(q) = &mut acc.quantiles {
                        q.add(v);
                    }
                }
            }
        }
    }

    /// Moves the input positions recorded for first/last ties by `base`: a
    /// piece's partial numbers its records from 0, the run from `base`.
    pub fn rebase_seq(&self, state: &mut AggState, base: u64) {
        if base == 0 {
            return;
        }
        for acc in &mut state.slots {
            let Some(e) = &mut acc.extra else { continue };
            for at in [&mut e.first, &mut e.last].into_iter().flatten() {
                at.1 += base;
            }
        }
    }

    /// Merges `other` into `into`.
    pub fn merge(&self, into: &mut AggState, other: &AggState) {
        self.merge_but(into, other, None);
    }

    /// The top values of `state`'s percentile slot (cached with a pane),
    /// when the plan has one slot with percentiles and its list is exact.
    pub fn top_of(&self, state: &AggState) -> Option<TopValues> {
        let s = self.top_slot?;
        state.slots.get(s)?.quantiles.as_ref()?.top()
    }

    /// True when `top` (from `top_of`) is still that of `state`: no record
    /// or partial was added since.
    pub fn top_is_current(&self, state: &AggState, top: &TopValues) -> bool {
        let list = self
            .top_slot
            .and_then(|s| state.slots.get(s)?.quantiles.as_ref());
        list.is_some_and(|q| top.is_of(q))
    }

    /// True when `states` merged could take their percentiles from their
    /// top values (`merge_by_tops`), by their lists' lengths alone: so that
    /// no top values are found for windows that cannot use them (p50).
    pub fn tops_may_serve<'a>(&self, states: impl Iterator<Item = &'a AggState>) -> bool {
        let Some(s) = self.top_slot else { return false };
        let mut n = 0;
        for state in states {
            match state.slots[s]
                .quantiles
                .as_ref()
                .and_then(|q| q.exact_len())
            {
                Some(len) => n += len,
                None => return false,
            }
        }
        self.tops_serve.get(n).copied().unwrap_or(false)
    }

    /// Merges `parts` (each a state and its top values, `top_of`) into the
    /// emptied `into`, its percentiles from the parts' top values, without
    /// copying their lists, when those values hold every percentile asked
    /// for and the merged list would have stayed exact: the same
    /// percentiles as `merge`. False, with `into` untouched, when they do not.
    pub fn merge_by_tops<'a>(
        &self,
        into: &mut AggState,
        parts: impl Iterator<Item = (&'a AggState, &'a TopValues)> + Clone,
    ) -> bool {
        let Some(s) = self.top_slot else { return false };
        let mut tops = parts.clone().map(|(_, t)| t);
        let mut top = tops.next().copied().unwrap_or_default();
        for t in tops {
            top.merge(t);
        }
        // (the top values of n values are min(n, 8) of them: `would_hold`)
        if !self.tops_serve.get(top.count()).copied().unwrap_or(false) {
            return false;
        }
        for (part, _) in parts {
            self.merge_but(into, part, Some(s));
        }
        if let Some(q) = &mut into.slots[s].quantiles {
            q.set_top(top);
        }
        true
    }

    /// [`merge`], but for the percentiles of slot `skip`.
    fn merge_but(&self, into: &mut AggState, other: &AggState, skip: Option<usize>) {
        into.count += other.count;
        for (i, (a, b)) in into.slots.iter_mut().zip(&other.slots).enumerate() {
            if b.n == 0 {
                continue;
            }
            a.n += b.n;
            a.sum.merge(&b.sum);
            if let (Some(ea), Some(eb)) = (&mut a.extra, &b.extra) {
                merge_extra(ea, eb);
            }
            a.min = a.min.min(b.min);
            a.max = a.max.max(b.max);
            if let (Some(qa), Some(qb)) = (&mut a.quantiles, &b.quantiles) {
                if skip != Some(i) {
                    qa.merge(qb);
                }
            }
            if let (Some(da), Some(db)) = (&mut a.distinct, &b.distinct) {
                da.merge(db);
            }
        }
    }

    /// Final values, one per spec, in spec order.
    pub fn finish(&self, state: &AggState, window_len_ms: i64, out: &mut Vec<AggValue>) {
        QUANTILE_SCRATCH
            .with(|scratch| self.finish_with(state, window_len_ms, out, &mut scratch.borrow_mut()))
    }

    fn finish_with(
        &self,
        state: &AggState,
        window_len_ms: i64,
        out: &mut Vec<AggValue>,
        scratch: &mut Vec<f64>,
    ) {
        let secs = window_len_ms as f64 / 1000.0;
        // a slot's rounded sum, once for its sum, avg and rate
        let mut rounded: Option<(usize, f64)> = None;
        let mut sum_of = |s: usize, a: &SlotAcc| match rounded {
            Some((at, v)) if at == s => v,
            _ => {
                let v = a.sum.to_f64();
                rounded = Some((s, v));
                v
            }
        };
        for &(func, slot) in &self.outputs {
            let acc = slot.map(|s| &state.slots[s]);
            let n = acc.map_or(0, |a| a.n);
            let float = |present: bool, v: f64| {
                if present {
                    AggValue::Float(v)
                } else {
                    AggValue::Null
                }
            };
            let v = match func {
                AggFunc::Count => AggValue::Int(state.count),
                AggFunc::CountField => AggValue::Int(n),
                AggFunc::RateCount => float(secs > 0.0, state.count as f64 / secs),
                AggFunc::History(_) => AggValue::Null,
                _ => {
                    let s = slot.expect("field aggregate has a slot");
                    let a = &state.slots[s];
                    match func {
                        AggFunc::Sum => float(n > 0, sum_of(s, a)),
                        AggFunc::Avg => float(n > 0, sum_of(s, a) / n as f64),
                        AggFunc::Min => float(n > 0, a.min),
                        AggFunc::Max => float(n > 0, a.max),
                        AggFunc::Var if n >= 2 => AggValue::Float(variance(a, n)),
                        AggFunc::Stddev if n >= 2 => AggValue::Float(variance(a, n).sqrt()),
                        AggFunc::Var | AggFunc::Stddev => AggValue::Null,
                        AggFunc::First => extra_value(a, |e| e.first),
                        AggFunc::Last => extra_value(a, |e| e.last),
                        AggFunc::Rate => float(n > 0 && secs > 0.0, sum_of(s, a) / secs),
                        AggFunc::Quantile(q) => a
                            .quantiles
                            .as_ref()
                            .and_then(|x| x.quantile(q, scratch))
                            .map_or(AggValue::Null, AggValue::Float),
                        AggFunc::Distinct => {
                            AggValue::Int(a.distinct.as_ref().map_or(0, |d| d.count()))
                        }
                        AggFunc::Count
                        | AggFunc::CountField
                        | AggFunc::RateCount
                        | AggFunc::History(_) => unreachable!(),
                    }
                }
            };
            out.push(v);
        }
    }
}

thread_local! {
    /// Values of one window, copied for selection when a percentile is finished.
    static QUANTILE_SCRATCH: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The sample variance of a slot's values (n >= 2).
fn variance(a: &SlotAcc, n: u64) -> f64 {
    let Some(e) = &a.extra else {
        unreachable!("var and stddev slots have their extra part")
    };
    if e.squares_overflow {
        return f64::INFINITY;
    }
    exact::sample_variance(&a.sum, &e.squares, n)
}

/// Merges the extra parts of two slots.
fn merge_extra(a: &mut SlotExtra, b: &SlotExtra) {
    a.squares.merge(&b.squares);
    a.squares_overflow |= b.squares_overflow;
    if let Some(f) = b.first {
        if a.first.is_none_or(|x| (f.0, f.1) < (x.0, x.1)) {
            a.first = Some(f);
        }
    }
    if let Some(l) = b.last {
        if a.last.is_none_or(|x| (l.0, l.1) > (x.0, x.1)) {
            a.last = Some(l);
        }
    }
}

/// first() or last() of a slot: its value, or null when no record had one.
fn extra_value(a: &SlotAcc, at: impl Fn(&SlotExtra) -> Option<(i64, u64, f64)>) -> AggValue {
    a.extra
        .as_deref()
        .and_then(at)
        .map_or(AggValue::Null, |(_, _, v)| AggValue::Float(v))
}

/// Appends a value as the report writes it: integers plain, floats as Rust's
/// `{}` prints an f64 (shortest round trip, no exponent, no trailing `.0`),
/// `Null` as nothing. A float that is not finite (a variance beyond f64's
/// range, 1.8e308) is undefined too: nothing here, `null` in JSON, never
/// `inf` or `NaN`, so CSV, table and JSON agree.
pub fn write_value(value: AggValue, out: &mut Vec<u8>) {
    match value {
        AggValue::Int(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
        AggValue::Float(f) if !f.is_finite() => {}
        // -0.0 too: `{}` would print "-0"
        AggValue::Float(0.0) => out.push(b'0'),
        AggValue::Float(f) => write_display_f64(f, out),
        AggValue::Null => {}
    }
}

/// Decimals up to this many places are tried before the shortest-digits search.
const FEW_DECIMALS: i32 = 4;

/// Writes `f` when it is exactly the value of a decimal with 1 to
/// `FEW_DECIMALS` places (most measurements, and their exact sums), which is
/// then the one string `{}` writes: with |f| * 10^k < 2^52, the k-place
/// decimals are more than an ulp of f apart, so at most one of them reads
/// back as f, and f * 10^k is computed within 0.5 of its exact value, so the
/// rounded product is that one; `r / 10^k == f` is its read-back (both
/// operands exact, one correctly rounded division). One test, at the most
/// places k that the bound allows, stands for every fewer: a decimal with
/// fewer places is one with k places too, so it can only be the one found,
/// and its trailing zeros are the places it does not need. False: not
/// written.
fn write_few_decimals(f: f64, out: &mut Vec<u8>) -> bool {
    const LIMIT: f64 = 4_503_599_627_370_496.0; // 2^52
    const POW10: [f64; FEW_DECIMALS as usize + 1] = [1.0, 10.0, 100.0, 1_000.0, 10_000.0];
    let mut k = FEW_DECIMALS as usize;
    while f.abs() * POW10[k] >= LIMIT {
        k -= 1;
        if k == 0 {
            return false;
        }
    }
    let scale = POW10[k];
    let p = f * scale;
    let r = round_below_2_52(p);
    // A read-back puts p within |p| * 2^-52 of r (half an ulp of f, scaled,
    // and the product's rounding): anything farther fails without the
    // division. 2^-51 leaves a factor of two.
    if (p - r).abs() > p.abs() * (1.0 / 2_251_799_813_685_248.0) || r / scale != f {
        return false;
    }
    let mut n = r.abs() as u64;
    while k > 0 && n % 10 == 0 {
        n /= 10;
        k -= 1;
    }
    if k == 0 {
        return false; // a whole number: not this path's (the caller's first)
    }
    if f < 0.0 {
        out.push(b'-');
    }
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(n).as_bytes();
    if digits.len() > k {
        let (int, frac) = digits.split_at(digits.len() - k);
        out.extend_from_slice(int);
        out.push(b'.');
        out.extend_from_slice(frac);
    } else {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', k - digits.len()));
        out.extend_from_slice(digits);
    }
    true
}

/// `x.round()` (half away from zero) for |x| < 2^52, inlined: x86_64's
/// baseline has no rounding instruction, so `round` is a call into libm
/// (0.9% of the 10M-row benchmark's profile). Truncation to an integer is
/// one instruction, and `x - trunc(x)` is exact below 2^52, so comparing it
/// with one half decides the rounding. The sign of a zero result may differ
/// from `round`'s (-0.3 gives 0.0), which the caller does not read.
#[inline]
fn round_below_2_52(x: f64) -> f64 {
    let t = x as i64;
    let frac = x - t as f64;
    let r = if frac >= 0.5 {
        t + 1
    } else if frac <= -0.5 {
        t - 1
    } else {
        t
    };
    r as f64
}

/// True when `f`'s exact decimal value has at most 18 significant digits
/// (or may have: huge values with factors of 5), the only values where two
/// shortest round-trip strings can tie.
fn has_short_expansion(f: f64) -> bool {
    let bits = f.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1 << 52) - 1);
    let (mut m, mut e) = if exp == 0 {
        (frac, -1074)
    } else {
        (frac | (1 << 52), exp - 1075)
    };
    let tz = m.trailing_zeros();
    m >>= tz;
    e += tz as i32;
    let short = |mut v: u128| {
        while v % 10 == 0 {
            v /= 10;
        }
        v < 1_000_000_000_000_000_000
    };
    if e >= 0 {
        if e <= 64 {
            short((m as u128) << e)
        } else {
            m % 5 == 0
        }
    } else if e >= -27 {
        // f = m * 5^-e / 10^-e with m odd: the digits of m * 5^-e
        short(m as u128 * 5u128.pow((-e) as u32))
    } else {
        false // m * 5^-e > 10^18 and odd: more than 18 digits
    }
}

/// Appends a finite, nonzero f64 exactly as Rust's `{}` prints it: the
/// shortest digits that round-trip laid out in plain decimal, never with an
/// exponent. zmij (the successor of ryu that serde_json uses) finds those
/// digits several times faster than the standard formatter, and both
/// pick the shortest string closest to the value; they can differ only on
/// an exact tie between two such strings (`{}` rounds up), which needs a
/// value whose exact decimal expansion is at most 18 digits long: those,
/// and whole numbers, take other paths.
/// Tests compare with `{}` on millions of values, ties included.
pub fn write_display_f64(f: f64, out: &mut Vec<u8>) {
    const TWO53: f64 = 9_007_199_254_740_992.0;
    // (whole: `fract` is a libm call on x86_64's baseline, the casts are not)
    if f.abs() < TWO53 && (f as i64) as f64 == f {
        if f == 0.0 && f.is_sign_negative() {
            out.push(b'-'); // `{}` writes -0.0 as "-0"
        }
        out.extend_from_slice(itoa::Buffer::new().format(f as i64).as_bytes());
        return;
    }
    if write_few_decimals(f, out) {
        return;
    }
    if has_short_expansion(f) {
        use std::io::Write;
        let _ = write!(out, "{f}");
        return;
    }
    let mut buf = zmij::Buffer::new();
    let text = buf.format_finite(f).as_bytes();
    // zmij's output without an exponent has the digits and layout of `{}`,
    // but for a whole number's ".0"
    if !text.contains(&b'e') && !text.ends_with(b".0") {
        out.extend_from_slice(text);
        return;
    }
    let (neg, text) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    // zmij: digits with an optional '.', then an optional exponent
    let (mantissa, exp) = match text.iter().position(|&c| c == b'e') {
        Some(e) => {
            let exp: i32 = std::str::from_utf8(&text[e + 1..])
                .ok()
                .and_then(|x| x.parse().ok())
                .unwrap_or(0);
            (&text[..e], exp)
        }
        None => (text, 0),
    };
    let mut digits = [0u8; 24];
    let mut n = 0;
    let mut point = mantissa.len() as i32; // digits before the decimal point
    for (i, &c) in mantissa.iter().enumerate() {
        if c == b'.' {
            point = i as i32;
        } else {
            digits[n] = c;
            n += 1;
        }
    }
    // leading zeros ("0.001") and trailing zeros ("1.0") are not significant
    let lead = digits[..n].iter().take_while(|&&c| c == b'0').count();
    let digits_sig = &digits[lead..n];
    let trail = digits_sig.iter().rev().take_while(|&&c| c == b'0').count();
    let sig = &digits_sig[..digits_sig.len() - trail];
    let point = point - lead as i32 + exp;
    if neg {
        out.push(b'-');
    }
    if point <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-point) as usize));
        out.extend_from_slice(sig);
    } else if point as usize >= sig.len() {
        out.extend_from_slice(sig);
        out.extend(std::iter::repeat_n(b'0', point as usize - sig.len()));
    } else {
        out.extend_from_slice(&sig[..point as usize]);
        out.push(b'.');
        out.extend_from_slice(&sig[point as usize..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_below_2_52_equals_round_but_for_the_sign_of_zero() {
        let check = |x: f64| {
            let (a, b) = (round_below_2_52(x), x.round());
            assert!(a == b, "{x:?}: {a:?} vs {b:?}");
        };
        let mut edges = vec![0.5, 1.5, 2.5, 0.49999999999999994, 4503599627370495.5];
        edges.extend([4503599627370495.0, 1e15 + 0.5, 0.1, 123.456e4]);
        for k in 0..2000 {
            edges.push(k as f64 + 0.5);
            edges.push((k + 1) as f64 * 0.37);
        }
        for x in edges {
            // x and its neighbours (next_up is newer than the MSRV)
            let (up, down) = (
                f64::from_bits(x.to_bits() + 1),
                f64::from_bits(x.to_bits() - 1),
            );
            for v in [x, -x, up, down, -up, -down] {
                if v.abs() < 4_503_599_627_370_496.0 {
                    check(v);
                }
            }
        }
        let mut z = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2_000_000 {
            z ^= z << 13;
            z ^= z >> 7;
            z ^= z << 17;
            let v = f64::from_bits(z);
            if v.is_finite() && v.abs() < 4_503_599_627_370_496.0 {
                check(v);
            }
            // and values with few decimals, as the caller meets them
            check((z % 2_000_000_000) as f64 / 10_000.0 - 100_000.0);
        }
    }

    #[test]
    fn floats_are_laid_out_like_rust_display() {
        let check = |f: f64| {
            let mut out = Vec::new();
            write_display_f64(f, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), format!("{f}"), "{f:e}");
        };
        for f in [
            1.0,
            0.5,
            60.0,
            2018.4269999999992,
            1e21,
            1e22,
            1.5e-7,
            123456789.0,
            0.1,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            1e-300,
            9007199254740993.0,
            100.0,
            0.001,
            -0.25,
            -1e100,
            1.7976931348623157e300,
            4.35,
            0.30000000000000004,
        ] {
            check(f);
            check(-f);
        }
        // a tie: 1658206780088562.25 is as close to ...562.2 as to ...562.3
        check(1658206780088562.0 + 0.25);
        // random bit patterns across the whole range, everyday decimals and
        // their averages, and values with short binary fractions (ties)
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        // VIGIL_FLOAT_CHECKS=25000000 for the long proof (see BENCHMARKS.md)
        let rounds: u64 = std::env::var("VIGIL_FLOAT_CHECKS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300_000);
        for i in 0..rounds {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let f = f64::from_bits(x);
            if f.is_finite() && f != 0.0 {
                check(f);
            }
            check((x % 1_000_000) as f64 / 100.0 + (i % 7) as f64);
            check((x % 1_000_000) as f64 / 100.0 / (1 + i % 23) as f64);
            check((x >> 11) as f64 / (1u64 << (x % 60)) as f64);
            // decimals of 1 to 6 places at every magnitude, for the few-places path
            let places = 10f64.powi((i % 6) as i32 + 1);
            check((x >> (i % 50)) as f64 / places);
            check(-((x % 100_000) as f64) / places);
        }
        // the few-places path at its limit: |f| * 10^k just under and over 2^52
        for n in [
            4_503_599_627_370_495u64,
            4_503_599_627_370_497,
            45_035_996_273_704_951,
        ] {
            for k in 1..=5 {
                check(n as f64 / 10f64.powi(k));
            }
        }
    }

    fn plan(list: &str) -> (AggPlan, Vec<AggSpec>) {
        let specs = parse_agg_list(list).unwrap();
        (AggPlan::new(&specs), specs)
    }

    fn text(v: AggValue) -> String {
        let mut out = Vec::new();
        write_value(v, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn non_finite_results_are_written_as_undefined() {
        assert_eq!(text(AggValue::Float(f64::INFINITY)), "");
        assert_eq!(text(AggValue::Float(f64::NEG_INFINITY)), "");
        assert_eq!(text(AggValue::Float(f64::NAN)), "");
        assert_eq!(text(AggValue::Float(-0.0)), "0");
        assert_eq!(text(AggValue::Float(1e300)), format!("{}", 1e300));
    }

    #[test]
    fn parses_lists_with_aliases_and_nested_commas() {
        let specs = parse_agg_list(
            "count(), avg(value), p95(latency_ms) as p95_lat, quantile(x, 0.999), mean(y)",
        )
        .unwrap();
        let cols: Vec<&str> = specs.iter().map(|s| s.column.as_str()).collect();
        assert_eq!(
            cols,
            ["count", "avg_value", "p95_lat", "q0.999_x", "mean_y"]
        );
        assert_eq!(specs[3].func, AggFunc::Quantile(0.999));
        assert_eq!(
            parse_agg_list("quantile(x, 0.9)").unwrap()[0].column,
            "p90_x"
        );
    }

    #[test]
    fn history_items_parse_with_spec_column_names() {
        let specs = parse_agg_list(
            "max(used_pct), predict_linear(max(used_pct), 6h, 2h) as used_in_6h, zscore(quantile(lat, 0.999), 1h), deriv(avg(value), 30m), ewma(max(used) / max(total), 0.5), robust_z(count(), 1h)",
        )
        .unwrap();
        let cols: Vec<&str> = specs.iter().map(|s| s.column.as_str()).collect();
        assert_eq!(
            cols,
            [
                "max_used_pct",
                "used_in_6h",
                "zscore_q0.999_lat",
                "deriv_avg_value",
                "ewma_max_used_max_total",
                "robust_z_count"
            ]
        );
        assert_eq!(
            specs[1].func,
            AggFunc::History(HistFunc::PredictLinear {
                horizon_ms: 6 * 3_600_000,
                range_ms: 2 * 3_600_000
            })
        );
        assert_eq!(specs[2].field.as_deref(), Some("quantile(lat, 0.999)"));
        let (p, _) = plan("count(), deriv(avg(v), 1m)");
        assert!(
            p.input_slots().is_empty(),
            "X's aggregates are the plan's to add"
        );
        let mut out = Vec::new();
        p.finish(&p.new_state(), 1000, &mut out);
        assert_eq!(out, [AggValue::Int(0), AggValue::Null]);
        let (col, msg) = parse_agg_list("count(), deriv(avgg(v), 1m)").unwrap_err();
        assert_eq!(col, 9);
        assert!(
            msg.contains("in X of deriv(): unknown aggregate 'avgg'"),
            "{msg}"
        );
        assert!(parse_agg_list("deriv(avg(v))")
            .unwrap_err()
            .1
            .contains("takes 2 arguments"));
        assert!(parse_agg_list("deriv(avg(v), 1h), deriv(avg(v), 2h)")
            .unwrap_err()
            .1
            .contains("twice"));
    }

    #[test]
    fn parse_errors_point_at_the_item() {
        let (col, msg) = parse_agg_list("count(), avgg(value)").unwrap_err();
        assert_eq!(col, 9);
        assert!(msg.contains("unknown aggregate 'avgg'"), "{msg}");
        assert!(msg.contains("did you mean 'avg'?"), "{msg}");
        assert!(parse_agg_list("count(), avg(value")
            .unwrap_err()
            .1
            .contains("')'"));
        assert!(parse_agg_list("sum(a) as")
            .unwrap_err()
            .1
            .contains("as NAME"));
        assert!(parse_agg_list("sum()")
            .unwrap_err()
            .1
            .contains("takes 1 argument"));
        assert!(parse_agg_list("quantile(x, 2)")
            .unwrap_err()
            .1
            .contains("from 0 to 1"));
        assert!(parse_agg_list("sum(a), sum(a)")
            .unwrap_err()
            .1
            .contains("twice"));
    }

    #[test]
    fn every_function_against_a_naive_computation() {
        let (p, _) = plan("count(), count(v), sum(v), avg(v), min(v), max(v), stddev(v), var(v), first(v), last(v), rate(v), rate(), p50(v), distinct(v)");
        assert_eq!(
            p.input_slots().len(),
            2,
            "one numeric and one hashed slot for v"
        );
        let vals = [3.0, -1.0, 4.0, 1.5];
        let times = [20, 10, 10, 30];
        let mut s = p.new_state();
        for (i, (&v, &t)) in vals.iter().zip(&times).enumerate() {
            let vs = [SlotValue::Num(v), SlotValue::Hash(v.to_bits())];
            p.update(&mut s, t, i as u64, &vs);
        }
        p.update(&mut s, 5, 9, &[SlotValue::Missing, SlotValue::Missing]);
        let mut out = Vec::new();
        p.finish(&s, 2000, &mut out);
        let mean = 7.5 / 4.0;
        let var = vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 3.0;
        let want = [
            AggValue::Int(5),
            AggValue::Int(4),
            AggValue::Float(7.5),
            AggValue::Float(mean),
            AggValue::Float(-1.0),
            AggValue::Float(4.0),
            AggValue::Float(var.sqrt()),
            AggValue::Float(var),
            AggValue::Float(-1.0), // t=10 seq 1 beats t=10 seq 2
            AggValue::Float(1.5),
            AggValue::Float(3.75),
            AggValue::Float(2.5),
            AggValue::Float(2.25),
            AggValue::Int(4),
        ];
        for (i, (g, w)) in out.iter().zip(&want).enumerate() {
            match (g, w) {
                (AggValue::Float(a), AggValue::Float(b)) => {
                    assert!((a - b).abs() < 1e-12, "#{i}: {a} vs {b}")
                }
                _ => assert_eq!(g, w, "#{i}"),
            }
        }
    }

    #[test]
    fn undefined_results_are_null() {
        let (p, _) = plan("count(), sum(v), avg(v), var(v), stddev(v), first(v), p95(v)");
        let mut s = p.new_state();
        p.update(&mut s, 0, 0, &[SlotValue::Missing]);
        let mut out = Vec::new();
        p.finish(&s, 1000, &mut out);
        assert_eq!(out[0], AggValue::Int(1));
        assert!(out[1..].iter().all(|v| *v == AggValue::Null), "{out:?}");
        p.update(&mut s, 0, 1, &[SlotValue::Num(2.0)]);
        out.clear();
        p.finish(&s, 1000, &mut out);
        assert_eq!(out[3], AggValue::Null, "var of one value is undefined");
    }

    #[test]
    fn merge_equals_sequential_updates() {
        let (p, _) = plan("count(), sum(v), var(v), first(v), last(v), p90(v), min(v), max(v)");
        let mut all = p.new_state();
        let mut a = p.new_state();
        let mut b = p.new_state();
        for i in 0..3000u64 {
            let v = [SlotValue::Num(((i * 37) % 101) as f64 - 20.0)];
            let t = (i % 500) as i64;
            p.update(&mut all, t, i, &v);
            p.update(if i % 3 == 0 { &mut a } else { &mut b }, t, i, &v);
        }
        p.merge(&mut a, &b);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        p.finish(&all, 1000, &mut x);
        p.finish(&a, 1000, &mut y);
        for (g, w) in x.iter().zip(&y) {
            match (g, w) {
                (AggValue::Float(a), AggValue::Float(b)) => assert!(
                    (a - b).abs() <= 1e-9 * a.abs().max(1.0) || (a - b).abs() <= a.abs() * 0.011,
                    "{a} vs {b}"
                ),
                _ => assert_eq!(g, w),
            }
        }
    }

    #[test]
    fn values_are_written_like_rust_display() {
        assert_eq!(text(AggValue::Float(60.0)), "60");
        assert_eq!(text(AggValue::Float(0.5)), "0.5");
        assert_eq!(
            text(AggValue::Float(2018.4269999999992)),
            "2018.4269999999992"
        );
        assert_eq!(text(AggValue::Float(1e21)), "1000000000000000000000");
        assert_eq!(text(AggValue::Float(-0.0)), "0");
        assert_eq!(text(AggValue::Int(7)), "7");
        // spot checks of `{}` on arbitrary bit patterns and decimals
        let mut x: u64 = 0x1234_5678_9abc_def1;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let f = f64::from_bits(x);
            if f.is_finite() && f != 0.0 {
                assert_eq!(text(AggValue::Float(f)), format!("{f}"));
            }
            let g = (x % 10_000_000) as f64 / 1000.0;
            if g != 0.0 {
                assert_eq!(text(AggValue::Float(g)), format!("{g}"));
            }
        }
        assert_eq!(text(AggValue::Null), "");
    }

    #[test]
    fn state_survives_serde() {
        let (p, _) = plan("count(), p50(v), distinct(v)");
        let mut s = p.new_state();
        for i in 0..2000u64 {
            p.update(
                &mut s,
                0,
                i,
                &[SlotValue::Num(i as f64), SlotValue::Hash(i)],
            );
        }
        let bytes = postcard::to_stdvec(&s).unwrap();
        let back: AggState = postcard::from_bytes(&bytes).unwrap();
        let (mut x, mut y) = (Vec::new(), Vec::new());
        p.finish(&s, 1000, &mut x);
        p.finish(&back, 1000, &mut y);
        assert_eq!(x, y);
    }
}
