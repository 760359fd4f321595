//! The one place where tests get real outside components (Flink, Alertmanager,
//! Chromium): Debian packages installed on first use when running as root
//! (`apt-get update` first), Python packages in a venv under `target/`. A
//! component that cannot be had fails the test when `CI=true`; elsewhere the
//! test says why and returns early, so a laptop without root still runs the rest.
//!
//! Each component has its own function here (`alertmanager()`, `chromium()`,
//! `pyflink()`), built on the primitives below; tests never install anything
//! themselves.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// One installer at a time: tests run in parallel threads, apt and pip do not.
static INSTALL: Mutex<()> = Mutex::new(());

/// True when running in CI, where a missing component is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// What a test does when a component is missing: panics in CI, else prints
/// the reason and returns None so the test can end early.
pub fn unavailable<T>(what: &str, why: &str) -> Option<T> {
    if in_ci() {
        panic!("{what} is needed in CI and could not be set up: {why}");
    }
    eprintln!("skipping: {what} is not available here: {why}");
    None
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The project's `target/` directory (tests run with the manifest dir as cwd).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
    }
}

/// Makes sure `binary` exists, installing the Debian `packages` when it does
/// not and we are root. Returns the binary's path, or why it is missing.
pub fn debian(binary: &str, packages: &[&str]) -> Result<PathBuf, String> {
    let find = || {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(binary))
                .find(|p| p.is_file())
        })
    };
    if let Some(p) = find() {
        return Ok(p);
    }
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = find() {
        return Ok(p);
    }
    if !is_root() {
        return Err(format!(
            "{binary} not found and not root: apt-get install {}",
            packages.join(" ")
        ));
    }
    let update = Command::new("apt-get")
        .args(["update", "-qq"])
        .status()
        .map_err(|e| format!("apt-get update: {e}"))?;
    if !update.success() {
        return Err(format!("apt-get update failed ({update})"));
    }
    let install = Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|e| format!("apt-get install: {e}"))?;
    if !install.success() {
        return Err(format!(
            "apt-get install {} failed ({install})",
            packages.join(" ")
        ));
    }
    find().ok_or_else(|| format!("{binary} still missing after installing {packages:?}"))
}

/// A Python venv at `target/<name>` holding `packages` (pip specifiers);
/// created on first use and reused. Returns its `python` executable.
pub fn python_venv(name: &str, packages: &[&str], probe: &str) -> Result<PathBuf, String> {
    let dir = target_dir().join(name);
    let python = dir.join("bin").join("python");
    let works = |py: &Path| {
        Command::new(py)
            .args(["-c", probe])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if works(&python) {
        return Ok(python);
    }
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if works(&python) {
        return Ok(python);
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&dir)
        .status()
        .map_err(|e| format!("python3 -m venv: {e}"))?;
    if !made.success() {
        return Err(format!("python3 -m venv {} failed", dir.display()));
    }
    let pip = Command::new(&python)
        .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
        .args(packages)
        .status()
        .map_err(|e| format!("pip install: {e}"))?;
    if !pip.success() || !works(&python) {
        return Err(format!("pip install {} failed", packages.join(" ")));
    }
    Ok(python)
}

/// A free TCP port on loopback (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Headless Chromium (Debian `chromium`), each run with a fresh profile and
/// its network services off. The page's console messages (script errors,
/// SVG attribute errors, Content-Security-Policy violations such as an
/// attempt to load anything from elsewhere) are read from Chromium's own log
/// on stderr: `--enable-logging=stderr --v=0` prints each as a line with
/// `:INFO:CONSOLE`.
pub struct Chromium {
    binary: PathBuf,
}

/// What one Chromium run left: stdout (the DOM for `--dump-dom`) and the
/// page's console messages.
pub struct BrowserRun {
    pub stdout: String,
    pub console: Vec<String>,
}

/// Chromium never takes this long for a local page; beyond it the test fails.
const BROWSER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

impl Chromium {
    fn run(&self, page: &Path, extra: &[String]) -> BrowserRun {
        let profile = tempfile::tempdir().expect("a temp dir for the browser profile");
        let url = format!(
            "file://{}",
            page.canonicalize().expect("the page exists").display()
        );
        let child = Command::new(&self.binary)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--enable-logging=stderr",
                "--v=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(&url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start chromium");
        let pid = child.id();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = done.clone();
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + BROWSER_TIMEOUT;
            while std::time::Instant::now() < deadline {
                if flag.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        });
        let out = child.wait_with_output().expect("wait for chromium");
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "chromium failed ({}) on {url}:\n{stderr}",
            out.status
        );
        BrowserRun {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            console: stderr
                .lines()
                .filter(|l| l.contains(":INFO:CONSOLE"))
                .map(str::to_string)
                .collect(),
        }
    }

    /// Loads `page` and prints its DOM after parsing (`--dump-dom`).
    pub fn dump_dom(&self, page: &Path) -> BrowserRun {
        self.run(page, &["--dump-dom".to_string()])
    }

    /// Loads `page` and saves a `width` x `height` screenshot at `png`.
    pub fn screenshot(&self, page: &Path, png: &Path, width: u32, height: u32) -> BrowserRun {
        self.run(
            page,
            &[
                "--hide-scrollbars".to_string(),
                format!("--window-size={width},{height}"),
                format!("--screenshot={}", png.display()),
            ],
        )
    }
}

