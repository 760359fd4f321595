//! History functions (SPEC section 9): `predict_linear`, `deriv`, `zscore`,
//! `robust_z`, `ewma` and `holt` over a key's own series of emitted windows.
//! Owns the functions' syntax (`parse_call`), their per-key state
//! ([`KeyHistory`]: the points within the largest RANGE of each series, O(1)
//! smoothing state) and its evaluation ([`HistoryPlan`]). Pure: it never
//! sees records, aggregates or outputs; the caller evaluates each series'
//! expression X at each emitted window and hands over the number.
//!
//! The series of X for a key is one point per emitted window of that key, at
//! the window's end E; a window where X is undefined is no point. Points
//! are kept in emission order (window ends increase for time and session
//! windows; count windows, whose ends follow the records' times, are pruned
//! against the newest end).

pub mod fit;

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::expr::{Expr, Ref};
use fit::Smoothed;

/// Most points one series of one key may hold. A job whose RANGE would need
/// more (RANGE / slide for time windows, RANGE / gap for sessions) is refused;
/// count windows keep the newest this many. 7 days of 1-minute windows is 10,080.
pub const MAX_POINTS: usize = 100_000;

/// One history function with its parameters (durations in milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum HistFunc {
    /// `predict_linear(X, HORIZON, RANGE)`
    PredictLinear { horizon_ms: i64, range_ms: i64 },
    /// `deriv(X, RANGE)`: per second
    Deriv { range_ms: i64 },
    /// `zscore(X, RANGE)`
    Zscore { range_ms: i64 },
    /// `robust_z(X, RANGE)`
    RobustZ { range_ms: i64 },
    /// `ewma(X, ALPHA)`
    Ewma { alpha: f64 },
    /// `holt(X, SF, TF, HORIZON)`
    Holt {
        smoothing: f64,
        trend: f64,
        horizon_ms: i64,
    },
}

/// Names of the history functions, as written in `--agg` and rules.
pub const NAMES: [&str; 6] = [
    "predict_linear",
    "deriv",
    "zscore",
    "robust_z",
    "ewma",
    "holt",
];

/// True when `name` is a history function (not a window aggregate).
pub fn is_history_function(name: &str) -> bool {
    NAMES.contains(&name)
}

impl HistFunc {
    pub fn name(&self) -> &'static str {
        match self {
            HistFunc::PredictLinear { .. } => "predict_linear",
            HistFunc::Deriv { .. } => "deriv",
            HistFunc::Zscore { .. } => "zscore",
            HistFunc::RobustZ { .. } => "robust_z",
            HistFunc::Ewma { .. } => "ewma",
            HistFunc::Holt { .. } => "holt",
        }
    }

    /// The RANGE of a function that looks at the points of a time range.
    pub fn range_ms(&self) -> Option<i64> {
        match *self {
            HistFunc::PredictLinear { range_ms, .. }
            | HistFunc::Deriv { range_ms }
            | HistFunc::Zscore { range_ms }
            | HistFunc::RobustZ { range_ms } => Some(range_ms),
            HistFunc::Ewma { .. } | HistFunc::Holt { .. } => None,
        }
    }

    /// True for ewma and holt: O(1) state over all the key's points so far.
    pub fn is_smoothing(&self) -> bool {
        self.range_ms().is_none()
    }

    /// The parameters after X, as the user would write them (`1h, 30m`).
    pub fn parameters(&self, duration: &dyn Fn(i64) -> String) -> String {
        match *self {
            HistFunc::PredictLinear {
                horizon_ms,
                range_ms,
            } => format!("{}, {}", duration(horizon_ms), duration(range_ms)),
            HistFunc::Deriv { range_ms }
            | HistFunc::Zscore { range_ms }
            | HistFunc::RobustZ { range_ms } => duration(range_ms),
            HistFunc::Ewma { alpha } => format!("{alpha}"),
            HistFunc::Holt {
                smoothing,
                trend,
                horizon_ms,
            } => format!("{smoothing}, {trend}, {}", duration(horizon_ms)),
        }
    }
}

