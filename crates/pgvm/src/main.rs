//! `pgvm`: run, inspect and (in later work) classify and virtualize third-generation ISAs.
//!
//! This binary is the only place that uses `anyhow`: every library error arrives here and is
//! printed with its location and hint, and the process exits with code 2.

/// `println!` that returns the error instead of panicking when stdout is closed (`pgvm tour |
/// head`): the command then ends with an error message and exit code 2, as `pgvm run` does.
macro_rules! outln {
    () => {
        std::io::Write::write_all(&mut std::io::stdout(), b"\n")?
    };
    ($($arg:tt)*) => {
        std::io::Write::write_fmt(&mut std::io::stdout(), format_args!("{}\n", format_args!($($arg)*)))?
    };
}

/// `print!` that returns the error instead of panicking when stdout is closed.
macro_rules! out {
    ($($arg:tt)*) => {
        std::io::Write::write_fmt(&mut std::io::stdout(), format_args!($($arg)*))?
    };
}

mod classify;
mod cli;
mod counterexample;
mod guests;
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
