//! Alert rules: the rule grammar, the per-(rule, key) state machine and the
//! `--on-alert` command runner. The rule parser and state machine are pure;
//! only `notify` spawns processes. Writing alert events is the sink's job.

pub mod absent;
pub mod notify;

use serde::{Deserialize, Serialize};

use crate::expr::{Expr, ExprError};

/// One parsed rule: `[NAME ':'] CONDITION ['for' N] ['clear' CONDITION] ['severity' LEVEL]`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    /// The whole rule text, as given (the event's `condition` field).
    pub text: String,
    pub condition: Condition,
    pub for_windows: u32,
    pub clear: Option<Expr>,
    pub severity: String,
}

#[derive(Debug, Clone)]
pub enum Condition {
    Expr(Expr),
    /// `absent(DUR)`: milliseconds
    Absent(i64),
}

/// Byte offsets of top-level words in `text` (outside quotes and parentheses).
fn top_level_words(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut depth = 0i32;
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            if c == b'\\' {
                i += 2;
                continue;
            }
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        match c {
            b'"' | b'\'' => quote = Some(c),
            b'(' => depth += 1,
            b')' => depth -= 1,
            c if depth == 0 && (c.is_ascii_alphabetic() || c == b'_') => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.')
                {
                    i += 1;
                }
                out.push((start, &text[start..i]));
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The character column of byte offset `byte`; an offset at or past the end
/// (a keyword with nothing after it) is the column just after the text.
fn char_col(text: &str, byte: usize) -> usize {
    let mut end = byte.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].chars().count()
}

impl Rule {
    /// `index` is the rule's position (0-based), used for a default name (`rule1`, ...).
    pub fn parse(text: &str, index: usize) -> Result<Rule, ExprError> {
        let err = |byte: usize, message: String| ExprError {
            text: text.to_string(),
            column: char_col(text, byte),
            message,
        };
        // NAME ':' at the start
        let trimmed_start = text.len() - text.trim_start().len();
        let mut body_start = trimmed_start;
        let mut name = format!("rule{}", index + 1);
        let head: String = text[trimmed_start..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
            .collect();
        if !head.is_empty() {
            let after = trimmed_start + head.len();
            let rest = &text[after..];
            let ws = rest.len() - rest.trim_start().len();
            if rest.trim_start().starts_with(':') && !rest.trim_start().starts_with("::") {
                name = head;
                body_start = after + ws + 1;
            }
        }
        // Split at top-level keywords.
        let body = &text[body_start..];
        let mut marks: Vec<(usize, &str)> = Vec::new();
        for (pos, word) in top_level_words(body) {
            if matches!(word, "for" | "clear" | "severity") {
                marks.push((body_start + pos, word));
            }
        }
        let order = |w: &str| match w {
            "for" => 1,
            "clear" => 2,
            _ => 3,
        };
        for pair in marks.windows(2) {
            if order(pair[1].1) <= order(pair[0].1) {
                return Err(err(
                    pair[1].0,
                    format!("'{}' is out of place; expected CONDITION [for N] [clear CONDITION] [severity LEVEL]", pair[1].1),
                ));
            }
        }
        let cond_end = marks.first().map_or(text.len(), |m| m.0);
        let section = |i: usize| -> (usize, usize) {
            let start = marks[i].0 + marks[i].1.len();
            let end = marks.get(i + 1).map_or(text.len(), |m| m.0);
            (start, end)
        };
        let parse_sub = |start: usize, end: usize, what: &str| -> Result<Expr, ExprError> {
            let sub = &text[start..end];
            let lead = sub.len() - sub.trim_start().len();
            if sub.trim().is_empty() {
                return Err(err(start, format!("expected {what} here")));
            }
            Expr::parse(sub.trim()).map_err(|e| {
                let base = char_col(text, start + lead);
                ExprError {
                    text: text.to_string(),
                    column: base + e.column,
                    message: e.message,
                }
            })
        };
        let cond_text = text[body_start..cond_end].trim();
        let condition = match absent_duration(cond_text) {
            Some(Ok(ms)) => Condition::Absent(ms),
            Some(Err(m)) => {
                return Err(err(
                    body_start + (text[body_start..].len() - text[body_start..].trim_start().len()),
                    m,
                ))
            }
            None => Condition::Expr(parse_sub(
                body_start,
                cond_end,
                "a condition such as avg(value) > 90",
            )?),
        };
        let mut for_windows = 1;
        let mut clear = None;
        let mut severity = "warning".to_string();
        for (i, mark) in marks.iter().enumerate() {
            let (start, end) = section(i);
            let value = text[start..end].trim();
            match mark.1 {
                "for" => {
                    for_windows = value.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                        err(start + 1, format!("expected a positive number of windows after 'for', found '{value}'"))
                    })?;
                }
                "clear" => {
                    if matches!(condition, Condition::Absent(_)) {
                        return Err(err(
                            marks[i].0,
                            "absent() resolves when the key has records again; it takes no 'clear'"
                                .into(),
                        ));
                    }
                    clear = Some(parse_sub(start, end, "a condition after 'clear'")?);
                }
                _ => {
                    if value.is_empty()
                        || !value
                            .chars()
                            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
                    {
                        return Err(err(start + 1, format!("expected one word after 'severity' (e.g. critical), found '{value}'")));
                    }
                    severity = value.to_string();
                }
            }
        }
        Ok(Rule {
            name,
            text: text.trim().to_string(),
            condition,
            for_windows,
            clear,
            severity,
        })
    }
}

