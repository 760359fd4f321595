//! Parsing one piece: its lines decoded and turned into records (event time,
//! key, aggregate inputs) or bad lines, on a rayon worker. Owns `Parsed`, the
//! per-piece output reused from batch to batch; writes nothing and moves no
//! watermark: records keep their input order for the stamping that follows.

use crate::agg::SlotValue;
use crate::decode::{DecodeError, LineDecoder};
use crate::plan::{Extracted, RecordPlan, Scratch, ValueTally};
use crate::source::pieces::{for_each_line, Piece};

use super::input::InputState;

/// One record of a piece, by reference into its `Parsed` buffers.
#[derive(Debug, Clone, Copy)]
pub struct ParsedRec {
    pub time: i64,
    pub hash: u64,
    pub key_start: u32,
    pub key_len: u32,
    pub val_start: u32,
    pub line_start: u32,
    pub line_len: u32,
    /// removed by --where: moves the watermark, reaches no window
    pub filtered: bool,
}

/// A line that is not a record, and why.
pub struct BadLine {
    pub line_start: u32,
    pub line_len: u32,
    pub error: DecodeError,
}

impl BadLine {
    /// The whole line at offset `start` of its piece, with its error.
    pub fn new(start: usize, line: &[u8], error: DecodeError) -> BadLine {
        BadLine {
            line_start: start as u32,
            line_len: line.len() as u32,
            error,
        }
    }
}

/// The decoded form of one piece. Reused from batch to batch.
#[derive(Default)]
pub struct Parsed {
    pub recs: Vec<ParsedRec>,
    pub keys: Vec<u8>,
    pub values: Vec<SlotValue>,
    pub bad: Vec<BadLine>,
    pub lines: u64,
    pub bad_values: u64,
    /// per aggregate input: numbers and non-numbers seen
    pub tally: ValueTally,
    pub filtered: u64,
    /// the latest time of its records, filtered ones included (i64::MIN: none)
    pub max_time: i64,
}

/// A line past `--max-line-bytes` is not decoded: a line this long is
/// garbage or an attack, and the spans of a record are 32-bit (SPEC 7: huge
/// lines are bad). Its first max + 1 bytes stand for it (all a stream keeps).
#[inline]
pub fn overlong(plan: &RecordPlan, start: usize, line: &[u8]) -> Option<BadLine> {
    (line.len() > plan.max_line).then(|| BadLine {
        line_start: start as u32,
        line_len: (plan.max_line + 1) as u32,
        error: DecodeError::new(format!(
            "a line longer than --max-line-bytes {} (its first {} bytes go to an --on-bad-record file)",
            plan.max_line,
            plan.max_line + 1
        )),
    })
}

/// The first steps of a line on either path: the length limit, the decoder
/// into `scratch`'s slots, the input field. A line that fails comes back as
/// its bad line.
#[inline(always)]
pub fn decode_line<D: LineDecoder + ?Sized>(
    plan: &RecordPlan,
    decoder: &mut D,
    input: &InputState,
    scratch: &mut Scratch,
    start: usize,
    line: &[u8],
) -> Result<(), BadLine> {
    scratch.slots.clear();
    if let Some(b) = overlong(plan, start, line) {
        return Err(b);
    }
    decoder
        .decode(line, &mut scratch.slots)
        .map_err(|error| BadLine::new(start, line, error))?;
    plan.set_input(&mut scratch.slots, &input.name);
    Ok(())
}

/// Decodes every line of `piece` into `out` (cleared first).
pub fn parse_piece(plan: &RecordPlan, input: &InputState, piece: &Piece<'_>, out: &mut Parsed) {
    let mut decoder = input.decoder.fork();
    match decoder.as_csv() {
        Some(csv) => parse_piece_with(csv, plan, input, piece, out),
        None => parse_piece_with(decoder.as_mut(), plan, input, piece, out),
    }
}

/// [`parse_piece`] with `decoder`, of its own type where it can be.
fn parse_piece_with<D: LineDecoder + ?Sized>(
    decoder: &mut D,
    plan: &RecordPlan,
    input: &InputState,
    piece: &Piece<'_>,
    out: &mut Parsed,
) {
    out.recs.clear();
    out.keys.clear();
    out.values.clear();
    out.bad.clear();
    out.lines = 0;
    out.bad_values = 0;
    out.tally.reset(plan.agg.input_slots().len());
    out.filtered = 0;
    out.max_time = i64::MIN;
    let mut scratch = Scratch::new(plan);
    let nvals = plan.agg.input_slots().len();
    for_each_line(piece.data, |start, line| {
        out.lines += 1;
        let bad = |error, out: &mut Parsed| out.bad.push(BadLine::new(start, line, error));
        if let Err(b) = decode_line(plan, decoder, input, &mut scratch, start, line) {
            out.bad.push(b);
            return;
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
            &mut out.tally,
        ) {
            Err(e) => {
                out.keys.truncate(key_start);
                out.values.truncate(val_start);
                bad(e, out)
            }
            Ok(Extracted::Filtered) => {
                out.filtered += 1;
                let time = time_of_filtered(plan, line, &scratch, input, piece.arrival_ms);
                out.max_time = out.max_time.max(time);
                out.recs.push(ParsedRec {
                    time,
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
                out.max_time = out.max_time.max(time);
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
    out.bad_values = out.tally.bad_values();
}

/// A filtered record still moves the watermark, by its own time when readable.
pub fn time_of_filtered(
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
