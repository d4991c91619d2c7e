//! The fast engine specializes common instruction shapes. It must agree, state for state,
//! with the one semantic interpreter that the monitor and the classifier use.

mod common;

use common::Reference;
use pgvm_isa::Mode;
use pgvm_machine::{Exit, Machine, Psw, Reloc, StateView};
use proptest::prelude::*;

/// A small deterministic generator, so a failing case is reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const Q: u64 = 256;

/// A random program: mostly instructions with small operands (so that most addresses
/// develop), some data words, a trap vector that keeps execution going, and a random PSW.
fn random_machine(isa: &pgvm_isa::Isa, seed: u64) -> (Vec<u64>, Psw) {
    let mut rng = Rng(seed | 1);
    let mut mem = vec![0u64; Q as usize];
    for w in mem.iter_mut() {
        *w = match rng.below(10) {
            0..=6 => {
                let id = rng.below(isa.insns.len() as u64) as usize;
                let insn = &isa.insns[id];
                let format = &isa.formats[insn.format];
                let ops: Vec<i128> = insn
                    .operands
                    .iter()
                    .map(|&f| {
                        let (min, max) = format.fields[f].range();
                        let v = if rng.below(8) == 0 {
                            rng.next() as i128
                        } else {
                            rng.below(72) as i128
                        };
                        v.clamp(min, max)
                    })
                    .collect();
                isa.encode(id, &ops).unwrap_or(0)
            }
            7 => rng.below(8),
            8 => rng.next(),
            _ => Psw::new(Mode::User, rng.below(64), rng.below(64), rng.below(200))
                .map(|p| p.pack())
                .unwrap_or(0),
        };
    }
    let mode = if rng.below(2) == 0 {
        Mode::User
    } else {
        Mode::Supervisor
    };
    mem[1] = Psw::new(Mode::Supervisor, rng.below(64), 0, Q).map_or(0, |p| p.pack());
    let psw = Psw {
        mode,
        p: rng.below(64),
        r: Reloc {
            l: rng.below(40),
            b: 64 + rng.below(200),
        },
    };
    (mem, psw)
}

fn check(name: &str, seed: u64) -> Result<(), TestCaseError> {
    let isa = common::isa(name);
    let (mem, psw) = random_machine(&isa, seed);
    let mut m = Machine::new(isa.clone(), Q).expect("machine");
    m.write(0, &mem).expect("fits");
    m.set_psw(psw);
    let exit = m.run(3000);
    let mut r = Reference::new(mem, psw);
    r.run_to(&isa, m.steps(), isa.features.timer.unwrap_or(1));
    prop_assert_eq!(
        exit == Exit::Halted,
        r.halted,
        "halt disagrees (seed {})",
        seed
    );
    prop_assert_eq!(m.psw(), r.psw, "PSW disagrees (seed {})", seed);
    prop_assert_eq!(m.output(), &r.out[..], "console disagrees (seed {})", seed);
    prop_assert_eq!(m.assist_bit(), r.assist, "assist disagrees (seed {})", seed);
    prop_assert!(m.memory() == &r.mem[..], "memory disagrees (seed {})", seed);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn engine_agrees_with_interpreter(seed in any::<u64>(), which in 0usize..7) {
        let names = ["s370", "ppc", "pdp10", "m68000", "m68010", "ia32", "ia32-vt"];
        check(names[which], seed)?;
    }
}
