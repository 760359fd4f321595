//! Timestamps and durations: parsing event times into epoch milliseconds and
//! formatting them back as RFC 3339. Pure functions; no I/O, no allocation on
//! the parse path.

/// How an event-time field is read (`--time-format`).
#[derive(Debug, Clone, PartialEq)]
pub enum TimeFormat {
    /// RFC 3339 / ISO 8601 (with or without offset or `T`), or epoch numbers told apart by magnitude.
    Auto,
    Rfc3339,
    UnixS,
    UnixMs,
    UnixUs,
    UnixNs,
    /// A strftime pattern, compiled once.
    Strftime(StrftimePattern),
}

/// A compiled strftime pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct StrftimePattern {
    _todo: (),
}

impl TimeFormat {
    /// Parses the `--time-format` value. Error text says what was expected.
    pub fn from_spec(spec: &str) -> Result<TimeFormat, String> {
        let _ = spec;
        todo!()
    }

    /// Parses one field into milliseconds since the Unix epoch, UTC. `None` if unparsable.
    pub fn parse(&self, field: &[u8]) -> Option<i64> {
        let _ = field;
        todo!()
    }
}

/// Appends `ms` as `2026-01-01T00:01:00.000Z`.
pub fn format_rfc3339_ms(ms: i64, out: &mut Vec<u8>) {
    let _ = (ms, out);
    todo!()
}

/// Parses `500ms`, `10s`, `5m`, `1h`, `1d`, `1h30m` into milliseconds (> 0).
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let _ = text;
    todo!()
}
