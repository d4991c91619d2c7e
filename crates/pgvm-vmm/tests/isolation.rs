//! Isolation, fuzzed: hostile guests run under the monitor beside a well-behaved one.
//!
//! Each case puts a hostile program (`pgvm_testkit::hostile_guest`) in VM A, a checksum
//! program in VM B and an idle VM C full of random canary words on one real machine, in one
//! of the six orders, with some unallocated words after them, and runs them in small time
//! slices. Then:
//!
//! - no physical word outside A's allocation changed, except B's own words, and B's words are
//!   exactly those of B's solo run; the control program's words `0..CP_WORDS`, C's words and
//!   the unallocated words are untouched (the monitor takes every real trap itself, so not
//!   even the real trap pair `E[0]`/`E[1]` is ever written);
//! - B's result (window, PSW, console, exit, instruction counts) equals its solo run, and
//!   so does A's, wherever the profile gives a directly executed instruction no view of the
//!   other VM (see [`Profile::clock_leaks`]);
//! - the monitor never panics;
//! - every `run_vm(id, slice)` returns having run at most `slice` guest instructions, and a
//!   watchdog fails the test if one does not return at all.
//!
//! Every built-in profile is fuzzed, those that fail Theorem 1 included: Theorem 1 is about
//! equivalence, and isolation must hold on every machine. The default run covers 1,400
//! programs; the ignored `long_isolation_fuzz` covers 10^5.

mod common;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use common::guest;
use pgvm_isa::{Isa, Mode, Primitive};
use pgvm_machine::Psw;
use pgvm_testkit::{PROFILES, Rng, enc, hostile_guest, supervisor};
use pgvm_vmm::{CP_WORDS, Counts, Guest, Monitor, TechniqueKind, VmExit, VmId, check_equivalence};

/// Guest instructions the hostile VM may run.
const A_STEPS: u64 = 4000;

/// Programs per profile in the default run: 7 × 200 = 1,400.
const CASES: u64 = 200;

/// Programs in the long run, over all profiles.
const LONG_CASES: u64 = 100_000;

/// How long one case may take before the watchdog says the monitor never regained control.
const WATCHDOG: Duration = Duration::from_secs(60);

/// The well-behaved neighbour, in base instructions only (so the same program on every
/// profile). It folds a 64-word table into a checksum, prints its 8 bytes, arms its timer and
/// enters user mode, where it spins until the timer interrupt. The interrupt handler prints
/// `T` and returns to user mode, where a supervisor call traps to the handler that stores the
/// PSW, prints `Z` and halts. So B is emulated, reflected and interrupted while A attacks.
fn checksum_guest(isa: &Isa) -> Guest {
    const W: i128 = 0xc0;
    const TABLE: i128 = 0x80;
    const N: i128 = 0x40;
    let (sum, i, n, one, k, tab, t, d, c, eight, ticks) = (
        0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a,
    );
    let (upsw, upsw2, saved, zed, tee, spin) = (0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70);
    let e = |m: &str, ops: &[i128]| enc(isa, m, ops);
    let main = vec![
        e("li", &[sum, 0]),           // 0x10
        e("li", &[i, 0]),             // 0x11
        e("li", &[n, N]),             // 0x12
        e("li", &[one, 1]),           // 0x13
        e("li", &[k, 31]),            // 0x14
        e("li", &[tab, TABLE]),       // 0x15
        e("ldx", &[t, tab, i]),       // 0x16: loop
        e("mul", &[sum, sum, k]),     // 0x17
        e("add", &[sum, sum, t]),     // 0x18
        e("add", &[i, i, one]),       // 0x19
        e("sub", &[d, n, i]),         // 0x1a
        e("jnz", &[d, 0x16]),         // 0x1b
        e("li", &[c, 8]),             // 0x1c
        e("li", &[eight, 8]),         // 0x1d
        e("out", &[sum]),             // 0x1e: bytes
        e("shr", &[sum, sum, eight]), // 0x1f
        e("sub", &[c, c, one]),       // 0x20
        e("jnz", &[c, 0x1e]),         // 0x21
        e("stmr", &[ticks]),          // 0x22
        e("lpsw", &[upsw]),           // 0x23
    ];
    let user = vec![
        e("addi", &[spin, 1]), // 0x28: spin until the timer
        e("jmp", &[0x28]),     // 0x29
        e("svc", &[7]),        // 0x2a
        e("halt", &[]),        // 0x2b: never reached
    ];
    let handlers = vec![
        e("spsw", &[saved]), // 0x30: supervisor-call handler
        e("out", &[zed]),    // 0x31
        e("halt", &[]),      // 0x32
        0,                   // 0x33
        e("out", &[tee]),    // 0x34: timer handler
        e("lpsw", &[upsw2]), // 0x35
    ];
    let w = W as u64;
    let user_psw = |p: u64| Psw::new(Mode::User, p, 0, w).expect("psw").pack();
    let data = vec![
        user_psw(0x28),
        user_psw(0x2a),
        0,
        u64::from(b'Z'),
        u64::from(b'T'),
    ];
    let mut table_words = Vec::new();
    let mut rng = Rng::new(0xb);
    for _ in 0..N {
        table_words.push(rng.next_u64());
    }
    let vectors = vec![0, supervisor(0x30, w).pack(), 0, supervisor(0x34, w).pack()];
    Guest {
        w,
        segments: vec![
            (0, vectors),
            (0x10, main),
            (0x28, user),
            (0x30, handlers),
            (ticks as u64, vec![5]),
            (upsw as u64, data),
            (TABLE as u64, table_words),
        ],
        entry: supervisor(0x10, w),
        input: Vec::new(),
        assist: false,
        clock: 0,
    }
}