/// `absent(DUR)` alone: Some(Ok(ms)); `absent(...)` malformed: Some(Err); else None.
fn absent_duration(cond: &str) -> Option<Result<i64, String>> {
    let inner = cond
        .strip_prefix("absent")?
        .trim_start()
        .strip_prefix('(')?
        .strip_suffix(')')?;
    Some(crate::time::parse_duration(inner.trim()).map_err(|e| format!("absent(DUR): {e}")))
}

/// What a window (or an absent check) did to one (rule, key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Firing,
    Resolved,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
enum Phase {
    #[default]
    Inactive,
    Pending,
    Firing,
}

/// Per-(rule, key) lifecycle: inactive -> pending -> firing -> resolved -> inactive.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertTracker {
    phase: Phase,
    /// consecutive windows with the condition true
    run: u32,
    /// the key's previous window
    last_index: Option<i64>,
}

impl AlertTracker {
    /// A window of the key was emitted. `window_index` numbers the key's windows so
    /// that consecutive windows differ by 1 (start / slide for time windows).
    /// `condition` and `clear` are the evaluated conditions (clear: None when the
    /// rule has no clear condition).
    pub fn on_window(
        &mut self,
        for_windows: u32,
        window_index: i64,
        condition: bool,
        clear: Option<bool>,
    ) -> Option<Transition> {
        let consecutive = self.last_index == Some(window_index - 1);
        self.last_index = Some(window_index);
        match self.phase {
            Phase::Firing => {
                let resolve = clear.unwrap_or(!condition);
                if resolve {
                    // The resolving window does not start a new run.
                    self.phase = Phase::Inactive;
                    self.run = 0;
                    return Some(Transition::Resolved);
                }
                None
            }
            Phase::Pending if condition && consecutive => {
                self.run += 1;
                self.fire_if_due(for_windows)
            }
            _ if condition => {
                self.run = 1;
                self.fire_if_due(for_windows)
            }
            _ => {
                self.phase = Phase::Inactive;
                self.run = 0;
                None
            }
        }
    }

    fn fire_if_due(&mut self, for_windows: u32) -> Option<Transition> {
        if self.run >= for_windows {
            self.phase = Phase::Firing;
            Some(Transition::Firing)
        } else {
            self.phase = Phase::Pending;
            None
        }
    }

    /// absent(DUR) deadline passed for the key.
    pub fn on_absent(&mut self) -> Option<Transition> {
        if self.phase == Phase::Firing {
            return None;
        }
        self.phase = Phase::Firing;
        Some(Transition::Firing)
    }

    /// absent rule: the key had records in an emitted window.
    pub fn on_present(&mut self) -> Option<Transition> {
        if self.phase == Phase::Firing {
            self.phase = Phase::Inactive;
            return Some(Transition::Resolved);
        }
        None
    }

    pub fn is_firing(&self) -> bool {
        self.phase == Phase::Firing
    }

