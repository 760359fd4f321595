//! The page: job and run summary, one chart per visible aggregate with its
//! legend, the alert events table, and bad and late records per input, as
//! one HTML document with inline CSS and SVG and a Content-Security-Policy
//! that forbids loading anything. Its size is bounded: charts get fewer
//! pixel columns (then lose their point markers) until the page fits in
//! [`PAGE_LIMIT`]. Pure: [`render`] returns the text.

use std::fmt::Write as _;

use super::axis;
use super::store::{PageStore, ShownKey, Span};
use super::svg::{self, Chart, Detail, Line, Shade};
use super::{push_escaped, shorten, PageJob, RunFigures};
use crate::plan::key_fields;
use crate::stats::Counters;

/// The page never grows beyond this many bytes.
pub const PAGE_LIMIT: usize = 5_000_000;
/// Characters of a key, rule text or input name shown at most.
const MAX_NAME: usize = 60;
const MAX_TEXT: usize = 400;
/// A drawn point at full detail (marker, tooltip, two path vertices), and a
/// chart's axes, legend and caption, about: to reserve the page's buffer.
const BYTES_PER_POINT: usize = 150;
const BYTES_PER_CHART: usize = 12 << 10;
/// Bytes kept for the note of each chart still to come, so that charts left
/// out at the last detail level still fit their notes.
const NOTE_RESERVE: usize = 600;
/// Rules listed in the header at most.
const MAX_RULES_LISTED: usize = 200;
/// Chart detail levels, richest first: the first that fits is used.
const DETAILS: [Detail; 8] = [
    Detail {
        columns: svg::PLOT_COLUMNS,
        markers: true,
    },
    Detail {
        columns: svg::PLOT_COLUMNS / 2,
        markers: true,
    },
    Detail {
        columns: svg::PLOT_COLUMNS / 4,
        markers: true,
    },
    Detail {
        columns: svg::PLOT_COLUMNS / 8,
        markers: true,
    },
    Detail {
        columns: svg::PLOT_COLUMNS / 4,
        markers: false,
    },
    Detail {
        columns: svg::PLOT_COLUMNS / 8,
        markers: false,
    },
    Detail {
        columns: svg::PLOT_COLUMNS / 16,
        markers: false,
    },
    Detail {
        columns: 16,
        markers: false,
    },
];

const STYLE: &str = "\
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 12px}\
h1{font-size:22px;margin:0}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}h3{font-size:15px;margin:0}\
.status{color:#555;margin:4px 0 0}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0}dt{color:#555}dd{margin:0}\
code{font:12px ui-monospace,monospace;background:#f4f4f4;padding:0 3px;border-radius:3px;overflow-wrap:anywhere}\
table{border-collapse:collapse;font-size:13px}td,th{padding:2px 10px 2px 0;text-align:left;vertical-align:top}\
th{color:#555;font-weight:600}tr:first-child th{border-bottom:1px solid #ddd}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\
figure{margin:18px 0 8px}figcaption{margin-bottom:2px}\
.legend{list-style:none;padding:0;margin:4px 0;display:flex;flex-wrap:wrap;gap:2px 16px;font-size:13px}\
.legend .sw{display:inline-block;width:14px;height:3px;vertical-align:middle;margin-right:5px}\
.legend .n,.note{color:#666;font-size:12px}\
svg.chart{display:block;max-width:100%;height:auto;font:11px system-ui,sans-serif}\
.plot{fill:#fcfcfc;stroke:#ccc}.yaxis line{stroke:#eee}.yaxis text{text-anchor:end;fill:#555}\
.xaxis line{stroke:#999}.xaxis text{text-anchor:middle;fill:#555}.xaxis .caption{fill:#777}\
.span{fill:#d62728;fill-opacity:.12}.span-label{fill:#b3181b;font-weight:600}\
.line{fill:none;stroke-width:1.5;stroke-linejoin:round;stroke-linecap:round}\
.pts circle{r:4px;fill:transparent;stroke:none}.pts.dots circle{r:2.5px;fill:currentColor}.pts circle:hover{r:5px;fill:currentColor}\
.empty{fill:#777;text-anchor:middle}\
tr.firing td.state{color:#b3181b;font-weight:600}tr.resolved td.state{color:#2ca02c}tr.gap td{color:#666;font-style:italic}";