/// A VM's result: everything the monitor keeps about it that the guest could tell apart.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    window: Vec<u64>,
    psw: Psw,
    assist: bool,
    console: Vec<u8>,
    input_pos: usize,
    steps: u64,
    exit: Option<VmExit>,
    counts: Counts,
}

fn outcome(mon: &Monitor, id: VmId) -> Outcome {
    let vm = mon.vm(id);
    Outcome {
        window: mon.window(id).to_vec(),
        psw: vm.psw(),
        assist: vm.cpu.assist,
        console: vm.console().to_vec(),
        input_pos: vm.cpu.devices.console.input_read(),
        steps: vm.steps(),
        exit: vm.exit,
        counts: vm.counts.clone(),
    }
}

/// The first differences between two outcomes, for a failure message.
fn differences(got: &Outcome, want: &Outcome) -> String {
    let mut out = Vec::new();
    if got.psw != want.psw {
        out.push(format!("PSW {} (alone: {})", got.psw, want.psw));
    }
    if got.steps != want.steps || got.exit != want.exit {
        out.push(format!(
            "steps {} exit {:?} (alone: {} {:?})",
            got.steps, got.exit, want.steps, want.exit
        ));
    }
    if got.console != want.console || got.input_pos != want.input_pos {
        out.push(format!(
            "console {:?} read {} (alone: {:?} read {})",
            got.console, got.input_pos, want.console, want.input_pos
        ));
    }
    if got.counts != want.counts || got.assist != want.assist {
        out.push(format!(
            "counts {:?} assist {} (alone: {:?} {})",
            got.counts, got.assist, want.counts, want.assist
        ));
    }
    let words: Vec<String> = got
        .window
        .iter()
        .zip(&want.window)
        .enumerate()
        .filter(|(_, (g, w))| g != w)
        .take(4)
        .map(|(i, (g, w))| format!("E[{i:#x}] {g:#x} (alone: {w:#x})"))
        .collect();
    out.extend(words);
    out.join("; ")
}

/// A profile, with B and B's solo result, computed once.
struct Profile {
    name: &'static str,
    isa: Arc<Isa>,
    b: Guest,
    b_alone: Outcome,
    /// Whether a guest can read the real clock with an instruction the real processor runs
    /// directly (ia32's `rdtsc`, with no assist to make it trap). The real clock counts every
    /// VM's instructions, so such a guest sees how far its neighbours ran: a timing channel
    /// (the reason Theorem 2 excludes timing-dependent instructions), not a breach of memory
    /// or control. There A's own result is not compared with its solo run; B's always is,
    /// because B never reads the clock.
    clock_leaks: bool,
}