    /// Neither pending nor firing: the key's state may be forgotten.
    pub fn is_idle(&self) -> bool {
        self.phase == Phase::Inactive
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Transition::*;

    #[test]
    fn parses_the_spec_example() {
        let r = Rule::parse("cpu_hot: avg(value) > 90 and metric == \"cpu\" for 3 clear avg(value) < 80 severity critical", 0).unwrap();
        assert_eq!(r.name, "cpu_hot");
        assert_eq!(r.for_windows, 3);
        assert_eq!(r.severity, "critical");
        assert!(r.clear.is_some());
        let Condition::Expr(e) = &r.condition else {
            panic!("expression")
        };
        assert_eq!(e.text(), "avg(value) > 90 and metric == \"cpu\"");
    }

    #[test]
    fn defaults_keywords_in_strings_and_absent() {
        let r = Rule::parse("msg == \"for 3 clear\"", 4).unwrap();
        assert_eq!(
            (r.name.as_str(), r.for_windows, r.severity.as_str()),
            ("rule5", 1, "warning")
        );
        assert!(r.clear.is_none());
        let a = Rule::parse("dead: absent(5m) severity page", 0).unwrap();
        assert!(matches!(a.condition, Condition::Absent(300_000)));
        assert!(Rule::parse("absent(5x)", 0)
            .unwrap_err()
            .message
            .contains("absent(DUR)"));
    }

    #[test]
    fn errors_point_into_the_whole_rule() {
        let e = Rule::parse("hot: avg(value) > for 3", 0).unwrap_err();
        assert_eq!(e.text, "hot: avg(value) > for 3");
        assert_eq!(e.column, 17, "{e}");
        let e = Rule::parse("hot: avg(v) > 1 for x", 0).unwrap_err();
        assert!(e.message.contains("positive number"), "{e}");
        let e = Rule::parse("hot: avg(v) > 1 clear avg(v) < 0 for 2", 0).unwrap_err();
        assert!(e.message.contains("out of place"), "{e}");
        let e = Rule::parse("hot: avg(v) > 1 clear avg(v) <", 0).unwrap_err();
        assert_eq!(e.column, 30, "{e}");
    }

    #[test]
    fn a_keyword_at_the_end_of_a_rule_is_an_error_with_a_caret_not_a_panic() {
        for (text, expected) in [
            ("avg(value) > 1 severity", "after 'severity'"),
            ("avg(value) > 1 severity ", "after 'severity'"),
            ("avg(value) > 1 for", "after 'for'"),
            ("avg(value) > 1 clear", "after 'clear'"),
            ("é > 1 severity", "after 'severity'"),
        ] {
            let e = Rule::parse(text, 0).unwrap_err();
            assert!(e.message.contains(expected), "{text}: {e}");
            assert!(
                e.column <= text.chars().count(),
                "{text}: caret past the end: {e}"
            );
        }
    }

    fn run(
        t: &mut AlertTracker,
        n: u32,
        windows: &[(i64, bool, Option<bool>)],
    ) -> Vec<Option<Transition>> {
        windows
            .iter()
            .map(|&(i, c, cl)| t.on_window(n, i, c, cl))
            .collect()
    }

    #[test]
    fn fires_after_exactly_n_consecutive_windows() {
        let mut t = AlertTracker::default();
        assert_eq!(
            run(
                &mut t,
                3,
                &[(0, true, None), (1, true, None), (2, true, None)]
            ),
            [None, None, Some(Firing)]
        );
        assert!(t.is_firing());
        let mut one = AlertTracker::default();
        assert_eq!(one.on_window(1, 7, true, None), Some(Firing));
    }

    #[test]
    fn pending_breaks_on_a_false_window_or_a_gap() {
        let mut t = AlertTracker::default();
        assert_eq!(
            run(
                &mut t,
                3,
                &[
                    (0, true, None),
                    (1, true, None),
                    (2, false, None),
                    (3, true, None),
                    (4, true, None)
                ]
            ),
            [None; 5]
        );
        assert_eq!(t.on_window(3, 5, true, None), Some(Firing));
        let mut g = AlertTracker::default();
        // window 2 had no records: 0,1 then 3,4 are two runs of two
        assert_eq!(
            run(
                &mut g,
                3,
                &[
                    (0, true, None),
                    (1, true, None),
                    (3, true, None),
                    (4, true, None)
                ]
            ),
            [None; 4]
        );
        assert!(!g.is_idle(), "still pending");
    }

    #[test]
    fn resolves_by_clear_with_hysteresis_or_by_the_condition() {
        let mut t = AlertTracker::default();
        assert_eq!(t.on_window(1, 0, true, Some(false)), Some(Firing));
        // between the thresholds: condition false, clear false: stays firing
        assert_eq!(t.on_window(1, 1, false, Some(false)), None);
        // a gap: still firing
        assert_eq!(t.on_window(1, 5, false, Some(false)), None);
        assert_eq!(t.on_window(1, 6, false, Some(true)), Some(Resolved));
        assert!(t.is_idle());
        let mut u = AlertTracker::default();
        u.on_window(2, 0, true, None);
        assert_eq!(u.on_window(2, 1, true, None), Some(Firing));
        assert_eq!(u.on_window(2, 2, false, None), Some(Resolved));
    }

    #[test]
    fn the_resolving_window_does_not_count_towards_a_new_run() {
        let mut t = AlertTracker::default();
        t.on_window(2, 0, true, Some(false));
        assert_eq!(t.on_window(2, 1, true, Some(false)), Some(Firing));
        // clear true while the condition is also true: resolves, and is not run 1
        assert_eq!(t.on_window(2, 2, true, Some(true)), Some(Resolved));
        assert_eq!(t.on_window(2, 3, true, Some(false)), None, "run 1");
        assert_eq!(t.on_window(2, 4, true, Some(false)), Some(Firing), "run 2");
    }

    #[test]
    fn absent_fires_once_and_resolves_on_presence() {
        let mut t = AlertTracker::default();
        assert_eq!(t.on_present(), None);
        assert_eq!(t.on_absent(), Some(Firing));
        assert_eq!(t.on_absent(), None);
        assert_eq!(t.on_present(), Some(Resolved));
        assert!(t.is_idle());
    }
}
