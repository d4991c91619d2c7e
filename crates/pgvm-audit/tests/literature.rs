//! The literature's verdicts, recovered from the emulator by the derivation. The expected
//! names appear here only: the audit derives its classes from runs, never from names.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use pgvm_audit::audit::{self, Audit, AuditConfig};
use pgvm_audit::groups::{self, Group};
use pgvm_audit::{Cpu, M68kOracle};
use pgvm_classify::oracle::{self, Oracle, OracleWitness, Outcome};
use pgvm_classify::{Atom, Class};
use pgvm_isa::Mode;

/// Few states per group keep the default test suite fast; the ignored test runs the default.
const SAMPLES: u64 = 60;

fn run(cpu: Cpu) -> &'static (Vec<Group>, Audit) {
    static A: OnceLock<(Vec<Group>, Audit)> = OnceLock::new();
    static B: OnceLock<(Vec<Group>, Audit)> = OnceLock::new();
    let cell = if cpu == Cpu::M68000 { &A } else { &B };
    cell.get_or_init(|| {
        let groups = groups::groups(cpu);
        let config = AuditConfig {
            cpu,
            samples: SAMPLES,
            seed: 0,
        };
        let audit = audit::audit_groups(config, &groups, &|| {}).expect("valid config");
        (groups, audit)
    })
}

/// MOVE from SR is 0100 0000 11 <ea> (0x40C0-0x40FF); with <ea> = D0 it is 0x40C0.
const MOVE_FROM_SR_D0: u16 = 0x40C0;
/// MOVE from CCR (68010) is 0100 0010 11 <ea>.
const MOVE_FROM_CCR_D0: u16 = 0x42C0;

#[test]
fn every_opcode_word_is_in_exactly_one_group() {
    for cpu in Cpu::ALL {
        let (groups, _) = run(cpu);
        let mut seen = vec![0u8; 1 << 16];
        for g in groups {
            for &op in &g.opcodes {
                seen[op as usize] += 1;
            }
        }
        assert!(seen.iter().all(|&n| n == 1), "{}", cpu.name());
    }
}

#[test]
fn m68000_move_from_sr_is_sensitive_and_not_privileged_so_theorem_1_fails() {
    let (groups, audit) = run(Cpu::M68000);
    let g = audit.group_of(MOVE_FROM_SR_D0, groups).expect("grouped");
    assert!(g.name.starts_with("MOVE from SR"), "{}", g.name);
    assert!(g.sensitive() && !g.privileged(), "{g:?}");
    assert!(g.report.is(Class::ModeSensitive));
    assert!(!g.user_sensitive(), "MOVE from SR is not user-sensitive");
    assert!(!audit.theorem1.holds);
    assert!(audit.theorem1.violations.contains(&g.name));
    // The one sensitive unprivileged instruction: every violation is a form of it.
    for v in &audit.theorem1.violations {
        assert!(v.starts_with("MOVE from SR"), "unexpected violation {v}");
    }
    // Theorem 3 holds: nothing user-sensitive runs unprivileged.
    assert!(audit.theorem3.holds, "{:?}", audit.theorem3.violations);
}

#[test]
fn m68010_finds_no_violation_so_theorem_1_holds() {
    let (groups, audit) = run(Cpu::M68010);
    assert!(audit.theorem1.holds, "{:?}", audit.theorem1.violations);
    assert!(audit.theorem3.holds);
    let g = audit.group_of(MOVE_FROM_SR_D0, groups).expect("grouped");
    assert!(g.name.starts_with("MOVE from SR"), "{}", g.name);
    assert!(g.privileged(), "MOVE from SR is privileged on the 68010");
    // It still reads S, but a mode pair always has one trapping run: not evidence.
    assert!(!g.sensitive());
}

