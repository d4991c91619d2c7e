//! The guest software end to end: tsos on every profile, the five workloads bare, and tsos
//! with misbehaving processes. Every checksum a guest prints is compared with the same
//! quantity computed here, in Rust, from the workload's definition.

use pgvm_isa::Stmt;
use pgvm_machine::{Exit, Machine};

mod common;
use common::{pgvm, root, stderr, stdout};

/// Runs a guest that must halt within the step bound; its console output and summary.
fn run_halting(file: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec!["run", file, "--max-steps", "20000000"];
    args.extend_from_slice(extra);
    let o = pgvm(&args);
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(0), "{file}:\n{out}\n{err}");
    assert!(err.starts_with("halted after "), "{file}: {err}");
    (out, err)
}

fn golden(out: &str, err: &str) -> String {
    format!("--- stdout\n{out}--- stderr\n{err}")
}

/// The number printed after `prefix` on the one line that starts with it.
fn printed(out: &str, prefix: &str) -> u64 {
    let values: Vec<u64> = out
        .lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .map(|rest| {
            let digits = rest.split_whitespace().next().unwrap_or("");
            digits
                .parse()
                .unwrap_or_else(|_| panic!("`{prefix}` followed by {rest:?}"))
        })
        .collect();
    assert_eq!(values.len(), 1, "one line `{prefix}...` in:\n{out}");
    values[0]
}

fn line_index(out: &str, line: &str) -> usize {
    out.lines()
        .position(|l| l == line)
        .unwrap_or_else(|| panic!("no line {line:?} in:\n{out}"))
}

// ---- the workloads, computed independently ----------------------------------------------------

/// compute: the sum of the Collatz total stopping times of 1..=n.
fn collatz_sum(n: u64) -> u64 {
    (1..=n)
        .map(|mut x| {
            let mut steps = 0;
            while x != 1 {
                x = if x % 2 == 0 { x / 2 } else { 3 * x + 1 };
                steps += 1;
            }
            steps
        })
        .sum()
}

/// sieve: the primes below n.
fn primes_below(n: u64) -> Vec<u64> {
    (2..n)
        .filter(|&k| (2..).take_while(|d| d * d <= k).all(|d| k % d != 0))
        .collect()
}

/// sort: the keys from the classic C generator, sorted, and the weighted checksum.
fn sort_checksum(m: usize) -> u64 {
    let mut x: u64 = 1;
    let mut keys: Vec<u64> = (0..m)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345) & 0x7fff_ffff;
            x >> 16
        })
        .collect();
    keys.sort_unstable();
    keys.iter().enumerate().fold(0u64, |s, (i, &k)| {
        s.wrapping_add((i as u64 + 1).wrapping_mul(k))
    })
}

/// syscalls: h <- h * 33 + pid, n times.
fn syscalls_hash(pid: u64, n: u64) -> u64 {
    (0..n).fold(0u64, |h, _| h.wrapping_mul(33).wrapping_add(pid))
}

/// yield: h <- h * 31 + pid + i for i in 0..n.
fn yield_hash(pid: u64, n: u64) -> u64 {
    (0..n).fold(0u64, |h, i| {
        h.wrapping_mul(31).wrapping_add(pid).wrapping_add(i)
    })
}

fn check_compute(out: &str) {
    for n in [250, 500, 750, 1000] {
        let line = format!("compute: 1..{n} take {} steps", collatz_sum(n));
        line_index(out, &line);
    }
    assert_eq!(printed(out, "compute: checksum "), collatz_sum(1000));
}

fn check_sieve(out: &str) {
    for n in [1000, 2000, 3000] {
        let line = format!("sieve: {} primes below {n}", primes_below(n).len());
        line_index(out, &line);
    }
    assert_eq!(
        printed(out, "sieve: checksum "),
        primes_below(3000).iter().sum::<u64>()
    );
}

fn check_sort(out: &str) {
    line_index(out, "sort: 0 keys out of order");
    assert_eq!(printed(out, "sort: checksum "), sort_checksum(300));
}

