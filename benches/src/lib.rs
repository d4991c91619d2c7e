//! Workloads shared by the benchmarks, built straight from the ISA descriptions.

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::path::Path;

use pgvm_isa::{Isa, Mode};
use pgvm_machine::{Engine, Exit, Machine, Psw, StateView};

/// Where the compute loop starts.
const ORG: u64 = 0x10;

/// A machine running the compute loop `acc += i; i -= 1; until i == 0`, three instructions an
/// iteration, in user mode with `R = <0x100, 0x100>` (so every reference is relocated).
/// Returns the machine and the number of instructions one full run executes.
pub fn compute_loop(isa: Arc<Isa>, iterations: u64) -> (Machine, u64) {
    compute_loop_on(isa, iterations)
}

/// [`compute_loop`] on engine `E`.
pub fn compute_loop_on<E: Engine>(isa: Arc<Isa>, iterations: u64) -> (Machine<E>, u64) {
    let enc = |m: &str, ops: &[i128]| -> u64 {
        let id = isa
            .insn(m)
            .unwrap_or_else(|| panic!("{} has no {m}", isa.name));
        isa.encode(id, ops).unwrap_or_else(|e| panic!("{m}: {e}"))
    };
    let (acc, i) = (0x40, 0x41);
    let program = [
        enc("add", &[acc, acc, i]),
        enc("addi", &[i, -1]),
        enc("jnz", &[i, ORG as i128]),
        enc("jmp", &[ORG as i128 + 3]),
    ];
    let mut m = Machine::<E>::with_engine(isa, 0x200).unwrap_or_else(|e| panic!("{e}"));
    let l = 0x100;
    m.write(l + ORG, &program).unwrap_or_else(|e| panic!("{e}"));
    m.write(l + 0x41, &[iterations])
        .unwrap_or_else(|e| panic!("{e}"));
    m.set_psw(Psw::new(Mode::User, ORG, l, 0x100).unwrap_or_else(|e| panic!("{e}")));
    (m, 3 * iterations)
}

/// The ALU loop of issue 14 and `bench/peer/`: `acc += i; x ^= acc; i -= 1; until i == 0`,
/// four instructions an iteration (`add`, `xor`, `addi`, `jnz`), in user mode with
/// `R = <0x100, 0x100>`. Returns the machine and the instructions one full run executes.
pub fn alu_loop<E: Engine>(isa: Arc<Isa>, iterations: u64) -> (Machine<E>, u64) {
    let enc = |m: &str, ops: &[i128]| -> u64 {
        let id = isa
            .insn(m)
            .unwrap_or_else(|| panic!("{} has no {m}", isa.name));
        isa.encode(id, ops).unwrap_or_else(|e| panic!("{m}: {e}"))
    };
    let (acc, i, x) = (0x40, 0x41, 0x42);
    let program = [
        enc("add", &[acc, acc, i]),
        enc("xor", &[x, x, acc]),
        enc("addi", &[i, -1]),
        enc("jnz", &[i, ORG as i128]),
        enc("jmp", &[ORG as i128 + 4]),
    ];
    let mut m = Machine::<E>::with_engine(isa, 0x200).unwrap_or_else(|e| panic!("{e}"));
    let l = 0x100;
    m.write(l + ORG, &program).unwrap_or_else(|e| panic!("{e}"));
    m.write(l + 0x41, &[iterations])
        .unwrap_or_else(|e| panic!("{e}"));
    m.set_psw(Psw::new(Mode::User, ORG, l, 0x100).unwrap_or_else(|e| panic!("{e}")));
    (m, 4 * iterations)
}

/// Memory of a bare workload machine, as `pgvm run` gives it by default.
pub const WORKLOAD_WORDS: u64 = 65536;

/// A guest from `guests/` (`rel`, e.g. `workloads/compute.s`) assembled for `profile` and
/// loaded into a bare machine on engine `E`, with the number of instructions it runs to its
/// halt (at most `budget`).
pub fn workload<E: Engine>(profile: &str, rel: &str, budget: u64) -> (Machine<E>, u64) {
    let isa = Arc::new(pgvm_isa::load(profile).unwrap_or_else(|e| panic!("{e}")));
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../guests")
        .join(rel);
    let image = pgvm_asm::assemble_file(&path, &isa).unwrap_or_else(|e| panic!("{e}"));
    let e = image.entry;
    let entry = Psw::new(e.mode, e.p, e.l, e.b.unwrap_or(WORKLOAD_WORDS - e.l))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut m = Machine::<E>::with_engine(isa, WORKLOAD_WORDS).unwrap_or_else(|e| panic!("{e}"));
    for s in &image.segments {
        m.write(s.org, &s.words).unwrap_or_else(|e| panic!("{e}"));
    }
    m.set_psw(entry);
    let mut probe = m.clone();
    let exit = probe.run(budget);
    assert!(
        matches!(exit, Exit::Halted | Exit::BudgetSpent),
        "{rel} on {profile}: {exit:?}"
    );
    (m, probe.steps())
}

