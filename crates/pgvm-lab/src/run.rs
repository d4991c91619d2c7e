//! One program on the bare machine: booting it, running it with its console output streamed
//! out as it comes (or traced, one instruction at a time), and the report of how it ended.

use std::sync::Arc;

use pgvm_asm::{Image, ImageError};
use pgvm_isa::Isa;
use pgvm_machine::{Exit, Machine, MachineError, Processor, StateView};
use serde::Serialize;

use crate::trace::TraceEvent;

/// Steps run between two drains of console output, so long runs print as they go.
pub const CHUNK: u64 = 1 << 22;

/// Why a program could not be booted.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The machine cannot have that memory.
    #[error("{0}\n  hint: {hint}", hint = .0.hint())]
    Machine(#[from] MachineError),
    /// The image does not fit or has no valid entry.
    #[error(transparent)]
    Image(#[from] ImageError),
}

/// A machine of `mem` words with the image loaded.
pub fn boot(isa: Arc<Isa>, image: &Image, mem: u64) -> Result<Machine, RunError> {
    let mut m = Machine::new(isa, mem)?;
    image.load_into(&mut m)?;
    Ok(m)
}

/// Where console output goes as the program runs: `None` keeps it in the machine (up to the
/// console's cap) for the report.
pub type Sink<'a> = Option<&'a mut dyn FnMut(&[u8]) -> std::io::Result<()>>;

/// Hands the output written so far to `sink`, taking it out of the console so that the cap
/// never applies to output that has been passed on.
fn drain(m: &mut Machine, sink: &mut Sink<'_>) -> std::io::Result<()> {
    if let Some(out) = sink {
        let bytes = m.devices_mut().console.take_output();
        if !bytes.is_empty() {
            out(&bytes)?;
        }
    }
    Ok(())
}

/// Runs for at most `max_steps` instructions, in chunks of [`CHUNK`], draining the console
/// into `sink` after each.
pub fn run_streaming(m: &mut Machine, max_steps: u64, mut sink: Sink<'_>) -> std::io::Result<Exit> {
    let mut left = max_steps;
    loop {
        let before = m.steps();
        let exit = m.run(left.min(CHUNK));
        left -= m.steps() - before;
        drain(m, &mut sink)?;
        if exit != Exit::BudgetSpent || left == 0 {
            return Ok(exit);
        }
    }
}

/// Runs one instruction at a time, reporting each instruction, trap and interrupt to `on`
/// and draining the console into `sink` after each instruction.
pub fn run_traced(
    m: &mut Machine,
    max_steps: u64,
    on: &mut dyn FnMut(&TraceEvent),
    mut sink: Sink<'_>,
) -> std::io::Result<Exit> {
    for _ in 0..max_steps {
        let exit = crate::trace::step_bare(m, on);
        drain(m, &mut sink)?;
        if exit != Exit::BudgetSpent {
            return Ok(exit);
        }
    }
    Ok(Exit::BudgetSpent)
}

/// Why a run ended, in words.
pub fn exit_name(exit: Exit) -> String {
    match exit {
        Exit::Halted => "halted".into(),
        Exit::Trapped(k) => format!("trapped ({})", k.name()),
        Exit::BudgetSpent => "step budget spent".into(),
        Exit::Stuck => "stuck in a trap loop".into(),
        Exit::Escaped => "escaped (control state changed without a trap)".into(),
    }
}

/// What a guest's console lost to the cap, in words; `None` when nothing was lost.
pub fn truncation_text(kept: u64, dropped: u64) -> Option<String> {
    (dropped > 0).then(|| {
        format!("console output truncated after {kept} bytes; {dropped} more were written")
    })
}

/// The one-line summary `pgvm run` prints on stderr.
pub fn summary(m: &Machine, exit: Exit) -> String {
    let s = m.stats();
    let mut line = format!(
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
    );
    let console = &m.devices().console;
    if let Some(t) = truncation_text(console.output().len() as u64, console.dropped()) {
        line.push_str("; ");
        line.push_str(&t);
    }
    line
}

/// What `pgvm run --json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// The profile.
    pub isa: String,
    /// Whether the program halted.
    pub halted: bool,
    /// Why it stopped ([`exit_name`]).
    pub exit: String,
    /// Instructions executed.
    pub steps: u64,
    /// The final PSW.
    pub psw: PswReport,
    /// The console output kept (at most the console's cap).
    pub console: String,
    /// Console bytes written past the cap, not kept.
    pub console_dropped: u64,
    /// Trap counts.
    pub traps: Traps,
}

