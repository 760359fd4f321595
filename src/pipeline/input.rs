//! Opening one input stream for decoding: which format it is (flag, file
//! extension or a sniff of its first line), its decoder built from the header
//! when the format has one, every field the job names checked against what
//! the input has (CSV header, a log format's fields, the regex's groups), and
//! its time format. Owns `InputState`, and [`probe`]: the first lines of an
//! input decoded the way a run decodes them (`vigil check`). Reads only the
//! bytes it is handed and writes nothing.

use std::path::Path;
use std::sync::Arc;

use crate::decode::{self, Format, LineDecoder};
use crate::error::{Error, Result};
use crate::job::{FormatChoice, Job};
use crate::plan::RecordPlan;
use crate::time::TimeFormat;

/// What the decoder of one input stream needs.
pub struct InputState {
    pub name: Arc<str>,
    pub decoder: Box<dyn LineDecoder>,
    pub time_format: TimeFormat,
    /// the CSV header line, when the input has one
    pub header: Option<Vec<u8>>,
}

impl InputState {
    /// A second handle on the same decoder (one per batch of a stream).
    pub fn fork(&self) -> InputState {
        InputState {
            name: self.name.clone(),
            decoder: self.decoder.fork(),
            time_format: self.time_format.clone(),
            header: None,
        }
    }
}

/// The format of an input: the job's, else by extension, else by sniffing.
pub fn choose_format(job: &Job, path_hint: Option<&Path>, first_line: Option<&[u8]>) -> Format {
    match job.format {
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
    }
}

/// Every field the job names, checked against what an input of `format` has
/// (formats that take any name, JSON and logfmt, are not checked).
fn check_fields(
    job: &Job,
    plan: &RecordPlan,
    format: Format,
    first_line: Option<&[u8]>,
) -> std::result::Result<(), String> {
    match format {
        Format::Csv => {
            let (columns, listing) = match (job.has_header, first_line) {
                (true, Some(line)) => match decode::csv::split_header(line, job.delimiter) {
                    Ok(c) => (c, "the header has"),
                    Err(_) => return Ok(()), // the decoder says what is wrong with it
                },
                (true, None) => return Ok(()),
                (false, _) => (job.columns.clone().unwrap_or_default(), "--columns has"),
            };
            let names: Vec<&str> = columns.iter().map(String::as_str).collect();
            plan.check_fields(&names, "a column", listing)
        }
        Format::Nginx | Format::Apache | Format::Syslog => plan.check_fields(
            decode::logs::preset_fields(format),
            &format!("a field of the {} format", format.name()),
            "its fields are",
        ),
        Format::Regex => {
            let Ok(re) = regex::bytes::Regex::new(job.regex.as_deref().unwrap_or("")) else {
                return Ok(()); // refused with its own message when the job was read
            };
            let groups: Vec<&str> = re.capture_names().flatten().collect();
            plan.check_fields(&groups, "a named group of --regex", "its groups are")
        }
        Format::Jsonl | Format::Logfmt => Ok(()),
    }
}

/// Lines `vigil check` decodes from the start of each file input, at most.
pub const PROBE_LINES: usize = 1000;
/// Bytes `vigil check` decodes from the start of each file input, at most.
pub const PROBE_BYTES: usize = 1 << 20;

/// The first lines of an input, decoded the way a run decodes them.
#[derive(Debug)]
pub struct Probe {
    pub format: Format,
    /// The CSV header's column names, when the input has one.
    pub columns: Option<Vec<String>>,
    /// Lines decoded (records, bad ones included).
    pub lines: u64,
    /// Whether those were all the input's lines.
    pub complete: bool,
    pub bad: u64,
    pub bad_values: u64,
    pub filtered: u64,
    /// The first bad line: `LINE: why`.
    pub first_bad: Option<String>,
    /// Fields the job names that no decoded line had (JSON, logfmt: any
    /// name is accepted, so this is the only sign of a typo).
    pub never_seen: Vec<String>,
    /// Aggregates whose field held text only (see `RecordPlan::never_numeric`).
    pub never_numeric: Vec<String>,
}

