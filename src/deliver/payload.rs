//! What goes in a request body. Webhooks get the JSONL alert event as it is
//! (made by the sink, so the two never differ); Alertmanager gets its API v2
//! shape, built here: labels `alertname`, `severity` and one per key field,
//! annotations `condition`, `value`, `summary`, and `startsAt`/`endsAt`.
//! Event data only ever lands in JSON strings, escaped. Pure.

use crate::alert::Transition;
use crate::plan::key_fields;
use crate::sink::push_json_string;
use crate::time::format_rfc3339_ms;

/// What an Alertmanager alert needs from its rule.
#[derive(Debug, Clone)]
pub struct RuleText {
    pub name: String,
    pub severity: String,
    /// the whole rule text (the `condition` annotation)
    pub text: String,
}

/// One alert as Alertmanager receives it; `endsAt` is decided when it is sent.
#[derive(Debug, Clone, PartialEq)]
pub struct AmAlert {
    pub rule: usize,
    /// packed key (see `plan::key_fields`)
    pub key: Box<[u8]>,
    pub state: Transition,
    /// the event's time: `endsAt` of a resolved alert
    pub time: i64,
    /// when the alert started firing: `startsAt`
    pub since: i64,
    /// the event's value as the report writes it (empty: undefined)
    pub value: String,
}

/// The labels, rules and lifetime every Alertmanager alert of a run shares.
#[derive(Debug, Clone)]
pub struct AmShape {
    /// one label name per key field, in key order
    pub key_labels: Vec<String>,
    pub rules: Vec<RuleText>,
    /// `--alert-ttl`: a firing alert is sent with `endsAt` = now + ttl
    pub ttl_ms: i64,
}

/// Label names for the key fields: characters outside `[A-Za-z0-9_]` become
/// `_`, a leading digit gets a `_` in front (Alertmanager refuses names that
/// start with one), and a name taken by `alertname`, `severity` or an earlier
/// key field gets `key_` in front until it is free.
pub fn key_labels(key_names: &[String]) -> Vec<String> {
    let mut taken: Vec<String> = vec!["alertname".into(), "severity".into()];
    let mut out = Vec::with_capacity(key_names.len());
    for name in key_names {
        let mut label: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if label.is_empty() || label.starts_with(|c: char| c.is_ascii_digit()) {
            label.insert(0, '_');
        }
        while taken.contains(&label) {
            label.insert_str(0, "key_");
        }
        taken.push(label.clone());
        out.push(label);
    }
    out
}

