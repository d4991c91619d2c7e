//! `pgvm run`: one program on the bare machine (the run itself is `pgvm_lab::run`'s).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use pgvm_lab::run::{Sink, boot, report, run_streaming, run_traced, summary};
use pgvm_machine::{Exit, StateView};

use crate::cli::RunArgs;
use crate::program;

pub fn run(args: &RunArgs, json: bool) -> Result<ExitCode> {
    let p = program::load_program(&args.file, args.isa.as_deref())?;
    let mut m = boot(p.isa, &p.image, args.mem)?;
    m.push_input(args.input.as_bytes());
    let mut stdout = std::io::stdout().lock();
    let mut write = |bytes: &[u8]| {
        stdout.write_all(bytes)?;
        stdout.flush()
    };
    // Under --json the output stays in the machine, for the report.
    let sink: Sink<'_> = if json { None } else { Some(&mut write) };
    let exit = if args.trace {
        let size = m.size();
        let listing = p.listing.as_ref();
        let mut on = |e: &pgvm_lab::trace::TraceEvent| eprintln!("{}", e.render(listing, size));
        run_traced(&mut m, args.max_steps, &mut on, sink)?
    } else {
        run_streaming(&mut m, args.max_steps, sink)?
    };
    if json {
        crate::cli::print_json(&report(&m, exit))?;
    } else {
        eprintln!("{}", summary(&m, exit));
    }
    Ok(match exit {
        Exit::Halted => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}
