//! The command line: clap definitions ([`args`]), the job file and the
//! resolved [`crate::job::Job`] built from them ([`config`]). The only module that knows clap; nothing
//! after [`Job::from_args`] re-checks a flag.

pub mod args;
pub mod check;
pub mod config;
pub mod export;
pub mod jobfile;
pub mod man;
pub mod ruletest;

/// The completion script for `shell` (main prints it: a closed stdout must
/// end quietly, and clap_complete panics when writing to one fails).
pub fn completions(shell: clap_complete::Shell) -> String {
    use clap::CommandFactory;
    let mut cmd = args::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "vigil", &mut script);
    String::from_utf8_lossy(&script).into_owned()
}