/// Decodes the first lines of `bytes` (the start of input `name`) with the
/// decoder a run would build; Err is what a run would refuse.
pub fn probe(
    job: &Job,
    plan: &RecordPlan,
    name: Arc<str>,
    path_hint: Option<&Path>,
    bytes: &[u8],
) -> Result<Probe> {
    use crate::source::pieces;
    let first = pieces::first_line(bytes);
    let format = choose_format(job, path_hint, first);
    let (state, consumed) = open_input(job, plan, name, path_hint, first)?;
    let columns = match (format, consumed, first) {
        (Format::Csv, true, Some(line)) => decode::csv::split_header(line, job.delimiter).ok(),
        _ => None,
    };
    let start = if consumed {
        pieces::line_end_after(bytes, 0, bytes.len())
    } else {
        0
    };
    let limit = bytes.len().min(start + PROBE_BYTES);
    let mut end = start;
    for _ in 0..PROBE_LINES {
        if end >= limit {
            break;
        }
        end = pieces::line_end_after(bytes, end, limit);
    }
    let piece = pieces::Piece {
        input: 0,
        data: &bytes[start..end],
        offset: start as u64,
        first_line: Some(if consumed { 2 } else { 1 }),
        whole: None,
        arrival_ms: crate::source::now_ms(),
    };
    let mut parsed = super::parse::Parsed::default();
    super::parse::parse_piece(plan, &state, &piece, &mut parsed);
    let first_bad = parsed.bad.first().map(|b| {
        format!(
            "line {}: {}",
            pieces::line_number(&piece, b.line_start as usize),
            b.error
        )
    });
    // which wanted fields any line had
    let mut seen = vec![false; plan.fields.len()];
    let mut decoder = state.decoder.fork();
    let mut slots = decode::FieldSlots::new(plan.fields.len());
    pieces::for_each_line(piece.data, |_, line| {
        slots.clear();
        if decoder.decode(line, &mut slots).is_ok() {
            for (i, s) in seen.iter_mut().enumerate() {
                *s |= slots.is_set(i);
            }
        }
    });
    let never_seen = if parsed.lines > 0 && matches!(format, Format::Jsonl | Format::Logfmt) {
        plan.fields
            .iter()
            .zip(&seen)
            .filter(|(_, s)| !**s)
            .map(|(f, _)| f.clone())
            .collect()
    } else {
        Vec::new()
    };
    Ok(Probe {
        format,
        columns,
        lines: parsed.lines,
        complete: end >= bytes.len(),
        bad: parsed.bad.len() as u64,
        bad_values: parsed.bad_values,
        filtered: parsed.filtered,
        first_bad,
        never_seen,
        never_numeric: plan.never_numeric(&parsed.tally),
    })
}

/// Chooses the format of an input and builds its decoder from its first line.
/// Also returns whether the first line was consumed (a CSV header).
pub fn open_input(
    job: &Job,
    plan: &RecordPlan,
    name: Arc<str>,
    path_hint: Option<&Path>,
    first_line: Option<&[u8]>,
) -> Result<(InputState, bool)> {
    let format = choose_format(job, path_hint, first_line);
    let fields = &plan.decoded_fields();
    let in_input = |e: String| Error::usage(format!("{name}: {e}"));
    let sniffed_csv = format == Format::Csv
        && job.format == FormatChoice::Auto
        && path_hint
            .and_then(|p| p.extension())
            .is_none_or(|e| e != "csv");
    check_fields(job, plan, format, first_line)
        .map_err(|e| {
            if sniffed_csv {
                format!("{e}\n  (the format was guessed as CSV from the first line; for a log give --format nginx, apache, syslog or logfmt, or --regex with named groups)")
            } else {
                e
            }
        })
        .map_err(in_input)?;
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
