//! Where a text option of a job was given: a flag (`--alert`), or values in
//! a job file (`job.toml` line 14, key `when` of an `[[alert]]` table). An
//! error in the text then points there: the flag and the text with a caret,
//! or `FILE:LINE:COLUMN`, the file's own line and a caret under the spot.
//! Data and message formatting only: `cli::jobfile` finds the lines, and the
//! stages that parse or resolve the text (`cli::config`, `plan`) call
//! [`TextOrigin::describe`].

use crate::expr::ExprError;

/// One value of a job file that is part of an option's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePiece {
    /// What held the value: `key 'agg'`, `[[alert]] cpu_hot, key 'when'`.
    pub key: String,
    /// The job file, as the user named it.
    pub file: String,
    /// 1-based line of the value.
    pub line: usize,
    /// That line of the file, as written.
    pub line_text: String,
    /// The value (the string's contents).
    pub value: String,
    /// 0-based character column of the value in `line_text`, when the file
    /// holds it verbatim (no escapes, one line); then the caret goes there.
    pub column: Option<usize>,
    /// Byte offset of `value` in the option's whole text.
    pub offset: usize,
}

/// Where the options that name fields or hold expressions were given, for
/// messages: which flag (or job-file key) held a field name, where an error
/// in a rule, aggregate list, `--where` or `--eval` lies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobOrigins {
    /// `--time` or `job.toml:3: key 'time'`
    pub time: String,
    /// `--key` or `job.toml:4: key 'key'`
    pub key: String,
    pub agg: TextOrigin,
    pub where_: TextOrigin,
    /// one per `--eval`, in order
    pub evals: Vec<TextOrigin>,
    /// one per rule, in order
    pub rules: Vec<TextOrigin>,
}

/// Where one option's text came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextOrigin {
    /// `--alert`, or `job.toml:14: [[alert]] cpu_hot` for messages without a caret.
    pub label: String,
    /// The whole text the option was parsed from (a rule assembled from an
    /// `[[alert]]` table, an aggregate list joined from an array).
    pub text: String,
    /// The job-file values the text is made of; empty for a flag.
    pub pieces: Vec<FilePiece>,
}

impl TextOrigin {
    /// An option given on the command line as `--NAME`.
    pub fn flag(name: &str, text: &str) -> TextOrigin {
        TextOrigin {
            label: format!("--{name}"),
            text: text.to_string(),
            pieces: Vec::new(),
        }
    }

    /// The message for `e`, pointing at the file and column when the error
    /// lies in a job-file value, else `LABEL: message (column N)` with the
    /// text and a caret.
    pub fn describe(&self, e: &ExprError) -> String {
        let Some((piece, col)) = self.locate(e) else {
            return format!("{}: {e}", self.label);
        };
        match piece.column {
            Some(start) => format!(
                "{}:{}:{}: {}: {}\n  {}\n  {}^",
                piece.file,
                piece.line,
                start + col + 1,
                piece.key,
                e.message,
                piece.line_text.trim_end(),
                " ".repeat(start + col)
            ),
            None => format!(
                "{}:{}: {}: {} (column {})\n  {}\n  {}^",
                piece.file,
                piece.line,
                piece.key,
                e.message,
                col + 1,
                piece.value,
                " ".repeat(col)
            ),
        }
    }

    /// The label, or `flag` when none was recorded.
    pub fn label_or(&self, flag: &str) -> String {
        if self.label.is_empty() {
            flag.to_string()
        } else {
            self.label.clone()
        }
    }

    /// A message without a position: `LABEL: message`.
    pub fn message(&self, msg: &str) -> String {
        format!("{}: {msg}", self.label)
    }

    /// The piece the error lies in, and the error's character column within
    /// that piece's value.
    fn locate(&self, e: &ExprError) -> Option<(&FilePiece, usize)> {
        if self.pieces.is_empty() {
            return None;
        }
        if e.text == self.text {
            // A column of the whole text: the piece that covers it (an error
            // just past a piece's end, "expected ... here", belongs to it).
            let byte = byte_of_char(&e.text, e.column);
            let piece = self
                .pieces
                .iter()
                .rev()
                .find(|p| p.offset <= byte && byte <= p.offset + p.value.len())?;
            let col = piece.value[..byte - piece.offset].chars().count();
            return Some((piece, col));
        }
        // An error in a part of the text (a condition, an expression after
        // `=`): the piece that contains that part.
        self.pieces.iter().find_map(|p| {
            let at = p.value.find(e.text.as_str())?;
            Some((p, p.value[..at].chars().count() + e.column))
        })
    }
}

fn byte_of_char(text: &str, column: usize) -> usize {
    text.char_indices()
        .nth(column)
        .map(|(b, _)| b)
        .unwrap_or(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str, column: usize) -> ExprError {
        ExprError {
            text: text.to_string(),
            column,
            message: "expected a number".into(),
        }
    }

    fn piece(key: &str, value: &str, offset: usize, line_text: &str) -> FilePiece {
        FilePiece {
            key: key.into(),
            file: "job.toml".into(),
            line: 7,
            line_text: line_text.into(),
            value: value.into(),
            column: line_text.find(value),
            offset,
        }
    }

    #[test]
    fn a_flag_keeps_the_text_and_caret() {
        let o = TextOrigin::flag("alert", "avg(x) > >");
        assert_eq!(
            o.describe(&err("avg(x) > >", 9)),
            "--alert: expected a number (column 10)\n  avg(x) > >\n           ^"
        );
    }

    #[test]
    fn an_error_in_a_table_value_points_into_the_file_line() {
        // "hot: " + when + " for 3"
        let text = "hot: avg(x) > > 1 for 3";
        let o = TextOrigin {
            label: "job.toml:6: [[alert]] hot".into(),
            text: text.into(),
            pieces: vec![
                piece("[[alert]] hot, key 'name'", "hot", 0, "name = \"hot\""),
                piece(
                    "[[alert]] hot, key 'when'",
                    "avg(x) > > 1",
                    5,
                    "when = 'avg(x) > > 1'",
                ),
            ],
        };
        assert_eq!(
            o.describe(&err(text, 14)),
            "job.toml:7:18: [[alert]] hot, key 'when': expected a number\n  when = 'avg(x) > > 1'\n                   ^"
        );
        // a compile error reported on the condition alone finds the same spot
        assert_eq!(
            o.describe(&err("avg(x) > > 1", 9)),
            o.describe(&err(text, 14))
        );
    }

    #[test]
    fn a_value_not_verbatim_in_the_file_shows_the_value() {
        let mut p = piece("key 'where'", "a \"b\" >", 0, "where = \"a \\\"b\\\" >\"");
        p.column = None;
        let o = TextOrigin {
            label: "job.toml:7: key 'where'".into(),
            text: "a \"b\" >".into(),
            pieces: vec![p],
        };
        assert_eq!(
            o.describe(&err("a \"b\" >", 7)),
            "job.toml:7: key 'where': expected a number (column 8)\n  a \"b\" >\n         ^"
        );
    }

    #[test]
    fn an_error_outside_every_piece_falls_back_to_the_label() {
        let o = TextOrigin {
            label: "job.toml:6: [[alert]] hot".into(),
            text: "hot: x > 1 for 0".into(),
            pieces: vec![piece(
                "[[alert]] hot, key 'when'",
                "x > 1",
                5,
                "when = 'x > 1'",
            )],
        };
        let msg = o.describe(&err("hot: x > 1 for 0", 15));
        assert!(
            msg.starts_with("job.toml:6: [[alert]] hot: expected a number (column 16)"),
            "{msg}"
        );
    }
}
