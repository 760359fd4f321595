//! Aggregate functions: parsing `--agg` lists, per-(window, key) accumulator
//! state with `update` and `merge`, and final values. Pure: no I/O, no
//! knowledge of windows or keys.

use serde::{Deserialize, Serialize};

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
}

/// One requested aggregate: function, input field and output column name.
#[derive(Debug, Clone, PartialEq)]
pub struct AggSpec {
    pub func: AggFunc,
    pub field: Option<String>,
    /// Column name: `FUNC_FIELD` (`count`, `avg_value`, `p95_latency_ms`) or the `as` alias.
    pub column: String,
}

impl AggSpec {
    /// Builds a spec from a call such as `p95(latency)`: `name` is the function
    /// name, `args` the raw argument texts (trimmed).
    pub fn from_call(name: &str, args: &[&str]) -> Result<AggSpec, String> {
        let _ = (name, args);
        todo!()
    }
}

/// Parses `count(), avg(value), p95(latency_ms) as p95_lat`. Err: (byte column, message).
pub fn parse_agg_list(text: &str) -> Result<Vec<AggSpec>, (usize, String)> {
    let _ = text;
    todo!()
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

/// Accumulator state for one (window, key). Serializable for checkpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AggState {
    _todo: (),
}

/// The resolved set of aggregates of a job: which input slots to fill and how
/// each output is computed from accumulators.
#[derive(Debug, Clone)]
pub struct AggPlan {
    _todo: (),
}

impl AggPlan {
    pub fn new(specs: &[AggSpec]) -> AggPlan {
        let _ = specs;
        todo!()
    }
    /// Slots the decoder fills for each record, in order.
    pub fn input_slots(&self) -> &[InputSlot] {
        todo!()
    }
    pub fn new_state(&self) -> AggState {
        todo!()
    }
    /// Adds one record. `seq` is its input position (ties for first/last).
    pub fn update(&self, state: &mut AggState, time_ms: i64, seq: u64, values: &[SlotValue]) {
        let _ = (state, time_ms, seq, values);
        todo!()
    }
    /// Merges `other` into `into` as if its records had been added after.
    pub fn merge(&self, into: &mut AggState, other: &AggState) {
        let _ = (into, other);
        todo!()
    }
    /// Final values, one per spec, in spec order.
    pub fn finish(&self, state: &AggState, window_len_ms: i64, out: &mut Vec<AggValue>) {
        let _ = (state, window_len_ms, out);
        todo!()
    }
}

/// Appends a value as the report writes it: integers plain, floats as Rust's
/// `{}` prints an f64 (shortest round trip, no exponent, no trailing `.0`),
/// `Null` as nothing.
pub fn write_value(value: AggValue, out: &mut Vec<u8>) {
    let _ = (value, out);
    todo!()
}