fn check_syscalls(out: &str, pid: u64) {
    line_index(out, "syscalls: 100000 getpid calls");
    assert_eq!(
        printed(out, "syscalls: checksum "),
        syscalls_hash(pid, 100_000)
    );
}

fn check_yield(out: &str, pid: u64) {
    line_index(out, &format!("yield {pid}: 1000 rounds"));
    assert_eq!(
        printed(out, &format!("yield {pid}: checksum ")),
        yield_hash(pid, 1000)
    );
}

#[test]
fn the_independent_values_are_the_known_ones() {
    // Well-known values, so that a slip in the functions above cannot hide a slip in a guest.
    assert_eq!(primes_below(1000).len(), 168);
    assert_eq!(primes_below(10).iter().sum::<u64>(), 17);
    assert_eq!(collatz_sum(1), 0);
    assert_eq!(collatz_sum(3), 8); // 1: 0, 2: 1, 3: 7
    assert_eq!(syscalls_hash(1, 2), 34);
    assert_eq!(yield_hash(2, 2), 2 * 31 + 3);
}

// ---- the workloads on the bare machine ----------------------------------------------------------

fn bare(name: &str) -> String {
    let (out, err) = run_halting(&format!("guests/workloads/{name}.s"), &[]);
    assert!(
        err.contains("traps 0 "),
        "{name} runs without a trap: {err}"
    );
    insta::assert_snapshot!(format!("bare_{name}"), golden(&out, &err));
    out
}

#[test]
fn bare_compute() {
    check_compute(&bare("compute"));
}

#[test]
fn bare_sieve() {
    check_sieve(&bare("sieve"));
}

#[test]
fn bare_sort() {
    check_sort(&bare("sort"));
}

#[test]
fn bare_syscalls() {
    // Alone on the machine, the program is process 1.
    check_syscalls(&bare("syscalls"), 1);
}

#[test]
fn bare_yield() {
    check_yield(&bare("yield"), 1);
}

// ---- tsos on every profile --------------------------------------------------------------------

/// The standard process set (guests/tsos/procs.s), in pid order.
const PROCS: &[&str] = &["compute", "sieve", "sort", "syscalls", "yield", "yield"];

fn tsos(profile: &str) -> String {
    let (out, err) = run_halting(&format!("guests/tsos/{profile}.s"), &[]);
    assert!(
        out.starts_with(&format!("tsos: {profile} kernel, 6 processes")),
        "{out}"
    );
    check_compute(&out);
    check_sieve(&out);
    check_sort(&out);
    check_syscalls(&out, 4);
    check_yield(&out, 5);
    check_yield(&out, 6);
    for (i, name) in PROCS.iter().enumerate() {
        line_index(&out, &format!("tsos: process {} ({name}) exited", i + 1));
    }
    assert!(!out.contains("killed"), "{out}");
    assert!(
        out.ends_with("tsos: all processes have exited; halting\n"),
        "{out}"
    );
    // Preemption interleaves the processes: several print lines with other processes' lines
    // between them (ran sequentially, each would print one contiguous block).
    let interrupted = interrupted_processes(&out);
    assert!(interrupted.len() >= 3, "{interrupted:?}:\n{out}");
    assert!(interrupted.contains(&"compute:"), "{interrupted:?}:\n{out}");
    // The timer took the processor back many times.
    let interrupts: u64 = err
        .rsplit("interrupts ")
        .next()
        .and_then(|s| s.trim().parse().ok())
        .expect("interrupt count");
    assert!(interrupts > 1000, "{err}");
    insta::assert_snapshot!(format!("tsos_{profile}"), golden(&out, &err));
    out
}

