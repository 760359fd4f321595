//! `--alertmanager URL` against a real Prometheus Alertmanager (started by
//! `components::alertmanager` on a free loopback port): what is firing is
//! active there with vigil's labels and annotations, what resolved is not,
//! Alertmanager's own receiver hears of both, a run killed with -9 and
//! resumed re-sends its firing alerts, and hostile keys stay data. Plus the
//! ttl/4 re-sends, seen by a recording server in Alertmanager's place.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{self, Answer, HttpRecorder, Request};
use crate::components;

const RULE: &str = "hot: avg(value) > 90 severity critical";

/// A vigil run reading stdin, fed by the test.
struct Live {
    child: Child,
    _watchdog: common::Watchdog,
}

impl Live {
    fn start(dir: &Path, extra: &[&str]) -> Live {
        let mut args = vec![
            "run",
            "-",
            "--time",
            "ts",
            "--key",
            "host",
            "--window",
            "1m",
            "--alert",
            RULE,
            "--alerts",
            "alerts.csv",
        ];
        args.extend_from_slice(extra);
        let child = Command::new(common::bin())
            .args(&args)
            .current_dir(dir)
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("https_proxy")
            .env_remove("HTTPS_PROXY")
            .env_remove("ALL_PROXY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start vigil");
        let watchdog = common::watchdog(child.id(), 60);
        Live {
            child,
            _watchdog: watchdog,
        }
    }

