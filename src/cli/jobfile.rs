//! The TOML job file (SPEC section 6): keys are the long flag names with `_`
//! for `-`, plus `[[alert]]`, `[output]` and `[checkpoint]` tables. Read into
//! the same [`JobArgs`] the flags fill; flags then override it.
//!
//! The file follows its own rule everywhere: `output = "r.csv"`,
//! `checkpoint = "run.ckpt"` and `alert = ["hot: avg(value) > 90 for 3"]` (the
//! flag forms) are accepted as well as the `[output]`, `[checkpoint]` and
//! `[[alert]]` tables. Where each rule, aggregate list, `where` and `eval`
//! sits in the file is recorded ([`TextOrigin`]) so an error in one points at
//! its line and column.

use std::marker::PhantomData;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use toml::de::{DeTable, DeValue};

use super::args::JobArgs;
use crate::error::{Error, Result};
use crate::origin::{FilePiece, TextOrigin};

/// A list given either as a TOML array or as one comma-separated string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ListOrString {
    List(Vec<String>),
    One(String),
}

impl ListOrString {
    fn into_list(self) -> Vec<String> {
        match self {
            ListOrString::List(v) => v,
            ListOrString::One(s) => s.split(',').map(|p| p.trim().to_string()).collect(),
        }
    }
}