/// The final PSW, by component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PswReport {
    /// `super` or `user`.
    pub mode: &'static str,
    /// The program counter.
    pub p: u64,
    /// The relocation.
    pub l: u64,
    /// The bounds.
    pub b: u64,
}

/// Trap counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Traps {
    /// Every trap.
    pub total: u64,
    /// Memory traps.
    pub memory: u64,
    /// Privileged-instruction traps.
    pub privileged: u64,
    /// Explicit traps.
    pub instruction: u64,
    /// Illegal-instruction traps.
    pub illegal: u64,
    /// Timer interrupts delivered.
    pub interrupts: u64,
}

/// The report of a machine that stopped with `exit`.
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
        console_dropped: m.devices().console.dropped(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::How;

    /// A guest that writes `n` bytes in a loop, then halts.
    const WRITER: &str = ".entry go\n.org 0x10\ngo:   out ch\n      addi n, -1\n      jz n, done\n      jmp go\ndone: halt\nch:   .word 0x78\nn:    .word 40\n";

    fn writer() -> (Arc<Isa>, Image) {
        let p = crate::program::from_source("w.s", WRITER, Some("s370")).expect("assembles");
        (p.isa, p.image)
    }

    #[test]
    fn streaming_drains_so_nothing_is_lost_to_the_cap() {
        let (isa, image) = writer();
        let mut m = boot(isa.clone(), &image, 256).expect("boots");
        m.devices_mut().console.set_cap(8);
        let mut got = Vec::new();
        let mut sink = |b: &[u8]| {
            got.extend_from_slice(b);
            Ok(())
        };
        // Chunks of CHUNK steps would hold the whole run: drain per instruction instead.
        let mut exit = Exit::BudgetSpent;
        for _ in 0..1000 {
            exit = run_streaming(&mut m, 5, Some(&mut sink)).expect("runs");
            if exit != Exit::BudgetSpent {
                break;
            }
        }
        assert_eq!(exit, Exit::Halted);
        assert_eq!(got, vec![b'x'; 40]);
        assert_eq!(m.devices().console.dropped(), 0);

        // Kept for the report instead: the cap applies and the summary says so.
        let mut m = boot(isa, &image, 256).expect("boots");
        m.devices_mut().console.set_cap(8);
        let exit = run_streaming(&mut m, 1000, None).expect("runs");
        assert_eq!(exit, Exit::Halted);
        let r = report(&m, exit);
        assert_eq!((r.console.len(), r.console_dropped), (8, 32));
        assert!(
            summary(&m, exit)
                .ends_with("console output truncated after 8 bytes; 32 more were written"),
            "{}",
            summary(&m, exit)
        );
    }

    #[test]
    fn a_trace_marks_traps_and_labels() {
        let src = ".entry start\n.org 0\n.word 0\n.psw super, handler, 0, 0x100\n.org 0x10\nstart: lpsw user\nhandler: halt\nuser: .psw user, 0, 0x40, 0x10\n.org 0x40\nprog: lrb 0\n";
        let p = crate::program::from_source("t.s", src, Some("s370")).expect("assembles");
        let listing = p.listing.clone().expect("listing");
        let mut m = boot(p.isa, &p.image, 256).expect("boots");
        let mut lines = Vec::new();
        let mut events = Vec::new();
        let exit = run_traced(
            &mut m,
            100,
            &mut |e| {
                lines.push(e.render(Some(&listing), 256));
                events.push(e.clone());
            },
            None,
        )
        .expect("runs");
        assert_eq!(exit, Exit::Halted);
        let trap = events
            .iter()
            .position(|e| {
                matches!(
                    e,
                    TraceEvent::Trap {
                        kind: pgvm_machine::TrapKind::Privileged,
                        ..
                    }
                )
            })
            .expect("a privileged trap");
        assert!(
            lines[trap].contains("privileged trap via E[0]/E[1]"),
            "{}",
            lines[trap]
        );
        assert!(
            lines[trap].contains("(prog)"),
            "the old PSW is named: {}",
            lines[trap]
        );
        assert!(
            lines[trap].contains("(handler)"),
            "the new PSW is named: {}",
            lines[trap]
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("lrb") && l.ends_with("; prog")),
            "{lines:#?}"
        );
        assert!(events.iter().all(|e| !matches!(
            e,
            TraceEvent::Insn {
                how: How::Emulated,
                ..
            }
        )));
    }
}
