//! The man page, generated from the clap definition (so every flag and
//! subcommand is documented once, in its doc comment, and --help, the page
//! and the completions say the same) plus hand-written sections on windows,
//! time, alerts, checkpoints, exit status and examples that refer to the
//! flags rather than repeat them. One page: it names no vigil-run(1)-style
//! pages. `vigil man > man/vigil.1` regenerates the checked-in page.

use clap::CommandFactory;

use super::args::Cli;

const SECTIONS: &str = r#".SH WINDOWS
Windows are aligned to the Unix epoch and half\-open, [start, end).
\fB\-\-window\fR alone gives tumbling windows; with \fB\-\-slide\fR, windows of
\fB\-\-window\fR size start at every multiple of the slide.
\fB\-\-session\fR GAP closes a key's window GAP after its last record;
\fB\-\-count\-window\fR N closes one every N records of a key.
A report row exists only for a window and key that received a record.
Rows are ordered by window end, window start, then key; the output is the same
for any \fB\-\-threads\fR.
.SH TIME
With \fB\-\-time\fR FIELD, records carry their event time. The watermark is the
largest event time seen minus \fB\-\-max\-delay\fR, advanced record by record;
a window is emitted when the watermark reaches its end. A record is late when
the watermark has passed the end of every window it belongs to: it is counted
and written to \fB\-\-late\-output\fR. End of input emits every open window
unless \fB\-\-incremental\fR. Without \fB\-\-time\fR, records are stamped on
arrival and windows close on the wall clock. How times are read:
\fB\-\-time\-format\fR.
.SH ALERTS
Rules (\fB\-\-alert\fR) are evaluated per key at each of its windows. A rule
fires after N consecutive windows of a key with the condition true, and
resolves when the clear condition (or, without one, the negated condition)
holds. Events: time, rule, severity, state, key fields, value, condition.
Per\-key thresholds come from \fB\-\-lookup\fR tables: \fBavg(value) > max_cpu\fR
compares with the value of the key's row; a key without a row never fires on it.
\fB\-\-on\-alert\fR runs sh \-c CMD per event with the event as JSON on stdin and
VIGIL_RULE, VIGIL_STATE, VIGIL_SEVERITY, VIGIL_KEY, VIGIL_VALUE, VIGIL_TIME in
the environment.
.SH CHECKPOINTS
\fB\-\-checkpoint\fR FILE writes the input offsets, output lengths, watermark,
window and alert state atomically every \fB\-\-checkpoint\-every\fR and at the
end. Started again with the same command, a run killed at any moment resumes
and produces output files identical to an uninterrupted run. A corrupt
checkpoint, one from another job, or a changed input is refused (exit 2);
\fB\-\-fresh\fR starts over. stdin and TCP cannot be re\-read: their state is
restored and reading continues with what arrives.
.SH EXPORT
\fBvigil export flink\fR [INPUT]... [JOB OPTIONS] prints the job as a Flink SQL
script (Flink 2.x, for sql\-client.sh \-f) that computes the same report, alert
events and late records on a Flink cluster. File inputs become filesystem
tables; \fB\-\-flink\-source\fR kafka with \fB\-\-kafka\-brokers\fR and
\fB\-\-kafka\-topic\fR reads a Kafka topic instead. A feature that Flink SQL
cannot express the same way (count windows, absent(), first/last, history
functions, lookup tables, log presets, strftime times, processing time) is refused with exit status 2.
.SH EXIT STATUS
0 success; 1 runtime failure (I/O error, \fB\-\-on\-bad\-record fail\fR, or
every record read was bad); 2 usage or job error (bad flag, rule, job file,
checkpoint mismatch, a field the input does not have, a bad listen address);
3 alerts fired with \fB\-\-fail\-on\-alert\fR.
.SH EXAMPLES
.nf
vigil run metrics.csv \-\-time ts \-\-key host,metric \-\-window 1m \e
    \-\-agg 'count(), avg(value), p95(value)' \-o report.csv
tail \-F access.log | vigil run \-\-format nginx \-\-window 1m \e
    \-\-eval 'is_error = status >= 500' \-\-agg 'count(), avg(is_error)'
vigil run app.log \-\-format logfmt \-\-time ts \-\-checkpoint app.ckpt \-\-incremental
vigil check \-c job.toml
vigil test rules.test.toml
.fi
"#;

/// Text for roff: backslashes and dashes escaped, a leading dot or quote defused.
fn roff_text(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// One subsection per subcommand: its usage line and its long description
/// (the same text as `vigil SUBCOMMAND --help`). The page names no other
/// pages: there is only this one.
fn subcommands(cmd: &clap::Command, out: &mut Vec<u8>) {
    out.extend_from_slice(b".SH SUBCOMMANDS\n");
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        let usage = sub.clone().render_usage().to_string();
        let usage = usage.trim().trim_start_matches("Usage:").trim();
        out.extend_from_slice(format!(".SS \"{}\"\n", roff_text(usage)).as_bytes());
        let mut about = Vec::new();
        clap_mangen::Man::new(sub.clone())
            .render_description_section(&mut about)
            .expect("write to Vec");
        let about = String::from_utf8(about).expect("roff is text");
        // keep the text, not clap_mangen's section header
        let body = about
            .split_once(".SH DESCRIPTION\n")
            .map(|(_, rest)| rest)
            .unwrap_or(&about);
        out.extend_from_slice(body.as_bytes());
    }
}

/// The whole page as roff.
pub fn render() -> String {
    let mut cmd = Cli::command();
    cmd.build();
    let mut out: Vec<u8> = Vec::new();
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(&mut out).expect("write to Vec");
    man.render_name_section(&mut out).expect("write to Vec");
    man.render_synopsis_section(&mut out).expect("write to Vec");
    man.render_description_section(&mut out)
        .expect("write to Vec");
    subcommands(&cmd, &mut out);
    let run = cmd.find_subcommand("run").expect("run subcommand").clone();
    out.extend_from_slice(b".SH \"RUN OPTIONS\"\nThese options are shared by \\fBvigil run\\fR and \\fBvigil check\\fR; each can also be set in the TOML job file (see \\fB\\-\\-config\\fR).\n");
    let run_man = clap_mangen::Man::new(run);
    let mut opts = Vec::new();
    run_man
        .render_options_section(&mut opts)
        .expect("write to Vec");
    // drop clap_mangen's own section header, keep the entries
    let opts = String::from_utf8(opts).expect("roff is text");
    let body = opts
        .split_once(".SH OPTIONS\n")
        .map(|(_, rest)| rest)
        .unwrap_or(&opts);
    out.extend_from_slice(body.as_bytes());
    out.extend_from_slice(SECTIONS.as_bytes());
    man.render_version_section(&mut out).expect("write to Vec");
    String::from_utf8(out).expect("roff is text")
}