/// Headless Chromium, installed from Debian when missing (and root).
pub fn chromium() -> Option<Chromium> {
    match debian("chromium", &["chromium"]) {
        Ok(binary) => Some(Chromium { binary }),
        Err(why) => unavailable("Chromium (Debian package chromium)", &why),
    }
}

/// PyFlink (`apache-flink` 2.3.0 from PyPI) in `target/pyflink`, on Java 17
/// from Debian: a local Flink mini-cluster for the export tests. Returns the
/// venv's `python`, or None (after saying why) outside CI when it cannot be had.
pub fn pyflink() -> Option<PathBuf> {
    if let Err(why) = debian("java", &["openjdk-17-jre-headless"]) {
        return unavailable("Java 17 for Flink", &why);
    }
    match python_venv(
        "pyflink",
        &[PYFLINK_PACKAGE],
        "import pyflink.table; import pyflink.version",
    ) {
        Ok(python) => Some(python),
        Err(why) => unavailable("PyFlink", &why),
    }
}

/// The Flink the export tests run on.
pub const PYFLINK_PACKAGE: &str = "apache-flink==2.3.0";

/// A Prometheus Alertmanager (Debian `prometheus-alertmanager`) running on a
/// free loopback port with a temp config and storage dir, no clustering.
/// Every alert is its own group (`group_by: ['...']`), notified to
/// `receiver` (with resolved ones) after 200 ms, regrouped every 500 ms, so
/// tests see notifications quickly. Stopped when dropped.
pub struct Alertmanager {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    _dir: tempfile::TempDir,
}

pub fn alertmanager(receiver: &str) -> Option<Alertmanager> {
    let binary = match debian("prometheus-alertmanager", &["prometheus-alertmanager"]) {
        Ok(b) => b,
        Err(why) => return unavailable("Prometheus Alertmanager", &why),
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: test\n  group_by: ['...']\n  group_wait: 200ms\n  group_interval: 500ms\n  repeat_interval: 1h\n\
             receivers:\n  - name: test\n    webhook_configs:\n      - url: {receiver}\n        send_resolved: true\n"
        ),
    )
    .expect("write alertmanager.yml");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let child = Command::new(&binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .arg("--log.level=warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let mut am = match child {
        Ok(child) => Alertmanager {
            child,
            url,
            _dir: dir,
        },
        Err(e) => {
            return unavailable(
                "Prometheus Alertmanager",
                &format!("cannot start {}: {e}", binary.display()),
            )
        }
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while std::time::Instant::now() < deadline {
        if loopback_agent()
            .get(format!("{}/-/ready", am.url))
            .call()
            .is_ok_and(|r| r.status() == 200)
        {
            return Some(am);
        }
        if let Ok(Some(status)) = am.child.try_wait() {
            return unavailable(
                "Prometheus Alertmanager",
                &format!("exited at start ({status})"),
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    unavailable("Prometheus Alertmanager", "not ready within 15 s")
}

impl Alertmanager {
    /// `GET /api/v2/alerts` (active, not silenced or inhibited): the alerts as JSON.
    pub fn active_alerts(&self) -> Vec<serde_json::Value> {
        let body = loopback_agent()
            .get(format!(
                "{}/api/v2/alerts?active=true&silenced=false&inhibited=false",
                self.url
            ))
            .call()
            .expect("GET /api/v2/alerts")
            .body_mut()
            .read_to_string()
            .expect("alerts body");
        serde_json::from_str::<Vec<serde_json::Value>>(&body).expect("alerts JSON")
    }
}

/// An HTTP client for loopback servers: no proxy from the environment.
fn loopback_agent() -> ureq::Agent {
    ureq::Agent::config_builder().proxy(None).build().into()
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
