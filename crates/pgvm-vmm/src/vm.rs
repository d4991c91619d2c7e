//! One virtual machine's state, as the monitor keeps it.

use std::collections::BTreeMap;

use pgvm_machine::Psw;
use serde::Serialize;

use crate::allocator::VmId;
use crate::vmmap::VmMap;

/// How each guest instruction was carried out: the efficiency property, measured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Executed directly by the real processor, with no monitor intervention.
    pub direct: u64,
    /// Trapped to the monitor and interpreted on the virtual state.
    pub emulated: u64,
    /// Trapped to the monitor and reflected into the guest's own `E[0]`/`E[1]`.
    pub reflected: u64,
    /// Virtual timer interrupts delivered.
    pub interrupts: u64,
    /// Emulated instructions by mnemonic.
    pub emulated_by_mnemonic: BTreeMap<String, u64>,
}

/// Why a VM stopped running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
    /// confine a guest on it. The monitor stops the VM as soon as it regains control; what the
    /// guest reached before that is not protected.
    Escaped,
}

/// A VM: its map, its virtual PSW and devices, and its counters.
#[derive(Debug, Clone, Serialize)]
pub struct VmState {
    /// Its identity.
    pub id: VmId,
    /// Where its memory is.
    pub map: VmMap,
    /// The virtual PSW: the guest's own `M`, `P` and `R`.
    pub psw: Psw,
    /// The virtual assist bit.
    pub assist: bool,
    /// The VM's own console output.
    pub console: Vec<u8>,
    /// The VM's console input.
    pub input: Vec<u8>,
    /// How much of `input` the guest has read.
    pub input_pos: usize,
    /// Guest instructions executed (directly, emulated or reflected).
    pub steps: u64,
    /// When the virtual timer falls due, in guest instructions.
    pub timer_due: Option<u64>,
    /// The virtual timer fell due and waits for virtual user mode.
    pub timer_pending: bool,
    /// How the instructions were carried out.
    pub counts: Counts,
    /// Set once the VM halted or got stuck.
    pub exit: Option<VmExit>,
}

impl VmState {
    pub(crate) fn new(id: VmId, map: VmMap, psw: Psw) -> VmState {
        VmState {
            id,
            map,
            psw,
            assist: false,
            console: Vec::new(),
            input: Vec::new(),
            input_pos: 0,
            steps: 0,
            timer_due: None,
            timer_pending: false,
            counts: Counts::default(),
            exit: None,
        }
    }
}
