//! `pgvm`: run, inspect and (in later work) classify and virtualize third-generation ISAs.
//!
//! This binary is the only place that uses `anyhow`: every library error arrives here and is
//! printed with its location and hint, and the process exits with code 2.

mod classify;
mod cli;
mod counterexample;
mod program;
mod run;
mod tour;
mod vmm;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
