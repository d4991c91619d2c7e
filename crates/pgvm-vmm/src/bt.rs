//! Binary translation (DESIGN.md §4c), the way VMware ran the Pentium before VT-x: guest code
//! is scanned one basic block at a time for *critical* instructions (sensitive but not
//! privileged, as the classifier derives them). A block runs directly, in real user mode, up
//! to its first critical instruction; that one is carried out on the virtual state through
//! the seam, exactly as an interpreter would. Privileged instructions need no scan: they trap
//! when run directly and the dispatcher handles them as under trap-and-emulate.
//!
//! This monitor's translation is the identity up to the critical instruction, so a block is
//! not rewritten; what it keeps per block is where the block ends and why. Scanned blocks are
//! cached and revalidated against the guest's memory each time they are entered, so a guest
//! that writes its own code (the word right after a critical instruction included) is scanned
//! again. A store *inside* a block to a later word of the same block would change code after
//! it was scanned and before it runs, so such a store ends its block: a store whose address
//! is a constant or an operand field ends the block when it lands in it, and a store whose
//! address is computed ends the block whatever it hits.
//!
//! `bt-kernel` scans only virtual supervisor mode, as VMware did, and runs virtual user mode
//! directly; `bt-all` scans both.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use pgvm_isa::Primitive;
use pgvm_isa::{Expr, InsnId, Isa, Mode, Space, Stmt};
use pgvm_machine::{Psw, REG_MAX, Reloc, StateView, Step, Window};

use crate::host::Host;
use crate::technique::{Disposition, Plan, Tae, Technique, TechniqueKind};
use crate::vm::Counts;

/// The longest block scanned at once: a longer straight line is two blocks.
pub const MAX_BLOCK: u64 = 64;

/// Cached blocks past which the cache is emptied, so that a guest that keeps generating code
/// costs bounded memory.
const MAX_CACHED: usize = 1 << 16;

/// The instructions a binary translator must not run directly: sensitive and not privileged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Critical {
    flags: Vec<bool>,
    /// Where the set came from, for reports.
    pub source: CriticalSource,
}

/// Where a critical set came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CriticalSource {
    /// The classifier's verdicts (Theorem 1's violations).
    Classifier,
    /// Lemma 1's over-approximation from the effect summaries, used when a translator is
    /// built without the classifier's set: every instruction whose body touches a primitive
    /// or halts. Sound (nothing it leaves out is sensitive) but it also translates privileged
    /// and innocuous instructions that touch a primitive.
    Effects,
}

impl Critical {
    /// The set named by `mnemonics` (the classifier's critical instructions). Names that are
    /// not instructions of `isa` are ignored.
    pub fn from_mnemonics<S: AsRef<str>>(isa: &Isa, mnemonics: &[S]) -> Critical {
        let mut flags = vec![false; isa.insns.len()];
        for m in mnemonics {
            if let Some(id) = isa.insn(m.as_ref()) {
                flags[id] = true;
            }
        }
        Critical {
            flags,
            source: CriticalSource::Classifier,
        }
    }

    /// Lemma 1's over-approximation ([`CriticalSource::Effects`]).
    pub fn by_effects(isa: &Isa) -> Critical {
        Critical {
            flags: isa
                .insns
                .iter()
                .map(|i| !i.effects.touches_no_primitive())
                .collect(),
            source: CriticalSource::Effects,
        }
    }

    /// Whether instruction `id` is in the set.
    pub fn contains(&self, id: InsnId) -> bool {
        self.flags.get(id).copied().unwrap_or(false)
    }

    /// The set's mnemonics, in the profile's order.
    pub fn mnemonics<'i>(&self, isa: &'i Isa) -> Vec<&'i str> {
        isa.insns
            .iter()
            .enumerate()
            .filter(|(id, _)| self.contains(*id))
            .map(|(_, i)| i.mnemonic.as_str())
            .collect()
    }
}

/// Where a relocated store of an instruction may land.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stores {
    /// Nowhere: the body writes no relocated memory.
    None,
    /// At these addresses: constants and operand fields (format field indices).
    Static(Vec<Target>),
    /// Somewhere computed at run time.
    Dynamic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Const(u64),
    Field(usize),
}

/// What the scanner needs to know of one instruction.
#[derive(Debug, Clone)]
struct Shape {
    critical: bool,
    /// It may change `P` (or the mode, `R` or assist, or halt): the straight line ends after it.
    ends: bool,
    stores: Stores,
}