/// The processes (by the prefix of their lines) whose output is not one contiguous block of
/// lines: another process printed in between.
fn interrupted_processes(out: &str) -> Vec<&str> {
    let sources: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with("tsos:"))
        .filter_map(|l| l.split_inclusive(':').next())
        .collect();
    let mut interrupted: Vec<&str> = Vec::new();
    for (i, &s) in sources.iter().enumerate() {
        let later = sources[i + 1..].iter().position(|&t| t == s);
        if let Some(gap) = later
            && gap > 0
            && !interrupted.contains(&s)
        {
            interrupted.push(s);
        }
    }
    interrupted
}

#[test]
fn tsos_s370() {
    let out = tsos("s370");
    assert_eq!(out, tsos("s370"), "deterministic");
}

#[test]
fn tsos_ppc() {
    tsos("ppc");
}

#[test]
fn tsos_pdp10() {
    tsos("pdp10");
}

#[test]
fn tsos_m68000() {
    tsos("m68000");
}

#[test]
fn tsos_m68010() {
    tsos("m68010");
}

#[test]
fn tsos_ia32() {
    tsos("ia32");
}

#[test]
fn tsos_ia32_vt() {
    tsos("ia32-vt");
}

/// The trace of the first steps of a build, to stderr.
fn trace(profile: &str, steps: &str) -> String {
    let o = pgvm(&[
        "run",
        &format!("guests/tsos/{profile}.s"),
        "--trace",
        "--max-steps",
        steps,
    ]);
    stderr(&o)
}

/// The instruction (mnemonic and operands) of every traced step.
fn traced_insns(trace: &str) -> Vec<&str> {
    trace
        .lines()
        .filter_map(|l| l.split(">>  ").nth(1))
        .collect()
}

#[test]
fn each_kernel_uses_its_architectures_idioms() {
    // Boot copies the programs into their regions (about 11000 steps), then dispatches.
    let expect: &[(&str, &[&str])] = &[
        ("s370", &["stctl", "lpsw"]),
        ("ppc", &["mfmsr", "mfsr", "rfi"]),
        ("pdp10", &["spsw", "lrb", "jrstu"]),
        ("m68000", &["spsw", "movesr", "lpsw"]),
        ("m68010", &["spsw", "movesr", "lpsw"]),
        ("ia32", &["sgdt", "pushf", "popf", "lpsw"]),
    ];
    for (profile, idioms) in expect {
        let t = trace(profile, "14000");
        let insns = traced_insns(&t);
        for idiom in *idioms {
            assert!(
                insns
                    .iter()
                    .any(|i| i.split_whitespace().next() == Some(idiom)),
                "{profile} never ran {idiom}"
            );
        }
    }
}

#[test]
fn pdp10_enters_user_mode_through_jrstu() {
    // DATAO APR (lrb) from physical GATE - 1 = 0xe: the next fetch is the gate, apparent 0xf
    // of the process's window, where `jrstu PROG_REL` drops into user mode.
    let t = trace("pdp10", "12000");
    let lines: Vec<&str> = t.lines().collect();
    let gate = lines
        .iter()
        .position(|l| l.contains("<super, P=0xf, R=<l=0x4000, b=0x1000>>  jrstu 256"))
        .unwrap_or_else(|| panic!("no gate in the trace"));
    assert!(
        lines[gate - 1].contains("<super, P=0xe, R=<l=0x0, "),
        "{}",
        lines[gate - 1]
    );
    assert!(lines[gate - 1].contains("lrb "), "{}", lines[gate - 1]);
    assert!(
        lines[gate + 1].contains("<user, P=0x100, R=<l=0x4000, b=0x1000>>"),
        "{}",
        lines[gate + 1]
    );
}

#[test]
fn a_process_whose_region_does_not_fit_is_not_started() {
    // 0x8800 words: the two yield processes' regions (0x8000.. and 0x9000..) end beyond.
    let (out, _) = run_halting("guests/tsos/s370.s", &["--mem", "34816"]);
    assert!(out.starts_with("tsos: s370 kernel, 6 processes, memory 0x008800 words\n"));
    for pid in [5, 6] {
        line_index(
            &out,
            &format!("tsos: process {pid} (yield) not started: its region does not fit"),
        );
    }
    assert!(
        !out.contains("yield 5:") && !out.contains("yield 6:"),
        "{out}"
    );
    check_compute(&out);
    check_sieve(&out);
    check_sort(&out);
    check_syscalls(&out, 4);
    assert!(out.ends_with("tsos: all processes have exited; halting\n"));
}