/// Parses the arguments of a history call (`name` is one of [`NAMES`];
/// `args` are the raw argument texts, split at top-level commas). Returns the
/// function and the text of X, which must be an expression over window
/// aggregates with no history function inside.
pub fn parse_call(name: &str, args: &[&str]) -> Result<(HistFunc, String), String> {
    let (usage, wanted) = match name {
        "predict_linear" => (
            "predict_linear(X, HORIZON, RANGE), e.g. predict_linear(max(used_pct), 6h, 2h)",
            3,
        ),
        "deriv" => ("deriv(X, RANGE), e.g. deriv(avg(value), 30m)", 2),
        "zscore" => ("zscore(X, RANGE), e.g. zscore(avg(value), 1h)", 2),
        "robust_z" => ("robust_z(X, RANGE), e.g. robust_z(p95(latency_ms), 1h)", 2),
        "ewma" => ("ewma(X, ALPHA), e.g. ewma(avg(value), 0.3)", 2),
        "holt" => (
            "holt(X, SF, TF, HORIZON), e.g. holt(avg(value), 0.5, 0.3, 1h)",
            4,
        ),
        other => return Err(format!("'{other}' is not a history function")),
    };
    let args: Vec<&str> = args.iter().map(|a| a.trim()).collect();
    let given = if args.len() == 1 && args[0].is_empty() {
        0
    } else {
        args.len()
    };
    if given != wanted || args.iter().any(|a| a.is_empty()) {
        return Err(format!(
            "{name}() takes {wanted} arguments: {usage}; got {given}"
        ));
    }
    let inner = args[0].to_string();
    check_inner(name, &inner)?;
    let duration = |i: usize, what: &str, zero_ok: bool| -> Result<i64, String> {
        let parse = if zero_ok {
            crate::time::parse_delay
        } else {
            crate::time::parse_duration
        };
        parse(args[i]).map_err(|e| format!("{name}(): {what}: {e}"))
    };
    let fraction = |i: usize, what: &str, one_ok: bool| -> Result<f64, String> {
        let v: Option<f64> = args[i].parse().ok();
        match v {
            Some(v) if v > 0.0 && (v < 1.0 || (one_ok && v == 1.0)) => Ok(v),
            _ => Err(format!(
                "{name}(): {what} must be a number {}, got '{}'",
                if one_ok {
                    "with 0 < ALPHA <= 1"
                } else {
                    "strictly between 0 and 1"
                },
                args[i]
            )),
        }
    };
    let func = match name {
        "predict_linear" => HistFunc::PredictLinear {
            horizon_ms: duration(1, "HORIZON", true)?,
            range_ms: duration(2, "RANGE", false)?,
        },
        "deriv" => HistFunc::Deriv {
            range_ms: duration(1, "RANGE", false)?,
        },
        "zscore" => HistFunc::Zscore {
            range_ms: duration(1, "RANGE", false)?,
        },
        "robust_z" => HistFunc::RobustZ {
            range_ms: duration(1, "RANGE", false)?,
        },
        "ewma" => HistFunc::Ewma {
            alpha: fraction(1, "ALPHA", true)?,
        },
        _ => HistFunc::Holt {
            smoothing: fraction(1, "SF", false)?,
            trend: fraction(2, "TF", false)?,
            horizon_ms: duration(3, "HORIZON", true)?,
        },
    };
    Ok((func, inner))
}

/// X must parse, use at least one aggregate, and hold no history function.
fn check_inner(name: &str, inner: &str) -> Result<(), String> {
    let expr = Expr::parse(inner).map_err(|e| {
        format!(
            "{name}(): X '{inner}' is not an expression: {} (column {})",
            e.message,
            e.column + 1
        )
    })?;
    let mut calls = 0;
    for r in expr.refs() {
        if let Ref::Call {
            name: inner_name, ..
        } = r
        {
            if is_history_function(inner_name) {
                return Err(format!(
                    "{name}(): history functions do not nest; X is an expression over the window's aggregates, e.g. avg(value)"
                ));
            }
            calls += 1;
        }
    }
    if calls == 0 {
        return Err(format!(
            "{name}(): X '{inner}' uses no aggregate; X is an expression over the window's aggregates, e.g. avg(value) or max(used) / max(total)"
        ));
    }
    Ok(())
}

/// How a key's windows are spaced, for the bound on points and for holt's STEP.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spacing {
    /// holt's STEP: the slide (tumbling windows: the size); None for session
    /// and count windows, which have no step.
    pub step_ms: Option<i64>,
    /// Least time between two window ends of one key (slide, or session gap);
    /// None for count windows.
    pub min_gap_ms: Option<i64>,
}