fn shapes(isa: &Isa, critical: &Critical) -> Vec<Shape> {
    isa.insns
        .iter()
        .enumerate()
        .map(|(id, insn)| {
            let e = &insn.effects;
            let ends = e.writes_p
                || e.writes_psw
                || e.halts
                || e.writes.contains(&Primitive::Mode)
                || e.writes.contains(&Primitive::Reloc)
                || e.writes.contains(&Primitive::Assist);
            let mut targets = Some(Vec::new());
            collect_stores(&insn.body, &mut targets);
            let stores = match targets {
                None => Stores::Dynamic,
                Some(t) if t.is_empty() => Stores::None,
                Some(t) => Stores::Static(t),
            };
            Shape {
                critical: critical.contains(id),
                ends,
                stores,
            }
        })
        .collect()
}

/// Every relocated store's address in `body`; `None` once one is computed (or absolute).
fn collect_stores(body: &[Stmt], out: &mut Option<Vec<Target>>) {
    for s in body {
        match s {
            Stmt::Store {
                space: Space::Relocated,
                addr,
                ..
            } => {
                let t = match addr {
                    Expr::Const(c) => Some(Target::Const(*c)),
                    Expr::Field(f) => Some(Target::Field(*f)),
                    _ => None,
                };
                match (t, out.as_mut()) {
                    (Some(t), Some(v)) => v.push(t),
                    _ => *out = None,
                }
            }
            // An absolute store that the classifier let through as innocuous stays inside
            // the window, but where in it depends on R: count it as computed.
            Stmt::Store {
                space: Space::Absolute,
                ..
            } => *out = None,
            Stmt::If(_, then, els) => {
                collect_stores(then, out);
                collect_stores(els, out);
            }
            _ => {}
        }
    }
}

/// One scanned block: the words it was scanned from, and how it ends.
#[derive(Debug, Clone)]
struct Block {
    /// The words at `P0..P0 + words.len()`, as scanned.
    words: Vec<u64>,
    /// Instructions to run directly from `P0` (0: the first is critical).
    direct: u64,
}

/// Cache key: where the block is (the VM's base, so that VMs never share entries), the
/// virtual mode, `P` and `R`.
type Key = (u64, Mode, u64, Reloc);

/// A multiply-rotate hash (FxHash's), since the cache is looked up at every block entry and
/// its keys come from the guest's own program, not from an adversary of the hash table.
#[derive(Debug, Clone, Copy, Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn write_isize(&mut self, n: isize) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The binary-translating monitor ([`TechniqueKind::BtKernel`] or [`TechniqueKind::BtAll`]).
#[derive(Debug, Clone)]
pub struct BinaryTranslator {
    kind: TechniqueKind,
    critical: Option<Arc<Critical>>,
    shapes: Option<Vec<Shape>>,
    blocks: HashMap<Key, Block, BuildHasherDefault<KeyHasher>>,
}

impl BinaryTranslator {
    /// A translator of `kind` (one of the two binary-translation kinds) scanning for
    /// `critical`; without it, Lemma 1's over-approximation ([`Critical::by_effects`]).
    pub fn new(kind: TechniqueKind, critical: Option<Arc<Critical>>) -> BinaryTranslator {
        BinaryTranslator {
            kind,
            critical,
            shapes: None,
            blocks: HashMap::default(),
        }
    }

    fn scans(&self, mode: Mode) -> bool {
        mode == Mode::Supervisor || self.kind == TechniqueKind::BtAll
    }

    fn ensure_shapes(&mut self, isa: &Isa) {
        if self.shapes.is_none() {
            let by_effects;
            let critical = match &self.critical {
                Some(c) => c.as_ref(),
                None => {
                    by_effects = Critical::by_effects(isa);
                    &by_effects
                }
            };
            self.shapes = Some(shapes(isa, critical));
        }
    }
}

/// The words of the block at `psw`, read through the VM's own address development; `None`
/// for a word that does not develop (its fetch traps).
fn word_at<V: StateView>(vm: &V, psw: Psw, i: u64) -> Option<u64> {
    let a = psw.p.checked_add(i).filter(|&a| a <= REG_MAX)?;
    pgvm_machine::develop(a, psw.r, vm.size()).map(|pa| vm.load(pa))
}

