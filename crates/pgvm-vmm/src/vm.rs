//! One virtual machine's state, as the monitor keeps it.

use std::collections::BTreeMap;

use pgvm_isa::Mode;
use pgvm_machine::{Psw, TrapKind, TrapPolicy, VirtualCpu, VmMap};
use serde::Serialize;

use crate::allocator::VmId;

/// How each guest instruction was carried out: the efficiency property, measured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Executed directly by the real processor, with no monitor intervention.
    pub direct: u64,
    /// Trapped to the monitor and interpreted on the virtual state.
    pub emulated: u64,
    /// Trapped to the monitor and reflected into the guest's own `E[0]`/`E[1]`.
    pub reflected: u64,
    /// Interpreted in software without running on the host (the hybrid monitor's virtual
    /// supervisor mode).
    pub interpreted: u64,
    /// Critical instructions a binary translator found in a block and carried out on the
    /// virtual state instead of running them.
    pub translated: u64,
    /// Basic blocks a binary translator scanned (first scans and re-scans).
    pub blocks_scanned: u64,
    /// Of those, scans of a cached block whose words the guest had changed since.
    pub blocks_rescanned: u64,
    /// Hypercalls of a paravirtualized guest, served on the virtual state.
    pub hypercalls: u64,
    /// Privileged instructions of virtual supervisor mode that the machine's VM assist
    /// carried out itself, from the control block, with no trap to the monitor.
    pub assisted: u64,
    /// Assisted instructions by mnemonic.
    pub assisted_by_mnemonic: BTreeMap<String, u64>,
    /// Virtual timer interrupts delivered.
    pub interrupts: u64,
    /// Emulated instructions by mnemonic.
    pub emulated_by_mnemonic: BTreeMap<String, u64>,
    /// The evidence behind `emulated_by_mnemonic`, for an efficiency check: each emulated
    /// instruction with the real trap that brought it to the monitor and the virtual mode it
    /// ran in, one entry per combination seen, ordered by mnemonic, trap and mode. An
    /// emulated word that decodes as no instruction is in `emulated` only.
    pub emulations: Vec<Emulation>,
    /// Reflected traps by the kind of trap the guest's own machine took.
    pub reflected_by_kind: BTreeMap<TrapKind, u64>,
}

/// A run's totals from [`Counts`]: what every report of a run (the equivalence check, the
/// lab's reports, the matrix's cells) carries, defined once and flattened into each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Guest instructions executed directly by the real processor.
    pub direct: u64,
    /// Guest instructions emulated after a trap.
    pub emulated: u64,
    /// Traps reflected into the guest.
    pub reflected: u64,
    /// Guest instructions interpreted in software (the hybrid monitor).
    pub interpreted: u64,
    /// Critical instructions a binary translator carried out on the virtual state.
    pub translated: u64,
    /// Basic blocks a binary translator scanned, re-scans included.
    pub blocks_scanned: u64,
    /// Blocks scanned again because the guest had changed their words.
    pub blocks_rescanned: u64,
    /// Hypercalls served (paravirtualization).
    pub hypercalls: u64,
    /// Privileged instructions the machine's VM assist carried out without a trap.
    pub assisted: u64,
}

impl Tally {
    /// Guest instructions and traps the monitor handled in software.
    pub fn by_monitor(&self) -> u64 {
        self.emulated + self.interpreted + self.translated + self.hypercalls + self.reflected
    }
}

impl Counts {
    /// The totals, for a report.
    pub fn tally(&self) -> Tally {
        Tally {
            direct: self.direct,
            emulated: self.emulated,
            reflected: self.reflected,
            interpreted: self.interpreted,
            translated: self.translated,
            blocks_scanned: self.blocks_scanned,
            blocks_rescanned: self.blocks_rescanned,
            hypercalls: self.hypercalls,
            assisted: self.assisted,
        }
    }
}

/// How often one instruction was emulated for one cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Emulation {
    /// The instruction.
    pub mnemonic: String,
    /// The real trap that handed it to the monitor: under trap-and-emulate, `privileged` for
    /// a privileged instruction; any other kind says the instruction trapped for a reason of
    /// its own (an explicit `trap;`, say) and then completed on the virtual machine. `None`:
    /// nothing trapped, the technique carried it out in software of its own accord.
    pub trap: Option<TrapKind>,
    /// The guest's virtual mode when it ran.
    pub mode: Mode,
    /// How many times.
    pub count: u64,
}

