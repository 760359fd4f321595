//! The command line: clap definitions ([`args`]), the job file and the
//! resolved [`crate::job::Job`] built from them ([`config`]). The only module that knows clap; nothing
//! after [`Job::from_args`] re-checks a flag.

pub mod args;
pub mod check;
pub mod config;
pub mod jobfile;
pub mod man;
pub mod ruletest;

/// Writes the completion script for `shell` to stdout.
pub fn completions(shell: clap_complete::Shell) {
    use clap::CommandFactory;
    let mut cmd = args::Cli::command();
    clap_complete::generate(shell, &mut cmd, "vigil", &mut std::io::stdout());
}