/// `key = "value"` (the flag's form) or a `[key]` table. Written by hand
/// rather than `#[serde(untagged)]` so that an error inside the table (an
/// unknown key) keeps its own message.
#[derive(Debug)]
enum FlagOrTable<T> {
    Flag(String),
    Table(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for FlagOrTable<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = FlagOrTable<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string (the flag's value) or a table")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
                Ok(FlagOrTable::Flag(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(FlagOrTable::Table)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// `alert`: one rule string, an array of rule strings and/or tables
/// (`[[alert]]` is such an array), or a single `[alert]` table.
#[derive(Debug)]
struct AlertList(Vec<FlagOrTable<AlertTable>>);

impl<'de> Deserialize<'de> for AlertList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AlertList;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a rule string, an array of rules, or [[alert]] tables")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<AlertList, E> {
                Ok(AlertList(vec![FlagOrTable::Flag(v.to_string())]))
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<AlertList, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = seq.next_element()? {
                    out.push(entry);
                }
                Ok(AlertList(out))
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<AlertList, A::Error> {
                let t = AlertTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(AlertList(vec![FlagOrTable::Table(t)]))
            }
        }
        d.deserialize_any(V)
    }
}

/// URLs (and `lookup` paths): a TOML array, or one string holding one URL
/// (never split: a URL or a path may contain commas).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum UrlList {
    List(Vec<String>),
    One(String),
}

impl UrlList {
    fn into_list(self) -> Vec<String> {
        match self {
            UrlList::List(v) => v,
            UrlList::One(s) => vec![s],
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTable {
    name: Option<String>,
    when: String,
    #[serde(rename = "for")]
    for_windows: Option<u32>,
    clear: Option<String>,
    severity: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputTable {
    path: Option<PathBuf>,
    format: Option<String>,
    alerts: Option<PathBuf>,
    alerts_format: Option<String>,
    late_output: Option<PathBuf>,
    html: Option<PathBuf>,
    on_alert: Option<String>,
    fail_on_alert: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointTable {
    path: Option<PathBuf>,
    every: Option<String>,
    incremental: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobFile {
    inputs: Option<Vec<String>>,
    format: Option<String>,
    regex: Option<String>,
    delimiter: Option<String>,
    no_header: Option<bool>,
    columns: Option<ListOrString>,
    time: Option<String>,
    time_format: Option<String>,
    key: Option<ListOrString>,
    window: Option<String>,
    slide: Option<String>,
    session: Option<String>,
    count_window: Option<u64>,
    agg: Option<ListOrString>,
    #[serde(rename = "where")]
    where_: Option<String>,
    eval: Option<ListOrString>,
    /// paths: an array, or one string holding one path (never split)
    lookup: Option<UrlList>,
    max_delay: Option<String>,
    late_output: Option<PathBuf>,
    html: Option<PathBuf>,
    idle_timeout: Option<String>,
    alert: Option<AlertList>,
    output: Option<FlagOrTable<OutputTable>>,
    output_format: Option<String>,
    alerts: Option<PathBuf>,
    alerts_format: Option<String>,
    on_alert: Option<String>,
    fail_on_alert: Option<bool>,
    webhook: Option<UrlList>,
    alertmanager: Option<UrlList>,
    alert_ttl: Option<String>,
    checkpoint: Option<FlagOrTable<CheckpointTable>>,
    checkpoint_every: Option<String>,
    incremental: Option<bool>,
    on_bad_record: Option<String>,
    max_keys: Option<u64>,
    max_line_bytes: Option<String>,
    max_connections: Option<usize>,
    threads: Option<usize>,
    quiet: Option<bool>,
    progress: Option<bool>,
}

/// Where a key was set in the job file, for messages: `job.toml:12: key 'window'`.
#[derive(Debug, Clone)]
pub struct JobFileSource {
    pub path: PathBuf,
    text: String,
    /// Where each rule's text sits, in the order of `JobArgs::alert`.
    pub rules: Vec<TextOrigin>,
    /// Where `agg`, `where` and each `eval` sit (when the file sets them).
    pub agg: Option<TextOrigin>,
    pub where_: Option<TextOrigin>,
    pub evals: Vec<TextOrigin>,
}

impl JobFileSource {
    /// `FILE:LINE: key 'KEY'` for the first line that assigns `key` (or the file alone).
    pub fn locate(&self, key: &str) -> String {
        let bare = key.rsplit('.').next().unwrap_or(key);
        for (i, line) in self.text.lines().enumerate() {
            let t = line.trim_start();
            if let Some(rest) = t.strip_prefix(bare) {
                if rest.trim_start().starts_with('=') {
                    return format!("{}:{}: key '{}'", self.path.display(), i + 1, key);
                }
            }
        }
        format!("{}: key '{}'", self.path.display(), key)
    }
}

/// Reads the job file into a [`JobArgs`] and the list of inputs it names.
pub fn load(path: &Path) -> Result<(JobArgs, Vec<String>, JobFileSource)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::usage(format!("cannot read job file {}: {e}", path.display())))?;
    let file: JobFile = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        let msg = e.message().trim().replace('\n', " ");
        let msg = match unknown_key(&msg) {
            Some((key, expected)) => {
                format!("{msg}{}", crate::suggest::did_you_mean(key, expected))
            }
            None => msg,
        };
        match line {
            Some(l) => Error::usage(format!("{}:{l}: {msg}", path.display())),
            None => Error::usage(format!("{}: {msg}", path.display())),
        }
    })?;
    // The same text again, with spans, to say where values sit (it parsed once: it parses again).
    let spans = DeTable::parse(&text).ok().map(|t| t.into_inner());
    let mut source = JobFileSource {
        path: path.to_path_buf(),
        text: text.clone(),
        rules: Vec::new(),
        agg: None,
        where_: None,
        evals: Vec::new(),
    };
    let mut a = JobArgs {
        format: file.format,
        regex: file.regex,
        delimiter: file.delimiter,
        no_header: file.no_header.unwrap_or(false),
        columns: file.columns.map(ListOrString::into_list),
        time: file.time,
        time_format: file.time_format,
        key: file.key.map(ListOrString::into_list),
        window: file.window,
        slide: file.slide,
        session: file.session,
        count_window: file.count_window,
        agg: None,
        where_: file.where_,
        eval: Vec::new(),
        lookup: file
            .lookup
            .map(UrlList::into_list)
            .unwrap_or_default()
            .into_iter()
            .map(PathBuf::from)
            .collect(),
        max_delay: file.max_delay,
        late_output: file.late_output,
        html: file.html,
        idle_timeout: file.idle_timeout,
        output_format: file.output_format,
        output: None,
        alerts: file.alerts,
        alerts_format: file.alerts_format,
        on_alert: file.on_alert,
        fail_on_alert: file.fail_on_alert.unwrap_or(false),
        webhook: file.webhook.map(UrlList::into_list).unwrap_or_default(),
        alertmanager: file
            .alertmanager
            .map(UrlList::into_list)
            .unwrap_or_default(),
        alert_ttl: file.alert_ttl,
        checkpoint: None,
        checkpoint_every: file.checkpoint_every,
        incremental: file.incremental.unwrap_or(false),
        fresh: false,
        on_bad_record: file.on_bad_record,
        max_keys: file.max_keys,
        max_line_bytes: file.max_line_bytes,
        max_connections: file.max_connections,
        threads: file.threads,
        quiet: file.quiet.unwrap_or(false),
        progress: file.progress.unwrap_or(false),
        ..JobArgs::default()
    };
    let top = |key: &str| spans.as_ref().and_then(|t| t.get(key));
    if let Some(list) = file.agg {
        let items = list.into_list();
        let joined = items.join(", ");
        let mut pieces = Vec::new();
        let mut offset = 0;
        for (i, item) in items.iter().enumerate() {
            if let Some(span) = top("agg").and_then(|v| element_span(v, i)) {
                pieces.push(source.piece("key 'agg'".into(), span, item, offset));
            }
            offset += item.len() + 2;
        }
        source.agg = Some(source.origin("agg", &joined, pieces));
        a.agg = Some(joined);
    }
    if let Some(w) = &a.where_ {
        let pieces = top("where")
            .map(|v| vec![source.piece("key 'where'".into(), v.span(), w, 0)])
            .unwrap_or_default();
        source.where_ = Some(source.origin("where", w, pieces));
    }
    if let Some(list) = file.eval {
        for (i, e) in list.into_list().into_iter().enumerate() {
            let pieces = top("eval")
                .and_then(|v| element_span(v, i))
                .map(|span| vec![source.piece("key 'eval'".into(), span, &e, 0)])
                .unwrap_or_default();
            source.evals.push(source.origin("eval", &e, pieces));
            a.eval.push(e);
        }
    }
    match file.output {
        None => {}
        Some(FlagOrTable::Flag(p)) => a.output = Some(PathBuf::from(p)),
        Some(FlagOrTable::Table(out)) => {
            a.output = out.path;
            a.output_format = out.format.or(a.output_format);
            a.alerts = out.alerts.or(a.alerts);
            a.alerts_format = out.alerts_format.or(a.alerts_format);
            a.late_output = out.late_output.or(a.late_output);
            a.html = out.html.or(a.html);
            a.on_alert = out.on_alert.or(a.on_alert);
            a.fail_on_alert |= out.fail_on_alert.unwrap_or(false);
        }
    }
    match file.checkpoint {
        None => {}
        Some(FlagOrTable::Flag(p)) => a.checkpoint = Some(PathBuf::from(p)),
        Some(FlagOrTable::Table(ck)) => {
            a.checkpoint = ck.path;
            a.checkpoint_every = ck.every.or(a.checkpoint_every);
            a.incremental |= ck.incremental.unwrap_or(false);
        }
    }
    for (i, entry) in file
        .alert
        .map(|l| l.0)
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let value = top("alert").and_then(|v| match v.get_ref() {
            DeValue::Array(items) => items.get(i),
            _ => Some(v),
        });
        let (rule, origin) = match entry {
            FlagOrTable::Flag(rule) => {
                let pieces = value
                    .map(|v| vec![source.piece("key 'alert'".into(), v.span(), &rule, 0)])
                    .unwrap_or_default();
                let origin = source.origin("alert", &rule, pieces);
                (rule, origin)
            }
            FlagOrTable::Table(table) => source.assemble_rule(&table, value),
        };
        a.alert.push(rule);
        source.rules.push(origin);
    }
    let inputs = expand_inputs(file.inputs.unwrap_or_default(), &source)?;
    Ok((a, inputs, source))
}

/// The key named by serde's "unknown field `windwo`, expected one of
/// `inputs`, ..." message, and the keys it lists.
fn unknown_key(msg: &str) -> Option<(&str, Vec<&str>)> {
    let rest = msg.strip_prefix("unknown field `")?;
    let (key, rest) = rest.split_once('`')?;
    let expected = rest.split('`').skip(1).step_by(2).collect();
    Some((key, expected))
}

/// The span of element `i` of an array value (or of the value itself when it
/// is one string, for `i == 0`).
fn element_span(v: &toml::Spanned<DeValue<'_>>, i: usize) -> Option<Range<usize>> {
    match v.get_ref() {
        DeValue::Array(items) => items.get(i).map(|item| item.span()),
        DeValue::String(_) if i == 0 => Some(v.span()),
        _ => None,
    }
}

impl JobFileSource {
    /// `FILE:LINE` of byte `at`.
    fn line_of(&self, at: usize) -> usize {
        self.text[..at.min(self.text.len())].matches('\n').count() + 1
    }

