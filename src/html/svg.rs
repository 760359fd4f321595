//! One chart as an inline `<svg>` element: value over window end for a few
//! keys, one line each, downsampled to pixel columns (minimum and maximum
//! per column, so spikes stay visible), with UTC time ticks, value ticks,
//! alert firing spans shaded and labelled with their rule, and a `<title>`
//! tooltip on every point. Colours come from the page's CSS classes `k0` ..
//! `k9`. Pure: it appends text to a string.

use std::fmt::Write as _;

use super::axis;
use super::push_escaped;
use super::series::{self, Bucket};

pub const WIDTH: f64 = 960.0;
pub const HEIGHT: f64 = 300.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 42.0;
const PLOT_W: f64 = WIDTH - LEFT - RIGHT;
const PLOT_H: f64 = HEIGHT - TOP - BOTTOM;
/// Pixel columns of the plot: the finest useful resolution.
pub const PLOT_COLUMNS: usize = (WIDTH - LEFT - RIGHT) as usize;
/// Shaded spans drawn per chart at most; the rest are counted.
pub const MAX_SHADES: usize = 300;
const MAX_TIME_TICKS: usize = 8;
/// Lines with at most this many points show them as dots.
const VISIBLE_DOTS: usize = 120;
const MAX_VALUE_TICKS: usize = 6;
/// Average width of a label character at the chart's font size, for
/// keeping span labels apart.
const CHAR_W: f64 = 6.5;

/// Colours of the key lines (CSS classes `k0`..): distinct hues, none red,
/// which is kept for alerts.
pub const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
    "#7f7f7f", "#393b79",
];

/// One key's line.
pub struct Line<'a> {
    pub name: &'a str,
    pub color: usize,
    pub buckets: &'a [Bucket],
}

/// One firing span of a rule for a drawn key.
pub struct Shade<'a> {
    pub rule: &'a str,
    pub key_name: &'a str,
    pub color: usize,
    pub from: i64,
    /// None: still firing at the end of the chart.
    pub to: Option<i64>,
}

pub struct Chart<'a> {
    /// The aggregate's column name.
    pub title: &'a str,
    pub lines: &'a [Line<'a>],
    pub shades: &'a [Shade<'a>],
    /// The window-end range of the x axis (t0 < t1).
    pub t0: i64,
    pub t1: i64,
    /// Lines break where consecutive windows are further apart than this
    /// (and than a pixel column): the key had no windows in between.
    pub break_gap: Option<i64>,
}

/// How much detail to draw: pixel columns, and a marker with a tooltip per point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detail {
    pub columns: usize,
    pub markers: bool,
}

/// Appends `v` with at most one decimal.
fn num(out: &mut String, v: f64) {
    // In tenths, with integer formatting: float formatting cost more than
    // the rest of a chart (several numbers per point).
    let tenths = (v * 10.0).round() as i64;
    if tenths < 0 {
        out.push('-');
    }
    let a = tenths.unsigned_abs();
    let _ = write!(out, "{}", a / 10);
    if a % 10 != 0 {
        out.push('.');
        out.push(char::from(b'0' + (a % 10) as u8));
    }
}

struct Scale {
    t0: i64,
    t1: i64,
    lo: f64,
    hi: f64,
    columns: usize,
}

impl Scale {
    fn x_time(&self, t: i64) -> f64 {
        let span = (self.t1 as f64 - self.t0 as f64).max(1.0);
        LEFT + ((t as f64 - self.t0 as f64) / span).clamp(0.0, 1.0) * PLOT_W
    }
    fn x_col(&self, col: usize) -> f64 {
        if self.columns <= 1 {
            LEFT + PLOT_W / 2.0
        } else {
            LEFT + col as f64 * PLOT_W / (self.columns - 1) as f64
        }
    }
    fn y(&self, v: f64) -> f64 {
        let span = if self.hi > self.lo {
            self.hi - self.lo
        } else {
            1.0
        };
        TOP + PLOT_H - ((v - self.lo) / span).clamp(0.0, 1.0) * PLOT_H
    }
}

