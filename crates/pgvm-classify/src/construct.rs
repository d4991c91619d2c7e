//! Constructed counterexamples to privilege, for bodies that cannot trap in user mode.
//!
//! When the user-mode residual `B|user` reaches no `trap;` ([`crate::proof`]), a user-mode run
//! can only complete, halt or memory-trap. Any pair `<e, s, p, r>` / `<e, u, p, r>` in which
//! neither run memory-traps is then a counterexample to privilege. The shape alone does not
//! prove that such a pair exists: a body whose every address is out of range memory-traps on
//! every state and is privileged vacuously. So the pair is *built*: states chosen to keep
//! every address the body develops inside the window (the window is all of memory, memory is
//! zero, the operand fields are small), then a fixed stream of generated states, each run in
//! both modes through the machine with the same check as the search. The first pair that
//! shows the counterexample is the witness, reported as found by `proof`. It depends neither
//! on `--seed` nor on `--samples`, so `--samples 1` cannot turn such an instruction
//! "privileged". If no candidate works the atom stays open for the search, and whatever the
//! search concludes is labelled `search`.

use pgvm_isa::Mode;
use pgvm_machine::{MAX_WORDS, Reloc};

use crate::generate::{Rng, Target, insn_seed};
use crate::search::{Found, Others, Prober, Tally};
use crate::state::State;
use crate::verdict::{Atom, N_ATOMS};

/// Generated candidates tried after the hand-built ones.
const GENERATED: u64 = 256;

/// The seed of the generated candidates (fixed: the construction is not a search).
const SEED: u64 = 0x1974_c0de;

/// The hand-built candidates: memory all zero but for the instruction, which sits at the top
/// of a window that is the whole memory, with every operand field 0, 1 or 2.
fn built(target: &Target<'_>) -> Vec<State> {
    let mut out = Vec::new();
    for q in [16, MAX_WORDS] {
        for f in [0, 1, 2] {
            let p = q - 1;
            let mut s = State::new(q, Mode::Supervisor, p, Reloc { l: 0, b: q });
            s.assist = target.assist;
            let fields = vec![f; target.fields.len()];
            s.set_word(p, target.word(&fields));
            out.push(s);
        }
    }
    out
}

/// A pair `[super, user]` where neither run memory-traps and the user run does not trap (or
/// the supervisor run does), with its candidate's index; `None` if no candidate shows one.
pub fn not_privileged(target: &Target<'_>) -> Option<(u64, Found)> {
    let mut open = [false; N_ATOMS];
    open[Atom::NotPrivileged.index()] = true;
    let others = Others {
        shifts: &[],
        bounds: &[],
        clock2: 0,
    };
    let mut prober = Prober::new(target.isa);
    let mut tally = Tally::default();
    let insn = &target.isa.insns[target.id];
    let mut rng = Rng::new(insn_seed(SEED, &target.isa.name, &insn.mnemonic));
    let hand = built(target);
    let n = hand.len() as u64;
    for k in 0..n + GENERATED {
        let state = match hand.get(k as usize) {
            Some(s) => s.clone(),
            None => target.sample(&mut rng, k % 2 == 0).state,
        };
        prober.probe(&state, others, open, k, &mut tally);
        if let Some(found) = tally.found[Atom::NotPrivileged.index()].take() {
            return Some(found);
        }
    }
    None
}
