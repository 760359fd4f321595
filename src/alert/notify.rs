//! `--on-alert CMD`: runs the command through `sh -c` once per event, with the
//! event as one JSON line on stdin and as `VIGIL_*` environment variables,
//! never spliced into the command text. Bounded concurrency, a timeout, and
//! failures counted and reported on stderr; never blocks the caller.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};

/// Events waiting for a free runner; beyond this they are dropped and counted.
const QUEUE: usize = 1024;
/// How often a runner checks whether its command has ended.
const POLL: Duration = Duration::from_millis(5);

/// Counters of what happened to notifications.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NotifyStats {
    pub started: u64,
    pub failed: u64,
    pub timed_out: u64,
    /// dropped because the queue was full
    pub dropped: u64,
}

struct Job {
    json: String,
    env: Vec<(&'static str, String)>,
}

pub struct Notifier {
    tx: Option<Sender<Job>>,
    workers: Vec<std::thread::JoinHandle<()>>,
    stats: Arc<Mutex<NotifyStats>>,
}

fn run_one(command: &str, job: &Job, timeout: Duration, stats: &Mutex<NotifyStats>) {
    let rule = job
        .env
        .iter()
        .find(|(k, _)| *k == "VIGIL_RULE")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    stats.lock().expect("stats").started += 1;
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    cmd.envs(job.env.iter().map(|(k, v)| (*k, v.as_str())));
    // A process group of its own, so a timeout ends the command's children too.
    cmd.process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            stats.lock().expect("stats").failed += 1;
            eprintln!("vigil: --on-alert could not start sh: {e}");
            return;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(job.json.as_bytes());
        let _ = stdin.write_all(b"\n");
    }
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                if !status.success() {
                    stats.lock().expect("stats").failed += 1;
                    eprintln!("vigil: --on-alert command failed ({status}) for rule {rule}");
                }
                return;
            }
            Ok(None) if started.elapsed() >= timeout => {
                // SAFETY: kill(2) on the child's own process group.
                unsafe {
                    libc::kill(-(child.id() as i32), libc::SIGKILL);
                }
                let _ = child.kill();
                let _ = child.wait();
                stats.lock().expect("stats").timed_out += 1;
                eprintln!(
                    "vigil: --on-alert command timed out after {:.1}s for rule {rule}; killed",
                    timeout.as_secs_f64()
                );
                return;
            }
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => {
                stats.lock().expect("stats").failed += 1;
                eprintln!("vigil: --on-alert command: {e}");
                return;
            }
        }
    }
}

impl Notifier {
    pub fn new(command: String, max_running: usize, timeout: Duration) -> Notifier {
        let (tx, rx) = crossbeam_channel::bounded::<Job>(QUEUE);
        let stats = Arc::new(Mutex::new(NotifyStats::default()));
        let command = Arc::new(command);
        let workers = (0..max_running.max(1))
            .map(|i| {
                let rx = rx.clone();
                let stats = stats.clone();
                let command = command.clone();
                std::thread::Builder::new()
                    .name(format!("on-alert-{i}"))
                    .spawn(move || {
                        for job in rx {
                            run_one(&command, &job, timeout, &stats);
                        }
                    })
                    .expect("spawn notifier thread")
            })
            .collect();
        Notifier {
            tx: Some(tx),
            workers,
            stats,
        }
    }

    /// Queues one event. `json_line` has no trailing newline; `env` holds the
    /// VIGIL_* variables. Never blocks.
    pub fn notify(&self, json_line: String, env: Vec<(&'static str, String)>) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(Job {
            json: json_line,
            env,
        }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                let mut s = self.stats.lock().expect("stats");
                s.dropped += 1;
                if s.dropped == 1 {
                    eprintln!("vigil: --on-alert cannot keep up: events beyond {QUEUE} waiting are dropped (counted)");
                }
            }
        }
    }

    /// Waits for queued and running commands (each still bounded by the timeout) and returns the counters.
    pub fn finish(mut self) -> NotifyStats {
        self.tx.take();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        let s = self.stats.lock().expect("stats").clone();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(rule: &str, key: &str) -> Vec<(&'static str, String)> {
        vec![
            ("VIGIL_RULE", rule.to_string()),
            ("VIGIL_KEY", key.to_string()),
        ]
    }

    #[test]
    fn passes_the_event_as_data_and_counts_failures_and_timeouts() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.txt");
        let pwned = dir.path().join("pwned");
        let cmd = format!(
            "cat > {0}.json; printf '%s|%s' \"$VIGIL_RULE\" \"$VIGIL_KEY\" > {0}",
            out.display()
        );
        let n = Notifier::new(cmd, 2, Duration::from_secs(5));
        let evil = format!("$(touch {})", pwned.display());
        n.notify(format!("{{\"host\":\"{evil}\"}}"), env("r1", &evil));
        let s = n.finish();
        assert_eq!((s.started, s.failed, s.timed_out), (1, 0, 0));
        assert_eq!(std::fs::read_to_string(&out).unwrap(), format!("r1|{evil}"));
        assert!(std::fs::read_to_string(format!("{}.json", out.display()))
            .unwrap()
            .contains(&evil));
        assert!(!pwned.exists(), "the key ran as a command");

        let n = Notifier::new("exit 3".into(), 1, Duration::from_secs(5));
        n.notify("{}".into(), env("r", "k"));
        n.notify("{}".into(), env("r", "k"));
        assert_eq!(n.finish().failed, 2);

        let started = Instant::now();
        let n = Notifier::new("sleep 30".into(), 2, Duration::from_millis(200));
        n.notify("{}".into(), env("slow", "k"));
        let s = n.finish();
        assert_eq!(s.timed_out, 1);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the timeout ended the command"
        );
    }
}