fn palette_css(out: &mut String) {
    for (i, c) in svg::PALETTE.iter().enumerate() {
        let _ = write!(
            out,
            ".k{i}{{stroke:{c};color:{c}}}.span-bar.k{i},.sw.k{i}{{fill:{c};background:{c}}}"
        );
    }
}

/// A key as text: its fields joined by ` · ` (the whole input without key fields).
pub fn key_name(key: &[u8], fields: usize) -> String {
    if fields == 0 {
        return "all records".to_string();
    }
    let parts: Vec<String> = key_fields(key)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    shorten(&parts.join(" · "), MAX_NAME)
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn esc(out: &mut String, s: &str) {
    push_escaped(out, s);
}

/// The page for `history` of `job`, with the run's `figures`.
pub fn render(job: &PageJob, history: &PageStore, figures: &RunFigures) -> String {
    let mut head = String::with_capacity(16 << 10);
    head.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    head.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">");
    head.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>vigil report: ");
    esc(&mut head, &shorten(&job.inputs.join(", "), MAX_NAME));
    head.push_str("</title><style>");
    head.push_str(STYLE);
    palette_css(&mut head);
    head.push_str("</style></head><body>");
    header(&mut head, job, figures);
    let mut tail = String::with_capacity(16 << 10);
    alert_table(&mut tail, job, history);
    inputs_table(&mut tail, history);
    tail.push_str("<p class=\"note\">Written by vigil ");
    tail.push_str(env!("CARGO_PKG_VERSION"));
    tail.push_str(
        ". Self-contained: no scripts, nothing loaded from elsewhere.</p></body></html>\n",
    );
    let budget = PAGE_LIMIT.saturating_sub(head.len() + tail.len() + 4096);
    // One buffer for the whole page, reserved once: the page is the largest
    // thing a run allocates for --html, so it is never copied.
    head.reserve(estimate(job, history).min(budget) + tail.len());
    charts(&mut head, job, history, budget);
    head.push_str(&tail);
    head
}

/// Bytes the charts will take at full detail, about.
fn estimate(job: &PageJob, history: &PageStore) -> usize {
    let points: usize = history
        .shown()
        .iter()
        .flat_map(|k| k.series.iter())
        .map(|s| s.buckets().len().min(svg::PLOT_COLUMNS))
        .sum();
    points * BYTES_PER_POINT + job.aggs.len() * BYTES_PER_CHART
}