/// Draws `chart`; returns how many spans were left out (beyond [`MAX_SHADES`]).
pub fn draw(out: &mut String, chart: &Chart<'_>, detail: Detail) -> usize {
    let columns = detail.columns.clamp(1, PLOT_COLUMNS);
    let per_line: Vec<Vec<(usize, Bucket)>> = chart
        .lines
        .iter()
        .map(|l| series::columns(l.buckets, chart.t0, chart.t1, columns))
        .collect();
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for (_, b) in per_line.iter().flatten() {
        lo = lo.min(b.min);
        hi = hi.max(b.max);
    }
    let (lo, hi, ticks) = axis::value_ticks(lo, hi, MAX_VALUE_TICKS);
    let scale = Scale {
        t0: chart.t0,
        t1: chart.t1.max(chart.t0 + 1),
        lo,
        hi,
        columns,
    };

    out.push_str("<svg class=\"chart\" data-aggregate=\"");
    push_escaped(out, chart.title);
    let _ = write!(
        out,
        "\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\"><title>"
    );
    push_escaped(out, chart.title);
    out.push_str(" by window end (UTC)</title>");
    let _ = write!(
        out,
        "<rect class=\"plot\" x=\"{LEFT}\" y=\"{TOP}\" width=\"{PLOT_W}\" height=\"{PLOT_H}\"/>"
    );
    draw_value_axis(out, &scale, &ticks);
    draw_time_axis(out, &scale);
    let left_out = draw_shades(out, chart, &scale);
    // The first line (the key with most records) is drawn last, on top.
    for (line, cols) in chart.lines.iter().zip(&per_line).rev() {
        draw_line(out, line, cols, &scale, chart, detail.markers);
    }
    out.push_str("</svg>");
    left_out
}

fn draw_value_axis(out: &mut String, scale: &Scale, ticks: &[f64]) {
    let step = if ticks.len() > 1 {
        ticks[1] - ticks[0]
    } else {
        1.0
    };
    out.push_str("<g class=\"yaxis\">");
    for &v in ticks {
        let y = scale.y(v);
        out.push_str("<line x1=\"");
        num(out, LEFT);
        out.push_str("\" x2=\"");
        num(out, LEFT + PLOT_W);
        out.push_str("\" y1=\"");
        num(out, y);
        out.push_str("\" y2=\"");
        num(out, y);
        out.push_str("\"/><text x=\"");
        num(out, LEFT - 6.0);
        out.push_str("\" y=\"");
        num(out, y + 4.0);
        out.push_str("\">");
        out.push_str(&axis::value_label(v, step));
        out.push_str("</text>");
    }
    out.push_str("</g>");
}

fn draw_time_axis(out: &mut String, scale: &Scale) {
    let (step, ticks) = axis::time_ticks(scale.t0, scale.t1, MAX_TIME_TICKS);
    let labels = axis::time_labels(&ticks, step);
    let base = TOP + PLOT_H;
    out.push_str("<g class=\"xaxis\">");
    for (t, label) in ticks.iter().zip(&labels) {
        let x = scale.x_time(*t);
        out.push_str("<line x1=\"");
        num(out, x);
        out.push_str("\" x2=\"");
        num(out, x);
        out.push_str("\" y1=\"");
        num(out, base);
        out.push_str("\" y2=\"");
        num(out, base + 5.0);
        out.push_str("\"/><text x=\"");
        num(out, x);
        out.push_str("\" y=\"");
        num(out, base + 18.0);
        out.push_str("\">");
        out.push_str(label);
        out.push_str("</text>");
    }
    let _ = write!(
        out,
        "<text class=\"caption\" x=\"{}\" y=\"{}\">window end, UTC (from {})</text></g>",
        LEFT + PLOT_W / 2.0,
        HEIGHT - 4.0,
        axis::date(scale.t0)
    );
}

fn draw_shades(out: &mut String, chart: &Chart<'_>, scale: &Scale) -> usize {
    if chart.shades.is_empty() {
        return 0;
    }
    out.push_str("<g class=\"spans\">");
    let mut label_end = f64::NEG_INFINITY;
    let drawn = chart.shades.len().min(MAX_SHADES);
    for s in &chart.shades[..drawn] {
        let x0 = scale.x_time(s.from);
        let x1 = scale.x_time(s.to.unwrap_or(scale.t1)).max(x0 + 2.0);
        out.push_str("<rect class=\"span\" data-rule=\"");
        push_escaped(out, s.rule);
        out.push_str("\" x=\"");
        num(out, x0);
        out.push_str("\" y=\"");
        num(out, TOP);
        out.push_str("\" width=\"");
        num(out, x1 - x0);
        out.push_str("\" height=\"");
        num(out, PLOT_H);
        out.push_str("\"><title>");
        push_escaped(out, s.rule);
        out.push_str(" firing for ");
        push_escaped(out, s.key_name);
        out.push_str(": ");
        match s.to {
            Some(to) => out.push_str(&axis::window_text(s.from, to)),
            None => {
                out.push_str(&axis::window_text(s.from, s.from));
                out.push_str(" and still firing");
            }
        }
        out.push_str(" UTC</title></rect>");
        let _ = write!(out, "<rect class=\"span-bar k{}\" x=\"", s.color);
        num(out, x0);
        out.push_str("\" y=\"");
        num(out, TOP);
        out.push_str("\" width=\"");
        num(out, x1 - x0);
        out.push_str("\" height=\"3\"/>");
        let width = s.rule.chars().count() as f64 * CHAR_W;
        if x0 >= label_end && x0 + width <= WIDTH {
            out.push_str("<text class=\"span-label\" x=\"");
            num(out, x0);
            out.push_str("\" y=\"");
            num(out, TOP - 6.0);
            out.push_str("\">");
            push_escaped(out, s.rule);
            out.push_str("</text>");
            label_end = x0 + width + CHAR_W;
        }
    }
    out.push_str("</g>");
    chart.shades.len() - drawn
}

