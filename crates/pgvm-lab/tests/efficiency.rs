//! The efficiency check on real runs: a monitor that emulates what nothing trapped is caught;
//! an innocuous instruction whose own trap depends on location is reported as the known
//! consequence of the definitions, not as a bug.

use std::sync::Arc;

use pgvm_isa::{Isa, Mode};
use pgvm_lab::TechniqueKind;
use pgvm_lab::equiv::{EmulationFinding, check, check_emulations, efficiency_breaches};
use pgvm_machine::{Machine, VirtualCpu, Window};
use pgvm_testkit::{enc, isa, supervisor};
use pgvm_vmm::{Disposition, Guest, Monitor, Tae, Technique, TechniqueKind as Kind};

/// A mutated trap-and-emulate monitor: it does not let virtual supervisor code run directly,
/// and carries each such instruction out in software, counting it as *emulated*: innocuous
/// ones included, although nothing trapped them.
#[derive(Debug)]
struct EmulatesEverything;

impl Technique<Machine> for EmulatesEverything {
    fn kind(&self) -> Kind {
        Kind::Tae
    }
    fn prepare(&self, isa: &Isa, host: &mut Machine) {
        Technique::<Machine>::prepare(&Tae, isa, host);
    }
    fn runs_directly(&self, cpu: &VirtualCpu) -> bool {
        cpu.psw.mode == Mode::User
    }
    fn interpret(&mut self, isa: &Isa, vm: &mut Window<'_, Machine>) -> Disposition {
        match Technique::<Machine>::interpret(&mut Tae, isa, vm) {
            Disposition::Interpreted { insn } => Disposition::Emulated { insn },
            other => other,
        }
    }
    fn dispatch(&mut self, isa: &Isa, vm: &mut Window<'_, Machine>) -> Disposition {
        Technique::<Machine>::dispatch(&mut Tae, isa, vm)
    }
}

/// Supervisor code at 0x10: add, out, add, halt.
fn program(isa: &Isa) -> Guest {
    let code = vec![
        enc(isa, "add", &[0x22, 0x20, 0x21]),
        enc(isa, "out", &[0x20]),
        enc(isa, "add", &[0x22, 0x22, 0x21]),
        enc(isa, "halt", &[]),
    ];
    Guest {
        w: 64,
        segments: vec![(0x10, code), (0x20, vec![u64::from(b'A'), 1])],
        entry: supervisor(0x10, 64),
        input: Vec::new(),
        assist: false,
        clock: 0,
    }
}

fn emulations(
    isa: &Arc<Isa>,
    technique: Box<dyn Technique<Machine>>,
    g: &Guest,
) -> Vec<pgvm_vmm::Emulation> {
    let host = Machine::new(isa.clone(), 16 + g.w).expect("machine");
    let mut mon = Monitor::on(isa.clone(), host, technique);
    let segs: Vec<(u64, &[u64])> = g.segments.iter().map(|(o, w)| (*o, &w[..])).collect();
    let id = mon.create_vm(g.w, &segs, g.entry).expect("fits");
    mon.run_vm(id, 100);
    mon.vm(id).counts.emulations.clone()
}

#[test]
fn a_monitor_that_emulates_an_innocuous_instruction_is_caught_on_a_real_run() {
    let s = isa("s370");
    let g = program(&s);
    let mutant = emulations(&s, Box::new(EmulatesEverything), &g);
    let checks = check_emulations(&s, &mutant);
    let breaches = efficiency_breaches(&checks);
    // Every instruction it carried out is a bug, since nothing trapped any of them; the
    // innocuous `add` is the one trap-and-emulate must never run in software.
    let add = breaches
        .iter()
        .find(|b| b.mnemonic == "add")
        .unwrap_or_else(|| panic!("add is a breach: {checks:#?}"));
    assert_eq!(add.count, 2);
    assert!(add.evidence.contains("nothing trapped"), "{breaches:?}");
    assert!(
        checks
            .iter()
            .all(|c| c.finding == EmulationFinding::MonitorBug),
        "{checks:#?}"
    );
    // The real monitor on the same program: only privileged instructions, each trapped.
    let honest = emulations(&s, Kind::Tae.build(), &g);
    let checks = check_emulations(&s, &honest);
    assert!(!checks.is_empty());
    assert!(
        checks
            .iter()
            .all(|c| c.finding == EmulationFinding::Expected),
        "{checks:#?}"
    );
}

/// `rdl` completes where the window starts at physical 0 and traps anywhere else: not
/// privileged (user mode with `l = 0` runs it), and not sensitive, since a trap is no
/// evidence. Under a monitor the real `l` is never 0, so it always traps and is emulated.
const LOCATION_TRAP: &str = r#"isa loctrap "an instruction whose trap depends on location"
extends base
insn rdl rrr 0x60 (a) "E[a] = 7, trapping unless the window starts at 0" { if R.l != 0 { trap; } E[a] = 7; }
"#;

#[test]
fn a_location_dependent_trap_is_a_consequence_not_a_monitor_bug() {
    let s = Arc::new(pgvm_isa::parse_str("loctrap.isa", LOCATION_TRAP).expect("parses"));
    let report = pgvm_classify::classify_insn(
        &s,
        s.insn("rdl").expect("rdl"),
        &pgvm_classify::Config::default(),
    );
    assert!(
        !report.is(pgvm_classify::Class::Privileged),
        "rdl is not privileged"
    );
    let code = vec![enc(&s, "rdl", &[0x20]), enc(&s, "halt", &[])];
    let g = Guest {
        w: 64,
        segments: vec![(0x10, code)],
        entry: supervisor(0x10, 64),
        input: Vec::new(),
        assist: false,
        clock: 0,
    };
    let r = check(&s, &g, TechniqueKind::Tae, 100).expect("runs");
    assert!(r.equivalent, "{:?}", r.divergence);
    assert!(r.efficiency_breaches.is_empty(), "{r:#?}");
    let rdl = r
        .efficiency
        .iter()
        .find(|c| c.mnemonic == "rdl")
        .expect("rdl was emulated");
    assert_eq!(rdl.finding, EmulationFinding::Consequence, "{rdl:?}");
    assert!(rdl.why.contains("not privileged"), "{rdl:?}");
}
