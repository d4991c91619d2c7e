//! Techniques: ways for a monitor to run a guest. The monitor's run loop, allocator and VM map
//! are shared; a technique decides what happens when the host traps while a guest runs.
//!
//! Trap-and-emulate ([`Tae`]), the monitor of the proof of Theorem 1, is the first; the hybrid
//! monitor ([`Hvm`]), the binary translators ([`BinaryTranslator`]), paravirtualization
//! ([`crate::Paravirt`]), the hardware assist ([`Assist`]) and the System/370-style VM assist
//! ([`TaeAssist`]) follow DESIGN.md §4c.

use std::fmt::{self, Debug};
use std::str::FromStr;
use std::sync::Arc;

use pgvm_isa::Mode;
use pgvm_isa::{InsnId, Isa};
use pgvm_machine::{Step, TrapKind, VirtualCpu, Window};
use serde::Serialize;

use crate::bt::{BinaryTranslator, Critical};
use crate::host::Host;
use crate::vm::Counts;

/// What the dispatcher did with one trap of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum Disposition {
    /// The trapped instruction was carried out on the virtual state (`insn`, when its word
    /// decodes).
    Emulated {
        /// The instruction.
        insn: Option<InsnId>,
    },
    /// The trap is the guest's own: its machine would have trapped too. The monitor reflects
    /// it into the guest's `E[0]`/`E[1]`, or, when the VM is itself run as a machine by
    /// another monitor, hands it to that monitor.
    Reflected(TrapKind),
    /// The guest attempted a halt: the point where states are compared.
    Halted {
        /// The halting instruction.
        insn: Option<InsnId>,
    },
    /// The guest cannot go on: its trap cannot be reflected (its memory is smaller than its
    /// trap pair), or the reflection re-entered exactly the state it left.
    Stuck,
    /// The guest reached the host's control state or devices without a trap.
    Escaped,
    /// The instruction was interpreted in software without being run on the host at all
    /// (the hybrid monitor's virtual supervisor mode).
    Interpreted {
        /// The instruction.
        insn: Option<InsnId>,
    },
    /// A critical instruction found by a binary translator's scan, carried out on the virtual
    /// state instead of running directly.
    Translated {
        /// The instruction.
        insn: Option<InsnId>,
    },
    /// A paravirtualized guest's hypercall, served on the virtual state.
    Hypercall {
        /// The instruction the hypercall asked for.
        insn: Option<InsnId>,
    },
}

/// What the monitor does next at an instruction boundary, as the technique decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Run the guest directly for at most this many instructions (at least 1; the monitor
    /// stops earlier for the VM's timer and budget).
    Direct(u64),
    /// Carry out the next guest instruction in software ([`Technique::interpret`]).
    Interpret,
}

/// Names of the techniques, as the command line spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TechniqueKind {
    /// Trap-and-emulate, as in the proof of Theorem 1.
    Tae,
    /// The hybrid monitor of Theorem 3: virtual supervisor mode interpreted.
    Hvm,
    /// Binary translation of virtual supervisor code only, as VMware did; user mode runs
    /// directly.
    BtKernel,
    /// Binary translation of both modes.
    BtAll,
    /// Trap-and-emulate with the profile's hardware assist turned on (VT-x, AMD-V).
    Assist,
    /// Paravirtualization (Xen): trap-and-emulate plus documented hypercalls, for a guest
    /// rewritten to use them.
    Pv,
    /// Trap-and-emulate with the System/370-style VM assist: the machine itself performs the
    /// profile's assisted instructions from a control block (VM/370 on a 370 with the
    /// virtual machine assist feature).
    TaeAssist,
}