impl Counts {
    /// Counts `n` emulations of `mnemonic` for one cause.
    pub(crate) fn add_emulation(
        &mut self,
        mnemonic: &str,
        trap: Option<TrapKind>,
        mode: Mode,
        n: u64,
    ) {
        match self.emulations.binary_search_by(|e| {
            (e.mnemonic.as_str(), e.trap, e.mode).cmp(&(mnemonic, trap, mode))
        }) {
            Ok(i) => self.emulations[i].count += n,
            Err(i) => self.emulations.insert(
                i,
                Emulation {
                    mnemonic: mnemonic.to_string(),
                    trap,
                    mode,
                    count: n,
                },
            ),
        }
    }

    /// Counts one trap reflected into the guest.
    pub(crate) fn reflect(&mut self, kind: TrapKind) {
        self.reflected += 1;
        *self.reflected_by_kind.entry(kind).or_insert(0) += 1;
    }
}

/// Why a VM stopped running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VmExit {
    /// The guest attempted a halt: the point where states are compared.
    Halted,
    /// The guest used its instruction budget (or its time slice).
    BudgetSpent,
    /// A trap cannot be reflected (the guest's memory is too small for its own trap pair), or
    /// its reflection re-enters exactly the state it left: the bare machine would loop there
    /// forever.
    Stuck,
    /// The guest changed the real `M`, `R` or assist, or reached the real timer or console,
    /// without a trap: the ISA lets user mode do so (an unprivileged instruction that is
    /// control-sensitive in user mode, or a device one), so no trap-and-emulate monitor can
    /// confine a guest on it. The real machine stops right after that instruction, and the
    /// monitor stops the VM there: nothing after it runs, but what that one instruction
    /// reached is not protected.
    Escaped,
    /// The guest trapped and the VM's trap policy hands its traps to whoever runs it (another
    /// monitor running this VM as its machine): the instruction is blocked with `P` at it.
    Trapped(TrapKind),
}

impl VmExit {
    /// Why the VM stopped, in words.
    pub fn describe(self) -> &'static str {
        match self {
            VmExit::Halted => "halted",
            VmExit::Stuck => "stuck",
            VmExit::Escaped => {
                "escaped (it reached the real M, R, assist, timer or console without a trap: this ISA cannot confine it)"
            }
            VmExit::BudgetSpent => "step budget spent",
            VmExit::Trapped(_) => "trapped (handed to the monitor running this VM)",
        }
    }
}

/// A VM: its map, its virtual processor, and its counters.
#[derive(Debug, Clone, Serialize)]
pub struct VmState {
    /// Its identity.
    pub id: VmId,
    /// Where its memory is.
    pub map: VmMap,
    /// The virtual processor: the guest's own `M`, `P`, `R`, assist bit and devices.
    pub cpu: VirtualCpu,
    /// How the instructions were carried out.
    pub counts: Counts,
    /// Set once the VM halted, got stuck or escaped.
    pub exit: Option<VmExit>,
    /// Who takes the guest's own traps: the guest ([`TrapPolicy::Hardware`], reflected into
    /// its `E[0]`/`E[1]`), or whoever runs this VM as a machine ([`TrapPolicy::Exit`]).
    pub policy: TrapPolicy,
}

impl VmState {
    pub(crate) fn new(id: VmId, map: VmMap, cpu: VirtualCpu) -> VmState {
        VmState {
            id,
            map,
            cpu,
            counts: Counts::default(),
            exit: None,
            policy: TrapPolicy::Hardware,
        }
    }

    /// Guest instructions executed (directly, emulated or reflected).
    pub fn steps(&self) -> u64 {
        self.cpu.devices.clock
    }

    /// The virtual PSW.
    pub fn psw(&self) -> Psw {
        self.cpu.psw
    }

    /// Whether the VM stopped for good: halted, stuck or escaped.
    pub fn stopped(&self) -> bool {
        self.exit.is_some()
    }

    /// The VM's own console output.
    pub fn console(&self) -> &[u8] {
        self.cpu.devices.console.output()
    }
}