impl Profile {
    fn new(name: &'static str) -> Profile {
        let isa = pgvm_testkit::isa(name);
        let b = checksum_guest(&isa);
        // B is a proper guest: the same bare and virtualized, halting with its checksum.
        let r = check_equivalence(isa.clone(), &b, TechniqueKind::Tae, 10_000).expect("B runs");
        assert!(
            r.equivalent && r.bare == pgvm_vmm::BareOutcome::Halted,
            "{name}: B diverges: {:?}",
            r.divergence
        );
        assert!(
            r.tally.reflected >= 1 && r.tally.emulated >= 10,
            "{name}: {r:?}"
        );
        // B alone, where it will sit beside A (its result does not depend on its base).
        let mut mon = Monitor::new(isa.clone(), CP_WORDS + b.w).expect("monitor");
        let id = create(&mut mon, &b);
        mon.run_vm(id, 10_000);
        let b_alone = outcome(&mon, id);
        assert_eq!(b_alone.exit, Some(VmExit::Halted), "{name}");
        assert_eq!(
            b_alone.console.len(),
            10,
            "{name}: 8 checksum bytes, T and Z"
        );
        assert!(
            b_alone.counts.interrupts == 1,
            "{name}: {:?}",
            b_alone.counts
        );
        let clock_leaks = !isa.features.assist
            && isa
                .insns
                .iter()
                .any(|i| i.effects.reads.contains(&Primitive::Clock) && !i.privileged_sugar);
        Profile {
            name,
            isa,
            b,
            b_alone,
            clock_leaks,
        }
    }
}

fn create(mon: &mut Monitor, g: &Guest) -> VmId {
    let segs: Vec<(u64, &[u64])> = g.segments.iter().map(|(o, w)| (*o, &w[..])).collect();
    let id = mon.create_vm(g.w, &segs, g.entry).expect("fits");
    mon.push_input(id, &g.input);
    id
}

/// Runs VM `id` one slice at a time, checking that the monitor hands control back within
/// each slice, until it stops or has run `cap` instructions.
fn run_sliced(mon: &mut Monitor, id: VmId, slice: u64, cap: u64) -> Result<bool, String> {
    let before = mon.vm(id).steps();
    if mon.vm(id).exit.is_some() || before >= cap {
        return Ok(false);
    }
    let turn = slice.min(cap - before);
    let exit = mon.run_vm(id, turn);
    let vm = mon.vm(id);
    let ran = vm.steps() - before;
    if ran > turn {
        return Err(format!(
            "VM {id} ran {ran} instructions in a slice of {turn}: the monitor did not regain \
             control within one time slice"
        ));
    }
    match exit {
        VmExit::BudgetSpent if ran != turn || vm.exit.is_some() => Err(format!(
            "VM {id}: BudgetSpent after {ran} of {turn} instructions, exit {:?}",
            vm.exit
        )),
        VmExit::BudgetSpent => Ok(true),
        e if vm.exit == Some(e) => Ok(true),
        e => Err(format!(
            "VM {id}: run_vm said {e:?}, the VM says {:?}",
            vm.exit
        )),
    }
}

/// Which VM a guest is, in a case's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The hostile program.
    A,
    /// The checksum program.
    B,
    /// A VM whose words are random canaries and whose first instruction is a halt: it stops
    /// at once and its words must never change. It keeps A's neighbours from being zeros,
    /// which a stray store of zero would leave unchanged.
    C,
}

/// The idle canary VM of a case.
fn canary(isa: &Isa, rng: &mut Rng) -> Guest {
    let w = 1 + rng.below(64);
    let mut words: Vec<u64> = (0..w).map(|_| rng.next_u64()).collect();
    words[0] = enc(isa, "halt", &[]);
    Guest {
        w,
        segments: vec![(0, words)],
        entry: supervisor(0, w),
        input: Vec::new(),
        assist: false,
        clock: 0,
    }
}