#[derive(Debug, Clone)]
struct SeriesPlan {
    /// Points older than this before the newest end are never used again; None:
    /// no range function reads this series (only ewma or holt).
    retention_ms: Option<i64>,
    /// the functions reading this series, by index
    funcs: Vec<usize>,
}

#[derive(Debug, Clone, Copy)]
struct FuncPlan {
    func: HistFunc,
    series: usize,
    /// index into the key's smoothing state (ewma, holt)
    smooth: Option<usize>,
}

/// The history functions of a job, resolved: which series each reads, how
/// long each series keeps points, where each smoothing state lives.
#[derive(Debug, Clone, Default)]
pub struct HistoryPlan {
    series: Vec<SeriesPlan>,
    funcs: Vec<FuncPlan>,
    smooth_slots: usize,
    step_ms: Option<i64>,
}

/// A key's history: per series its points (window end in ms, value) within
/// the retention, per smoothing function its state. Empty (no allocation)
/// until the key's first window is observed. Checkpointed with the key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyHistory(Option<Box<HistoryState>>);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct HistoryState {
    series: Vec<VecDeque<(i64, f64)>>,
    smooth: Vec<Smoothed>,
}

impl HistoryPlan {
    /// `funcs`: each function with the index of its series (series are
    /// numbered 0.. by the caller, one per distinct X). Errors say what to change.
    pub fn new(funcs: &[(HistFunc, usize)], spacing: Spacing) -> Result<HistoryPlan, String> {
        let n_series = funcs.iter().map(|(_, s)| s + 1).max().unwrap_or(0);
        let mut series = vec![
            SeriesPlan {
                retention_ms: None,
                funcs: Vec::new(),
            };
            n_series
        ];
        let mut plans = Vec::with_capacity(funcs.len());
        let mut smooth_slots = 0;
        for (i, &(func, s)) in funcs.iter().enumerate() {
            if let HistFunc::Holt { .. } = func {
                if spacing.step_ms.is_none() {
                    return Err(
                        "holt(): the forecast is HORIZON / STEP windows ahead, and session and count windows have no step; use holt() with --window (and --slide)".to_string(),
                    );
                }
            }
            if let (Some(range), Some(gap)) = (func.range_ms(), spacing.min_gap_ms) {
                let points = range / gap.max(1) + 1;
                if points > MAX_POINTS as i64 {
                    return Err(format!(
                        "{}(): RANGE {range} ms spans up to {points} windows of a key; at most {MAX_POINTS} are kept; use a shorter RANGE or a larger window",
                        func.name()
                    ));
                }
            }
            let smooth = func.is_smoothing().then(|| {
                smooth_slots += 1;
                smooth_slots - 1
            });
            let sp = &mut series[s];
            if let Some(r) = func.range_ms() {
                sp.retention_ms = Some(sp.retention_ms.map_or(r, |x| x.max(r)));
            }
            sp.funcs.push(i);
            plans.push(FuncPlan {
                func,
                series: s,
                smooth,
            });
        }
        Ok(HistoryPlan {
            series,
            funcs: plans,
            smooth_slots,
            step_ms: spacing.step_ms,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.funcs.is_empty()
    }

    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// The functions reading series `s`, by index.
    pub fn funcs_of(&self, s: usize) -> &[usize] {
        &self.series[s].funcs
    }

    /// The most points series `s` of one key can hold (None: it keeps none,
    /// only smoothing state; count windows: [`MAX_POINTS`]).
    pub fn max_points(&self, s: usize, spacing: Spacing) -> Option<usize> {
        let r = self.series[s].retention_ms?;
        Some(match spacing.min_gap_ms {
            Some(gap) => ((r / gap.max(1)) as usize + 1).min(MAX_POINTS),
            None => MAX_POINTS,
        })
    }

    fn state<'a>(&self, history: &'a mut KeyHistory) -> &'a mut HistoryState {
        history.0.get_or_insert_with(|| {
            Box::new(HistoryState {
                series: vec![VecDeque::new(); self.series.len()],
                smooth: vec![Smoothed::default(); self.smooth_slots],
            })
        })
    }

