//! Helpers for the integration tests: run the built binary in a temporary
//! directory and read its report and summary.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vigil"))
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The `key=value` pairs of the `vigil:` summary line.
    pub fn summary(&self) -> HashMap<String, String> {
        let line = self
            .stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("vigil: records="))
            .unwrap_or_else(|| panic!("no summary line in stderr:\n{}", self.stderr));
        line.trim_start_matches("vigil: ")
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
    pub fn count(&self, name: &str) -> u64 {
        self.summary()[name].parse().unwrap()
    }
}

/// Runs vigil with `args` in `dir`, feeding `stdin`.
pub fn run_in(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    run_in_env(dir, args, stdin, &[])
}

/// [`run_in`] with extra environment variables (the test knobs).
pub fn run_in_env(dir: &Path, args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start vigil");
    if let Some(data) = stdin {
        let mut s = child.stdin.take().unwrap();
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = s.write_all(&data);
        });
    }
    let out = child.wait_with_output().expect("wait for vigil");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn run(args: &[&str]) -> Output {
    run_in(Path::new(env!("CARGO_MANIFEST_DIR")), args, None)
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

pub fn write(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// RFC 3339 with milliseconds, as vigil writes it (test-side implementation).
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // civil from days (proleptic Gregorian)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// Kills process `pid` after `secs` seconds unless the test ended first, so a
/// regression that stops vigil from answering fails the test instead of
/// hanging CI. The returned guard disarms the watchdog when dropped.
pub fn watchdog(pid: u32, secs: u64) -> Watchdog {
    let armed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = armed.clone();
    std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while std::time::Instant::now() < deadline {
            if !flag.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        if flag.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        }
    });
    Watchdog(armed)
}

pub struct Watchdog(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

/// What a [`HttpRecorder`] does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// answer with this status and an empty body
    Status(u16),
    /// read the request, never answer (the connection stays open until the recorder stops)
    Silent,
}

/// One request as a [`HttpRecorder`] read it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// the request target: path and query
    pub path: String,
    /// header names in lower case
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: std::time::Instant,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// A small HTTP/1.1 server on loopback that records every request and
/// answers as `script(n)` says for the n-th (0-based). Keep-alive and
/// `Content-Length` bodies; a chunked body is recorded as empty (tests
/// assert there is none). Stops when dropped.
pub struct HttpRecorder {
    pub addr: std::net::SocketAddr,
    requests: std::sync::Arc<std::sync::Mutex<Vec<Request>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl HttpRecorder {
    pub fn start(script: impl Fn(usize) -> Answer + Send + Sync + 'static) -> HttpRecorder {
        use std::sync::atomic::Ordering;
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let script = Arc::new(script);
        let (reqs, stopped) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (reqs, stopped, script) =
                            (reqs.clone(), stopped.clone(), script.clone());
                        std::thread::spawn(move || {
                            serve_connection(conn, &reqs, &stopped, &*script)
                        });
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        HttpRecorder {
            addr,
            requests,
            stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits until `done(requests)` holds, at most `secs` seconds; returns whether it did.
    pub fn wait_for(&self, secs: u64, done: impl Fn(&[Request]) -> bool) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while std::time::Instant::now() < deadline {
            if done(&self.requests.lock().unwrap()) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        done(&self.requests.lock().unwrap())
    }
}

impl Drop for HttpRecorder {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn serve_connection(
    conn: std::net::TcpStream,
    requests: &std::sync::Mutex<Vec<Request>>,
    stop: &std::sync::atomic::AtomicBool,
    script: &(dyn Fn(usize) -> Answer + Send + Sync),
) {
    use std::io::{BufRead, BufReader, Read};
    use std::sync::atomic::Ordering;
    let _ = conn.set_read_timeout(Some(std::time::Duration::from_millis(100)));
    let mut writer = match conn.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    // Reads a line, riding out read timeouts until the recorder stops.
    let read_line = |reader: &mut BufReader<std::net::TcpStream>, line: &mut String| -> bool {
        line.clear();
        loop {
            match reader.read_line(line) {
                Ok(0) => return false,
                Ok(_) if line.ends_with('\n') => return true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if stop.load(Ordering::Relaxed) {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
    };
    loop {
        if !read_line(&mut reader, &mut line) {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            if !read_line(&mut reader, &mut line) {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((n, v)) = l.split_once(':') {
                headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        let mut got = 0;
        while got < length {
            match reader.read(&mut body[got..]) {
                Ok(0) => return,
                Ok(n) => got += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
        let n = {
            let mut r = requests.lock().unwrap();
            r.push(Request {
                method,
                path,
                headers,
                body,
                at: std::time::Instant::now(),
            });
            r.len() - 1
        };
        match script(n) {
            Answer::Status(code) => {
                let reply = format!("HTTP/1.1 {code} Scripted\r\nContent-Length: 0\r\n\r\n");
                if writer.write_all(reply.as_bytes()).is_err() {
                    return;
                }
            }
            Answer::Silent => {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                return;
            }
        }
    }
}