/// A column of the run table: its name and how to read it from the counters.
type Counter = (&'static str, fn(&Counters) -> u64);

fn header(out: &mut String, job: &PageJob, f: &RunFigures) {
    out.push_str("<header><h1>vigil report</h1><p class=\"status\">");
    out.push_str(if f.finished {
        "Run finished"
    } else {
        "Run in progress"
    });
    out.push_str("; page written ");
    out.push_str(&axis::date(f.written_at));
    out.push(' ');
    out.push_str(&axis::clock(f.written_at, 1000));
    out.push_str(" UTC.</p></header>");

    out.push_str("<section id=\"job\"><h2>Job</h2><dl>");
    out.push_str("<dt>inputs</dt><dd>");
    for (i, input) in job.inputs.iter().take(MAX_RULES_LISTED).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str("<code>");
        esc(out, &shorten(input, MAX_TEXT));
        out.push_str("</code>");
    }
    if job.inputs.len() > MAX_RULES_LISTED {
        let _ = write!(out, " and {} more", job.inputs.len() - MAX_RULES_LISTED);
    }
    out.push_str("</dd><dt>window</dt><dd>");
    esc(out, &job.window);
    if job.max_delay > 0 {
        let _ = write!(
            out,
            ", max delay {}",
            crate::time::format_duration(job.max_delay)
        );
    }
    out.push_str("</dd><dt>key</dt><dd>");
    if job.key.is_empty() {
        out.push_str("none (one global key)");
    } else {
        esc(out, &job.key.join(", "));
    }
    out.push_str("</dd><dt>aggregates</dt><dd>");
    esc(out, &job.aggs.join(", "));
    out.push_str("</dd>");
    if let Some(w) = &job.where_text {
        out.push_str("<dt>where</dt><dd><code>");
        esc(out, &shorten(w, MAX_TEXT));
        out.push_str("</code></dd>");
    }
    for e in &job.evals {
        out.push_str("<dt>eval</dt><dd><code>");
        esc(out, &shorten(e, MAX_TEXT));
        out.push_str("</code></dd>");
    }
    out.push_str("<dt>rules</dt><dd>");
    if job.rules.is_empty() {
        out.push_str("none");
    }
    for (i, r) in job.rules.iter().take(MAX_RULES_LISTED).enumerate() {
        if i > 0 {
            out.push_str("<br>");
        }
        out.push_str("<code>");
        esc(out, &shorten(&r.text, MAX_TEXT));
        out.push_str("</code> (");
        esc(out, &r.severity);
        out.push(')');
    }
    if job.rules.len() > MAX_RULES_LISTED {
        let _ = write!(out, "<br>and {} more", job.rules.len() - MAX_RULES_LISTED);
    }
    out.push_str("</dd></dl></section>");

    // One column per counter, a row for this run (and one for all runs of
    // a resumed job): the summary line's figures.
    let columns: [Counter; 9] = [
        ("records", |c| c.records),
        ("bad", |c| c.bad),
        ("bad_values", |c| c.bad_values),
        ("late", |c| c.late),
        ("dropped", |c| c.dropped),
        ("filtered", |c| c.filtered),
        ("windows", |c| c.windows),
        ("alerts", |c| c.alerts),
        ("fired", |c| c.alerts_fired),
    ];
    out.push_str("<section id=\"summary\"><h2>Run</h2><table><tr><th></th>");
    for (name, _) in &columns {
        let _ = write!(out, "<th class=\"n\">{name}</th>");
    }
    out.push_str("<th class=\"n\">elapsed</th></tr><tr><th>this run</th>");
    for (name, get) in &columns {
        let _ = write!(
            out,
            "<td class=\"n\" data-counter=\"{name}\">{}</td>",
            thousands(get(&f.run))
        );
    }
    let _ = write!(
        out,
        "<td class=\"n\">{:.3}s</td></tr>",
        f.elapsed.as_secs_f64()
    );
    if let Some(all) = &f.all_runs {
        out.push_str("<tr><th>all runs of this job</th>");
        for (_, get) in &columns {
            let _ = write!(out, "<td class=\"n\">{}</td>", thousands(get(all)));
        }
        out.push_str("<td></td></tr>");
    }
    out.push_str("</table></section>");
}

/// Spans of drawn keys, by chart; and how many spans concern keys not drawn.
fn shades_per_chart<'a>(
    job: &'a PageJob,
    history: &'a PageStore,
    shown: &[ShownKey<'_>],
    names: &'a [String],
) -> (Vec<Vec<Shade<'a>>>, u64, u64) {
    let mut per_chart: Vec<Vec<Shade<'a>>> = (0..job.aggs.len()).map(|_| Vec::new()).collect();
    let (spans, dropped) = history.spans();
    let mut elsewhere = 0u64;
    let mut spans: Vec<&Span> = spans.collect();
    spans.sort_by_key(|s| s.from);
    for s in spans {
        let Some(k) = shown.iter().position(|k| k.key == &*s.key) else {
            elsewhere += 1;
            continue;
        };
        let Some(rule) = job.rules.get(s.rule as usize) else {
            continue;
        };
        let shade = |_: usize| Shade {
            rule: &rule.name,
            key_name: &names[k],
            color: k,
            from: s.from,
            to: s.to,
        };
        if rule.charts.is_empty() {
            for (a, list) in per_chart.iter_mut().enumerate() {
                list.push(shade(a));
            }
        } else {
            for &a in &rule.charts {
                per_chart[a].push(shade(a));
            }
        }
    }
    (per_chart, elsewhere, dropped)
}

