//! Every technique on the same guests: the compute, syscall-heavy and context-switch-heavy
//! workloads (`guests/workloads/{compute,syscalls,yield}.s`, on s370, their own profile) and
//! tsos on ia32 (where only the binary translators are equivalent), bare and under `tae`,
//! `hvm`, `bt-kernel` and `bt-all`. The translators scan for the classifier's critical set
//! (with its untrapped clock reads), classified once before timing. Each timed run is checked
//! against the bare run's length and console output (or, on ia32, against equivalence).
//!
//! For docs/performance.md's slowdown table (issue 12); a benchmark, never a test.

use std::path::Path;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use pgvm_isa::Isa;
use pgvm_machine::{Exit, Machine, Psw, StateView};
use pgvm_vmm::{CP_WORDS, Critical, Monitor, Setup, TechniqueKind, VmExit};

/// A guest's memory, as `pgvm equiv` gives it by default.
const W: u64 = 65536;

struct Subject {
    name: String,
    isa: Arc<Isa>,
    segments: Vec<(u64, Vec<u64>)>,
    entry: Psw,
}

fn subject(profile: &str, rel: &str) -> Subject {
    let isa = pgvm_testkit::isa(profile);
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../guests")
        .join(rel);
    let image = pgvm_asm::assemble_file(&path, &isa).unwrap_or_else(|e| panic!("{e}"));
    let e = image.entry;
    let entry =
        Psw::new(e.mode, e.p, e.l, e.b.unwrap_or(W - e.l)).unwrap_or_else(|e| panic!("{e}"));
    Subject {
        name: format!("{profile}/{rel}"),
        isa,
        segments: image
            .segments
            .into_iter()
            .map(|s| (s.org, s.words))
            .collect(),
        entry,
    }
}

fn setup(isa: &Isa, kind: TechniqueKind) -> Setup {
    if !kind.translates() {
        return Setup::from(kind);
    }
    let report = pgvm_classify::classify(isa, &pgvm_classify::Config::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let scanned = report.critical().scanned(&report.instructions);
    Setup::with_critical(kind, Critical::from_mnemonics(isa, &scanned))
}

fn techniques(c: &mut Criterion) {
    let subjects = [
        subject("s370", "workloads/compute.s"),
        subject("s370", "workloads/syscalls.s"),
        subject("s370", "workloads/yield.s"),
        subject("ia32", "tsos/ia32.s"),
    ];
    for s in &subjects {
        let mut bare = Machine::new(s.isa.clone(), W).unwrap_or_else(|e| panic!("{e}"));
        for (org, words) in &s.segments {
            bare.write(*org, words).unwrap_or_else(|e| panic!("{e}"));
        }
        bare.set_psw(s.entry);
        let mut probe = bare.clone();
        assert_eq!(probe.run(u64::MAX), Exit::Halted, "{}", s.name);
        let (steps, output) = (probe.steps(), probe.output().to_vec());

        let mut group = c.benchmark_group(format!("techniques/{}", s.name));
        group.throughput(Throughput::Elements(steps));
        group.bench_function("bare", |b| {
            b.iter_batched(
                || bare.clone(),
                |mut m| {
                    m.run(u64::MAX);
                    m
                },
                BatchSize::LargeInput,
            )
        });
        for kind in [
            TechniqueKind::Tae,
            TechniqueKind::Hvm,
            TechniqueKind::BtKernel,
            TechniqueKind::BtAll,
        ] {
            let setup = setup(&s.isa, kind);
            let mut mon = Monitor::with_technique(s.isa.clone(), CP_WORDS + W, setup)
                .unwrap_or_else(|e| panic!("{e}"));
            let segs: Vec<(u64, &[u64])> = s.segments.iter().map(|(o, w)| (*o, &w[..])).collect();
            mon.create_vm(W, &segs, s.entry)
                .unwrap_or_else(|e| panic!("{e}"));
            let mut check = mon.clone();
            check.run_vm(0, u64::MAX);
            let equivalent = check.vm(0).exit == Some(VmExit::Halted)
                && check.vm(0).steps() == steps
                && check.vm(0).console() == output;
            if !equivalent {
                // Not licensed here (tae on ia32): its time would be another computation's.
                continue;
            }
            group.bench_function(kind.name(), |b| {
                b.iter_batched(
                    || mon.clone(),
                    |mut m| {
                        m.run_vm(0, u64::MAX);
                        m
                    },
                    BatchSize::LargeInput,
                )
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = techniques
}
criterion_main!(benches);
