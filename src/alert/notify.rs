//! `--on-alert CMD`: runs the command through `sh -c` once per event, with the
//! event as one JSON line on stdin and as `VIGIL_*` environment variables,
//! never spliced into the command text. Bounded concurrency, a timeout, and
//! failures counted and reported on stderr; never blocks the caller.

/// Counters of what happened to notifications.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NotifyStats {
    pub started: u64,
    pub failed: u64,
    pub timed_out: u64,
    /// dropped because the queue was full
    pub dropped: u64,
}

pub struct Notifier {
    _todo: (),
}

impl Notifier {
    pub fn new(command: String, max_running: usize, timeout: std::time::Duration) -> Notifier {
        let _ = (command, max_running, timeout);
        todo!()
    }
    /// Queues one event. `json_line` has no trailing newline; `env` holds the
    /// VIGIL_* variables. Never blocks.
    pub fn notify(&self, json_line: String, env: Vec<(&'static str, String)>) {
        let _ = (json_line, env);
        todo!()
    }
    /// Waits for queued and running commands (each still bounded by the timeout) and returns the counters.
    pub fn finish(self) -> NotifyStats {
        todo!()
    }
}