impl TechniqueKind {
    /// Every technique.
    pub const ALL: [TechniqueKind; 7] = [
        TechniqueKind::Tae,
        TechniqueKind::TaeAssist,
        TechniqueKind::Hvm,
        TechniqueKind::BtKernel,
        TechniqueKind::BtAll,
        TechniqueKind::Pv,
        TechniqueKind::Assist,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            TechniqueKind::Tae => "tae",
            TechniqueKind::Hvm => "hvm",
            TechniqueKind::BtKernel => "bt-kernel",
            TechniqueKind::BtAll => "bt-all",
            TechniqueKind::Assist => "assist",
            TechniqueKind::Pv => "pv",
            TechniqueKind::TaeAssist => "tae-assist",
        }
    }

    /// What the technique is, in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            TechniqueKind::Tae => "trap-and-emulate",
            TechniqueKind::Hvm => "the hybrid monitor (virtual supervisor mode interpreted)",
            TechniqueKind::BtKernel => {
                "binary translation of supervisor code (critical instructions emulated; user mode direct)"
            }
            TechniqueKind::BtAll => {
                "binary translation of all code (critical instructions emulated in both modes)"
            }
            TechniqueKind::Assist => {
                "hardware assist on, then trap-and-emulate (profiles with an assist only)"
            }
            TechniqueKind::Pv => {
                "paravirtualization: trap-and-emulate plus hypercalls (docs/paravirt.md), compared with the machine that implements them"
            }
            TechniqueKind::TaeAssist => {
                "trap-and-emulate with the S/370-style VM assist (profiles with `feature vm_assist` only)"
            }
        }
    }

    /// What the ISA must trap for this technique to confine a guest to its VM: each entry
    /// names instructions that must all be privileged, or the VM map isolates nothing.
    ///
    /// The VM map confines only what traps. Both techniques run virtual user mode directly in
    /// real user mode, and trap-and-emulate runs virtual supervisor code there too, so an
    /// instruction that, from a user-mode state and without a trap, changes `M` or `R`, halts,
    /// touches a device, stores outside the window or changes the assist acts on the *real*
    /// machine: on a neighbour's memory, on the control program's words, on the real mode.
    /// The monitor notices some of these only after the fact (the VM exits `escaped`), and an
    /// absolute store not at all. `bt-all` scans all code before it runs and translates every
    /// critical instruction, the control-sensitive ones included, so it declares nothing here:
    /// its confinement rests on the classifier's critical set, which its licence asks to be
    /// complete by proof (`pgvm_lab::matrix::Condition::CriticalComplete`).
    pub fn isolation_condition(self) -> &'static [MustBePrivileged] {
        match self {
            TechniqueKind::Tae
            | TechniqueKind::Hvm
            | TechniqueKind::BtKernel
            | TechniqueKind::Pv
            | TechniqueKind::Assist
            | TechniqueKind::TaeAssist => &[MustBePrivileged::ControlUser],
            TechniqueKind::BtAll => &[],
        }
    }

    /// Whether the technique scans guest code for the classifier's critical instructions
    /// (and so must be given them: [`Setup::critical`]).
    pub fn translates(self) -> bool {
        matches!(self, TechniqueKind::BtKernel | TechniqueKind::BtAll)
    }

    /// Whether the technique can run guests of `isa` at all: the assist technique needs a
    /// profile with an assist, and `tae-assist` one with a VM assist.
    pub fn applies(self, isa: &Isa) -> bool {
        match self {
            TechniqueKind::Assist => isa.features.assist,
            TechniqueKind::TaeAssist => isa.features.vm_assist.is_some(),
            TechniqueKind::Pv => isa.insn("svc").is_some(),
            TechniqueKind::Tae
            | TechniqueKind::Hvm
            | TechniqueKind::BtKernel
            | TechniqueKind::BtAll => true,
        }
    }

    /// Whether the technique turns the profile's hardware assist on (in
    /// [`Technique::prepare`]): then the assist must be sound (DESIGN.md §4c).
    pub fn enables_assist(self) -> bool {
        match self {
            TechniqueKind::Tae
            | TechniqueKind::Hvm
            | TechniqueKind::BtKernel
            | TechniqueKind::BtAll
            | TechniqueKind::Pv
            | TechniqueKind::Assist
            | TechniqueKind::TaeAssist => true,
        }
    }

    /// Whether the technique lends the machine's VM assist a control block
    /// ([`pgvm_machine::ControlBlock`]) while the guest runs directly.
    pub fn uses_vm_assist(self) -> bool {
        self == TechniqueKind::TaeAssist
    }

    /// A fresh instance for a monitor on host `H`. A binary translator built this way has no
    /// classifier's critical set and falls back on Lemma 1's over-approximation
    /// ([`Critical::by_effects`]); give it the classifier's set with [`Setup`].
    pub fn build<H: Host>(self) -> Box<dyn Technique<H>> {
        Setup::from(self).build()
    }
}

impl fmt::Display for TechniqueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A technique with what it must be told about the ISA before it runs: the binary
/// translators need the classifier's critical set, which the monitor (independent of the
/// classifier) cannot work out itself.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The technique.
    pub kind: TechniqueKind,
    /// The critical instructions (sensitive and not privileged), for a translating technique.
    pub critical: Option<Arc<Critical>>,
}

impl From<TechniqueKind> for Setup {
    fn from(kind: TechniqueKind) -> Setup {
        Setup {
            kind,
            critical: None,
        }
    }
}

