//! What users see when they get something wrong: stderr and exit status of
//! each usage error, pinned by snapshots (reviewed by eye once: each says
//! what was wrong, where, and what would be right).

use crate::common::{run_in, tempdir, write};

fn case(args: &[&str]) -> String {
    let dir = tempdir();
    write(
        dir.path(),
        "m.csv",
        "ts,host,value\n2026-01-01T00:00:01Z,h1,1\n",
    );
    write(
        dir.path(),
        "broken.toml",
        "time = \"ts\"\nwindow = [\"1m\"\nkey = \"host\"\n",
    );
    write(
        dir.path(),
        "unknown.toml",
        "time = \"ts\"\nwindwo = \"1m\"\n",
    );
    write(
        dir.path(),
        "badvalue.toml",
        "inputs = [\"m.csv\"]\ntime = \"ts\"\n\nwindow = \"5 minutes\"\n",
    );
    write(
        dir.path(),
        "corrupt.ckpt",
        "VIGILCKP and then nonsense that is long enough to have a header",
    );
    let out = run_in(dir.path(), args, None);
    let stderr = out
        .stderr
        .replace(&dir.path().display().to_string(), "[tmp]");
    format!("exit {}\n{}", out.code, stderr)
}

macro_rules! snap {
    ($name:ident, $($arg:expr),+) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(case(&[$($arg),+]));
        }
    };
}

snap!(
    bad_duration,
    "run",
    "m.csv",
    "--time",
    "ts",
    "--window",
    "5x"
);
snap!(
    unknown_key_field,
    "run",
    "m.csv",
    "--time",
    "ts",
    "--key",
    "nosuch"
);
snap!(missing_time_field, "run", "m.csv", "--time", "timestamp");
snap!(
    bad_rule,
    "run",
    "m.csv",
    "--time",
    "ts",
    "--alert",
    "hot: avg(value) > > 90 for 3"
);
snap!(
    rule_on_a_non_key_field,
    "run",
    "m.csv",
    "--time",
    "ts",
    "--key",
    "host",
    "--alert",
    "avg(value) > 1 and region == \"eu\""
);
snap!(
    bad_agg,
    "run",
    "m.csv",
    "--time",
    "ts",
    "--agg",
    "count(), avgg(value)"
);
snap!(bad_where, "run", "m.csv", "--time", "ts", "--where", "value >");
snap!(unreadable_file, "run", "nosuch.csv", "--time", "ts");
snap!(malformed_job_file, "run", "-c", "broken.toml");
snap!(unknown_job_file_key, "run", "-c", "unknown.toml");
snap!(bad_value_in_job_file, "run", "-c", "badvalue.toml");
snap!(
    bad_time_format,
    "run",
    "m.csv",
    "--time",
    "ts",
    "--time-format",
    "%Q"
);
snap!(
    slide_larger_than_window,
    "run",
    "m.csv",
    "--time",
    "ts",
    "--window",
    "1m",
    "--slide",
    "5m"
);
snap!(unknown_format, "run", "m.csv", "--format", "xml");
snap!(zero_count_window, "run", "m.csv", "--count-window", "0");
snap!(
    corrupt_checkpoint,
    "run",
    "m.csv",
    "--time",
    "ts",
    "--checkpoint",
    "corrupt.ckpt"
);
snap!(unknown_flag, "run", "m.csv", "--windwo", "1m");
snap!(
    incremental_without_checkpoint,
    "run",
    "m.csv",
    "--incremental"
);