impl AmShape {
    /// `[{...},{...}]` for `alerts`, sent at wall time `now_ms`.
    pub fn write_array<'a>(
        &self,
        alerts: impl IntoIterator<Item = &'a AmAlert>,
        now_ms: i64,
        out: &mut Vec<u8>,
    ) {
        out.push(b'[');
        for (i, a) in alerts.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            self.write_alert(a, now_ms, out);
        }
        out.push(b']');
    }

    fn write_alert(&self, a: &AmAlert, now_ms: i64, out: &mut Vec<u8>) {
        let rule = &self.rules[a.rule];
        out.extend_from_slice(b"{\"labels\":{\"alertname\":");
        push_json_string(out, rule.name.as_bytes());
        out.extend_from_slice(b",\"severity\":");
        push_json_string(out, rule.severity.as_bytes());
        for (label, value) in self.key_labels.iter().zip(key_fields(&a.key)) {
            out.push(b',');
            push_json_string(out, label.as_bytes());
            out.push(b':');
            push_json_string(out, value);
        }
        out.extend_from_slice(b"},\"annotations\":{\"condition\":");
        push_json_string(out, rule.text.as_bytes());
        out.extend_from_slice(b",\"value\":");
        push_json_string(out, a.value.as_bytes());
        out.extend_from_slice(b",\"summary\":");
        push_json_string(out, self.summary(a).as_bytes());
        out.extend_from_slice(b"},\"startsAt\":\"");
        format_rfc3339_ms(a.since, out);
        out.extend_from_slice(b"\",\"endsAt\":\"");
        let ends = match a.state {
            // An alert that starts in the future (clock skew in the data)
            // still must end after it starts, or Alertmanager refuses it.
            Transition::Firing => now_ms.max(a.since).saturating_add(self.ttl_ms),
            Transition::Resolved => a.time.max(a.since),
        };
        format_rfc3339_ms(ends, out);
        out.extend_from_slice(b"\"}");
    }

    /// One readable line: `cpu_hot firing for host=web-1 metric=cpu, value 95.5`.
    pub fn summary(&self, a: &AmAlert) -> String {
        let rule = &self.rules[a.rule];
        let state = match a.state {
            Transition::Firing => "firing",
            Transition::Resolved => "resolved",
        };
        let mut s = format!("{} {state}", rule.name);
        for (i, (label, value)) in self.key_labels.iter().zip(key_fields(&a.key)).enumerate() {
            s.push_str(if i == 0 { " for " } else { " " });
            s.push_str(label);
            s.push('=');
            s.push_str(&String::from_utf8_lossy(value));
        }
        if a.value.is_empty() {
            s.push_str(", value undefined");
        } else {
            s.push_str(", value ");
            s.push_str(&a.value);
        }
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(fields: &[&[u8]]) -> Box<[u8]> {
        let mut k = Vec::new();
        for f in fields {
            crate::plan::push_key_field(&mut k, f);
        }
        k.into()
    }

    fn shape(keys: &[&str]) -> AmShape {
        AmShape {
            key_labels: key_labels(&keys.iter().map(|k| k.to_string()).collect::<Vec<_>>()),
            rules: vec![RuleText {
                name: "cpu_hot".into(),
                severity: "critical".into(),
                text: "cpu_hot: avg(value) > 90 and metric == \"cpu\"".into(),
            }],
            ttl_ms: 300_000,
        }
    }

    #[test]
    fn label_names_are_valid_and_distinct() {
        let names: Vec<String> = ["host", "k8s.pod-name", "9lives", "severity", "severity", ""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            key_labels(&names),
            [
                "host",
                "k8s_pod_name",
                "_9lives",
                "key_severity",
                "key_key_severity",
                "_"
            ]
        );
    }

    #[test]
    fn firing_and_resolved_alerts_in_the_api_v2_shape() {
        let s = shape(&["host", "metric"]);
        let firing = AmAlert {
            rule: 0,
            key: packed(&[b"web-1", b"cpu"]),
            state: Transition::Firing,
            time: 1_767_225_780_000,
            since: 1_767_225_780_000,
            value: "95.5".into(),
        };
        let resolved = AmAlert {
            state: Transition::Resolved,
            time: 1_767_225_900_000,
            value: "70".into(),
            ..firing.clone()
        };
        let mut out = Vec::new();
        let now = 1_800_000_000_000;
        s.write_array([&firing, &resolved], now, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            serde_json::json!([
                {"labels": {"alertname": "cpu_hot", "severity": "critical", "host": "web-1", "metric": "cpu"},
                 "annotations": {"condition": "cpu_hot: avg(value) > 90 and metric == \"cpu\"", "value": "95.5",
                                 "summary": "cpu_hot firing for host=web-1 metric=cpu, value 95.5"},
                 "startsAt": "2026-01-01T00:03:00.000Z", "endsAt": "2027-01-15T08:05:00.000Z"},
                {"labels": {"alertname": "cpu_hot", "severity": "critical", "host": "web-1", "metric": "cpu"},
                 "annotations": {"condition": "cpu_hot: avg(value) > 90 and metric == \"cpu\"", "value": "70",
                                 "summary": "cpu_hot resolved for host=web-1 metric=cpu, value 70"},
                 "startsAt": "2026-01-01T00:03:00.000Z", "endsAt": "2026-01-01T00:05:00.000Z"}
            ])
        );
        // a firing alert from the future still ends after it starts
        let future = AmAlert {
            since: now + 1_000,
            ..firing
        };
        out.clear();
        s.write_array([&future], now, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(v[0]["endsAt"].as_str() > v[0]["startsAt"].as_str());
    }

    #[test]
    fn hostile_key_values_stay_data() {
        let s = shape(&["host"]);
        let evil: &[u8] = b"$(touch pwned)\"quoted\"\nnext line \xff\xfe end";
        let a = AmAlert {
            rule: 0,
            key: packed(&[evil]),
            state: Transition::Firing,
            time: 0,
            since: 0,
            value: String::new(),
        };
        let mut out = Vec::new();
        s.write_array([&a], 0, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(
            v[0]["labels"]["host"],
            "$(touch pwned)\"quoted\"\nnext line \u{fffd}\u{fffd} end"
        );
        let summary = v[0]["annotations"]["summary"].as_str().unwrap();
        assert!(!summary.contains('\n'), "{summary}");
        assert!(summary.ends_with("value undefined"), "{summary}");
    }
}
