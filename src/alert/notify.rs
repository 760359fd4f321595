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
/// At the end of a run, how long queued and running commands may still take
/// (SPEC 11 gives deliveries the same bound); what is left is counted as dropped.
pub const FINISH_WAIT: Duration = Duration::from_secs(10);

/// Counters of what happened to notifications.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NotifyStats {
    pub started: u64,
    pub failed: u64,
    pub timed_out: u64,
    /// dropped because the queue was full, or still queued when the end-of-run wait ran out
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
    /// set by `finish`: no command runs or lives past it
    deadline: Arc<Mutex<Option<Instant>>>,
}

/// An environment value as the hook receives it: a NUL byte cannot be part
/// of an environment variable (the command would not even start), so it is
/// written `\0`. The JSON on stdin keeps the exact bytes (`\u0000`).
fn env_value(v: &str) -> std::borrow::Cow<'_, str> {
    if v.contains('\0') {
        std::borrow::Cow::Owned(v.replace('\0', "\\0"))
    } else {
        std::borrow::Cow::Borrowed(v)
    }
}

/// Makes `fd` non-blocking, so writing the event can never stall the runner.
fn set_nonblocking(fd: std::os::fd::RawFd) -> bool {
    // SAFETY: fcntl on a descriptor this process owns (the child's stdin pipe).
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) == 0
    }
}

fn run_one(
    command: &str,
    job: &Job,
    timeout: Duration,
    deadline: &Mutex<Option<Instant>>,
    stats: &Mutex<NotifyStats>,
) {
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
    cmd.envs(job.env.iter().map(|(k, v)| (*k, env_value(v).into_owned())));
    // A process group of its own, so a timeout ends the command's children too.
    cmd.process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            stats.lock().expect("stats").failed += 1;
            crate::diag!("vigil: --on-alert could not start sh: {e}");
            return;
        }
    };
    let started = Instant::now();
    // The time limit holds from the start, whatever the command does: the
    // event is written to its stdin without blocking, a piece at a time
    // between polls, and a command that never reads it is killed on time
    // (or when the end-of-run wait runs out, whichever comes first).
    let over = || {
        started.elapsed() >= timeout
            || deadline
                .lock()
                .expect("deadline")
                .is_some_and(|d| Instant::now() >= d)
    };
    let mut input = Vec::with_capacity(job.json.len() + 1);
    input.extend_from_slice(job.json.as_bytes());
    input.push(b'\n');
    let mut stdin = child.stdin.take();
    if let Some(s) = &stdin {
        use std::os::fd::AsRawFd;
        if !set_nonblocking(s.as_raw_fd()) {
            stdin = None; // cannot write safely: the command gets an empty stdin
        }
    }
    let mut sent = 0;
    loop {
        if let Some(s) = &mut stdin {
            match s.write(&input[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => sent = input.len(), // the command closed its stdin
            }
            if sent >= input.len() {
                stdin = None; // closing it tells the command the event is complete
            }
        }
        match child.try_wait() {
            Ok(Some(status)) => {
                if !status.success() {
                    stats.lock().expect("stats").failed += 1;
                    crate::diag!("vigil: --on-alert command failed ({status}) for rule {rule}");
                }
                return;
            }
            Ok(None) if over() => {
                // SAFETY: kill(2) on the child's own process group.
                unsafe {
                    libc::kill(-(child.id() as i32), libc::SIGKILL);
                }
                let _ = child.kill();
                let _ = child.wait();
                stats.lock().expect("stats").timed_out += 1;
                crate::diag!(
                    "vigil: --on-alert command timed out after {:.1}s for rule {rule}; killed",
                    started.elapsed().as_secs_f64()
                );
                return;
            }
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => {
                stats.lock().expect("stats").failed += 1;
                crate::diag!("vigil: --on-alert command: {e}");
                return;
            }
        }
    }
}

impl Notifier {
    pub fn new(command: String, max_running: usize, timeout: Duration) -> Notifier {
        let (tx, rx) = crossbeam_channel::bounded::<Job>(QUEUE);
        let stats = Arc::new(Mutex::new(NotifyStats::default()));
        let deadline: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
        let command = Arc::new(command);
        let workers = (0..max_running.max(1))
            .map(|i| {
                let rx = rx.clone();
                let stats = stats.clone();
                let command = command.clone();
                let deadline = deadline.clone();
                std::thread::Builder::new()
                    .name(format!("on-alert-{i}"))
                    .spawn(move || {
                        for job in rx {
                            let d = *deadline.lock().expect("deadline");
                            if d.is_some_and(|d| Instant::now() >= d) {
                                // the end-of-run wait is over: counted, not run
                                stats.lock().expect("stats").dropped += 1;
                                continue;
                            }
                            run_one(&command, &job, timeout, &deadline, &stats);
                        }
                    })
                    .expect("spawn notifier thread")
            })
            .collect();
        Notifier {
            tx: Some(tx),
            workers,
            stats,
            deadline,
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
                    crate::diag!("vigil: --on-alert cannot keep up: events beyond {QUEUE} waiting are dropped (counted)");
                }
            }
        }
    }

    /// Waits for queued and running commands, at most [`FINISH_WAIT`]: then
    /// running commands are killed and what is still queued is counted as
    /// dropped. Returns the counters.
    pub fn finish(self) -> NotifyStats {
        self.finish_within(FINISH_WAIT)
    }

    /// `finish` with another bound (tests).
    pub fn finish_within(mut self, wait: Duration) -> NotifyStats {
        let before = self.stats.lock().expect("stats").dropped;
        *self.deadline.lock().expect("deadline") = Some(Instant::now() + wait);
        self.tx.take();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        let s = self.stats.lock().expect("stats").clone();
        if s.dropped > before {
            crate::diag!(
                "vigil: --on-alert: {} events still queued when the end-of-run wait ({:.0}s) ran out were not run (counted in notify_dropped)",
                s.dropped - before,
                wait.as_secs_f64()
            );
        }
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
    fn the_timeout_holds_for_a_hook_that_never_reads_a_large_event() {
        // 100 KB is more than a pipe holds: writing it blocked vigil forever.
        let started = Instant::now();
        let n = Notifier::new("sleep 30".into(), 1, Duration::from_millis(300));
        n.notify(
            format!("{{\"k\":\"{}\"}}", "x".repeat(100_000)),
            env("big", "k"),
        );
        let s = n.finish();
        assert_eq!((s.started, s.timed_out), (1, 1));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn the_end_of_a_run_waits_a_bounded_time_then_counts_what_was_not_run() {
        let started = Instant::now();
        let n = Notifier::new("sleep 5".into(), 2, Duration::from_secs(10));
        for _ in 0..200 {
            n.notify("{}".into(), env("flood", "k"));
        }
        let s = n.finish_within(Duration::from_millis(300));
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(s.started, 2, "{s:?}");
        assert_eq!(
            s.timed_out, 2,
            "the running ones are ended at the deadline: {s:?}"
        );
        assert_eq!(s.dropped, 198, "{s:?}");
    }

    #[test]
    fn a_nul_byte_in_a_key_is_escaped_in_vigil_key_and_the_hook_runs() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("key");
        let cmd = format!("printf '%s' \"$VIGIL_KEY\" > {}", out.display());
        let n = Notifier::new(cmd, 1, Duration::from_secs(5));
        n.notify("{}".into(), env("r", "a\0b"));
        let s = n.finish();
        assert_eq!((s.started, s.failed), (1, 0), "{s:?}");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "a\\0b");
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
