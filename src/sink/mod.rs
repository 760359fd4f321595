//! The only writer of stdout, stderr reports and output files: the report
//! (CSV, JSONL or table), alert events (text, CSV, JSONL), late records and
//! bad records; and whole-file replacement ([`write_atomic`]) for state files
//! and the page. Each writer counts the bytes it wrote so a checkpoint can
//! record output lengths, and can be reopened at a recorded length on resume.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::agg::{write_value, AggValue};
use crate::alert::Transition;
use crate::error::{Error, Result};
use crate::job::{AlertsFormat, OutputFormat};
use crate::plan::key_fields;
use crate::shard::{AlertEvent, Row};
use crate::time::format_rfc3339_ms;

pub mod console;

/// Buffer size for output files: large writes for throughput.
const OUTPUT_BUFFER: usize = 1 << 16;
/// Batches of at least this many rows are formatted on all threads.
const PARALLEL_ROWS: usize = 8192;

/// A byte sink that counts what it wrote: stdout, stderr or a file.
pub struct Output {
    inner: BufWriter<Box<dyn Write + Send>>,
    path: Option<PathBuf>,
    /// a second handle on the file, to fsync it
    file: Option<File>,
    /// stdout: the only stream whose closing ends a run quietly
    is_stdout: bool,
    written: u64,
}

impl Output {
    pub fn stdout() -> Output {
        Output {
            inner: BufWriter::with_capacity(OUTPUT_BUFFER, Box::new(io::stdout())),
            path: None,
            file: None,
            is_stdout: true,
            written: 0,
        }
    }
    pub fn stderr() -> Output {
        Output {
            inner: BufWriter::with_capacity(1024, Box::new(io::stderr())),
            path: None,
            file: None,
            is_stdout: false,
            written: 0,
        }
    }
    /// Creates (truncates) `path`, or with `resume_len` truncates it to that
    /// length and appends.
    pub fn file(path: &Path, resume_len: Option<u64>) -> Result<Output> {
        let file = match resume_len {
            None => File::create(path).map_err(|e| Error::io("cannot create", path, e))?,
            Some(len) => {
                let f = OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(path)
                    .map_err(|e| Error::io("cannot open", path, e))?;
                let actual = f
                    .metadata()
                    .map_err(|e| Error::io("cannot read", path, e))?
                    .len();
                if actual < len {
                    return Err(Error::usage(format!(
                        "output {} is shorter ({actual} bytes) than the checkpoint recorded ({len} bytes); \
                         it was changed since: use --fresh to start over",
                        path.display()
                    )));
                }
                f.set_len(len)
                    .map_err(|e| Error::io("cannot truncate", path, e))?;
                let mut f = f;
                use std::io::Seek;
                f.seek(io::SeekFrom::End(0))
                    .map_err(|e| Error::io("cannot seek", path, e))?;
                f
            }
        };
        let sync = file
            .try_clone()
            .map_err(|e| Error::io("cannot open", path, e))?;
        Ok(Output {
            inner: BufWriter::with_capacity(OUTPUT_BUFFER, Box::new(file)),
            path: Some(path.to_path_buf()),
            file: Some(sync),
            is_stdout: false,
            written: resume_len.unwrap_or(0),
        })
    }
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
    pub fn written(&self) -> u64 {
        self.written
    }
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.written += bytes.len() as u64;
        let r = self.inner.write_all(bytes);
        self.closed_is_an_error(r)
    }
    pub fn flush(&mut self) -> io::Result<()> {
        let r = self.inner.flush();
        self.closed_is_an_error(r)
    }
    /// Flushes, and for a file returns a handle to fsync it with (the
    /// checkpoint writer fsyncs it, data and length, before the checkpoint
    /// that records this length is written: a checkpoint never records a
    /// length the disk may not hold after a crash).
    pub fn flush_for_sync(&mut self) -> io::Result<Option<File>> {
        self.flush()?;
        self.file.as_ref().map(File::try_clone).transpose()
    }

    /// Only a closed stdout ends a run quietly ([`write_error`] takes a broken
    /// pipe for that): a closed stderr or a pipe behind an output path is a
    /// failure like any other, or a report would be cut short with status 0.
    fn closed_is_an_error(&self, r: io::Result<()>) -> io::Result<()> {
        match r {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe && !self.is_stdout => {
                let what = match &self.path {
                    Some(p) => p.display().to_string(),
                    None => "stderr".to_string(),
                };
                Err(io::Error::other(format!(
                    "{what} was closed by its reader ({e})"
                )))
            }
            r => r,
        }
    }
}