/// The bare workloads, on s370: `guests/workloads` and tsos. Criterion's `workload_bare`
/// times them, and the engine examples by default.
pub const BARE_WORKLOADS: [&str; 6] = [
    "workloads/compute.s",
    "workloads/sieve.s",
    "workloads/sort.s",
    "workloads/syscalls.s",
    "workloads/yield.s",
    "tsos/s370.s",
];

/// Guest instructions a second of runs of `template`, each `steps` long, repeated for at
/// least `turn`. Each run is on a fresh clone, and the clone and its drop are left out of
/// the time, as criterion's `iter_batched` leaves them out.
pub fn speed<E: Engine>(template: &Machine<E>, steps: u64, turn: Duration) -> f64 {
    let (t, mut n, mut busy) = (Instant::now(), 0u32, Duration::ZERO);
    while t.elapsed() < turn {
        let mut m = template.clone();
        let run = Instant::now();
        m.run(steps);
        busy += run.elapsed();
        assert_eq!(m.steps(), steps);
        n += 1;
    }
    steps as f64 * f64::from(n) / busy.as_secs_f64()
}

/// Speed relative to bare: `bare`'s time over `other`'s, for the same run.
pub fn ratio(bare: Duration, other: Duration) -> f64 {
    bare.as_secs_f64() / other.as_secs_f64()
}

/// The lower quartile, the median and the upper quartile of `v` (not empty), as the examples
/// that time runs in alternating rounds report them.
pub fn quartiles(mut v: Vec<f64>) -> [f64; 3] {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    [v[n / 4], v[n / 2], v[3 * n / 4]]
}

/// A guest program (`guests/workloads/compute.s` when `path` is `None`) nested `depth` deep
/// under the assembly monitor of `guests/vmm/`, level 0 on the real machine, in the default
/// memory: what `nest_compute`, `nest_compute_long`, `nest_ir` and `nest_ratio` time.
pub fn nested_image(path: Option<&Path>, depth: u32) -> (Arc<Isa>, pgvm_lab::nest::NestedImage) {
    use pgvm_lab::nest::{self, L0, MONITOR_FILES, NestOptions, NestedImage};
    let compute = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guests/workloads/compute.s");
    let p = pgvm_lab::program::load(path.unwrap_or(&compute), None).expect("the guest loads");
    let build = nest::assemble_monitor(&p.isa, MONITOR_FILES).expect("the monitor assembles");
    let opts = NestOptions {
        depth,
        l0: L0::SelfHosted,
        q: pgvm_machine::DEFAULT_WORDS,
        max_steps: 100_000_000,
    };
    let image = NestedImage::new(&p.image, &build, &opts).expect("fits");
    (p.isa, image)
}

/// The nested image's guest run bare to its halt, on a fresh machine of its `w`: the run a
/// nested one is compared with.
pub fn run_bare(isa: &Arc<Isa>, nested: &pgvm_lab::nest::NestedImage) {
    let mut m = Machine::new(isa.clone(), nested.w).expect("machine");
    for (org, words) in &nested.guest.segments {
        m.write(*org, words).expect("fits");
    }
    m.set_psw(nested.guest.entry);
    assert_eq!(m.run(u64::MAX), Exit::Halted);
}

/// The nested image run to its halt, the assembly monitor at level 0.
pub fn run_nested(isa: &Arc<Isa>, nested: &pgvm_lab::nest::NestedImage) {
    let (_, halted) = nested.run_self(isa, u64::MAX).expect("runs");
    assert!(halted);
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use pgvm_lab::nest::{self, L0, MONITOR_FILES, NestOptions};

    /// The nesting benchmark's long compute guest is the workload's program run further: it
    /// halts with the sum for 1..10000, and nested three deep it is equivalent to its bare run.
    #[test]
    fn the_long_compute_guest_halts_and_is_equivalent_at_depth_3() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("guests/compute-long.s");
        let p = pgvm_lab::program::load(&path, None).expect("the guest loads");
        let build = nest::assemble_monitor(&p.isa, MONITOR_FILES).expect("the monitor assembles");
        let opts = NestOptions {
            depth: 3,
            l0: L0::SelfHosted,
            q: pgvm_machine::DEFAULT_WORDS,
            max_steps: 100_000_000,
        };
        let report = nest::run(&p.isa, &p.image, &build, &opts).expect("runs");
        assert!(report.equivalent, "{:?}", report.differences);
        assert!(
            report
                .console
                .contains("compute: 1..10000 take 849666 steps"),
            "{}",
            report.console
        );
    }
}
