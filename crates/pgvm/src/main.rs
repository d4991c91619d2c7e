//! `pgvm`: run, inspect and (in later work) classify and virtualize third-generation ISAs.
//!
//! This binary is the only place that uses `anyhow`: every library error arrives here and is
//! printed with its location and hint (see `diag`), and the process exits with code 2.

/// `println!` that returns the error instead of panicking when stdout is closed (`pgvm tour |
/// head`): `main` then ends the command quietly with exit code 0.
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

mod audit;
mod bench;
mod classify;
mod cli;
mod counterexample;
mod diag;
mod guests;
mod matrix;
mod nest;
mod program;
mod run;
mod tour;
mod vmm;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let json = cli.json;
    match cli::dispatch(cli) {
        Ok(code) => code,
        // A reader that stopped reading (`pgvm tour | head`) is not an error: stop quietly.
        Err(e) if diag::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let d = diag::Diagnostic::of(&e);
            let text = if json {
                d.json_text()
            } else if fancy() {
                let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
                d.fancy_text(color)
            } else {
                d.plain_text()
            };
            eprintln!("{}", text.trim_end());
            ExitCode::from(2)
        }
    }
}

/// Whether errors are drawn with their source snippet: on a terminal, or when
/// `CLICOLOR_FORCE` asks for it (set and not `0`).
fn fancy() -> bool {
    let forced = std::env::var_os("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty() && v != "0");
    forced || std::io::stderr().is_terminal()
}

/// A command line clap refused: as clap prints it, or under `--json` as the JSON error object
/// (help and version requests print as usual).
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let informational = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if informational || !std::env::args_os().any(|a| a == "--json") {
        e.exit();
    }
    let text = e.render().to_string();
    let message = text
        .lines()
        .next()
        .unwrap_or("bad command line")
        .trim_start_matches("error: ")
        .to_string();
    let d = diag::Diagnostic {
        message,
        location: None,
        hint: Some("see pgvm --help".into()),
        plain: String::new(),
    };
    eprintln!("{}", d.json_text());
    ExitCode::from(2)
}
