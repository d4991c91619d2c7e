//! `pgvm run`: one program on the bare machine.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Result, anyhow};
use pgvm_asm::Image;
use pgvm_isa::Isa;
use pgvm_machine::{Exit, Machine, StateView};

use crate::cli::RunArgs;
use crate::program;

/// Steps run between two flushes of console output, so long runs print as they go.
const CHUNK: u64 = 1 << 22;

/// A machine with the image loaded.
pub fn boot(isa: Arc<Isa>, image: &Image, mem: u64) -> Result<Machine> {
    let mut m = Machine::new(isa, mem).map_err(|e| anyhow!("{e}\n  hint: {}", e.hint()))?;
    image.load_into(&mut m)?;
    Ok(m)
}

pub fn run(args: &RunArgs, json: bool) -> Result<ExitCode> {
    let (isa, image) = program::load(&args.file, args.isa.as_deref())?;
    let mut m = boot(isa, &image, args.mem)?;
    m.push_input(args.input.as_bytes());
    let exit = if args.trace {
        trace(&mut m, args.max_steps)?
    } else {
        run_streaming(&mut m, args.max_steps, !json)?
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

/// Runs in chunks, writing console output as it appears.
pub fn run_streaming(m: &mut Machine, max_steps: u64, echo: bool) -> Result<Exit> {
    let mut printed = 0;
    let mut left = max_steps;
    let mut stdout = std::io::stdout().lock();
    loop {
        let before = m.steps();
        let exit = m.run(left.min(CHUNK));
        left -= m.steps() - before;
        if echo {
            stdout.write_all(&m.output()[printed..])?;
            stdout.flush()?;
            printed = m.output().len();
        }
        if exit != Exit::BudgetSpent || left == 0 {
            return Ok(exit);
        }
    }
}

fn trace(m: &mut Machine, max_steps: u64) -> Result<Exit> {
    let mut printed = 0;
    for _ in 0..max_steps {
        let psw = m.psw();
        let word = pgvm_machine::develop(psw.p, psw.r, m.size()).map(|pa| m.load(pa));
        let text = word.map_or_else(
            || "(fetch outside the window)".to_string(),
            |w| pgvm_asm::disassemble_word(w, m.isa()),
        );
        eprintln!("{:>10}  {psw}  {text}", m.steps());
        let exit = m.run(1);
        let out = &m.output()[printed..];
        if !out.is_empty() {
            out!("{}", String::from_utf8_lossy(out));
            printed = m.output().len();
        }
        if exit != Exit::BudgetSpent {
            return Ok(exit);
        }
    }
    Ok(Exit::BudgetSpent)
}

pub fn exit_name(exit: Exit) -> String {
    match exit {
        Exit::Halted => "halted".into(),
        Exit::Trapped(k) => format!("trapped ({})", k.name()),
        Exit::BudgetSpent => "step budget spent".into(),
        Exit::Stuck => "stuck in a trap loop".into(),
        Exit::Escaped => "escaped (control state changed without a trap)".into(),
    }
}

pub fn summary(m: &Machine, exit: Exit) -> String {
    let s = m.stats();
    format!(
        "{} after {} steps; PSW {}; traps {} (memory {}, privileged {}, instruction {}, illegal {}); interrupts {}",
        exit_name(exit),
        m.steps(),
        m.psw(),
        s.traps(),
        s.memory,
        s.privileged,
        s.instruction,
        s.illegal,
        s.interrupts
    )
}

/// What `pgvm run --json` prints.
#[derive(serde::Serialize)]
pub struct RunReport {
    isa: String,
    halted: bool,
    exit: String,
    steps: u64,
    psw: PswReport,
    console: String,
    traps: Traps,
}

/// The final PSW, by component.
#[derive(serde::Serialize)]
struct PswReport {
    mode: &'static str,
    p: u64,
    l: u64,
    b: u64,
}

/// Trap counts.
#[derive(serde::Serialize)]
struct Traps {
    total: u64,
    memory: u64,
    privileged: u64,
    instruction: u64,
    illegal: u64,
    interrupts: u64,
}

pub fn report(m: &Machine, exit: Exit) -> RunReport {
    let psw = m.psw();
    let s = m.stats();
    RunReport {
        isa: m.isa().name.clone(),
        halted: exit == Exit::Halted,
        exit: exit_name(exit),
        steps: m.steps(),
        psw: PswReport {
            mode: psw.mode.name(),
            p: psw.p,
            l: psw.r.l,
            b: psw.r.b,
        },
        console: String::from_utf8_lossy(m.output()).into_owned(),
        traps: Traps {
            total: s.traps(),
            memory: s.memory,
            privileged: s.privileged,
            instruction: s.instruction,
            illegal: s.illegal,
            interrupts: s.interrupts,
        },
    }
}
