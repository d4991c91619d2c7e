//! `execute_shaped`, the short way a monitor's dispatcher takes through a simple body, must
//! leave every state exactly as the reference interpreter (`execute`) leaves it: on every
//! instruction of every profile, in both modes, with operands inside and outside the window.

mod common;

use common::Reference;
use pgvm_isa::{Isa, Mode};
use pgvm_machine::{Psw, Reloc, execute, execute_shaped};
use pgvm_testkit::{PROFILES, Rng, isa};

/// Words of the random states: small, so that random operands often fall inside.
const W: u64 = 48;

/// A random word of instruction `id`: its opcode, and every other field small or arbitrary.
fn word(isa: &Isa, id: usize, rng: &mut Rng) -> u64 {
    let (mask, value) = isa.matcher(id);
    let mut w = value;
    let format = isa.format_of(id);
    for (i, f) in format.fields.iter().enumerate() {
        if i == format.op {
            continue;
        }
        let x = if rng.one_in(4) {
            rng.next_u64()
        } else {
            rng.below(W + 8)
        };
        w |= (x << f.lo) & f.mask();
    }
    w & !mask | value
}

/// A random state of `W` words: small values (addresses), packed PSWs and arbitrary words,
/// in either mode, with a window that may cut some addresses off.
fn state(isa: &Isa, rng: &mut Rng) -> Reference {
    let mem = (0..W)
        .map(|_| match rng.below(3) {
            0 => rng.below(W + 8),
            1 => Psw {
                mode: rng.mode(),
                p: rng.below(W),
                r: Reloc {
                    l: rng.below(8),
                    b: rng.below(W + 8),
                },
            }
            .pack(),
            _ => rng.next_u64(),
        })
        .collect();
    let psw = Psw {
        mode: rng.mode(),
        p: rng.below(W),
        r: Reloc {
            l: rng.below(8),
            b: if rng.one_in(3) { rng.below(W) } else { W },
        },
    };
    let mut r = Reference::new(mem, psw, isa, b"in");
    r.assist = isa.features.assist && rng.one_in(2);
    r
}

#[test]
fn the_short_way_leaves_every_state_as_the_interpreter_does() {
    let mut shaped_ops = 0;
    for name in PROFILES {
        let isa = isa(name);
        let mut rng = Rng::new(0x5eed ^ name.len() as u64);
        for id in 0..isa.insns.len() {
            for case in 0..200 {
                let w = word(&isa, id, &mut rng);
                let before = state(&isa, &mut rng);
                let (mut a, mut b) = (before.clone(), before.clone());
                let sa = execute(&isa, id, w, &mut a);
                let sb = execute_shaped(&isa, id, w, &mut b);
                let what = format!("{name} {} case {case} word {w:#x}", isa.insns[id].mnemonic);
                assert_eq!(sa, sb, "{what}: step");
                assert_eq!(a, b, "{what}: state");
                if before.psw.mode == Mode::Supervisor && a != before {
                    shaped_ops += 1;
                }
            }
        }
    }
    // The comparison saw effects, not only traps.
    assert!(
        shaped_ops > 1000,
        "only {shaped_ops} cases changed the state"
    );
}