/// The six orders of A, B and C in physical memory.
const LAYOUTS: [[Role; 3]; 6] = [
    [Role::A, Role::B, Role::C],
    [Role::A, Role::C, Role::B],
    [Role::B, Role::A, Role::C],
    [Role::B, Role::C, Role::A],
    [Role::C, Role::A, Role::B],
    [Role::C, Role::B, Role::A],
];

/// One case: hostile `seed` on `p`, beside B and the canary C.
fn run_case(p: &Profile, seed: u64) -> Result<(), String> {
    let a_guest = guest(hostile_guest(&p.isa, seed));
    // The layout and the scheduling, drawn from the seed too.
    let mut rng = Rng::new(seed ^ 0x150_1a7e);
    let c_guest = canary(&p.isa, &mut rng);
    let layout = LAYOUTS[rng.below(6) as usize];
    let slack = rng.below(48);
    let slice = 1 + rng.below(64);
    let use_run_all = rng.one_in(2);
    let q = CP_WORDS + a_guest.w + p.b.w + c_guest.w + slack;
    let guest_of = |role: Role| match role {
        Role::A => &a_guest,
        Role::B => &p.b,
        Role::C => &c_guest,
    };

    let mut mon = Monitor::new(p.isa.clone(), q).map_err(|e| e.to_string())?;
    let ids: Vec<VmId> = layout
        .iter()
        .map(|&role| create(&mut mon, guest_of(role)))
        .collect();
    let id_of = |role: Role| ids[layout.iter().position(|&r| r == role).unwrap_or(0)];
    let (a, b, c) = (id_of(Role::A), id_of(Role::B), id_of(Role::C));
    let regions = mon.allocator().regions().to_vec();
    let maps: Vec<_> = ids.iter().map(|&id| mon.vm(id).map).collect();
    let fits = regions.len() == 3
        && regions.windows(2).all(|r| r[0].end() <= r[1].base)
        && regions
            .iter()
            .all(|r| r.base.0 >= CP_WORDS && r.end().0 <= q)
        && maps
            .iter()
            .all(|m| regions.iter().any(|r| (r.base, r.len) == (m.base, m.w)));
    if !fits {
        return Err(format!(
            "the allocator overlapped or overflowed: {regions:?}, maps {maps:?}"
        ));
    }
    let (ma, mb, mc) = (mon.vm(a).map, mon.vm(b).map, mon.vm(c).map);
    let before = mon.real().memory().to_vec();

    if use_run_all {
        mon.run_all(slice, A_STEPS);
    } else {
        loop {
            let mut ran_any = false;
            for &id in &ids {
                ran_any |= run_sliced(&mut mon, id, slice, A_STEPS)?;
            }
            if !ran_any {
                break;
            }
        }
    }

    // No word outside A's allocation changed, but for B's own, which are B's solo words.
    let after = mon.real().memory();
    let b_alone = &p.b_alone.window;
    let inside = |pa: u64, m: pgvm_vmm::VmMap| (m.base.0..m.end().0).contains(&pa);
    for (pa, (&was, &now)) in before.iter().zip(after).enumerate() {
        let pa = pa as u64;
        if inside(pa, ma) {
            continue;
        }
        let (owner, want) = if inside(pa, mb) {
            ("B", b_alone[(pa - mb.base.0) as usize])
        } else if inside(pa, mc) {
            ("the idle VM C", was)
        } else if pa < CP_WORDS {
            ("the control program", was)
        } else {
            ("nobody", was)
        };
        if now != want {
            return Err(format!(
                "physical word {pa:#x} (owned by {owner}; A is {:#x}..{:#x}) is {now:#x}, \
                 should be {want:#x} (was {was:#x})",
                ma.base.0,
                ma.end().0
            ));
        }
    }

    // B's result is its solo result; C halted at once.
    let b_got = outcome(&mon, b);
    if b_got != p.b_alone {
        return Err(format!(
            "B's result changed beside A: {}",
            differences(&b_got, &p.b_alone)
        ));
    }
    let vc = mon.vm(c);
    if vc.exit != Some(VmExit::Halted) || vc.steps() != 1 || !vc.console().is_empty() {
        return Err(format!(
            "the idle VM C did not just halt: exit {:?} after {} steps",
            vc.exit,
            vc.steps()
        ));
    }

    let a_got = outcome(&mon, a);
    if a_got.steps > A_STEPS || (a_got.exit.is_none() && a_got.steps != A_STEPS) {
        return Err(format!(
            "A ran {} of {A_STEPS} instructions and stopped with {:?}",
            a_got.steps, a_got.exit
        ));
    }
    // A's result is its solo result too: the same base (the other VMs' places kept by inert
    // VMs of their sizes, never run), in one run with no slices.
    if !p.clock_leaks {
        let mut alone = Monitor::new(p.isa.clone(), q).map_err(|e| e.to_string())?;
        let mut a2 = 0;
        for &role in &layout {
            let g = guest_of(role);
            if role == Role::A {
                a2 = create(&mut alone, g);
            } else {
                let inert = Guest {
                    segments: Vec::new(),
                    ..g.clone()
                };
                create(&mut alone, &inert);
            }
        }
        alone.run_vm(a2, A_STEPS);
        let a_alone = outcome(&alone, a2);
        if a_got != a_alone {
            return Err(format!(
                "A's result depends on its neighbours or on the slicing: {}",
                differences(&a_got, &a_alone)
            ));
        }
    }
    Ok(())
}

