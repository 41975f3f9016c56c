//! The `upres` command line: parse, run, turn the outcome into an exit code.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = <cli::Args as clap::Parser>::parse();
    match cli::run(args) {
        Ok(cli::Outcome::Success) => ExitCode::SUCCESS,
        Ok(cli::Outcome::SomeFailed) => ExitCode::from(cli::EXIT_SOME_FAILED),
        Ok(cli::Outcome::Interrupted) => ExitCode::from(cli::EXIT_INTERRUPTED),
        Err(error) => {
            eprintln!("upres: {error:#}");
            ExitCode::from(cli::EXIT_ERROR)
        }
    }
}