// ---- misbehaving processes --------------------------------------------------------------------

/// The fault build (guests/tsos/faults.s), run once per test: it is cheap.
fn faults() -> String {
    let (out, err) = run_halting("guests/tsos/faults.s", &[]);
    assert!(out.ends_with("tsos: all processes have exited; halting\n"));
    insta::assert_snapshot!("tsos_faults", golden(&out, &err));
    out
}

#[test]
fn a_process_that_loops_forever_does_not_stop_the_others() {
    let out = faults();
    // It printed (through the putc call), then spun until its CPU limit of 20 slices ran out;
    // meanwhile the others ran, and they finished after it was gone.
    let started = line_index(&out, "loop: spinning forever");
    let killed = line_index(&out, "tsos: process 1 (loop) killed: CPU time limit");
    let others = line_index(&out, "scribble: clearing memory from my last word upward");
    assert!(started < others && others < killed, "{out}");
    assert!(killed < line_index(&out, "sieve: checksum 593823"));
    check_sieve(&out);
    check_sort(&out);
    line_index(&out, "tsos: process 3 (sieve) exited");
    line_index(&out, "tsos: process 8 (sort) exited");
}

#[test]
fn a_process_that_scribbles_past_its_region_is_killed_cleanly() {
    let out = faults();
    // Killed at its first store past its bounds (the stx at P=0x103)...
    let killed = line_index(
        &out,
        "tsos: process 2 (scribble) killed: memory trap at P=0x000103",
    );
    // ... and its neighbour, the sieve in the next region up, still computes the right sum.
    assert!(killed < line_index(&out, "sieve: checksum 593823"), "{out}");
    check_sieve(&out);
}

#[test]
fn the_scribbler_writes_nothing_outside_its_region() {
    // In process, to look at memory afterwards: the scribbler (region 0x5000..0x6000) stores
    // 0xdead upward from its last word. It must have filled its own window up to the last
    // word, and no word outside it may hold 0xdead except the constant in its template.
    let isa = pgvm_testkit::isa("s370");
    let image = pgvm_asm::assemble_file(&root().join("guests/tsos/faults.s"), &isa)
        .expect("faults.s assembles");
    let mut m = Machine::new(isa, 65536).expect("machine");
    image.load_into(&mut m).expect("image fits");
    assert_eq!(m.run(20_000_000), Exit::Halted);
    let mem = m.memory();
    assert_eq!(mem[0x5fff], 0xdead, "it ran to the end of its window");
    let outside: Vec<usize> = (0..mem.len())
        .filter(|&a| mem[a] == 0xdead && !(0x5000..0x6000).contains(&a))
        .collect();
    assert_eq!(outside.len(), 1, "{outside:x?}");
    assert!(
        outside[0] < 0x4000,
        "only the template's constant: {outside:x?}"
    );
    assert_eq!(
        m.stats().memory,
        1,
        "one memory trap: the first store past the bounds"
    );
}

#[test]
fn a_bad_pointer_in_a_system_call_kills_only_the_caller() {
    let out = faults();
    line_index(&out, "badptr: svc 99 refused; now puts from address 0x2000");
    line_index(
        &out,
        "tsos: process 4 (badptr) killed: bad address in system call at P=0x000107",
    );
    assert!(!out.contains("badptr: still alive"), "{out}");
    check_sort(&out);
}

#[test]
fn privileged_and_other_faulting_instructions_kill_only_their_process() {
    let out = faults();
    for line in [
        "tsos: process 5 (priv) killed: privileged instruction at P=0x000103",
        "tsos: process 6 (divzero) killed: divide by zero at P=0x000102",
        "tsos: process 7 (illegal) killed: illegal instruction at P=0x000103",
    ] {
        line_index(&out, line);
    }
    assert!(!out.contains("still alive"), "{out}");
    check_sieve(&out);
    check_sort(&out);
}

