//! The effect analysis and the proofs on fuzzed instruction sets (input as for `classify`: 8
//! bytes of seed, then declarations appended to `isa f "fuzzed" / extends base`).
//!
//! For each chosen instruction: its effect summary, both residuals and the proofs are
//! computed, then the instruction runs through `pgvm_machine::step` (on the classifier's
//! `HypoView`) from a few states the classifier's generator makes from the seed. What a proof
//! states holds for *all* states (docs/classification.md, "Proofs"), so on every one of these:
//!
//! - "privileged": the user-mode run traps, and the pair is no counterexample to privilege;
//! - "user mode reaches no `trap;`": the user-mode run does not take a non-memory trap;
//! - "not control-, location-, bounds-sensitive / timing-dependent in mode m", "not
//!   mode-sensitive": the classifier's own check of that definition finds no witness in the
//!   run (or the pair of runs) built exactly as the definition says.
//!
//! A failed assertion is a wrong proof, that is an unsound classification.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use pgvm_classify::check::{self, Run};
use pgvm_classify::generate::{Rng, Sample, Target};
use pgvm_classify::proof::{self, Proofs, mode_index};
use pgvm_classify::{HypoView, State};
use pgvm_isa::{Effects, InsnId, Isa, Mode};
use pgvm_machine::{Step, TrapKind};

struct Ran {
    before: State,
    after: HypoView,
    step: Step,
}

impl Ran {
    fn new(isa: &Isa, s: &State) -> Ran {
        let mut after = HypoView::new(s.clone());
        let step = pgvm_classify::state::run(isa, &mut after);
        Ran {
            before: s.clone(),
            after,
            step,
        }
    }

    fn run(&self) -> Run<'_> {
        Run {
            before: &self.before,
            after: &self.after,
            step: self.step,
        }
    }
}

fn holds(isa: &Isa, id: InsnId, p: &Proofs, sample: &Sample) {
    let name = &isa.insns[id].mnemonic;
    let sup = &sample.state;
    let fetched = sup.develop(sup.p).map(|pa| isa.decode(sup.word(pa)));
    if fetched != Some(Some(id)) {
        return;
    }
    let rs = Ran::new(isa, sup);
    let ru = Ran::new(isa, &sup.with_mode(Mode::User));
    if let Some(why) = &p.privileged {
        assert!(
            matches!(ru.step, Step::Trapped(_)),
            "`{name}` proved privileged ({why}) but a user-mode run: {:?} from {:?}",
            ru.step,
            ru.before
        );
        let o = check::not_privileged(rs.run(), ru.run());
        assert!(o.is_none(), "`{name}` proved privileged ({why}): {o:?}");
    }
    if let Some(why) = &p.user_never_traps {
        assert!(
            !matches!(ru.step, Step::Trapped(k) if k != TrapKind::Memory),
            "`{name}`: {why}, but a user-mode run: {:?} from {:?}",
            ru.step,
            ru.before
        );
    }
    for (m, base) in [(Mode::User, &ru), (Mode::Supervisor, &rs)] {
        let i = mode_index(m);
        if let Some(why) = &p.no_control[i] {
            let o = check::control(base.run());
            assert!(
                o.is_none(),
                "`{name}` not control-sensitive in {m} mode ({why}): {o:?} from {:?}",
                base.before
            );
        }
        if let Some(why) = &p.no_location[i]
            && let Some(t) = sample.shift.and_then(|x| base.before.shifted(x))
        {
            let rt = Ran::new(isa, &t);
            let o = check::location(base.run(), rt.run());
            assert!(
                o.is_none(),
                "`{name}` not location-sensitive in {m} mode ({why}): {o:?} from {:?} and {:?}",
                base.before,
                t
            );
        }
        if let Some(why) = &p.no_bounds[i]
            && let Some(t) = sample.bound2.and_then(|b| base.before.with_bound(b))
        {
            let rt = Ran::new(isa, &t);
            let o = check::bounds(base.run(), rt.run());
            assert!(
                o.is_none(),
                "`{name}` not bounds-sensitive in {m} mode ({why}): {o:?} from {:?} and {:?}",
                base.before,
                t
            );
        }
        if let Some(why) = &p.no_timing[i] {
            let mut t = base.before.clone();
            t.clock = sample.clock2;
            let rt = Ran::new(isa, &t);
            let o = check::timing(base.run(), rt.run());
            assert!(
                o.is_none(),
                "`{name}` not timing-dependent in {m} mode ({why}): {o:?} from {:?} and {:?}",
                base.before,
                t
            );
        }
    }
    if let Some(why) = &p.no_mode {
        let o = check::mode(rs.run(), ru.run());
        assert!(
            o.is_none(),
            "`{name}` not mode-sensitive ({why}): {o:?} from {:?}",
            rs.before
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((seed, isa)) = common::profile(data) else {
        return;
    };
    // The assist bit every state has: as a classification sets it by default, or off.
    let assist = isa.features.assist && seed & 1 == 0;
    for id in common::chosen(&isa, seed, 3) {
        let insn = &isa.insns[id];
        let effects = Effects::of(&insn.body);
        for m in [Mode::User, Mode::Supervisor] {
            let _ = proof::residual(&insn.body, m, Some(assist));
            let _ = proof::residual(&insn.body, m, None);
        }
        let _ = proof::prove(&insn.body, &effects, None);
        let p = proof::prove(&insn.body, &effects, Some(assist));
        let target = Target::new(&isa, id, assist);
        let mut rng = Rng::new(seed);
        for k in 0..8 {
            let sample = target.sample(&mut rng, k % 2 == 0);
            holds(&isa, id, &p, &sample);
        }
    }
});