#[test]
fn m68010_move_from_ccr_is_innocuous_and_unprivileged() {
    let (groups, audit) = run(Cpu::M68010);
    let g = audit.group_of(MOVE_FROM_CCR_D0, groups).expect("grouped");
    assert!(g.name.starts_with("MOVE from CCR"), "{}", g.name);
    assert!(g.report.is(Class::Innocuous), "{g:?}");
    assert!(!g.privileged());
    // On the 68000 the same words are not an instruction at all.
    let (groups0, audit0) = run(Cpu::M68000);
    let g0 = audit0.group_of(MOVE_FROM_CCR_D0, groups0).expect("grouped");
    assert_eq!(g0.name, "(illegal instruction)");
}

#[test]
fn sensitive_privileged_instructions_are_found_on_both() {
    // The control-sensitive instructions: privileged and sensitive on both CPUs.
    for cpu in Cpu::ALL {
        let (_, audit) = run(cpu);
        for name in [
            "MOVE to SR <Dn>",
            "ANDI to SR",
            "RTE",
            "STOP #xxxx",
            "RESET",
        ] {
            let g = audit.group(name).unwrap_or_else(|| panic!("{name}"));
            assert!(g.privileged() && g.sensitive(), "{} {name}", cpu.name());
        }
    }
}

#[test]
fn every_witness_replays() {
    for cpu in Cpu::ALL {
        let (_, audit) = run(cpu);
        let oracle = M68kOracle { cpu };
        let file = audit.witness_file();
        assert!(!file.witnesses.is_empty());
        for w in &file.witnesses {
            let r = oracle::replay(&oracle, w).expect("well-formed");
            assert!(r.confirmed, "{w:?} observed {:?}", r.observed);
        }
    }
}

/// An oracle that lies about one thing: a user-mode run that completes is reported as a
/// privilege violation.
struct Liar(M68kOracle);

impl Oracle for Liar {
    type State = <M68kOracle as Oracle>::State;
    type After = <M68kOracle as Oracle>::After;
    fn machine(&self) -> String {
        self.0.machine()
    }
    fn atoms(&self) -> &[Atom] {
        self.0.atoms()
    }
    fn mode(&self, s: &Self::State) -> Mode {
        self.0.mode(s)
    }
    fn with_mode(&self, s: &Self::State, mode: Mode) -> Self::State {
        self.0.with_mode(s, mode)
    }
    fn run(&self, s: &Self::State) -> Outcome<Self::After> {
        match self.0.run(s) {
            Outcome::Completed(_) if self.0.mode(s) == Mode::User => Outcome::Trapped {
                kind: "privilege violation".into(),
                memory: false,
                privilege: true,
            },
            o => o,
        }
    }
    fn control(&self, b: &Self::State, a: &Self::After) -> Option<String> {
        self.0.control(b, a)
    }
    fn differ(
        &self,
        x: (&Self::State, &Self::After),
        y: (&Self::State, &Self::After),
    ) -> Option<String> {
        self.0.differ(x, y)
    }
}

/// An oracle that lies exactly once: its `n`-th run (counting from 0) reports a completed run
/// as a privilege violation, or a trap as the run it would have been had nothing trapped
/// (here: as a completed run that changed nothing, taken from a fresh honest run of the same
/// state in supervisor mode).
struct FlipOne {
    honest: M68kOracle,
    n: usize,
    runs: AtomicUsize,
}

impl Oracle for FlipOne {
    type State = <M68kOracle as Oracle>::State;
    type After = <M68kOracle as Oracle>::After;
    fn machine(&self) -> String {
        self.honest.machine()
    }
    fn atoms(&self) -> &[Atom] {
        self.honest.atoms()
    }
    fn mode(&self, s: &Self::State) -> Mode {
        self.honest.mode(s)
    }
    fn with_mode(&self, s: &Self::State, mode: Mode) -> Self::State {
        self.honest.with_mode(s, mode)
    }
    fn run(&self, s: &Self::State) -> Outcome<Self::After> {
        let k = self.runs.fetch_add(1, Ordering::SeqCst);
        let o = self.honest.run(s);
        if k != self.n {
            return o;
        }
        match o {
            Outcome::Completed(_) => Outcome::Trapped {
                kind: "privilege violation".into(),
                memory: false,
                privilege: true,
            },
            Outcome::Trapped { .. } => self.honest.run(&self.honest.with_mode(s, Mode::Supervisor)),
        }
    }
    fn control(&self, b: &Self::State, a: &Self::After) -> Option<String> {
        self.honest.control(b, a)
    }
    fn differ(
        &self,
        x: (&Self::State, &Self::After),
        y: (&Self::State, &Self::After),
    ) -> Option<String> {
        self.honest.differ(x, y)
    }
}