// ---- the build ----------------------------------------------------------------------------------

/// The trap-class table a build gives the kernel: the base part in kernel.s (after
/// `k_class:`) and the profile's part in its own file (after `k_class_hi:`), `.word` and
/// `.space` lines of numbers or C_ names.
fn class_table(profile: &str) -> Vec<u64> {
    fn read(file: &str, label: &str) -> Vec<u64> {
        let text = std::fs::read_to_string(root().join("guests/tsos").join(file)).expect("read");
        let mut values = Vec::new();
        let lines = text.lines().skip_while(|l| !l.starts_with(label)).skip(1);
        for line in lines {
            let code = line.split(';').next().unwrap_or("").trim();
            if let Some(list) = code.strip_prefix(".word") {
                for v in list.split(',') {
                    values.push(match v.trim() {
                        "C_ILLEGAL" => 0,
                        "C_PLAIN" => 1,
                        "C_PRIV" => 2,
                        "C_SVC" => 3,
                        "C_DIVIDE" => 4,
                        "C_TRAP" => 5,
                        n => n.parse().unwrap_or_else(|_| panic!("{file}: {n}")),
                    });
                }
            } else if let Some(n) = code.strip_prefix(".space") {
                let n: usize = n.trim().parse().expect("a count");
                values.extend(std::iter::repeat_n(0, n));
            } else {
                break;
            }
        }
        values
    }
    let mut table = read("kernel.s", "k_class:");
    assert_eq!(table.len(), 64, "kernel.s k_class");
    let hi = read(&format!("{profile}.s"), "k_class_hi:");
    assert_eq!(hi.len(), 64, "{profile}.s k_class_hi");
    table.extend(hi);
    table
}

#[test]
fn trap_class_tables_agree_with_the_isa_descriptions() {
    // What the kernel assumes about each opcode must be what the profile's description says.
    for profile in pgvm_testkit::PROFILES {
        let isa = pgvm_isa::load(profile).expect("built-in profile");
        let table = class_table(profile);
        for (op, &class) in table.iter().enumerate() {
            let insn = isa.insns.iter().find(|i| i.opcode == op as u64);
            let expected = match insn {
                None => 0,
                Some(i) if i.privileged_sugar => 2,
                Some(i) if i.mnemonic == "svc" => 3,
                Some(i) if i.mnemonic == "div" || i.mnemonic == "rem" => 4,
                Some(i) if matches!(i.body.first(), Some(Stmt::Trap(_))) => 5,
                Some(_) => 1,
            };
            assert_eq!(
                class,
                expected,
                "{profile}: opcode {op:#x} ({})",
                insn.map_or("none", |i| i.mnemonic.as_str())
            );
        }
        assert!(isa.insns.iter().all(|i| i.opcode < 128), "{profile}");
    }
}

#[test]
fn the_tsos_image_survives_disassembly() {
    // `.base` changes label values only; an image still disassembles and reassembles exactly.
    let dir = std::env::temp_dir().join(format!("pgvm-guests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let img = dir.join("a.json").to_string_lossy().into_owned();
    let o = pgvm(&["asm", "guests/tsos/pdp10.s", "-o", &img]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&pgvm(&["disasm", &img]));
    let src = dir.join("b.s");
    std::fs::write(&src, text).expect("write");
    let img2 = dir.join("b.json").to_string_lossy().into_owned();
    let o = pgvm(&["asm", &src.to_string_lossy(), "-o", &img2]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&img).expect("image"),
        std::fs::read_to_string(&img2).expect("image")
    );
    let from_image = stdout(&pgvm(&["run", &img2]));
    check_sieve(&from_image);
    assert_eq!(from_image, stdout(&pgvm(&["run", "guests/tsos/pdp10.s"])));
}