    /// A value of the file at `span` that is `value`, at byte `offset` of the option's text.
    fn piece(&self, key: String, span: Range<usize>, value: &str, offset: usize) -> FilePiece {
        let start = span.start.min(self.text.len());
        let line_start = self.text[..start].rfind('\n').map_or(0, |n| n + 1);
        let line_end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |n| start + n);
        let raw = self.text.get(span.clone()).unwrap_or("");
        // verbatim: a one-line value written without escapes, quoted or not
        let quote = if raw == value {
            Some(0)
        } else if raw.len() == value.len() + 2
            && (raw.starts_with('"') || raw.starts_with('\''))
            && &raw[1..raw.len() - 1] == value
        {
            Some(1)
        } else {
            None
        };
        let column = quote
            .filter(|_| !value.contains('\n'))
            .map(|q| self.text[line_start..start].chars().count() + q);
        FilePiece {
            key,
            file: self.path.display().to_string(),
            line: self.line_of(start),
            line_text: self.text[line_start..line_end]
                .trim_end_matches('\r')
                .to_string(),
            value: value.to_string(),
            column,
            offset,
        }
    }

    /// The origin of an option's text made of `pieces` (label: the first piece's line).
    fn origin(&self, key: &str, text: &str, pieces: Vec<FilePiece>) -> TextOrigin {
        let label = match pieces.first() {
            Some(p) => format!("{}:{}: key '{key}'", self.path.display(), p.line),
            None => self.locate(key),
        };
        TextOrigin {
            label,
            text: text.to_string(),
            pieces,
        }
    }

