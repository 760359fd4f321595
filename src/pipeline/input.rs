//! Opening one input stream for decoding: which format it is (flag, file
//! extension or a sniff of its first line), its decoder built from the header
//! when the format has one, and its time format. Owns `InputState`; reads no
//! bytes beyond the first line it is handed and writes nothing.

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
