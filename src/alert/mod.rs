//! Alert rules: the rule grammar, the per-(rule, key) state machine and the
//! `--on-alert` command runner. The rule parser and state machine are pure;
//! only `notify` spawns processes. Writing alert events is the sink's job.

pub mod notify;

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

impl Rule {
    /// `index` is the rule's position (0-based), used for a default name.
    pub fn parse(text: &str, index: usize) -> Result<Rule, ExprError> {
        let _ = (text, index);
        todo!()
    }
}

/// What a window (or an absent check) did to one (rule, key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Firing,
    Resolved,
}

/// Per-(rule, key) lifecycle: inactive -> pending -> firing -> resolved -> inactive.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlertTracker {
    _todo: (),
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
        let _ = (for_windows, window_index, condition, clear);
        todo!()
    }
    /// absent(DUR) deadline passed for the key.
    pub fn on_absent(&mut self) -> Option<Transition> {
        todo!()
    }
    /// absent rule: the key had records in an emitted window.
    pub fn on_present(&mut self) -> Option<Transition> {
        todo!()
    }
    pub fn is_firing(&self) -> bool {
        todo!()
    }
    /// Neither pending nor firing: the key's state may be forgotten.
    pub fn is_idle(&self) -> bool {
        todo!()
    }
}
