//! Paravirtualization (DESIGN.md §4c), the way Xen ran unmodified-hardware x86: the guest
//! kernel is rewritten to ask the hypervisor, by a *hypercall*, for what it would otherwise do
//! with a critical instruction. `docs/paravirt.md` documents the interface:
//!
//! - a hypercall is the profile's supervisor call `svc imm`, executed in (virtual) supervisor
//!   mode, whose immediate has bit [`HYPERCALL_BIT`] set;
//! - bits 25..18 of the immediate name an instruction by its opcode and bits 17..0 give its
//!   operand `a`; the instruction must take that one operand or none, and not be `svc`;
//! - the hypervisor carries that instruction out on the guest's own (virtual) state, with the
//!   guest's own mode and `R`, as if the guest had executed it at the hypercall's `P`; the
//!   guest resumes after the hypercall.
//!
//! Any other `svc` is an ordinary supervisor call. A paravirtualized guest is not a program of
//! the bare machine (there, its hypercalls would trap into its own kernel), so what it is
//! equivalent *to* is the [`Reference`] machine: the bare machine that also implements the
//! hypercalls, by the same rule.

use std::ops::{Deref, DerefMut};

use pgvm_isa::{InsnId, Isa, Mode};
use pgvm_machine::{Exit, Machine, StateView, Step, TrapPolicy, Window, cycle};

use crate::host::Host;
use crate::technique::{Disposition, Tae, Technique, TechniqueKind};

/// The immediate bit that makes a supervisor call a hypercall.
pub const HYPERCALL_BIT: u64 = 1 << 36;

/// The instruction a hypercall asks for, as `(instruction, its word)`, when the word at the
/// view's `P` is one and the view is in supervisor mode.
pub fn hypercall<V: StateView + ?Sized>(isa: &Isa, v: &V) -> Option<(InsnId, u64)> {
    let psw = v.psw();
    if psw.mode != Mode::Supervisor {
        return None;
    }
    let pa = pgvm_machine::develop(psw.p, psw.r, v.size())?;
    decode(isa, v.load(pa))
}

/// The instruction a hypercall word asks for (whatever the mode).
pub fn decode(isa: &Isa, word: u64) -> Option<(InsnId, u64)> {
    let svc = isa.insn("svc")?;
    if isa.decode(word) != Some(svc) {
        return None;
    }
    let format = isa.format_of(svc);
    let imm = format.fields[*isa.insns[svc].operands.first()?].extract(word);
    if imm & HYPERCALL_BIT == 0 {
        return None;
    }
    let opcode = (imm >> 18) & 0xff;
    let a = imm & 0x3ffff;
    let id = (0..isa.insns.len())
        .find(|&id| isa.insns[id].opcode == opcode && isa.decode(isa.matcher(id).1) == Some(id))?;
    if id == svc {
        return None;
    }
    let operands: &[i128] = match isa.insns[id].operands.len() {
        0 => &[],
        1 => &[a as i128],
        _ => return None,
    };
    isa.encode(id, operands).ok().map(|w| (id, w))
}

/// The paravirtualizing monitor ([`TechniqueKind::Pv`]): trap-and-emulate, plus the hypercall
/// service. Every `svc` traps in real user mode, so each hypercall reaches the dispatcher.
#[derive(Debug, Clone, Copy, Default)]
pub struct Paravirt;

impl<H: Host> Technique<H> for Paravirt {
    fn kind(&self) -> TechniqueKind {
        TechniqueKind::Pv
    }

    fn prepare(&self, isa: &Isa, host: &mut H) {
        Tae.prepare(isa, host);
    }

    /// A hypercall from virtual supervisor mode is served on the virtual state; everything
    /// else as under trap-and-emulate.
    fn dispatch(&mut self, isa: &Isa, vm: &mut Window<'_, H>) -> Disposition {
        let Some((id, word)) = hypercall(isa, vm) else {
            return Tae.dispatch(isa, vm);
        };
        match pgvm_machine::execute(isa, id, word, vm) {
            Step::Done => Disposition::Hypercall { insn: Some(id) },
            Step::Halted => Disposition::Halted { insn: Some(id) },
            Step::Trapped(kind) => Disposition::Reflected(kind),
        }
    }
}