    fn send(&mut self, lines: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin.write_all(lines.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Closes stdin and waits for the end of the run.
    fn finish(mut self) -> common::Output {
        drop(self.child.stdin.take());
        let out = self.child.wait_with_output().expect("wait for vigil");
        common::Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Whether Alertmanager's webhook told `receiver` that the alert of `host` is `status`.
fn notified(requests: &[Request], host: &str, status: &str) -> bool {
    requests.iter().any(|r| {
        r.json()["alerts"].as_array().is_some_and(|alerts| {
            alerts
                .iter()
                .any(|a| a["labels"]["host"] == host && a["status"] == status)
        })
    })
}

fn hosts(alerts: &[serde_json::Value]) -> Vec<String> {
    let mut h: Vec<String> = alerts
        .iter()
        .map(|a| a["labels"]["host"].as_str().unwrap_or("").to_string())
        .collect();
    h.sort();
    h
}

#[test]
fn alertmanager_holds_the_firing_alerts_not_the_resolved_and_its_receiver_hears_both() {
    let receiver = HttpRecorder::start(|_| Answer::Status(200));
    let Some(am) = components::alertmanager(&receiver.url("/receiver")) else {
        return;
    };
    let dir = common::tempdir();
    let mut run = Live::start(dir.path(), &["--alertmanager", &am.url]);
    // window [0:00, 0:01) closes when the 0:01 records arrive: a and b fire
    run.send(
        "ts,host,value\n2026-01-01T00:00:10Z,a,95\n2026-01-01T00:00:20Z,b,99\n\
         2026-01-01T00:01:10Z,a,50\n2026-01-01T00:01:20Z,b,97\n",
    );
    assert!(
        receiver.wait_for(15, |r| notified(r, "a", "firing")
            && notified(r, "b", "firing")),
        "the receiver was not told of the firing alerts: {:?}",
        receiver
            .requests()
            .iter()
            .map(|r| r.json())
            .collect::<Vec<_>>()
    );
    // window [0:01, 0:02) closes: a's average is 50, it resolves; b stays firing
    run.send("2026-01-01T00:02:10Z,a,50\n");
    assert!(
        receiver.wait_for(15, |r| notified(r, "a", "resolved")),
        "the receiver was not told that a resolved"
    );
    let out = run.finish();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.count("notify_failed"), 0, "{}", out.stderr);
    assert_eq!(out.count("notify_delivered"), 3, "{}", out.stderr);

    let active = am.active_alerts();
    assert_eq!(hosts(&active), ["b"], "{active:#?}");
    let b = &active[0];
    assert_eq!(
        b["labels"],
        serde_json::json!({"alertname": "hot", "severity": "critical", "host": "b"})
    );
    assert_eq!(b["annotations"]["condition"], RULE);
    assert_eq!(b["annotations"]["value"], "99");
    assert_eq!(
        b["annotations"]["summary"],
        "hot firing for host=b, value 99"
    );
    assert_eq!(b["startsAt"], "2026-01-01T00:01:00.000Z");
    assert!(!notified(&receiver.requests(), "b", "resolved"));
}

#[test]
fn a_run_killed_with_minus_9_and_resumed_re_sends_its_firing_alert() {
    let receiver = HttpRecorder::start(|_| Answer::Status(200));
    let Some(am) = components::alertmanager(&receiver.url("/receiver")) else {
        return;
    };
    let dir = common::tempdir();
    // a short ttl, so the alert of the killed run expires in Alertmanager
    let flags = [
        "--checkpoint",
        "run.ckpt",
        "--checkpoint-every",
        "100ms",
        "--alertmanager",
        &am.url,
        "--alert-ttl",
        "2s",
    ];
    let mut first = Live::start(dir.path(), &flags);
    first.send("ts,host,value\n2026-01-01T00:00:20Z,b,99\n2026-01-01T00:01:20Z,b,97\n");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while hosts(&am.active_alerts()) != ["b"] {
        assert!(
            std::time::Instant::now() < deadline,
            "b never became active"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // a checkpoint after the firing event (every 100 ms)
    std::thread::sleep(Duration::from_millis(500));
    assert!(dir.path().join("run.ckpt").exists());
    first.child.kill().unwrap(); // SIGKILL
    let _ = first.child.wait();

    // nobody re-sends it now: it expires within the ttl
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !am.active_alerts().is_empty() {
        assert!(std::time::Instant::now() < deadline, "b did not expire");
        std::thread::sleep(Duration::from_millis(100));
    }

    // the same command again, with nothing more on stdin
    let second = Live::start(dir.path(), &flags);
    let out = second.finish();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.count("notify_resent"), 1, "{}", out.stderr);
    assert_eq!(out.count("firing"), 1, "{}", out.stderr);
    let active = am.active_alerts();
    assert_eq!(hosts(&active), ["b"], "{active:#?}");
    assert_eq!(
        active[0]["startsAt"], "2026-01-01T00:01:00.000Z",
        "the original start"
    );
    assert_eq!(active[0]["annotations"]["value"], "99");
    let alerts = std::fs::read_to_string(dir.path().join("alerts.csv")).unwrap();
    assert_eq!(
        alerts.lines().filter(|l| l.contains(",firing,")).count(),
        1,
        "{alerts}"
    );
}

#[test]
fn hostile_keys_arrive_as_label_values() {
    let receiver = HttpRecorder::start(|_| Answer::Status(200));
    let Some(am) = components::alertmanager(&receiver.url("/receiver")) else {
        return;
    };
    let dir = common::tempdir();
    let evil = "$(touch pwned) \"quoted\" 'single'\nline two";
    let mut data = format!(
        "{{\"ts\":\"2026-01-01T00:00:10Z\",\"k8s.pod\":{},\"value\":95}}\n",
        serde_json::to_string(evil).unwrap()
    )
    .into_bytes();
    data.extend_from_slice(
        b"{\"ts\":\"2026-01-01T00:00:20Z\",\"k8s.pod\":\"bytes \xff end\",\"value\":99}\n",
    );
    common::write(dir.path(), "m.jsonl", data);
    let (out, _) = crate::webhook::run_env(
        dir.path(),
        &[
            "run",
            "m.jsonl",
            "--time",
            "ts",
            "--key",
            "k8s.pod",
            "--window",
            "1m",
            "--alert",
            RULE,
            "--alertmanager",
            &am.url,
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.count("notify_failed"), 0, "{}", out.stderr);
    let active = am.active_alerts();
    let mut pods: Vec<&str> = active
        .iter()
        .map(|a| a["labels"]["k8s_pod"].as_str().unwrap())
        .collect();
    pods.sort();
    assert_eq!(pods, [evil, "bytes \u{fffd} end"], "{active:#?}");
    for a in &active {
        let summary = a["annotations"]["summary"].as_str().unwrap();
        assert!(!summary.contains('\n'), "{summary}");
    }
    assert!(!dir.path().join("pwned").exists());
}

#[test]
fn firing_alerts_are_re_sent_every_quarter_ttl_with_a_fresh_end() {
    // a recording server in Alertmanager's place
    let server = HttpRecorder::start(|_| Answer::Status(200));
    let dir = common::tempdir();
    let mut run = Live::start(
        dir.path(),
        &["--alertmanager", &server.url("/am"), "--alert-ttl", "2s"],
    );
    run.send("ts,host,value\n2026-01-01T00:00:20Z,b,99\n2026-01-01T00:01:20Z,b,97\n");
    // the event, then a re-send every 500 ms
    assert!(
        server.wait_for(10, |r| r.len() >= 4),
        "{:?}",
        server.requests().len()
    );
    let out = run.finish();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let got = server.requests();
    let mut ends = Vec::new();
    for r in &got {
        assert_eq!(r.path, "/am/api/v2/alerts");
        let v = r.json();
        let arr = v.as_array().unwrap();
        assert_eq!(arr.len(), 1, "{v}");
        assert_eq!(arr[0]["labels"]["host"], "b");
        assert_eq!(arr[0]["startsAt"], "2026-01-01T00:01:00.000Z");
        ends.push(arr[0]["endsAt"].as_str().unwrap().to_string());
    }
    assert!(
        ends.windows(2).all(|w| w[0] < w[1]),
        "endsAt moves on: {ends:?}"
    );
    // re-sends 500 ms apart (ttl/4), not faster
    let gaps: Vec<Duration> = got.windows(2).skip(1).map(|w| w[1].at - w[0].at).collect();
    assert!(
        gaps.iter()
            .all(|g| *g >= Duration::from_millis(400) && *g < Duration::from_millis(1500)),
        "{gaps:?}"
    );
    // endsAt = the time of sending + 2 s
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let last = ends.last().unwrap().as_str();
    assert!(
        last > common::rfc3339(now).as_str() && last < common::rfc3339(now + 2500).as_str(),
        "{last}"
    );
    assert!(out.count("notify_resent") >= 3, "{}", out.stderr);
}
