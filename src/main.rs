//! The vigil binary: allocator, argument parsing, dispatch, exit status.

use clap::Parser;
use vigil::cli::args::{Cli, Command, ExportTarget};
use vigil::error::{Error, EXIT_ALERTS};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            std::process::exit(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let code = match run(cli) {
        Ok(code) => code,
        Err(Error::BrokenPipe) => 0,
        Err(e) => {
            vigil::diag!("vigil: error: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> Result<i32, Error> {
    match cli.command {
        Command::Run(args) => {
            let job = vigil::job::Job::from_args(&args.inputs, &args.job)?;
            let outcome = vigil::pipeline::run(&job)?;
            Ok(if let Some(sig) = outcome.interrupted {
                128 + sig
            } else if job.fail_on_alert && outcome.alerts_fired > 0 {
                EXIT_ALERTS
            } else {
                0
            })
        }
        Command::Check(args) => vigil::cli::check::run(&args),
        Command::Test(args) => vigil::cli::ruletest::run(&args.files),
        Command::Export(ExportTarget::Flink(args)) => vigil::cli::export::flink(&args),
        Command::Man => {
            vigil::sink::console::print(&vigil::cli::man::render())?;
            Ok(0)
        }
        Command::Completions(args) => {
            vigil::sink::console::print(&vigil::cli::completions(args.shell))?;
            Ok(0)
        }
    }
}