    /// The rule text of an `[[alert]]` table (`NAME: WHEN for N clear C
    /// severity S`) and where each part sits in the file.
    fn assemble_rule(
        &self,
        table: &AlertTable,
        value: Option<&toml::Spanned<DeValue<'_>>>,
    ) -> (String, TextOrigin) {
        let fields = value.and_then(|v| match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => None,
        });
        let title = match &table.name {
            Some(n) => format!("[[alert]] {n}"),
            None => "[[alert]]".to_string(),
        };
        let mut rule = String::new();
        let mut pieces = Vec::new();
        let mut part = |rule: &mut String, key: &str, text: &str| {
            if let Some(span) = fields.and_then(|t| t.get(key)).map(|v| v.span()) {
                pieces.push(self.piece(format!("{title}, key '{key}'"), span, text, rule.len()));
            }
            rule.push_str(text);
        };
        if let Some(name) = &table.name {
            part(&mut rule, "name", name);
            rule.push_str(": ");
        }
        part(&mut rule, "when", &table.when);
        if let Some(n) = table.for_windows {
            rule.push_str(" for ");
            part(&mut rule, "for", &n.to_string());
        }
        if let Some(c) = &table.clear {
            rule.push_str(" clear ");
            part(&mut rule, "clear", c);
        }
        if let Some(s) = &table.severity {
            rule.push_str(" severity ");
            part(&mut rule, "severity", s);
        }
        let line = pieces
            .iter()
            .find(|p| p.key.ends_with("'when'"))
            .or(pieces.first())
            .map(|p| format!(":{}", p.line))
            .unwrap_or_default();
        let origin = TextOrigin {
            label: format!("{}{line}: {title}", self.path.display()),
            text: rule.clone(),
            pieces,
        };
        (rule, origin)
    }
}