/// [`run_case`], with a panic turned into a failure naming the case.
fn run_case_caught(p: &Profile, seed: u64) -> Result<(), String> {
    let result = catch_unwind(AssertUnwindSafe(|| run_case(p, seed)));
    let outcome = match result {
        Ok(r) => r,
        Err(panic) => Err(format!("the monitor panicked: {}", panic_message(&*panic))),
    };
    outcome.map_err(|e| format!("{} seed {seed}: {e}", p.name))
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// What a worker reports to the watchdog.
enum Report {
    Started(&'static str, u64),
    Finished(&'static str, Vec<String>),
}

/// Fuzzes `cases` hostile programs on each profile, seeds `first..first + cases`, one worker
/// thread per profile. The calling thread is the watchdog: a case that does not finish within
/// [`WATCHDOG`] means the monitor never handed control back, and the test fails naming it.
fn fuzz(profiles: &[&'static str], first: u64, cases: u64) {
    let (tx, rx) = mpsc::channel();
    for &name in profiles {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let p = match catch_unwind(|| Profile::new(name)) {
                Ok(p) => p,
                Err(panic) => {
                    let why = format!("{name}: setting up B failed: {}", panic_message(&*panic));
                    let _ = tx.send(Report::Finished(name, vec![why]));
                    return;
                }
            };
            let (mut failures, mut failed) = (Vec::new(), 0);
            for seed in first..first + cases {
                if tx.send(Report::Started(name, seed)).is_err() {
                    return;
                }
                if let Err(e) = run_case_caught(&p, seed) {
                    failed += 1;
                    if failures.len() < 5 {
                        failures.push(e);
                    }
                }
            }
            if failed > failures.len() {
                failures.push(format!("{name}: {failed} of {cases} cases failed in all"));
            }
            let _ = tx.send(Report::Finished(name, failures));
        });
    }
    drop(tx);
    let mut running: BTreeMap<&str, (u64, Instant)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut finished = 0;
    let start = Instant::now();
    while finished < profiles.len() {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(Report::Started(name, seed)) => {
                running.insert(name, (seed, Instant::now()));
            }
            Ok(Report::Finished(name, f)) => {
                running.remove(name);
                failures.extend(f);
                finished += 1;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                failures.push(format!(
                    "a worker died outside a case (still running: {running:?})"
                ));
                break;
            }
        }
        let now = Instant::now();
        for (name, (seed, since)) in &running {
            assert!(
                now - *since < WATCHDOG,
                "{name} seed {seed}: no answer after {WATCHDOG:?}; the monitor never regained \
                 control"
            );
        }
        // Profile setup (B's runs) counts against the watchdog too.
        assert!(
            !running.is_empty() || finished > 0 || now - start < WATCHDOG,
            "no worker started within {WATCHDOG:?}"
        );
    }
    assert!(
        failures.is_empty(),
        "{} isolation failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Seeds start here, so that a run can be moved to fresh programs: `PGVM_FUZZ_SEED=n`.
fn first_seed() -> u64 {
    std::env::var("PGVM_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn hostile_guests_stay_isolated_on_s370() {
    fuzz(&["s370"], first_seed(), CASES);
}

#[test]
fn hostile_guests_stay_isolated_on_ppc() {
    fuzz(&["ppc"], first_seed(), CASES);
}

#[test]
fn hostile_guests_stay_isolated_on_pdp10() {
    fuzz(&["pdp10"], first_seed(), CASES);
}

#[test]
fn hostile_guests_stay_isolated_on_m68000() {
    fuzz(&["m68000"], first_seed(), CASES);
}

#[test]
fn hostile_guests_stay_isolated_on_m68010() {
    fuzz(&["m68010"], first_seed(), CASES);
}

#[test]
fn hostile_guests_stay_isolated_on_ia32() {
    fuzz(&["ia32"], first_seed(), CASES);
}

#[test]
fn hostile_guests_stay_isolated_on_ia32_vt() {
    fuzz(&["ia32-vt"], first_seed(), CASES);
}

#[test]
#[ignore = "long: 10^5 hostile programs, run with --ignored --release"]
fn long_isolation_fuzz() {
    let per_profile = LONG_CASES.div_ceil(PROFILES.len() as u64);
    // Past the default run's seeds, so the long run sees new programs.
    fuzz(&PROFILES, first_seed() + (1 << 32), per_profile);
}

/// Replays one case: `PGVM_CASE=ia32:1234 cargo test --test isolation -- --ignored one_case`.
#[test]
#[ignore = "replays the case named by PGVM_CASE=profile:seed"]
fn one_case() {
    // `cargo test -- --ignored` runs this too, with nothing to replay: that is not a failure.
    let Ok(spec) = std::env::var("PGVM_CASE") else {
        eprintln!("one_case skipped: set PGVM_CASE=profile:seed to replay a case");
        return;
    };
    let (name, seed) = spec.split_once(':').expect("profile:seed");
    let name = PROFILES
        .into_iter()
        .find(|p| *p == name)
        .expect("a built-in profile");
    let seed = seed.parse().expect("a seed");
    if let Err(e) = run_case_caught(&Profile::new(name), seed) {
        panic!("{e}");
    }
}

/// The hostile programs do exercise the monitor: they trap, storm and spin. (An isolation
/// check over programs that never leave the fast path would pass vacuously.)
#[test]
fn hostile_guests_exercise_the_monitor() {
    let p = Profile::new("s370");
    let (mut storms, mut traps, mut stuck, mut loops) = (0, 0, 0, 0);
    for seed in 0..100 {
        let g = guest(hostile_guest(&p.isa, seed));
        let mut mon = Monitor::new(p.isa.clone(), CP_WORDS + g.w).expect("monitor");
        let id = create(&mut mon, &g);
        mon.run_vm(id, A_STEPS);
        let vm = mon.vm(id);
        traps += u64::from(vm.counts.reflected > 0);
        stuck += u64::from(vm.exit == Some(VmExit::Stuck));
        loops += u64::from(vm.exit.is_none());
        storms += u64::from(vm.counts.reflected > 10);
    }
    assert!(traps > 50, "programs that trapped: {traps}");
    assert!(stuck > 5, "programs stuck in a trap storm: {stuck}");
    assert!(loops > 10, "programs still running at the budget: {loops}");
    assert!(storms > 20, "programs with many reflected traps: {storms}");
}
