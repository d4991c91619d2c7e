//! Paravirtualization (docs/paravirt.md): the paravirtualized tsos for ia32, whose kernel asks
//! for `sgdt`, `pushf` and `popf` by hypercall, is equivalent under `pv` to the machine that
//! implements the hypercalls, and computes what tsos computes on the bare ia32. The same
//! monitor on the unmodified tsos diverges at the first critical instruction, as
//! trap-and-emulate does: the hypercalls, not the monitor, make the difference.

use std::path::Path;
use std::sync::Arc;

use pgvm_isa::Isa;
use pgvm_lab::TechniqueKind;
use pgvm_lab::guest::guest_of;
use pgvm_machine::{DEFAULT_WORDS, Machine, StateView};
use pgvm_testkit::isa;
use pgvm_vmm::{Guest, Reference, check_equivalence};

fn tsos(rel: &str, isa: &Arc<Isa>) -> Guest {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../guests/tsos")).join(rel);
    let image = pgvm_asm::assemble_file(&path, isa).unwrap_or_else(|e| panic!("{e}"));
    guest_of(&image, DEFAULT_WORDS).expect("fits")
}

/// The console output of `g` run to its halt on the reference machine.
fn reference_output(isa: &Arc<Isa>, g: &Guest, hypercalls: bool) -> (Vec<u8>, u64) {
    let mut m = Machine::new(isa.clone(), g.w).expect("machine");
    for (org, words) in &g.segments {
        m.write(*org, words).expect("fits");
    }
    m.set_psw(g.entry);
    let mut r = Reference::new(m, hypercalls);
    assert_eq!(r.run(50_000_000), pgvm_machine::Exit::Halted);
    (r.output().to_vec(), r.steps())
}

#[test]
fn the_paravirtualized_tsos_is_equivalent_to_the_machine_with_hypercalls() {
    let s = isa("ia32");
    let pv = tsos("ia32-pv.s", &s);
    let r = check_equivalence(s.clone(), &pv, TechniqueKind::Pv, 50_000_000).expect("runs");
    assert!(r.equivalent, "{:?}", r.divergence);
    assert_eq!(r.bare, pgvm_vmm::BareOutcome::Halted);
    assert!(r.tally.hypercalls > 1000, "{r:?}");
    assert_eq!(
        r.tally.direct + r.tally.emulated + r.tally.reflected + r.tally.hypercalls,
        r.vm_instructions
    );
    // What the reference machine computes is what tsos computes bare: the same output in the
    // same number of instructions, each hypercall standing for the instruction it names.
    let original = tsos("ia32.s", &s);
    assert_eq!(
        reference_output(&s, &pv, true),
        reference_output(&s, &original, false)
    );
}

#[test]
fn without_hypercalls_the_same_monitor_diverges_at_the_critical_instruction() {
    let s = isa("ia32");
    let r = check_equivalence(
        s.clone(),
        &tsos("ia32.s", &s),
        TechniqueKind::Pv,
        50_000_000,
    )
    .expect("runs");
    assert!(!r.equivalent);
    assert_eq!(r.tally.hypercalls, 0);
    assert_eq!(r.divergence.expect("a divergence").mnemonic, "sgdt");
}