impl Setup {
    /// `kind` told the critical set `critical`.
    pub fn with_critical(kind: TechniqueKind, critical: Critical) -> Setup {
        Setup {
            kind,
            critical: Some(Arc::new(critical)),
        }
    }

    /// A fresh instance for a monitor on host `H`.
    pub fn build<H: Host>(&self) -> Box<dyn Technique<H>> {
        match self.kind {
            TechniqueKind::Tae => Box::new(Tae),
            TechniqueKind::Hvm => Box::new(Hvm),
            TechniqueKind::BtKernel | TechniqueKind::BtAll => {
                Box::new(BinaryTranslator::new(self.kind, self.critical.clone()))
            }
            TechniqueKind::Assist => Box::new(Assist),
            TechniqueKind::Pv => Box::new(crate::pv::Paravirt),
            TechniqueKind::TaeAssist => Box::new(TaeAssist),
        }
    }
}

/// A set of instructions that a technique's isolation needs privileged (trapping in user mode),
/// named after the classifier's atom that picks them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MustBePrivileged {
    /// Every instruction that is control-sensitive from a user-mode state (the classifier's
    /// `control_user` atom: it changes `M` or `R`, halts, touches a device, stores outside the
    /// window or changes the assist, without trapping).
    ControlUser,
}

impl MustBePrivileged {
    /// The classifier's name for the atom.
    pub fn atom_name(self) -> &'static str {
        match self {
            MustBePrivileged::ControlUser => "control_user",
        }
    }

    /// The condition in words.
    pub fn describe(self) -> &'static str {
        match self {
            MustBePrivileged::ControlUser => {
                "every instruction that is control-sensitive from a user-mode state is privileged"
            }
        }
    }
}

/// A technique name that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Unknown technique `{0}`; available: {names}", names = TechniqueKind::ALL.map(TechniqueKind::name).join(", "))]
pub struct UnknownTechnique(pub String);

impl FromStr for TechniqueKind {
    type Err = UnknownTechnique;

    fn from_str(s: &str) -> Result<TechniqueKind, UnknownTechnique> {
        TechniqueKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownTechnique(s.to_string()))
    }
}

/// A way to run guests on host `H`.
pub trait Technique<H: Host>: Debug + Send + Sync {
    /// Which technique this is.
    fn kind(&self) -> TechniqueKind;

    /// Prepares the host before any guest runs.
    fn prepare(&self, isa: &Isa, host: &mut H);

    /// Whether the guest's next instruction runs directly on the host; when not, the monitor
    /// interprets it ([`Technique::interpret`]).
    fn runs_directly(&self, _cpu: &VirtualCpu) -> bool {
        true
    }

    /// What to do at the next instruction boundary, with the VM's state in view (a binary
    /// translator reads the code ahead and counts its scans in `counts`). By default,
    /// [`Technique::runs_directly`] decides between running on and interpreting.
    fn plan(&mut self, _isa: &Isa, vm: &mut Window<'_, H>, _counts: &mut Counts) -> Plan {
        if self.runs_directly(vm.cpu) {
            Plan::Direct(u64::MAX)
        } else {
            Plan::Interpret
        }
    }

    /// Interprets the guest instruction at the VM's `P` in software, through the seam. The
    /// VM's clock counts the instructions before it.
    fn interpret(&mut self, isa: &Isa, vm: &mut Window<'_, H>) -> Disposition {
        match run_on(isa, vm) {
            Ok((id, Step::Done)) => Disposition::Interpreted { insn: Some(id) },
            Ok((id, Step::Halted)) => Disposition::Halted { insn: Some(id) },
            Ok((_, Step::Trapped(kind))) | Err(kind) => Disposition::Reflected(kind),
        }
    }

    /// The dispatcher: the host trapped on the guest instruction at the VM's `P`, blocked.
    /// The VM's clock counts the instructions before it.
    fn dispatch(&mut self, isa: &Isa, vm: &mut Window<'_, H>) -> Disposition;
}

/// Trap-and-emulate: every guest instruction runs directly in real user mode; the traps come
/// to the dispatcher, which emulates what the guest's own machine would have completed and
/// reflects the rest.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tae;

impl<H: Host> Technique<H> for Tae {
    fn kind(&self) -> TechniqueKind {
        TechniqueKind::Tae
    }

    /// The monitor is the supervisor program that turns a hardware assist on: with it on, the
    /// instructions the assist covers trap in real user mode, where guests run.
    fn prepare(&self, isa: &Isa, host: &mut H) {
        if isa.features.assist {
            host.set_assist(true);
        }
    }