/// Expands `*` and `?` in the file-name part of each input (job files have no
/// shell to do it); matches are sorted. A pattern matching nothing is an error.
fn expand_inputs(patterns: Vec<String>, source: &JobFileSource) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for pattern in patterns {
        if !pattern.contains(['*', '?']) || pattern.starts_with("tcp://") {
            out.push(pattern);
            continue;
        }
        let path = Path::new(&pattern);
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name_pat = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let mut found: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| {
                Error::usage(format!(
                    "{}: cannot list {}: {e}",
                    source.locate("inputs"),
                    dir.display()
                ))
            })?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| wildcard_match(name_pat.as_bytes(), n.as_bytes()))
            .map(|n| {
                if path.parent().is_some_and(|d| !d.as_os_str().is_empty()) {
                    dir.join(n).to_string_lossy().into_owned()
                } else {
                    n
                }
            })
            .collect();
        if found.is_empty() {
            return Err(Error::usage(format!(
                "{}: '{pattern}' matches no file",
                source.locate("inputs")
            )));
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

/// `*` matches any run of bytes, `?` one byte. Greedy with one backtrack
/// point (the last `*`): O(pattern x name) at worst, where trying every split
/// for every `*` was exponential (`a*a*a*...*b` against a long name of `a`s).
fn wildcard_match(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    // after the last `*` seen: where the pattern resumes, and the name position it took
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p + 1, n));
                p += 1;
            }
            Some(b'?') => {
                p += 1;
                n += 1;
            }
            Some(c) if *c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                // let the last `*` take one more byte and try again from there
                Some((sp, sn)) => {
                    star = Some((sp, sn + 1));
                    p = sp;
                    n = sn + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_read_from_the_message() {
        let (key, expected) =
            unknown_key("unknown field `paht`, expected one of `path`, `format`").unwrap();
        assert_eq!(key, "paht");
        assert_eq!(expected, ["path", "format"]);
        assert!(unknown_key("invalid type: integer").is_none());
    }

    fn parse(text: &str) -> JobArgs {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.toml");
        std::fs::write(&path, text).unwrap();
        load(&path).unwrap().0
    }

    #[test]
    fn flag_forms_and_table_forms_mean_the_same() {
        let flags = parse(
            "output = \"r.csv\"\ncheckpoint = \"r.ckpt\"\nalert = [\"hot: avg(v) > 1 for 2\"]\n",
        );
        let tables = parse(
            "[output]\npath = \"r.csv\"\n[checkpoint]\npath = \"r.ckpt\"\n[[alert]]\nname = \"hot\"\nwhen = \"avg(v) > 1\"\nfor = 2\n",
        );
        for a in [&flags, &tables] {
            assert_eq!(a.output.as_deref(), Some(Path::new("r.csv")));
            assert_eq!(a.checkpoint.as_deref(), Some(Path::new("r.ckpt")));
            assert_eq!(a.alert, ["hot: avg(v) > 1 for 2"]);
        }
        // one rule as a plain string, and a mixed array
        assert_eq!(parse("alert = \"a: x() > 1\"\n").alert, ["a: x() > 1"]);
        assert_eq!(
            parse("alert = [\"a: x() > 1\", { name = \"b\", when = \"y() > 2\" }]\n").alert,
            ["a: x() > 1", "b: y() > 2"]
        );
    }

    #[test]
    fn a_table_keeps_its_own_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.toml");
        std::fs::write(&path, "[output]\npaht = \"r.csv\"\n").unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(
            e.contains("unknown field `paht`") && e.contains("did you mean 'path'?"),
            "{e}"
        );
        std::fs::write(&path, "output = 5\n").unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(
            e.contains(":1:") && e.contains("a string (the flag's value) or a table"),
            "{e}"
        );
    }

    /// The keys `--config`'s help lists for a table (`[output] with a, b;`).
    fn documented_keys(table: &str) -> Vec<String> {
        use clap::CommandFactory;
        let mut cmd = crate::cli::args::Cli::command();
        cmd.build();
        let run = cmd.find_subcommand("run").unwrap();
        let config = run
            .get_arguments()
            .find(|a| a.get_id() == "config")
            .unwrap();
        let help = config
            .get_long_help()
            .unwrap()
            .to_string()
            .replace('\n', " ");
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        let after = help
            .split(table)
            .nth(1)
            .unwrap_or_else(|| panic!("{table} in {help}"));
        let list = after.split([';', '.']).next().unwrap();
        let list = list
            .trim_start_matches(" with")
            .trim_start_matches(" table per rule with");
        list.split(',').map(|k| k.trim().to_string()).collect()
    }

    /// The keys the file accepts in a table: serde lists them when one is unknown.
    fn accepted_keys(table_header: &str) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.toml");
        std::fs::write(&path, format!("{table_header}\nnosuch = 1\n")).unwrap();
        let e = load(&path).unwrap_err().to_string();
        let (_, expected) = unknown_key(e.split_once(": ").unwrap().1).unwrap();
        expected.into_iter().map(String::from).collect()
    }

    #[test]
    fn the_help_lists_every_key_of_each_table() {
        assert_eq!(documented_keys("[output]"), accepted_keys("[output]"));
        assert_eq!(
            documented_keys("[checkpoint]"),
            accepted_keys("[checkpoint]")
        );
        assert_eq!(documented_keys("[[alert]]"), accepted_keys("[[alert]]"));
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match(b"*.csv", b"a.csv"));
        assert!(wildcard_match(b"m-??.csv", b"m-01.csv"));
        assert!(!wildcard_match(b"m-??.csv", b"m-1.csv"));
        assert!(!wildcard_match(b"*.csv", b"a.json"));
        assert!(wildcard_match(b"*", b""));
        assert!(wildcard_match(b"a*", b"a"));
        assert!(wildcard_match(b"*a*b*", b"xxaxxbxx"));
        assert!(!wildcard_match(b"*a*b", b"xxaxxbxx"));
        assert!(wildcard_match(b"m-*-?.csv", b"m-2026-01-1.csv"));
        assert!(!wildcard_match(b"?", b""));
    }

    #[test]
    fn a_glob_with_many_stars_does_not_backtrack_exponentially() {
        // 30 stars against 200 bytes: the old matcher tried every split of
        // the name for every star and ran for hours; this one is immediate.
        let pattern = format!("{}b", "a*".repeat(30));
        let name = "a".repeat(200);
        let started = std::time::Instant::now();
        assert!(!wildcard_match(pattern.as_bytes(), name.as_bytes()));
        assert!(wildcard_match(
            pattern.as_bytes(),
            format!("{name}b").as_bytes()
        ));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn wildcards_agree_with_a_plain_reference() {
        fn reference(p: &[u8], n: &[u8]) -> bool {
            match p.split_first() {
                None => n.is_empty(),
                Some((b'*', rest)) => (0..=n.len()).any(|i| reference(rest, &n[i..])),
                Some((b'?', rest)) => !n.is_empty() && reference(rest, &n[1..]),
                Some((c, rest)) => n.first() == Some(c) && reference(rest, &n[1..]),
            }
        }
        // every pattern and name over a small alphabet, up to a few bytes
        let alphabet = [b'a', b'b', b'*', b'?'];
        let mut patterns: Vec<Vec<u8>> = vec![vec![]];
        for _ in 0..4 {
            let longer: Vec<Vec<u8>> = patterns
                .iter()
                .flat_map(|p| alphabet.iter().map(move |c| [p.as_slice(), &[*c]].concat()))
                .collect();
            patterns.extend(longer);
        }
        patterns.sort();
        patterns.dedup();
        let names: Vec<Vec<u8>> = patterns
            .iter()
            .filter(|p| !p.contains(&b'*') && !p.contains(&b'?'))
            .cloned()
            .collect();
        for p in &patterns {
            for n in &names {
                assert_eq!(wildcard_match(p, n), reference(p, n), "{:?} {:?}", p, n);
            }
        }
    }

    #[test]
    fn locate_names_line_and_key() {
        let src = JobFileSource {
            path: "j.toml".into(),
            text: "time = \"ts\"\n\nwindow = \"5x\"\n".into(),
            rules: Vec::new(),
            agg: None,
            where_: None,
            evals: Vec::new(),
        };
        assert_eq!(src.locate("window"), "j.toml:3: key 'window'");
        assert_eq!(src.locate("nothing"), "j.toml: key 'nothing'");
    }
}