/// The machine a paravirtualized guest is equivalent to: the bare machine (`q = w`) that
/// also implements the hypercalls (see the module's documentation). With `hypercalls` off it
/// is the bare machine itself.
#[derive(Debug, Clone)]
pub struct Reference {
    machine: Machine,
    hypercalls: bool,
}

impl Reference {
    /// `machine` as the reference: with `hypercalls`, its supervisor calls that are hypercalls
    /// are carried out instead of trapping.
    pub fn new(mut machine: Machine, hypercalls: bool) -> Reference {
        if hypercalls {
            machine.set_trap_policy(TrapPolicy::Exit);
        }
        Reference {
            machine,
            hypercalls,
        }
    }

    /// Runs for at most `budget` instructions, as [`Machine::run`] does.
    pub fn run(&mut self, budget: u64) -> Exit {
        if !self.hypercalls {
            return self.machine.run(budget);
        }
        let end = self.machine.steps().saturating_add(budget);
        let isa = self.machine.isa().clone();
        loop {
            let left = end.saturating_sub(self.machine.steps());
            if left == 0 {
                return Exit::BudgetSpent;
            }
            match self.machine.run(left) {
                // Under the trap policy that hands traps out, a change of M or R ends a run;
                // on this machine nothing is wrong with that.
                Exit::Escaped => {}
                Exit::Trapped(kind) => {
                    // The svc was counted on the clock as it trapped: the hypercall is it.
                    let step = match hypercall(&isa, &self.machine) {
                        Some((id, word)) => {
                            pgvm_machine::execute(&isa, id, word, &mut self.machine)
                        }
                        None => Step::Trapped(kind),
                    };
                    match step {
                        Step::Done => {}
                        Step::Halted => return Exit::Halted,
                        Step::Trapped(_) => {
                            if cycle::trap(&mut self.machine).stuck() {
                                return Exit::Stuck;
                            }
                        }
                    }
                }
                exit => return exit,
            }
        }
    }
}

impl Deref for Reference {
    type Target = Machine;
    fn deref(&self) -> &Machine {
        &self.machine
    }
}

impl DerefMut for Reference {
    fn deref_mut(&mut self) -> &mut Machine {
        &mut self.machine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(isa: &Isa, m: &str, ops: &[i128]) -> u64 {
        isa.encode(isa.insn(m).expect("mnemonic"), ops)
            .expect("fits")
    }

    #[test]
    fn a_hypercall_names_an_instruction_of_one_operand_or_none() {
        let isa = pgvm_isa::load("ia32").expect("built-in");
        let hc = |op: u64, a: u64| word(&isa, "svc", &[(HYPERCALL_BIT | op << 18 | a) as i128]);
        let sgdt = isa.insn("sgdt").expect("sgdt");
        assert_eq!(
            decode(&isa, hc(0x40, 0x123)),
            Some((sgdt, word(&isa, "sgdt", &[0x123])))
        );
        let halt = isa.insn("halt").expect("halt");
        assert_eq!(
            decode(&isa, hc(0x3f, 0)),
            Some((halt, word(&isa, "halt", &[])))
        );
        // An ordinary supervisor call, an instruction of three operands, svc itself, no such
        // opcode, and a word that is no svc at all.
        assert_eq!(decode(&isa, word(&isa, "svc", &[0x40 << 18 | 5])), None);
        assert_eq!(decode(&isa, hc(0x01, 5)), None, "add takes three operands");
        assert_eq!(decode(&isa, hc(0x28, 0)), None, "svc is no hypercall");
        assert_eq!(decode(&isa, hc(0xee, 0)), None);
        assert_eq!(decode(&isa, word(&isa, "sgdt", &[5])), None);
    }
}