    /// The real machine trapped; the question is what the bare machine would have done, and
    /// the instruction's own semantics run on the virtual state answer it:
    ///
    /// - in virtual supervisor mode a privileged instruction completes there (it trapped only
    ///   because the guest really runs in user mode): its interpreter has applied its effect;
    /// - in virtual user mode a privileged instruction traps there too, and so do supervisor
    ///   calls and memory traps in either mode: the trap is the guest's and is reflected.
    ///
    /// Asking the semantics rather than the mode also covers a real machine that is stricter
    /// than the virtual one: with the hardware assist on for the monitor but off in the VM, an
    /// instruction the assist covers traps for real yet completes on the virtual machine.
    fn dispatch(&mut self, isa: &Isa, vm: &mut Window<'_, H>) -> Disposition {
        match run_on(isa, vm) {
            Ok((id, Step::Done)) => Disposition::Emulated { insn: Some(id) },
            Ok((id, Step::Halted)) => Disposition::Halted { insn: Some(id) },
            Ok((_, Step::Trapped(kind))) | Err(kind) => Disposition::Reflected(kind),
        }
    }
}

/// The instruction at the VM's `P`, run on the virtual state through the seam: which one it
/// was (decoded once, for the counts) and what it did, or the trap its fetch took.
pub(crate) fn run_on<H: Host>(
    isa: &Isa,
    vm: &mut Window<'_, H>,
) -> Result<(InsnId, Step), TrapKind> {
    let (id, word) = pgvm_machine::fetch(isa, vm)?;
    Ok((id, pgvm_machine::execute_shaped(isa, id, word, vm)))
}

/// The hybrid monitor of the paper's Theorem 3: *every* instruction of virtual supervisor mode
/// is interpreted in software, through the same semantics and the same seam; virtual user
/// mode runs directly, as under trap-and-emulate. It needs only the user-sensitive
/// instructions to trap, which the PDP-10 and the MC68000 satisfy and Theorem 1's condition
/// does not.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hvm;

impl<H: Host> Technique<H> for Hvm {
    fn kind(&self) -> TechniqueKind {
        TechniqueKind::Hvm
    }

    /// As trap-and-emulate, the monitor turns a hardware assist on.
    fn prepare(&self, isa: &Isa, host: &mut H) {
        Tae.prepare(isa, host);
    }

    fn runs_directly(&self, cpu: &VirtualCpu) -> bool {
        cpu.psw.mode == Mode::User
    }

    /// Only virtual user mode runs directly, so a trap of the host is a user-mode trap: the
    /// semantics decide, exactly as under trap-and-emulate.
    fn dispatch(&mut self, isa: &Isa, vm: &mut Window<'_, H>) -> Disposition {
        Tae.dispatch(isa, vm)
    }
}

/// Hardware assist (VT-x, AMD-V): the monitor turns the profile's assist on, and with it on
/// the critical instructions trap in real user mode, so plain trap-and-emulate is equivalent
/// where Theorem 1 holds under the assist and the assist is sound (DESIGN.md §4c). It runs
/// only on a profile that has an assist ([`TechniqueKind::applies`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Assist;

impl<H: Host> Technique<H> for Assist {
    fn kind(&self) -> TechniqueKind {
        TechniqueKind::Assist
    }

    /// VMXON: the one thing this technique adds to trap-and-emulate.
    fn prepare(&self, isa: &Isa, host: &mut H) {
        Tae.prepare(isa, host);
    }

    fn dispatch(&mut self, isa: &Isa, vm: &mut Window<'_, H>) -> Disposition {
        Tae.dispatch(isa, vm)
    }
}

/// Trap-and-emulate with the System/370-style VM assist (DESIGN.md §4c, `tae-assist`).
///
/// The dispatcher is trap-and-emulate's, unchanged: what it sees is what the assist left to
/// it. The assist itself is the machine's ([`pgvm_machine::ControlBlock`]); the monitor lends
/// it the VM's control block around every stretch of direct execution
/// ([`TechniqueKind::uses_vm_assist`]), and takes the virtual PSW back from it. On a host
/// without a VM assist (a VM of another monitor) this is plain trap-and-emulate.
#[derive(Debug, Clone, Copy, Default)]
pub struct TaeAssist;

impl<H: Host> Technique<H> for TaeAssist {
    fn kind(&self) -> TechniqueKind {
        TechniqueKind::TaeAssist
    }

    fn prepare(&self, isa: &Isa, host: &mut H) {
        Tae.prepare(isa, host);
    }

    fn dispatch(&mut self, isa: &Isa, vm: &mut Window<'_, H>) -> Disposition {
        Tae.dispatch(isa, vm)
    }
}