/// Scans the block at `psw`.
fn scan<V: StateView>(isa: &Isa, shapes: &[Shape], vm: &V, psw: Psw) -> Block {
    let mut words = Vec::new();
    let mut direct = 0;
    while (words.len() as u64) < MAX_BLOCK {
        let i = words.len() as u64;
        let Some(word) = word_at(vm, psw, i) else {
            // The fetch traps: running it directly takes that trap.
            if i == 0 {
                direct = 1;
            }
            break;
        };
        words.push(word);
        let Some(id) = isa.decode(word) else {
            // An illegal instruction traps when run: it ends the block.
            direct = i + 1;
            break;
        };
        let shape = &shapes[id];
        if shape.critical {
            direct = i;
            break;
        }
        direct = i + 1;
        let stores_into_block = match &shape.stores {
            Stores::None => false,
            Stores::Dynamic => true,
            Stores::Static(targets) => targets.iter().any(|t| {
                let a = match *t {
                    Target::Const(c) => c,
                    Target::Field(f) => isa.format_of(id).fields[f].extract(word),
                };
                // Only the words after this one can still be executed in this block.
                a > psw.p + i && a < psw.p + MAX_BLOCK
            }),
        };
        if shape.ends || stores_into_block {
            break;
        }
    }
    Block { words, direct }
}

impl<H: Host> Technique<H> for BinaryTranslator {
    fn kind(&self) -> TechniqueKind {
        self.kind
    }

    /// As trap-and-emulate, the monitor turns a hardware assist on (then the classifier's
    /// critical set, decided under the assist, is what still needs translating).
    fn prepare(&self, isa: &Isa, host: &mut H) {
        Tae.prepare(isa, host);
    }

    /// The block at the VM's `P`, from the cache when its words are unchanged, else scanned
    /// (again).
    fn plan(&mut self, isa: &Isa, vm: &mut Window<'_, H>, counts: &mut Counts) -> Plan {
        let psw = vm.cpu.psw;
        if !self.scans(psw.mode) {
            return Plan::Direct(u64::MAX);
        }
        let key = (vm.map.base.0, psw.mode, psw.p, psw.r);
        let view: &Window<'_, H> = vm;
        // Whether each word still develops is fixed by the key (`P`, `R` and the VM's `w`);
        // what the guest may have changed is the words themselves.
        let fresh = self.blocks.get(&key).map(|b| {
            b.words
                .iter()
                .enumerate()
                .all(|(i, &w)| word_at(view, psw, i as u64) == Some(w))
        });
        let direct = match fresh {
            Some(true) => self.blocks.get(&key).map_or(0, |b| b.direct),
            stale => {
                if stale.is_some() {
                    counts.blocks_rescanned += 1;
                }
                counts.blocks_scanned += 1;
                self.ensure_shapes(isa);
                let shapes = self.shapes.as_deref().unwrap_or(&[]);
                let block = scan(isa, shapes, view, psw);
                let direct = block.direct;
                if self.blocks.len() >= MAX_CACHED {
                    self.blocks.clear();
                }
                self.blocks.insert(key, block);
                direct
            }
        };
        if direct == 0 {
            Plan::Interpret
        } else {
            Plan::Direct(direct)
        }
    }

    /// The critical instruction at the block's end, carried out on the virtual state.
    fn interpret(&mut self, isa: &Isa, vm: &mut Window<'_, H>) -> Disposition {
        match crate::technique::run_on(isa, vm) {
            Ok((id, Step::Done)) => Disposition::Translated { insn: Some(id) },
            Ok((id, Step::Halted)) => Disposition::Halted { insn: Some(id) },
            Ok((_, Step::Trapped(kind))) | Err(kind) => Disposition::Reflected(kind),
        }
    }

    /// Whatever traps while a block runs directly is handled as under trap-and-emulate.
    fn dispatch(&mut self, isa: &Isa, vm: &mut Window<'_, H>) -> Disposition {
        Tae.dispatch(isa, vm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_are_static_only_at_an_operand_field_or_a_constant() {
        let isa = pgvm_isa::load("ia32").expect("built-in");
        let shapes = shapes(&isa, &Critical::from_mnemonics(&isa, &["sgdt"]));
        let of = |m: &str| &shapes[isa.insn(m).expect("mnemonic")];
        assert!(matches!(of("add").stores, Stores::Static(ref t) if t.len() == 1));
        assert_eq!(of("stx").stores, Stores::Dynamic);
        assert_eq!(of("jmp").stores, Stores::None);
        assert!(of("jmp").ends && of("lpsw").ends && of("halt").ends && !of("add").ends);
        assert!(of("sgdt").critical && !of("sidt").critical);
    }

    #[test]
    fn without_the_classifiers_set_every_instruction_touching_a_primitive_is_critical() {
        let isa = pgvm_isa::load("ia32").expect("built-in");
        let c = Critical::by_effects(&isa);
        for m in ["sgdt", "smsw", "popf", "rdtsc", "lpsw", "halt"] {
            assert!(c.contains(isa.insn(m).expect("mnemonic")), "{m}");
        }
        for m in ["add", "stx", "jmp", "svc"] {
            assert!(!c.contains(isa.insn(m).expect("mnemonic")), "{m}");
        }
        assert_eq!(c.source, CriticalSource::Effects);
    }
}