fn draw_line(
    out: &mut String,
    line: &Line<'_>,
    cols: &[(usize, Bucket)],
    scale: &Scale,
    chart: &Chart<'_>,
    markers: bool,
) {
    if cols.is_empty() {
        return;
    }
    let col_ms = (scale.t1 - scale.t0) / (scale.columns.max(2) as i64 - 1);
    let gap = chart.break_gap.map(|g| g.max(col_ms));
    let _ = write!(out, "<path class=\"line k{}\" d=\"", line.color);
    let mut prev: Option<(&Bucket, f64)> = None;
    for (col, b) in cols {
        let x = scale.x_col(*col);
        let (ymin, ymax) = (scale.y(b.min), scale.y(b.max));
        let connected = match (prev, gap) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some((p, _)), Some(g)) => b.start.saturating_sub(p.end) <= g,
        };
        // Enter the column at the end nearer to where the line comes from.
        let (first, second) = match prev {
            Some((_, py)) if connected && (py - ymax).abs() < (py - ymin).abs() => (ymax, ymin),
            _ => (ymin, ymax),
        };
        out.push(if connected { 'L' } else { 'M' });
        num(out, x);
        out.push(' ');
        num(out, first);
        if (second - first).abs() >= 0.05 {
            out.push('L');
            num(out, x);
            out.push(' ');
            num(out, second);
        } else if !connected {
            // A lone point: a zero-length segment, drawn as a dot by round caps.
            out.push_str("h0");
        }
        prev = Some((b, second));
    }
    out.push_str("\"/>");
    if !markers {
        return;
    }
    // Few points: visible dots; many: invisible hover targets on the line.
    let dots = if cols.len() <= VISIBLE_DOTS {
        " dots"
    } else {
        ""
    };
    let _ = write!(out, "<g class=\"pts{dots} k{}\">", line.color);
    let mut name = String::new();
    push_escaped(&mut name, line.name);
    for (col, b) in cols {
        out.push_str("<circle cx=\"");
        num(out, scale.x_col(*col));
        out.push_str("\" cy=\"");
        num(out, scale.y(b.max));
        out.push_str("\"><title>");
        // The chart's title names the aggregate and its axis the year.
        out.push_str(&name);
        out.push_str(" · ");
        out.push_str(&axis::short_window_text(b.start, b.end));
        out.push_str(" · ");
        if b.windows == 1 {
            out.push_str(&axis::value_text(b.max));
        } else {
            let _ = write!(
                out,
                "{} to {} over {} windows",
                axis::value_text(b.min),
                axis::value_text(b.max),
                b.windows
            );
        }
        out.push_str("</title></circle>");
    }
    out.push_str("</g>");
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_767_225_600_000;

    fn buckets(n: i64, f: impl Fn(i64) -> f64) -> Vec<Bucket> {
        (0..n)
            .map(|i| Bucket::window(T0 + i * 60_000, T0 + (i + 1) * 60_000, f(i)))
            .collect()
    }

    fn chart<'a>(lines: &'a [Line<'a>], shades: &'a [Shade<'a>]) -> Chart<'a> {
        Chart {
            title: "avg_value",
            lines,
            shades,
            t0: T0 + 60_000,
            t1: T0 + 30 * 60_000,
            break_gap: Some(0),
        }
    }

    #[test]
    fn coordinates_have_at_most_one_decimal() {
        let text = |v: f64| {
            let mut s = String::new();
            num(&mut s, v);
            s
        };
        assert_eq!(text(12.0), "12");
        assert_eq!(text(12.34), "12.3");
        assert_eq!(text(12.96), "13");
        assert_eq!(text(-0.04), "0");
        assert_eq!(text(-0.46), "-0.5");
        assert_eq!(text(-7.25), "-7.3");
    }

    #[test]
    fn a_chart_has_its_lines_ticks_spans_and_tooltips() {
        let a = buckets(30, |i| 40.0 + i as f64);
        let b = buckets(30, |i| if (12..17).contains(&i) { 95.0 } else { 45.0 });
        let lines = [
            Line {
                name: "web-1 · cpu",
                color: 0,
                buckets: &a,
            },
            Line {
                name: "web-2 · cpu",
                color: 1,
                buckets: &b,
            },
        ];
        let shades = [Shade {
            rule: "cpu_hot",
            key_name: "web-2 · cpu",
            color: 1,
            from: T0 + 15 * 60_000,
            to: Some(T0 + 18 * 60_000),
        }];
        let mut out = String::new();
        let left_out = draw(
            &mut out,
            &chart(&lines, &shades),
            Detail {
                columns: PLOT_COLUMNS,
                markers: true,
            },
        );
        assert_eq!(left_out, 0);
        assert!(out.starts_with("<svg class=\"chart\" data-aggregate=\"avg_value\""));
        assert!(out.ends_with("</svg>"));
        assert_eq!(out.matches("<path class=\"line").count(), 2);
        assert_eq!(out.matches("<circle").count(), 60, "a marker per point");
        assert!(out.contains("<title>web-2 · cpu · 01-01 00:13:00–00:14:00 · 95</title>"));
        assert_eq!(
            out.matches("class=\"span\" data-rule=\"cpu_hot\"").count(),
            1
        );
        assert!(
            out.contains(">cpu_hot</text>"),
            "the span is labelled with its rule"
        );
        assert!(out.contains("cpu_hot firing for web-2 · cpu: 2026-01-01 00:15:00–00:18:00 UTC"));
        assert!(out.contains(">01-01 00:05</text>"), "time ticks");
        assert!(
            out.contains(">100</text>") && out.contains(">0</text>"),
            "value ticks"
        );
        // one continuous line per key: one M each
        let d = out.split("d=\"").nth(1).unwrap();
        assert_eq!(d.split('"').next().unwrap().matches('M').count(), 1);
    }

    #[test]
    fn gaps_break_lines_and_lone_points_stay_visible() {
        let mut a = buckets(10, |i| i as f64);
        a.remove(5);
        a.remove(2); // windows 2 and 5 missing: pieces 0-1, 3-4, 6-9
        let lone = vec![Bucket::window(T0 + 600_000, T0 + 660_000, 3.0)];
        let lines = [
            Line {
                name: "a",
                color: 0,
                buckets: &a,
            },
            Line {
                name: "b",
                color: 1,
                buckets: &lone,
            },
        ];
        let mut c = chart(&lines, &[]);
        c.t1 = T0 + 11 * 60_000;
        let mut out = String::new();
        draw(
            &mut out,
            &c,
            Detail {
                columns: 100,
                markers: false,
            },
        );
        let paths: Vec<&str> = out
            .split("d=\"")
            .skip(1)
            .map(|s| s.split('"').next().unwrap())
            .collect();
        // drawn in reverse, the first key on top: b's path comes first
        assert_eq!(paths[1].matches('M').count(), 3);
        assert!(paths[0].ends_with("h0"), "{}", paths[0]);
        assert_eq!(
            out.matches("<circle").count(),
            0,
            "no markers at this detail"
        );
    }

    #[test]
    fn a_spike_inside_a_pixel_column_is_drawn() {
        let a = buckets(20_000, |i| if i == 12_345 { 1000.0 } else { 1.0 });
        let lines = [Line {
            name: "a",
            color: 0,
            buckets: &a,
        }];
        let mut c = chart(&lines, &[]);
        c.t1 = T0 + 20_000 * 60_000;
        let mut out = String::new();
        draw(
            &mut out,
            &c,
            Detail {
                columns: 200,
                markers: true,
            },
        );
        assert_eq!(out.matches("<circle").count(), 200);
        assert!(
            out.contains("1 to 1000 over"),
            "the column with the spike says so"
        );
        // the line reaches the top of the plot (the spike sets the range)
        assert!(out.contains(&format!(" {TOP}L")) || out.contains(&format!(" {}L", TOP as i64)));
    }

    #[test]
    fn names_are_escaped_and_too_many_spans_are_counted() {
        let a = buckets(3, |i| i as f64);
        let lines = [Line {
            name: "<script>x</script>",
            color: 0,
            buckets: &a,
        }];
        let shades: Vec<Shade<'_>> = (0..MAX_SHADES + 7)
            .map(|i| Shade {
                rule: "r&\"q\"",
                key_name: "<k>",
                color: 0,
                from: T0 + i as i64,
                to: None,
            })
            .collect();
        let mut c = chart(&lines, &shades);
        c.title = "a<b";
        let mut out = String::new();
        let left_out = draw(
            &mut out,
            &c,
            Detail {
                columns: 50,
                markers: true,
            },
        );
        assert_eq!(left_out, 7);
        assert!(!out.contains("<script>") && !out.contains("<k>") && !out.contains("a<b"));
        assert!(out.contains("&lt;script&gt;") && out.contains("r&amp;&quot;q&quot;"));
    }
}