/// Appends the charts section to `out`, using at most `budget` bytes.
fn charts(out: &mut String, job: &PageJob, history: &PageStore, budget: usize) {
    let shown = history.shown();
    let names: Vec<String> = shown
        .iter()
        .map(|k| key_name(k.key, job.key.len()))
        .collect();
    let (shades, elsewhere, dropped) = shades_per_chart(job, history, &shown, &names);
    let range = history.grid().range().map(|(t0, t1)| {
        if t0 == t1 {
            let pad = job.step.max(1000);
            (t0 - pad, t1 + pad)
        } else {
            (t0, t1)
        }
    });

    let start = out.len();
    let mut intro = String::new();
    intro.push_str("<section id=\"charts\"><h2>Aggregates</h2><p class=\"note\">");
    let seen = history.keys_seen();
    let ranking = if history.ranks_by_records() {
        "records (the sum of count() over their windows)"
    } else {
        "windows (the job has no count() aggregate)"
    };
    if seen == 0 {
        intro.push_str("No windows yet.");
    } else {
        intro.push_str("Value at each window end. Lines: ");
        if seen > shown.len() as u64 {
            let _ = write!(
                intro,
                "the {} of {} keys with the most {ranking}; {} keys are not drawn",
                shown.len(),
                thousands(seen),
                thousands(seen - shown.len() as u64)
            );
        } else {
            let _ = write!(intro, "all {} keys, ranked by {ranking}", shown.len());
        }
        intro.push_str(". A line breaks where its key had no window. Shaded: alert firing spans, labelled with their rule.");
        if elsewhere > 0 {
            let _ = write!(
                intro,
                " {} firing spans of keys not drawn are in the alert table only.",
                thousands(elsewhere)
            );
        }
        if dropped > 0 {
            let _ = write!(
                intro,
                " The {} oldest spans are not kept.",
                thousands(dropped)
            );
        }
    }
    intro.push_str("</p>");

    let mut legend = String::from("<ul class=\"legend\">");
    for (i, (k, name)) in shown.iter().zip(&names).enumerate() {
        legend.push_str("<li data-key=\"");
        esc(&mut legend, name);
        let _ = write!(legend, "\"><span class=\"sw k{i}\"></span>");
        esc(&mut legend, name);
        legend.push_str(" <span class=\"n\">");
        match k.records {
            Some(r) => legend.push_str(&format!("{} records", thousands(r))),
            None => legend.push_str(&format!("{} windows", thousands(k.windows))),
        }
        if k.since > k.first_end {
            let _ = write!(
                legend,
                ", <span title=\"the key became one of the {2} with the most {3} then; its earlier windows are not kept\">drawn from {0} {1}</span>",
                axis::date(k.since),
                axis::clock(k.since, 1000),
                super::store::CANDIDATE_KEYS,
                if k.records.is_some() {
                    "records"
                } else {
                    "windows"
                }
            );
        }
        legend.push_str("</span></li>");
    }
    if seen > shown.len() as u64 {
        let _ = write!(
            legend,
            "<li class=\"more n\">and {} more keys not drawn</li>",
            thousands(seen - shown.len() as u64)
        );
    }
    legend.push_str("</ul>");

    out.push_str(&intro);
    let limit = start + budget.saturating_sub(intro.len() + 16);
    let mark = out.len();
    let mut fig = String::new();
    // All charts at `detail` into `out`, or false when they do not fit in
    // `limit`; at the last detail level, charts that do not fit are left out
    // with a note.
    let mut draw_all = |out: &mut String, detail: Detail, last: bool| -> bool {
        for (a, title) in job.aggs.iter().enumerate() {
            fig.clear();
            fig.push_str("<figure><figcaption><h3>");
            esc(&mut fig, title);
            fig.push_str("</h3>");
            fig.push_str(&legend);
            fig.push_str("</figcaption>");
            match range {
                Some((t0, t1)) => {
                    let lines: Vec<Line<'_>> = shown
                        .iter()
                        .enumerate()
                        .map(|(i, k)| Line {
                            name: &names[i],
                            color: i,
                            buckets: k.series[a].buckets(),
                        })
                        .collect();
                    let chart = Chart {
                        title,
                        lines: &lines,
                        shades: &shades[a],
                        t0,
                        t1,
                        break_gap: job.break_gap,
                    };
                    let left_out = svg::draw(&mut fig, &chart, detail);
                    if left_out > 0 {
                        let _ = write!(
                            fig,
                            "<p class=\"note\">{} more firing spans are not shaded (see the alert table).</p>",
                            thousands(left_out as u64)
                        );
                    }
                }
                None => empty_chart(&mut fig, title),
            }
            fig.push_str("</figure>");
            let reserve = (job.aggs.len() - a - 1) * NOTE_RESERVE;
            if out.len() + fig.len() + reserve > limit {
                if !last {
                    return false;
                }
                out.push_str("<figure><figcaption><h3>");
                esc(out, title);
                let _ = write!(
                    out,
                    "</h3></figcaption><p class=\"note\">Chart left out: the page is kept under {} MB.</p></figure>",
                    PAGE_LIMIT / 1_000_000
                );
                continue;
            }
            out.push_str(&fig);
        }
        true
    };
    for (i, detail) in DETAILS.iter().enumerate() {
        if draw_all(out, *detail, i == DETAILS.len() - 1) {
            break;
        }
        out.truncate(mark);
    }
    out.push_str("</section>");
}

