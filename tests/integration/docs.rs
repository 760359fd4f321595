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
    sh_in(root(), line)
}

/// Runs `script` with bash in `dir`, `vigil` being the built binary; the
/// script stops at the first failing command.
fn sh_in(dir: &Path, script: &str) -> std::process::Output {
    let bin = crate::common::bin();
    let script = format!(
        "set -euo pipefail\nvigil() {{ '{}' \"$@\"; }}\n{script}",
        bin.display()
    );
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// The README's command blocks: each ```sh block is a recipe, and every
/// recipe but the quick start (which builds and tests) is marked runnable.
/// Each runs as one script, in order, in one scratch directory that has the
/// repository's `testdata/`, so a recipe may write files and use the ones a
/// recipe before it wrote.
#[test]
fn runnable_readme_examples_exit_0() {
    let text = readme();
    let dir = crate::common::tempdir();
    std::os::unix::fs::symlink(root().join("testdata"), dir.path().join("testdata")).unwrap();
    std::fs::create_dir(dir.path().join("man")).unwrap();
    std::fs::copy(root().join("man/vigil.1"), dir.path().join("man/vigil.1")).unwrap();
    let mut blocks = 0;
    let mut block: Option<String> = None;
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        match &mut block {
            None if line.trim() == "```sh runnable" => block = Some(String::new()),
            // A shell block the tests do not run is either the quick start
            // (run by quick_start_runs_on_shipped_data) or says why it is not
            // run: `sh norun` (it needs ../shared data or a server).
            None if line.trim_start().starts_with("```sh") && line.trim() != "```sh norun" => {
                assert!(
                    lines
                        .get(i + 1)
                        .is_some_and(|l| l.starts_with("cargo run --release")),
                    "line {}: a README recipe that the tests do not run (mark it `sh runnable`, or `sh norun` when it cannot run here): {line}\n{}",
                    i + 1,
                    lines[i..lines.len().min(i + 4)].join("\n")
                );
            }
            None => {}
            Some(script) if line.trim() == "```" => {
                blocks += 1;
                let out = sh_in(dir.path(), script);
                assert!(
                    out.status.success(),
                    "README example failed:\n{script}\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                block = None;
            }
            Some(script) => {
                script.push_str(line);
                script.push('\n');
            }
        }
    }
    assert!(
        blocks >= 12,
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

/// The man page's text with roff escapes undone and whitespace collapsed.
fn man_text() -> String {
    let page = std::fs::read_to_string(root().join("man/vigil.1")).unwrap();
    let text = page
        .replace("\\-", "-")
        .replace("\\*(Aq", "'")
        .replace("\\e", "\\")
        .replace("\\\\", "\\")
        .replace("\\&", "")
        .replace("\\fB", "")
        .replace("\\fR", "")
        .replace("\\fI", "");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn help(args: &[&str]) -> String {
    let out = Command::new(crate::common::bin())
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn man_page_names_no_page_that_does_not_exist() {
    let page = std::fs::read_to_string(root().join("man/vigil.1")).unwrap();
    let page = page.replace("\\-", "-");
    // vigil-run(1), vigil-check(1), ...
    for (i, _) in page.match_indices("vigil-") {
        let rest = &page[i..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '-')
            .collect();
        if rest[name.len()..].starts_with('(') {
            assert!(
                root().join(format!("man/{name}.1")).exists(),
                "the man page refers to {name}(1), which does not exist"
            );
        }
    }
    for sub in [
        "vigil run",
        "vigil check",
        "vigil test",
        "vigil completions",
    ] {
        assert!(man_text().contains(sub), "the page documents {sub}");
    }
}

/// What a new user looks for is in `--help` and in the man page, said once
/// where the flag is defined: the same words in both.
#[test]
fn help_and_man_give_durations_formats_job_file_and_rule_tests() {
    let run = help(&["run", "--help"]);
    let test = help(&["test", "--help"]);
    let man = man_text();
    let mut wanted: Vec<String> = [
        // durations and the default window (--window)
        "a whole number of ms, s, m, h or d, or several combined: 500ms, 10s, 5m, 1h30m, 1d",
        "Window size, tumbling unless --slide is given (default 1m)",
        // job-file tables (--config)
        "[output] with path, format, alerts, alerts_format, late_output, html, on_alert, fail_on_alert",
        "[checkpoint] with path, every, incremental",
        "[[alert]] table per rule with name, when, for, clear, severity",
        "output = \"report.csv\", checkpoint = \"run.ckpt\", alert = [\"hot: avg(value) > 90 for 3\"]",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // the fields of each log format (--format), as the decoders know them
    for format in [vigil::decode::Format::Nginx, vigil::decode::Format::Syslog] {
        wanted.push(vigil::decode::logs::preset_fields(format).join(" "));
    }
    for w in &wanted {
        assert!(
            run.contains(w.as_str()),
            "vigil run --help lacks: {w}\n{run}"
        );
        assert!(man.contains(w.as_str()), "the man page lacks: {w}");
    }
    // the rule-test file format (vigil test)
    for w in [
        "config = \"job.toml\"",
        "[[test]] cases",
        "input_file = \"PATH\"",
        "[[test.expect]] tables",
        "time as an instant",
    ] {
        assert!(test.contains(w), "vigil test --help lacks: {w}\n{test}");
        assert!(man.contains(w), "the man page lacks: {w}");
    }
}

/// Each flag's one-line help is what the completions show and what the man
/// page says: documented once, in the flag's doc comment.
#[test]
fn completions_and_man_page_carry_each_flags_help() {
    use clap::CommandFactory;
    let mut cmd = vigil::cli::args::Cli::command();
    cmd.build();
    let fish = Command::new(crate::common::bin())
        .args(["completions", "fish"])
        .output()
        .unwrap();
    let fish = String::from_utf8_lossy(&fish.stdout);
    let man = man_text();
    let run = cmd.find_subcommand("run").unwrap();
    let mut checked = 0;
    for arg in run.get_arguments() {
        let (Some(long), Some(short_help)) = (arg.get_long(), arg.get_help()) else {
            continue;
        };
        if long == "help" || arg.is_hide_set() {
            continue;
        }
        let short_help = short_help.to_string();
        assert!(
            fish.contains(&format!(
                "-l {long} -d '{}'",
                short_help.replace('\\', "\\\\").replace('\'', "\\'")
            )),
            "fish completion of --{long} lacks its help: {short_help}"
        );
        let long_help = arg
            .get_long_help()
            .map(|h| h.to_string())
            .unwrap_or(short_help);
        let first = long_help.split("\n\n").next().unwrap();
        let first = first.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(man.contains(&first), "the man page lacks --{long}: {first}");
        checked += 1;
    }
    assert!(checked > 30, "{checked} flags");
}
