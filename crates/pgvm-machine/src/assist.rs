//! The System/370-style VM assist: the machine itself carries out a guest's commonest
//! privileged instructions, from a control block its monitor hands it, instead of trapping.
//!
//! The monitor keeps a VM's virtual PSW; the guest runs in real user mode under the VM map.
//! Without the assist every `lpsw` of the guest's kernel traps, and the monitor runs the
//! instruction's semantics on the virtual state ([`crate::Window`]). With it, the monitor
//! first hands the machine a [`ControlBlock`] (the virtual PSW and the VM map, as VM/370 handed
//! the microcode its virtual machine pointer list through control register 6), and when an
//! instruction the profile's `feature vm_assist` names traps, the machine does what the monitor
//! would have done: it runs the same semantics, through the same seam, on the same
//! [`crate::Window`], updates the control block's virtual PSW and derives the new real PSW from
//! the VM map. Anything else (an instruction the assist does not name, a trap the semantics do
//! not resolve) reaches the monitor exactly as before, with nothing changed.

use pgvm_isa::{InsnId, Isa, Mode};
use serde::Serialize;

use crate::cycle::{self, Entry};
use crate::exec::{Step, TrapKind, fetch};
use crate::shaped::execute_shaped;
use crate::view::StateView;
use crate::window::{VirtualCpu, VmMap, Window};

/// What the VM assist does with one instruction, from the profile's `feature vm_assist`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AssistAction {
    /// Nothing: its trap goes to the monitor.
    None,
    /// Performed on the virtual state when the guest is in virtual supervisor mode.
    Perform,
    /// Its trap reflected into the guest's own `E[0]`/`E[1]`, in either virtual mode.
    Reflect,
}

impl AssistAction {
    /// The action for each instruction of `isa`, by [`InsnId`]: all [`AssistAction::None`]
    /// for a profile without the feature.
    pub fn table(isa: &Isa) -> Vec<AssistAction> {
        let mut t = vec![AssistAction::None; isa.insns.len()];
        if let Some(va) = &isa.features.vm_assist {
            // The parser checked every name; one that is missing is simply not assisted.
            for (names, action) in [
                (&va.perform, AssistAction::Perform),
                (&va.reflect, AssistAction::Reflect),
            ] {
                for id in names.iter().filter_map(|m| isa.insn(m)) {
                    t[id] = action;
                }
            }
        }
        t
    }
}

/// What a monitor hands the machine for one VM: its virtual processor and where its memory is.
///
/// The block is the monitor's state lent to the machine, not a copy kept beside it: the
/// monitor loads it before it runs the guest and takes it back after, and in between only the
/// assist changes it. So the monitor's virtual PSW after a stretch of direct execution is the
/// block's, whatever the assist did in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControlBlock {
    /// The VM map: where the guest's `E[0..w)` is in real memory.
    pub map: VmMap,
    /// The virtual processor. Its PSW and assist bit are the guest's; its devices are not
    /// used (an assisted instruction reaches no device: the ISA parser refuses one that does).
    pub cpu: VirtualCpu,
    /// Whether the assist may reflect traps into the guest. A monitor that itself hands the
    /// guest's traps on (a VM run as another monitor's machine) turns it off.
    pub reflect: bool,
    /// Whether the assist acts at all. The monitor turns it off while the guest has a virtual
    /// interrupt waiting for user mode: an assisted `lpsw` into user mode would run on past
    /// the boundary where the monitor delivers it.
    pub enabled: bool,
    /// Instructions the assist carried out since the monitor last took the counts.
    pub assisted: u64,
    /// The same, by instruction ([`InsnId`]).
    pub assisted_by_insn: Vec<u64>,
}

impl ControlBlock {
    /// A block for a VM at `map` with virtual processor `cpu`, for a machine executing `isa`.
    pub fn new(isa: &Isa, map: VmMap, cpu: VirtualCpu) -> ControlBlock {
        ControlBlock {
            map,
            cpu,
            reflect: true,
            enabled: true,
            assisted: 0,
            assisted_by_insn: vec![0; isa.insns.len()],
        }
    }

    /// The real PSW the guest runs with: what the VM map makes of the virtual one.
    pub fn real_psw(&self) -> crate::Psw {
        self.map.real_psw(self.cpu.psw)
    }
}

/// The assist at work on `host`, which trapped (`kind`) on the guest instruction at its `P`,
/// blocked: true when the assist carried the instruction out (the control block and the real
/// PSW updated, the guest ready to go on), false when the trap is the monitor's, with nothing
/// changed.
pub(crate) fn assist<H: StateView + ?Sized>(
    isa: &Isa,
    actions: &[AssistAction],
    host: &mut H,
    block: &mut ControlBlock,
    kind: TrapKind,
) -> bool {
    if !block.enabled
        || !matches!(kind, TrapKind::Privileged | TrapKind::Instruction)
        || host.psw().mode != Mode::User
    {
        return false;
    }
    // The real fetch found the word (the trap is the instruction's own), and the VM map keeps
    // `P` and the word: this is the guest's instruction.
    let Ok((id, word)) = fetch(isa, host) else {
        return false;
    };
    let action = actions.get(id).copied().unwrap_or(AssistAction::None);
    let virtual_mode = block.cpu.psw.mode;
    match action {
        AssistAction::None => return false,
        AssistAction::Perform if virtual_mode != Mode::Supervisor => return false,
        AssistAction::Reflect if !block.reflect => return false,
        AssistAction::Perform | AssistAction::Reflect => {}
    }
    block.cpu.psw.p = host.psw().p;
    let mut vm = Window {
        host,
        map: block.map,
        cpu: &mut block.cpu,
    };
    // The instruction's own semantics on the virtual state, as the monitor's dispatcher runs
    // them: completed, it is done; trapped, it was blocked and the trap is the guest's.
    let done = match execute_shaped(isa, id, word, &mut vm) {
        Step::Done => true,
        Step::Trapped(_) if action == AssistAction::Reflect => {
            matches!(cycle::trap(&mut vm), Entry::Taken)
        }
        // A blocked instruction changed nothing: the monitor takes the trap as before. A halt
        // cannot come (the parser refuses an assisted instruction that may halt).
        Step::Trapped(_) | Step::Halted => false,
    };
    if done {
        count(block, id);
        let real = block.real_psw();
        host.set_psw(real);
    }
    done
}

fn count(block: &mut ControlBlock, id: InsnId) {
    block.assisted += 1;
    if let Some(n) = block.assisted_by_insn.get_mut(id) {
        *n += 1;
    }
}