fn empty_chart(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<svg class=\"chart\" data-aggregate=\"{}\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\"><rect class=\"plot\" x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\"/><text class=\"empty\" x=\"{}\" y=\"{}\">no windows yet</text></svg>",
        {
            let mut t = String::new();
            esc(&mut t, title);
            t
        },
        svg::WIDTH / 2.0,
        svg::HEIGHT / 2.0,
        w = svg::WIDTH,
        h = svg::HEIGHT / 3.0,
    );
}

fn alert_table(out: &mut String, job: &PageJob, history: &PageStore) {
    out.push_str("<section id=\"alerts\"><h2>Alert events</h2>");
    let (first, omitted, last) = history.events();
    if first.is_empty() {
        out.push_str("<p class=\"note\">No alert events.</p></section>");
        return;
    }
    let _ = write!(
        out,
        "<p class=\"note\">{} (rule, key) pairs firing now.</p>",
        thousands(history.firing() as u64)
    );
    out.push_str("<table class=\"events\"><tr><th>time (UTC)</th><th>rule</th><th>severity</th><th>state</th>");
    for k in &job.key {
        out.push_str("<th>");
        esc(out, &shorten(k, MAX_NAME));
        out.push_str("</th>");
    }
    out.push_str("<th class=\"n\">value</th></tr>");
    let columns = 5 + job.key.len();
    let row = |out: &mut String, e: &super::store::EventRow| {
        let state = if e.firing { "firing" } else { "resolved" };
        let _ = write!(out, "<tr class=\"{state}\"><td>");
        let mut t = Vec::new();
        crate::time::format_rfc3339_ms(e.time, &mut t);
        out.push_str(&String::from_utf8_lossy(&t));
        out.push_str("</td><td>");
        let rule = job.rules.get(e.rule as usize);
        esc(out, rule.map_or("?", |r| r.name.as_str()));
        out.push_str("</td><td>");
        esc(out, rule.map_or("?", |r| r.severity.as_str()));
        let _ = write!(out, "</td><td class=\"state\">{state}</td>");
        for f in key_fields(&e.key) {
            out.push_str("<td>");
            esc(out, &shorten(&String::from_utf8_lossy(f), MAX_NAME));
            out.push_str("</td>");
        }
        out.push_str("<td class=\"n\">");
        esc(out, &e.value);
        out.push_str("</td></tr>");
    };
    for e in first {
        row(out, e);
    }
    if omitted > 0 {
        let _ = write!(
            out,
            "<tr class=\"gap\"><td colspan=\"{columns}\">… {} events not shown …</td></tr>",
            thousands(omitted)
        );
    }
    for e in last {
        row(out, e);
    }
    out.push_str("</table></section>");
}