/// Appends `field` to `out` with RFC 4180 quoting when needed.
pub fn push_csv_field(out: &mut Vec<u8>, field: &[u8]) {
    let needs = field
        .iter()
        .any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
        || field.first().is_some_and(|b| *b == b' ')
        || field.last().is_some_and(|b| *b == b' ');
    if !needs {
        out.extend_from_slice(field);
        return;
    }
    out.push(b'"');
    for &b in field {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// Appends `s` as a JSON string (invalid UTF-8 replaced).
pub fn push_json_string(out: &mut Vec<u8>, s: &[u8]) {
    let text = String::from_utf8_lossy(s);
    serde_json::to_writer(&mut *out, text.as_ref()).expect("writing to a Vec cannot fail");
}

fn push_json_value(out: &mut Vec<u8>, v: AggValue) {
    match v {
        AggValue::Null => out.extend_from_slice(b"null"),
        AggValue::Float(f) if !f.is_finite() => out.extend_from_slice(b"null"),
        v => write_value(v, out),
    }
}

/// How a report row becomes text in CSV or JSON lines: the format and the
/// column names (JSON lines names every value). The report writer formats
/// the rows it is handed with it, and the shards write their rows as text
/// with it where they close them (see `shard::RowBuf`): one function, so
/// both ways give the same bytes.
#[derive(Debug, Clone)]
pub struct RowText {
    format: OutputFormat,
    columns: Vec<String>,
}

impl RowText {
    /// `columns`: every column of the report, window bounds and key fields first.
    pub fn new(format: OutputFormat, columns: Vec<String>) -> RowText {
        RowText { format, columns }
    }

    /// Appends one row as CSV or JSONL: `key` in the encoding of
    /// `plan::push_key_field`, `values` the visible aggregates.
    pub fn format_row(
        &self,
        start: i64,
        end: i64,
        key: &[u8],
        values: &[AggValue],
        b: &mut Vec<u8>,
    ) {
        self.format_bounds(start, end, b);
        self.format_fields(key, values, b);
    }

    /// A row's text up to its window's bounds: the same for every key of
    /// the window, so a writer may keep it (`format_row` is this, then
    /// `format_fields`).
    pub fn format_bounds(&self, start: i64, end: i64, b: &mut Vec<u8>) {
        match self.format {
            OutputFormat::Csv => {
                format_rfc3339_ms(start, b);
                b.push(b',');
                format_rfc3339_ms(end, b);
            }
            OutputFormat::Jsonl => {
                b.extend_from_slice(b"{\"window_start\":\"");
                format_rfc3339_ms(start, b);
                b.extend_from_slice(b"\",\"window_end\":\"");
                format_rfc3339_ms(end, b);
                b.push(b'"');
            }
            OutputFormat::Table => unreachable!("tables are rendered whole"),
        }
    }

    /// The rest of a row's text after `format_bounds`: its key fields and values.
    pub fn format_fields(&self, key: &[u8], values: &[AggValue], b: &mut Vec<u8>) {
        match self.format {
            OutputFormat::Csv => {
                for f in key_fields(key) {
                    b.push(b',');
                    push_csv_field(b, f);
                }
                for v in values {
                    b.push(b',');
                    write_value(*v, b);
                }
                b.push(b'\n');
            }
            OutputFormat::Jsonl => {
                let columns = &self.columns;
                let mut col = 2;
                for f in key_fields(key) {
                    b.push(b',');
                    push_json_string(b, columns[col].as_bytes());
                    b.push(b':');
                    push_json_string(b, f);
                    col += 1;
                }
                for v in values {
                    b.push(b',');
                    push_json_string(b, columns[col].as_bytes());
                    b.push(b':');
                    push_json_value(b, *v);
                    col += 1;
                }
                b.extend_from_slice(b"}\n");
            }
            OutputFormat::Table => unreachable!("tables are rendered whole"),
        }
    }
}

/// Writes report rows in the chosen format.
pub struct ReportWriter {
    out: Output,
    /// the format and the columns
    text: RowText,
    key_count: usize,
    header_done: bool,
    buf: Vec<u8>,
    /// table: rendered cells kept until `finish` (live: until the batch ends)
    table: Vec<Vec<String>>,
    /// table: column widths so far. Live tables keep them from the header
    /// and the first rows, and widen a column only when a value needs it.
    widths: Vec<usize>,
    /// flush after every batch (live inputs)
    live: bool,
}

impl ReportWriter {
    /// `header_done` is true when resuming into a file that already has its header.
    pub fn new(
        out: Output,
        format: OutputFormat,
        key_names: &[String],
        agg_columns: &[String],
        live: bool,
        header_done: bool,
    ) -> ReportWriter {
        let mut columns = vec!["window_start".to_string(), "window_end".to_string()];
        columns.extend(key_names.iter().cloned());
        columns.extend(agg_columns.iter().cloned());
        ReportWriter {
            out,
            text: RowText::new(format, columns),
            key_count: key_names.len(),
            header_done,
            buf: Vec::with_capacity(OUTPUT_BUFFER),
            table: Vec::new(),
            widths: Vec::new(),
            live,
        }
    }

    pub fn output(&mut self) -> &mut Output {
        &mut self.out
    }

    fn header(&mut self) {
        if self.header_done {
            return;
        }
        self.header_done = true;
        match self.text.format {
            OutputFormat::Csv => {
                for (i, c) in self.text.columns.iter().enumerate() {
                    if i > 0 {
                        self.buf.push(b',');
                    }
                    push_csv_field(&mut self.buf, c.as_bytes());
                }
                self.buf.push(b'\n');
            }
            OutputFormat::Table => self.table.push(self.text.columns.clone()),
            OutputFormat::Jsonl => {}
        }
    }

    /// The row formatter, for shards to write their rows as text; none for
    /// a table, which is rendered from cells.
    pub fn row_text(&self) -> Option<RowText> {
        (self.text.format != OutputFormat::Table).then(|| self.text.clone())
    }

    /// Appends rows already formatted by [`RowText`], in report order. The
    /// batch ends with [`ReportWriter::end_rows`].
    pub fn write_text(&mut self, text: &[u8]) -> io::Result<()> {
        self.header();
        self.buf.extend_from_slice(text);
        if self.buf.len() >= OUTPUT_BUFFER {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// The end of a batch's formatted rows: written (and flushed, live).
    pub fn end_rows(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        if self.live {
            self.out.flush()?;
        }
        Ok(())
    }

    /// Writes rows (already in report order). Large batches are formatted in
    /// parallel chunks and written in order.
    pub fn write_rows(&mut self, rows: &[Row]) -> io::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        self.header();
        if self.text.format == OutputFormat::Table {
            let mut cell = Vec::with_capacity(32);
            for row in rows {
                let mut cells = Vec::with_capacity(self.text.columns.len());
                for t in [row.start, row.end] {
                    cell.clear();
                    format_rfc3339_ms(t, &mut cell);
                    cells.push(String::from_utf8_lossy(&cell).into_owned());
                }
                for f in key_fields(row.key) {
                    // a table is for people: control characters escaped
                    cells.push(console::escape_bytes(f));
                }
                for v in row.values {
                    cell.clear();
                    write_value(*v, &mut cell);
                    cells.push(String::from_utf8_lossy(&cell).into_owned());
                }
                self.table.push(cells);
            }
            if self.live {
                self.render_table()?;
            }
        } else if rows.len() >= PARALLEL_ROWS {
            use rayon::prelude::*;
            let text = &self.text;
            let parts: Vec<Vec<u8>> = rows
                .par_chunks(PARALLEL_ROWS / 4)
                .map(|chunk| {
                    let mut b = Vec::with_capacity(chunk.len() * 96);
                    for row in chunk {
                        text.format_row(row.start, row.end, row.key, row.values, &mut b);
                    }
                    b
                })
                .collect();
            self.out.write_all(&self.buf)?;
            self.buf.clear();
            for part in parts {
                self.out.write_all(&part)?;
            }
        } else {
            for row in rows {
                self.text
                    .format_row(row.start, row.end, row.key, row.values, &mut self.buf);
                if self.buf.len() >= OUTPUT_BUFFER {
                    self.out.write_all(&self.buf)?;
                    self.buf.clear();
                }
            }
        }
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        if self.live {
            self.out.flush()?;
        }
        Ok(())
    }

    fn render_table(&mut self) -> io::Result<()> {
        if self.table.is_empty() {
            return Ok(());
        }
        let first = self.widths.is_empty();
        if first {
            self.widths = vec![0; self.text.columns.len()];
        }
        let mut widened = Vec::new();
        for row in &self.table {
            for (i, c) in row.iter().enumerate() {
                let w = c.chars().count();
                if w > self.widths[i] {
                    if !first && !widened.contains(&i) {
                        widened.push(i);
                    }
                    self.widths[i] = w;
                }
            }
        }
        if !widened.is_empty() {
            // Columns moved: say which, and repeat the header at the new widths.
            let names: Vec<String> = widened
                .iter()
                .map(|&i| format!("{} ({})", self.text.columns[i], self.widths[i]))
                .collect();
            eprintln!(
                "vigil: note: table columns widened to fit new values: {}",
                names.join(", ")
            );
            let header = self.text.columns.clone();
            self.table.insert(0, header);
        }
        for row in std::mem::take(&mut self.table) {
            let line = self.table_line(&row);
            self.buf.extend_from_slice(line.as_bytes());
        }
        Ok(())
    }

    /// One table row at the current widths: numbers right-aligned, text left.
    fn table_line(&self, row: &[String]) -> String {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = self.widths[i].saturating_sub(c.chars().count());
            let numeric = i >= 2 + self.key_count && !c.is_empty();
            if numeric {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(c);
            } else {
                line.push_str(c);
                if i + 1 < row.len() {
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
        }
        line.push('\n');
        line
    }

    /// Writes what is buffered (and the header of an empty CSV report when `empty_header`).
    pub fn finish(&mut self) -> io::Result<()> {
        if self.text.format == OutputFormat::Csv {
            self.header();
        }
        if self.text.format == OutputFormat::Table {
            self.render_table()?;
        }
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()
    }
}

/// Writes alert events.
pub struct AlertWriter {
    out: Output,
    format: AlertsFormat,
    key_names: Vec<String>,
    header_done: bool,
    buf: Vec<u8>,
    live: bool,
}

/// What an alert event needs from its rule.
pub struct RuleInfo<'a> {
    pub name: &'a str,
    pub severity: &'a str,
    pub text: &'a str,
}

impl AlertWriter {
    pub fn new(
        out: Output,
        format: AlertsFormat,
        key_names: &[String],
        live: bool,
        header_done: bool,
    ) -> AlertWriter {
        AlertWriter {
            out,
            format,
            key_names: key_names.to_vec(),
            header_done,
            buf: Vec::new(),
            live,
        }
    }

    pub fn output(&mut self) -> &mut Output {
        &mut self.out
    }

    /// One event as a JSON object (no newline): the file format, and what `--on-alert` receives.
    pub fn event_json(&self, e: &AlertEvent, rule: &RuleInfo<'_>, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"time\":\"");
        format_rfc3339_ms(e.time, out);
        out.extend_from_slice(b"\",\"rule\":");
        push_json_string(out, rule.name.as_bytes());
        out.extend_from_slice(b",\"severity\":");
        push_json_string(out, rule.severity.as_bytes());
        out.extend_from_slice(b",\"state\":");
        push_json_string(out, state_name(e.transition).as_bytes());
        for (name, value) in self.key_names.iter().zip(key_fields(&e.key)) {
            out.push(b',');
            push_json_string(out, name.as_bytes());
            out.push(b':');
            push_json_string(out, value);
        }
        out.extend_from_slice(b",\"value\":");
        push_json_value(out, e.value);
        out.extend_from_slice(b",\"condition\":");
        push_json_string(out, rule.text.as_bytes());
        out.push(b'}');
    }

    pub fn write(&mut self, e: &AlertEvent, rule: &RuleInfo<'_>) -> io::Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        match self.format {
            AlertsFormat::Csv => {
                if !self.header_done {
                    self.header_done = true;
                    buf.extend_from_slice(b"time,rule,severity,state");
                    for k in &self.key_names {
                        buf.push(b',');
                        push_csv_field(&mut buf, k.as_bytes());
                    }
                    buf.extend_from_slice(b",value,condition\n");
                }
                format_rfc3339_ms(e.time, &mut buf);
                buf.push(b',');
                push_csv_field(&mut buf, rule.name.as_bytes());
                buf.push(b',');
                push_csv_field(&mut buf, rule.severity.as_bytes());
                buf.push(b',');
                buf.extend_from_slice(state_name(e.transition).as_bytes());
                for f in key_fields(&e.key) {
                    buf.push(b',');
                    push_csv_field(&mut buf, f);
                }
                buf.push(b',');
                write_value(e.value, &mut buf);
                buf.push(b',');
                push_csv_field(&mut buf, rule.text.as_bytes());
                buf.push(b'\n');
            }
            AlertsFormat::Jsonl => {
                self.event_json(e, rule, &mut buf);
                buf.push(b'\n');
            }
            AlertsFormat::Text => {
                // For people: whatever the data holds, control characters
                // are shown escaped, never sent to the terminal.
                use console::push_escaped_bytes as esc;
                buf.extend_from_slice(b"vigil: alert ");
                format_rfc3339_ms(e.time, &mut buf);
                buf.push(b' ');
                buf.extend_from_slice(state_name(e.transition).to_uppercase().as_bytes());
                buf.push(b' ');
                esc(&mut buf, rule.name.as_bytes());
                buf.extend_from_slice(b" [");
                esc(&mut buf, rule.severity.as_bytes());
                buf.push(b']');
                for (name, value) in self.key_names.iter().zip(key_fields(&e.key)) {
                    buf.push(b' ');
                    esc(&mut buf, name.as_bytes());
                    buf.push(b'=');
                    esc(&mut buf, value);
                }
                buf.extend_from_slice(b" value=");
                write_value(e.value, &mut buf);
                buf.extend_from_slice(b" (");
                esc(&mut buf, rule.text.as_bytes());
                buf.extend_from_slice(b")\n");
            }
        }
        let r = self.out.write_all(&buf);
        buf.clear();
        self.buf = buf;
        r
    }

    pub fn end_batch(&mut self) -> io::Result<()> {
        if self.live || self.format == AlertsFormat::Text {
            self.out.flush()?;
        }
        Ok(())
    }

    pub fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

pub fn state_name(t: Transition) -> &'static str {
    match t {
        Transition::Firing => "firing",
        Transition::Resolved => "resolved",
    }
}

/// Maps a write error to the run's error, treating a closed stdout quietly.
pub fn write_error(what: &str, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        return Error::BrokenPipe;
    }
    Error::runtime(format!("writing {what}: {e}"))
}

/// How [`write_atomic`] replaces a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file and its directory: the new content survives a crash
    /// (checkpoints).
    Synced,
    /// Readers see the old file or the new one, never a mix, but a crash may
    /// lose the new one: for files derived from a checkpoint and rewritten
    /// by the next run (the `--html` page), where an fsync would only make
    /// the run wait on the disk.
    Unsynced,
}

/// Replaces the file at `path` with `bytes` so that a reader sees the old
/// file or the new one, never a mix: temporary file `PATH.tmp`, then rename
/// over `path`; with [`Durability::Synced`] the file is fsynced before the
/// rename and the directory after it. Used for checkpoints and the page.
pub fn write_atomic(path: &Path, bytes: &[u8], durability: Durability) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = File::create(&tmp).map_err(|e| Error::io("cannot create", &tmp, e))?;
    f.write_all(bytes)
        .map_err(|e| Error::io("cannot write", &tmp, e))?;
    if durability == Durability::Synced {
        f.sync_all()
            .map_err(|e| Error::io("cannot sync", &tmp, e))?;
    }
    drop(f);
    std::fs::rename(&tmp, path)
        .map_err(|e| Error::io(&format!("cannot rename {} to", tmp.display()), path, e))?;
    if durability == Durability::Synced {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}