#[test]
fn one_flipped_result_makes_replay_fail() {
    // Every run the observation rests on: both runs of the mode-sensitivity pair, the user run
    // of the counterexample to privilege. (Its supervisor run may trap or not: "in user mode it
    // did not trap" holds either way, so a lie there changes nothing the witness claims.)
    for (atom, flipped) in [
        (Atom::ModeSensitive, vec![0, 1]),
        (Atom::NotPrivileged, vec![1]),
    ] {
        let w = move_from_sr_witness(atom);
        for n in flipped {
            let liar = FlipOne {
                honest: M68kOracle { cpu: Cpu::M68000 },
                n,
                runs: AtomicUsize::new(0),
            };
            let r = oracle::replay(&liar, &w).expect("well-formed");
            assert!(!r.confirmed, "{atom:?}: run {n} flipped went unnoticed");
        }
    }
}

fn move_from_sr_witness(atom: Atom) -> OracleWitness {
    let (_, audit) = run(Cpu::M68000);
    audit
        .violations()
        .iter()
        .flat_map(|g| &g.witnesses)
        .find(|w| w.atom == atom)
        .cloned()
        .expect("a witness")
}

#[test]
fn a_lying_oracle_is_caught_by_replay() {
    let liar = Liar(M68kOracle { cpu: Cpu::M68000 });
    for atom in [Atom::NotPrivileged, Atom::ModeSensitive] {
        let w = move_from_sr_witness(atom);
        let honest = oracle::replay(&M68kOracle { cpu: Cpu::M68000 }, &w).expect("ok");
        assert!(honest.confirmed);
        let lied = oracle::replay(&liar, &w).expect("well-formed");
        assert!(!lied.confirmed, "{atom:?}: the liar's run went unnoticed");
    }
}

#[test]
fn replay_refuses_states_that_are_not_the_pair() {
    let mut w = move_from_sr_witness(Atom::ModeSensitive);
    w.states.swap(0, 1);
    assert!(oracle::replay(&M68kOracle { cpu: Cpu::M68000 }, &w).is_err());
    let mut w = move_from_sr_witness(Atom::NotPrivileged);
    w.claim = "in user mode it did not trap (halted)".into();
    let r = oracle::replay(&M68kOracle { cpu: Cpu::M68000 }, &w).expect("ok");
    assert!(!r.confirmed, "an edited claim is not confirmed");
}

#[test]
fn replay_refuses_a_state_the_emulator_cannot_run() {
    // An odd vector base makes the emulator recurse without end on an exception; such a
    // state is refused before it runs.
    let mut w = move_from_sr_witness(Atom::NotPrivileged);
    w.machine = "m68k:m68010".into();
    for s in &mut w.states {
        s["control"] = serde_json::json!([1, 0, 0]);
    }
    let e = oracle::replay(&M68kOracle { cpu: Cpu::M68010 }, &w).expect_err("refused");
    assert!(e.to_string().contains("VBR"), "{e}");
}

#[test]
#[ignore = "the full default run: about 10 s in release, minutes in debug"]
fn default_samples_give_the_same_verdicts() {
    for (cpu, holds) in [(Cpu::M68000, false), (Cpu::M68010, true)] {
        let config = AuditConfig {
            cpu,
            samples: audit::DEFAULT_SAMPLES,
            seed: 1,
        };
        let a = audit::audit(config, &|| {}).expect("ok");
        assert_eq!(a.theorem1.holds, holds, "{:?}", a.theorem1.violations);
        assert!(a.theorem3.holds);
    }
}