fn inputs_table(out: &mut String, history: &PageStore) {
    out.push_str("<section id=\"inputs\"><h2>Inputs</h2><table><tr><th>input</th><th class=\"n\">bad records</th><th class=\"n\">late records</th></tr>");
    let (named, other) = history.inputs();
    let mut row = |name: &str, bad: u64, late: u64| {
        out.push_str("<tr><td><code>");
        esc(out, &shorten(name, MAX_TEXT));
        let _ = write!(
            out,
            "</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            thousands(bad),
            thousands(late)
        );
    };
    for i in named {
        row(&i.name, i.bad, i.late);
    }
    if let Some(o) = other {
        row("other inputs", o.bad, o.late);
    }
    out.push_str("</table></section>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agg::AggValue;
    use crate::alert::Transition;
    use crate::html::PageRule;
    use crate::shard::{AlertEvent, Row};

    fn key(parts: &[&str]) -> Box<[u8]> {
        let mut k = Vec::new();
        for p in parts {
            crate::plan::push_key_field(&mut k, p.as_bytes());
        }
        k.into()
    }

    fn job(aggs: usize) -> PageJob {
        PageJob {
            inputs: vec!["testdata/metrics.csv".into()],
            window: "tumbling 1m".into(),
            step: 60_000,
            break_gap: Some(0),
            key: vec!["host".into(), "metric".into()],
            aggs: (0..aggs)
                .map(|i| {
                    if i == 0 {
                        "count".to_string()
                    } else {
                        format!("avg_v{i}")
                    }
                })
                .collect(),
            count_column: Some(0),
            where_text: None,
            evals: vec![],
            max_delay: 5000,
            rules: vec![PageRule {
                name: "cpu_hot".into(),
                severity: "critical".into(),
                text: "cpu_hot: avg(v1) > 90 for 3".into(),
                charts: vec![1],
            }],
        }
    }

    const T0: i64 = 1_767_225_600_000;

    fn history(job: &PageJob, keys: usize, windows: i64) -> PageStore {
        let mut h = job.new_store();
        for w in 1..=windows {
            for k in 0..keys {
                let mut values = vec![AggValue::Int(6 + k as u64)];
                for a in 1..job.aggs.len() {
                    values.push(AggValue::Float(
                        ((w * (k as i64 + 1) * a as i64) % 101) as f64,
                    ));
                }
                h.add_row(&Row {
                    order: (T0 + w * 60_000, T0 + (w - 1) * 60_000),
                    start: T0 + (w - 1) * 60_000,
                    end: T0 + w * 60_000,
                    key: &key(&[&format!("host-{k:04}"), "cpu"]),
                    values: &values,
                });
            }
        }
        h
    }

    fn figures() -> RunFigures {
        RunFigures {
            run: Counters {
                records: 1440,
                windows: 240,
                alerts: 2,
                ..Counters::default()
            },
            all_runs: None,
            elapsed: std::time::Duration::from_millis(12),
            written_at: T0,
            finished: true,
        }
    }

    #[test]
    fn the_page_has_a_chart_per_aggregate_a_legend_spans_and_the_events() {
        let job = job(3);
        let mut h = history(&job, 12, 30);
        let k = key(&["host-0011", "cpu"]);
        for (time, t) in [
            (T0 + 15 * 60_000, Transition::Firing),
            (T0 + 18 * 60_000, Transition::Resolved),
        ] {
            h.add_alert(&AlertEvent {
                time,
                rule: 0,
                transition: t,
                key: k.clone(),
                value: AggValue::Float(93.5),
            });
        }
        h.add_input_counts("testdata/metrics.csv", 2, 7);
        h.finish();
        let page = render(&job, &h, &figures());
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert_eq!(page.matches("<svg class=\"chart\"").count(), 3);
        for a in ["count", "avg_v1", "avg_v2"] {
            assert!(page.contains(&format!("data-aggregate=\"{a}\"")));
        }
        // the ten keys with most records: host-0011 (17 per window) down to host-0002
        assert!(page.contains("<li data-key=\"host-0011 · cpu\">"));
        assert!(page.contains("<li data-key=\"host-0002 · cpu\">"));
        assert!(!page.contains("<li data-key=\"host-0001 · cpu\">"));
        assert!(page.contains("and 2 more keys not drawn"));
        assert!(page.contains("510 records"), "17 records x 30 windows");
        // the span is on the chart of avg_v1 only
        assert_eq!(
            page.matches("class=\"span\" data-rule=\"cpu_hot\"").count(),
            1
        );
        let avg1 = page.split("data-aggregate=\"avg_v1\"").nth(1).unwrap();
        assert!(avg1
            .split("</svg>")
            .next()
            .unwrap()
            .contains("data-rule=\"cpu_hot\""));
        assert!(
            page.contains("<td class=\"state\">firing</td>")
                && page.contains("<td>2026-01-01T00:18:00.000Z</td>")
        );
        assert!(
            page.contains("<td class=\"n\">2</td><td class=\"n\">7</td>"),
            "bad and late per input"
        );
        assert!(page.contains("data-counter=\"records\">1,440</td>"));
        assert!(
            !page.contains("<script") && !page.contains("http://") && !page.contains("https://")
        );
        assert!(page.contains("Content-Security-Policy"));
    }

    #[test]
    fn a_page_before_any_window_still_has_its_charts() {
        let job = job(2);
        let h = job.new_store();
        let mut f = figures();
        f.finished = false;
        let page = render(&job, &h, &f);
        assert_eq!(page.matches("<svg class=\"chart\"").count(), 2);
        assert!(page.contains("no windows yet") && page.contains("Run in progress"));
    }

    #[test]
    fn the_page_stays_under_its_limit_for_many_aggregates_keys_and_long_names() {
        // 60 aggregates x 10 drawn keys x 1024 buckets, keys of 5,000 bytes,
        // and 1,000 alert events: the charts lose detail, the page fits.
        let mut job = job(60);
        job.count_column = Some(0);
        let mut h = job.new_store();
        let long = "x".repeat(5000);
        for w in 1..=3000i64 {
            for k in 0..12u64 {
                let mut values = vec![AggValue::Int(1 + k)];
                values.extend(
                    (1..60).map(|a| AggValue::Float(((w as u64 * (k + 1) * a) % 997) as f64)),
                );
                h.add_row(&Row {
                    order: (T0 + w * 1000, T0 + (w - 1) * 1000),
                    start: T0 + (w - 1) * 1000,
                    end: T0 + w * 1000,
                    key: &key(&[&format!("{long}{k}"), "cpu"]),
                    values: &values,
                });
            }
        }
        for i in 0..3000i64 {
            h.add_alert(&AlertEvent {
                time: T0 + i * 1000,
                rule: 0,
                transition: if i % 2 == 0 {
                    Transition::Firing
                } else {
                    Transition::Resolved
                },
                key: key(&[&format!("{long}{}", i % 12), "cpu"]),
                value: AggValue::Float(0.1 + i as f64),
            });
        }
        h.finish();
        let page = render(&job, &h, &figures());
        assert!(page.len() <= PAGE_LIMIT, "{} bytes", page.len());
        assert_eq!(page.matches("<svg class=\"chart\"").count(), 60);
        assert!(page.contains("events not shown"));
        assert!(!page.contains(&long), "long keys are shortened");
    }
}