    /// The window ending at `end` was emitted and its X for series `s` is `x`
    /// (None: undefined, no point). Adds the point and updates the smoothing
    /// states of the functions over `s`. Call once per series and window,
    /// before [`HistoryPlan::value`].
    pub fn observe(&self, history: &mut KeyHistory, end: i64, s: usize, x: Option<f64>) {
        let plan = &self.series[s];
        let state = self.state(history);
        if let Some(x) = x {
            for &f in &plan.funcs {
                let fp = self.funcs[f];
                let Some(slot) = fp.smooth else { continue };
                let sm = &mut state.smooth[slot];
                match fp.func {
                    HistFunc::Ewma { alpha } => sm.ewma_step(alpha, x),
                    HistFunc::Holt {
                        smoothing, trend, ..
                    } => sm.holt_step(smoothing, trend, x),
                    _ => {}
                }
            }
        }
        let Some(retention) = plan.retention_ms else {
            return;
        };
        let points = &mut state.series[s];
        if let Some(x) = x {
            points.push_back((end, x));
        }
        // zscore and robust_z at this window read ends >= end - RANGE.
        let oldest_needed = end.saturating_sub(retention);
        while points.front().is_some_and(|p| p.0 < oldest_needed) || points.len() > MAX_POINTS {
            points.pop_front();
        }
    }

    /// Function `f`'s value at the window ending at `end`, after
    /// [`HistoryPlan::observe`]; `x` is that window's X (None: undefined).
    /// `work` is scratch space (robust_z).
    pub fn value(
        &self,
        history: &KeyHistory,
        end: i64,
        f: usize,
        x: Option<f64>,
        work: &mut Vec<f64>,
    ) -> Option<f64> {
        let state = history.0.as_deref()?;
        let fp = self.funcs[f];
        let points = &state.series[fp.series];
        // (E - RANGE, E]: the line; [E - RANGE, E): the points before the current one.
        let line_points = |range: i64| {
            let from = end.saturating_sub(range);
            points
                .iter()
                .copied()
                .filter(move |&(t, _)| t > from && t <= end)
        };
        let earlier = |range: i64| {
            let from = end.saturating_sub(range);
            points
                .iter()
                .filter(move |&&(t, _)| t >= from && t < end)
                .map(|&(_, v)| v)
        };
        let v = match fp.func {
            HistFunc::PredictLinear {
                horizon_ms,
                range_ms,
            } => {
                let line = fit::fit_line(line_points(range_ms), end)?;
                line.at_reference + line.slope_per_s * (horizon_ms as f64 / 1000.0)
            }
            HistFunc::Deriv { range_ms } => fit::fit_line(line_points(range_ms), end)?.slope_per_s,
            HistFunc::Zscore { range_ms } => fit::zscore(x?, earlier(range_ms))?,
            HistFunc::RobustZ { range_ms } => fit::robust_z(x?, earlier(range_ms), work)?,
            HistFunc::Ewma { .. } => state.smooth[fp.smooth?].ewma()?,
            HistFunc::Holt { horizon_ms, .. } => {
                let step = self.step_ms? as f64;
                state.smooth[fp.smooth?].holt_forecast(horizon_ms as f64 / step)?
            }
        };
        v.is_finite().then_some(v)
    }

    /// Drops the points no window still to be emitted can read, given that
    /// every such window ends after `wm` (time and session windows).
    pub fn prune(&self, history: &mut KeyHistory, wm: i64) {
        let Some(state) = history.0.as_deref_mut() else {
            return;
        };
        for (plan, points) in self.series.iter().zip(&mut state.series) {
            let Some(retention) = plan.retention_ms else {
                continue;
            };
            let useless_upto = wm.saturating_sub(retention);
            while points.front().is_some_and(|p| p.0 <= useless_upto) {
                points.pop_front();
            }
        }
    }

    /// When the key's history stops mattering: None while a smoothing
    /// function holds state (it covers all the key's points so far, so the
    /// key is kept); else the watermark at and after which [`HistoryPlan::prune`]
    /// leaves nothing (i64::MIN: nothing now).
    pub fn forget_at(&self, history: &KeyHistory) -> Option<i64> {
        let Some(state) = history.0.as_deref() else {
            return Some(i64::MIN);
        };
        if state.smooth.iter().any(|s| s.points > 0) {
            return None;
        }
        let mut at = i64::MIN;
        for (plan, points) in self.series.iter().zip(&state.series) {
            if let (Some(retention), Some(&(newest, _))) = (plan.retention_ms, points.back()) {
                at = at.max(newest.saturating_add(retention));
            }
        }
        Some(at)
    }
}

#[cfg(test)]
mod tests;
