//! `vigil export`: the same job as a script for another engine, for users whose
//! data outgrows one machine. [`flink`] writes Flink SQL.
//!
//! Owns what a script needs to know about the inputs before it can be written:
//! each file's absolute path, its format (for `--format auto`, by extension or
//! its first line, the way `vigil run` decides) and, for CSV, its column names
//! (the header, or `--columns`). Reading those first lines is the only I/O of
//! an export; the generators themselves are pure functions of the job and
//! these layouts. The format is chosen by the run's own rule
//! (`pipeline::input::choose_format`); nothing else of the run is used.

pub mod flink;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::decode::Format;
use crate::error::{Error, Result};
use crate::job::{FormatChoice, InputSpec, Job};
use flink::{FlinkOptions, FlinkSource};

/// Longest first line read to learn an input's header or format.
const FIRST_LINE_LIMIT: u64 = 1 << 20;

/// What the script needs to know about one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputLayout {
    /// The file, absolute; None for a Kafka topic.
    pub path: Option<PathBuf>,
    pub format: Format,
    /// CSV: the column names, in order (the header, or `--columns`). Empty
    /// for other formats.
    pub columns: Vec<String>,
}

/// Reads what [`flink::script`] needs about each input: one layout per file,
/// or one for the Kafka topic.
pub fn inspect_inputs(job: &Job, options: &FlinkOptions) -> Result<Vec<InputLayout>> {
    let files: Vec<&PathBuf> = job
        .inputs
        .iter()
        .filter_map(|i| match i {
            InputSpec::File(p) => Some(p),
            _ => None,
        })
        .collect();
    match &options.source {
        FlinkSource::Files => {
            let mut layouts = Vec::new();
            for input in &job.inputs {
                let path = match input {
                    InputSpec::File(p) => p,
                    other => {
                        return Err(Error::usage(format!(
                            "input '{}': a Flink job cannot read {}; send the records to a Kafka topic and export with --flink-source kafka --kafka-brokers HOSTS --kafka-topic TOPIC",
                            other.describe(),
                            match other {
                                InputSpec::Stdin => "vigil's stdin",
                                _ => "a TCP listener of vigil's",
                            }
                        )))
                    }
                };
                layouts.push(file_layout(job, path)?);
            }
            Ok(layouts)
        }
        FlinkSource::Kafka { .. } => {
            // The topic carries the records; a file input, when given, tells
            // the format and the CSV columns.
            let first = match files.first() {
                Some(p) => Some(file_layout(job, p)?),
                None => None,
            };
            let format = match (job.format, &first) {
                (FormatChoice::Fixed(f), _) => f,
                (FormatChoice::Auto, Some(l)) => l.format,
                (FormatChoice::Auto, None) => {
                    return Err(Error::usage(
                        "--flink-source kafka: give --format (csv, jsonl or regex): there is no file input to tell it",
                    ))
                }
            };
            let columns = if format != Format::Csv {
                Vec::new()
            } else if let Some(c) = &job.columns {
                c.clone()
            } else {
                match first {
                    Some(l) if !l.columns.is_empty() => l.columns,
                    _ => {
                        return Err(Error::usage(
                            "--flink-source kafka with CSV records: name the columns with --columns a,b,c (Kafka messages carry no header)",
                        ))
                    }
                }
            };
            Ok(vec![InputLayout {
                path: None,
                format,
                columns,
            }])
        }
    }
}

fn file_layout(job: &Job, path: &Path) -> Result<InputLayout> {
    let absolute = std::path::absolute(path).map_err(|e| {
        Error::usage(format!(
            "input {}: cannot make the path absolute: {e}",
            path.display()
        ))
    })?;
    // the first line: the CSV header, and what `--format auto` sniffs
    let line = first_line(path)?;
    let format = crate::pipeline::input::choose_format(
        job,
        Some(path),
        (!line.is_empty()).then_some(line.as_slice()),
    );
    let columns = if format != Format::Csv {
        Vec::new()
    } else if job.has_header {
        let l = line.as_slice();
        if l.is_empty() {
            return Err(Error::usage(format!(
                "input {}: the file is empty, so its CSV header cannot be read; give --no-header --columns a,b,c",
                path.display()
            )));
        }
        crate::decode::csv::split_header(l, job.delimiter).map_err(|e| {
            Error::usage(format!(
                "{}:1: cannot read the CSV header: {e}",
                path.display()
            ))
        })?
    } else {
        job.columns.clone().unwrap_or_default()
    };
    Ok(InputLayout {
        path: Some(absolute),
        format,
        columns,
    })
}

/// The first line of `path`, without its `\n` or `\r\n`.
fn first_line(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| {
        Error::usage(format!(
            "cannot read input {} (the export reads its first line): {e}",
            path.display()
        ))
    })?;
    let mut line = Vec::new();
    BufReader::new(file.take(FIRST_LINE_LIMIT))
        .read_until(b'\n', &mut line)
        .map_err(|e| Error::usage(format!("reading {}: {e}", path.display())))?;
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(line)
}
