//! The documentation stays true: README examples marked `sh runnable` run,
//! the quick start runs, the checked-in man page matches the CLI and lints
//! clean, every flag is documented, completions are produced.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).unwrap()
}

/// Runs `line` with bash from the repository root, `vigil` being the built binary.
fn sh(line: &str) -> std::process::Output {
    let bin = crate::common::bin();
    let script = format!("vigil() {{ '{}' \"$@\"; }}\n{line}", bin.display());
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(root())
        .output()
        .unwrap()
}

#[test]
fn runnable_readme_examples_exit_0() {
    let text = readme();
    let mut blocks = 0;
    let mut in_block = false;
    let mut command = String::new();
    for line in text.lines() {
        if line.trim() == "```sh runnable" {
            in_block = true;
            blocks += 1;
            continue;
        }
        if in_block && line.trim() == "```" {
            in_block = false;
            continue;
        }
        if in_block {
            command.push_str(line.trim_end_matches('\\'));
            if line.ends_with('\\') {
                continue;
            }
            let out = sh(&command);
            assert!(
                out.status.success(),
                "README example failed: {command}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            command.clear();
        }
    }
    assert!(
        blocks >= 4,
        "the README marks its runnable examples ({blocks} found)"
    );
}

#[test]
fn quick_start_runs_on_shipped_data() {
    let text = readme();
    let line = text
        .lines()
        .find(|l| l.starts_with("cargo run --release -- run") || l.starts_with("vigil run"))
        .expect("a quick start line");
    let args = line
        .trim_start_matches("cargo run --release -- ")
        .trim_start_matches("vigil ");
    let out = sh(&format!("vigil {args}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("window_start,window_end,host,metric,count,avg_value,p95_value\n"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("FIRING cpu_hot") && stderr.contains("host=web-2"),
        "{stderr}"
    );
    assert!(
        text.contains("\ncargo test\n"),
        "the README shows the test command"
    );
}

#[test]
fn man_page_is_current_and_documents_every_flag() {
    let generated = Command::new(crate::common::bin())
        .arg("man")
        .output()
        .unwrap();
    assert!(generated.status.success());
    let checked_in = std::fs::read_to_string(root().join("man/vigil.1")).unwrap();
    assert!(
        checked_in == String::from_utf8_lossy(&generated.stdout),
        "man/vigil.1 is out of date: regenerate it with `cargo run -- man > man/vigil.1`"
    );
    let help = Command::new(crate::common::bin())
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let page = checked_in.replace("\\-", "-");
    let mut flags = 0;
    for word in help.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']') {
        if let Some(flag) = word.strip_prefix("--") {
            let flag: String = flag
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '-')
                .collect();
            if flag.is_empty() || flag == "help" {
                continue;
            }
            flags += 1;
            assert!(
                page.contains(&format!("--{flag}")),
                "the man page does not document --{flag}"
            );
        }
    }
    assert!(flags > 30, "found {flags} flags in --help");
    for section in [
        "WINDOWS",
        "TIME",
        "ALERTS",
        "CHECKPOINTS",
        "EXIT STATUS",
        "EXAMPLES",
    ] {
        assert!(
            checked_in.contains(&format!(".SH {section}")),
            "section {section}"
        );
    }
}

#[test]
fn man_page_has_no_groff_warnings() {
    let out = match Command::new("groff")
        .args(["-man", "-Tutf8", "-ww"])
        .arg(root().join("man/vigil.1"))
        .output()
    {
        Ok(o) => o,
        Err(_) => {
            eprintln!("groff is not installed: skipping the man page lint");
            return;
        }
    };
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "groff warnings");
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(crate::common::bin())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains("window") && script.len() > 1000,
            "{shell}: {script}"
        );
    }
}

#[test]
fn check_prints_the_dataflow_plan_and_flags_override_the_job_file() {
    let out = Command::new(crate::common::bin())
        .args(["check", "-c", "testdata/job.toml", "--threads", "2"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout));
    let over = Command::new(crate::common::bin())
        .args([
            "check",
            "-c",
            "testdata/job.toml",
            "--window",
            "5m",
            "--slide",
            "1m",
            "--alert",
            "avg(value) > 1",
        ])
        .current_dir(root())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&over.stdout);
    assert!(text.contains("window:     sliding 5m every 1m"), "{text}");
    assert!(
        text.contains("rule:       rule1 [warning] for 1: avg(value) > 1"),
        "{text}"
    );
    assert!(
        !text.contains("cpu_hot"),
        "a repeated flag replaces the file's list: {text}"
    );
    let bad = Command::new(crate::common::bin())
        .args(["check", "-c", "testdata/job.toml", "--agg", "p95()"])
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
