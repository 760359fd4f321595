//! Log-line formats: logfmt, `--regex` with named groups, and the presets
//! nginx / apache (combined log format) and syslog (RFC 3164 and 5424).

use super::{Format, LineDecoder};
use crate::time::TimeFormat;

/// Fields each preset knows, in order (used for validation and `vigil check`).
pub fn preset_fields(format: Format) -> &'static [&'static str] {
    let _ = format;
    todo!()
}

/// The preset's default format for its `time`/`timestamp` field and that field's name.
pub fn preset_time(format: Format) -> Option<(&'static str, TimeFormat)> {
    let _ = format;
    todo!()
}

/// logfmt: `key=value key2="quoted value"`; any field name is accepted.
pub fn logfmt_decoder(fields: &[String]) -> Result<Box<dyn LineDecoder>, String> {
    let _ = fields;
    todo!()
}

/// `--regex PATTERN`: named capture groups become fields. Err if the pattern is
/// invalid or a wanted field is not a group name.
pub fn regex_decoder(pattern: &str, fields: &[String]) -> Result<Box<dyn LineDecoder>, String> {
    let _ = (pattern, fields);
    todo!()
}

/// nginx / apache / syslog presets. Err names a wanted field the preset lacks.
pub fn preset_decoder(format: Format, fields: &[String]) -> Result<Box<dyn LineDecoder>, String> {
    let _ = (format, fields);
    todo!()
}

/// `--format auto` on a line that is not JSON: recognises logfmt, nginx/apache
/// combined, and syslog; `None` means CSV.
pub fn sniff(first_line: &[u8]) -> Option<Format> {
    let _ = first_line;
    todo!()
}
