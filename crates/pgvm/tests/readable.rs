//! Traces and divergences a person can read: traps, interrupts and labels in `--trace`, and
//! a divergence named by its source line and label.

mod common;

use common::{pgvm, stderr, stdout};

/// Writes `src` to a fresh file in the target directory and returns its path.
fn program(name: &str, src: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("readable");
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join(name);
    std::fs::write(&path, src).expect("write");
    path.display().to_string()
}

/// movesr reads the mode without trapping on the MC68000: under the monitor the guest's
/// supervisor code runs in real user mode and reads the wrong one.
const MOVESR: &str = "        .isa m68000\n        .entry start\n        .org 0x10\nstart:  addi x, 1\nsense:  movesr x\n        halt\nx:      .word 0\n";

#[test]
fn a_divergence_names_its_source_line_and_label() {
    let guest = program("movesr.s", MOVESR);
    let o = pgvm(&["equiv", &guest]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    let line = out
        .lines()
        .find(|l| l.contains("first divergence"))
        .unwrap_or_else(|| panic!("no divergence: {out}"));
    assert!(line.contains("P=0x11 (sense)"), "{line}");
    assert!(line.contains("movesr.s:5"), "{line}");
    let o = pgvm(&["equiv", &guest, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let d = &v["divergence"];
    assert_eq!(d["pa"], 0x11, "{d}");
    assert_eq!(d["label"], "sense", "{d}");
    assert!(
        d["source"]
            .as_str()
            .is_some_and(|s| s.ends_with("movesr.s:5")),
        "{d}"
    );
}

#[test]
fn run_trace_marks_traps_with_vectors_and_labels() {
    let o = pgvm(&["run", "guests/privtrap.s", "--trace"]);
    assert_eq!(o.status.code(), Some(0));
    let err = stderr(&o);
    let trap = err
        .lines()
        .find(|l| l.contains("** privileged trap via E[0]/E[1]"))
        .unwrap_or_else(|| panic!("no trap line: {err}"));
    assert!(trap.contains("old <user, P=0x1"), "{trap}");
    assert!(
        trap.contains("-> new <super") && trap.contains("(handler)"),
        "{trap}"
    );
    assert!(
        err.lines()
            .any(|l| l.contains(">>  lpsw 32 ") && l.ends_with("; start")),
        "{err}"
    );
}

#[test]
fn run_trace_of_an_image_shows_no_labels() {
    let image = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("privtrap-trace.json");
    let image = image.display().to_string();
    let o = pgvm(&["asm", "guests/privtrap.s", "-o", &image]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = pgvm(&["run", &image, "--trace"]);
    let err = stderr(&o);
    assert!(err.contains("** privileged trap"), "{err}");
    assert!(!err.contains("handler"), "no symbols in an image: {err}");
}

#[test]
fn equiv_and_vm_trace_mark_emulated_and_reflected_instructions() {
    let o = pgvm(&["equiv", "guests/privtrap.s", "--trace"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.lines()
            .any(|l| l.contains("lpsw 32  [emulated]") && l.ends_with("; start")),
        "{err}"
    );
    assert!(
        err.lines().any(|l| l.contains("lrb 32  [reflected]")),
        "{err}"
    );
    assert!(
        err.contains("** privileged trap reflected via E[0]/E[1]"),
        "{err}"
    );
    // The verdict on stdout is the same as without --trace.
    let plain = pgvm(&["equiv", "guests/privtrap.s"]);
    assert_eq!(stdout(&o), stdout(&plain));

    let o = pgvm(&[
        "vm",
        "guests/privtrap.s",
        "guests/hello.s",
        "--trace",
        "--slice",
        "7",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.lines()
            .any(|l| l.starts_with("vm 0 ") && l.contains("[reflected]")),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.starts_with("vm 1 ") && l.ends_with("; next")),
        "{err}"
    );
    // Stepping the VMs one instruction at a time changes nothing they report.
    let args = [
        "vm",
        "guests/privtrap.s",
        "guests/hello.s",
        "--slice",
        "7",
        "--json",
    ];
    let plain = pgvm(&args);
    let traced = pgvm(&[&args[..], &["--trace"]].concat());
    assert_eq!(stdout(&plain), stdout(&traced));
}

/// Arms the timer, drops to a user-mode loop, and halts in the interrupt handler.
const TIMER: &str = "        .isa s370\n        .entry start\n        .org 2\n        .word 0\n        .psw super, tick, 0, 0x100\n        .org 0x10\nstart:  stmr n\n        lpsw user\ntick:   halt\nuser:   .psw user, 0, 0x40, 0x10\nn:      .word 5\n        .org 0x40\nspin:   jmp 0\n";

#[test]
fn a_timer_interrupt_is_traced_with_its_vector_pair() {
    let guest = program("timer.s", TIMER);
    let o = pgvm(&["run", &guest, "--trace"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    let line = err
        .lines()
        .find(|l| l.contains("** timer interrupt via E[2]/E[3]"))
        .unwrap_or_else(|| panic!("no interrupt: {err}"));
    assert!(
        line.contains("old <user") && line.contains("(spin)"),
        "{line}"
    );
    assert!(
        line.contains("-> new <super") && line.contains("(tick)"),
        "{line}"
    );
    let o = pgvm(&["equiv", &guest, "--trace"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("** virtual timer interrupt via E[2]/E[3]"),
        "{}",
        stderr(&o)
    );
}

/// Writes 1,500,000 bytes in a loop of four instructions: 6,000,000 steps, more than one
/// chunk of `pgvm run`'s streaming.
const WRITER: &str = "        .isa s370\n        .entry go\n        .org 0x10\ngo:     out ch\n        addi n, -1\n        jz n, done\n        jmp go\ndone:   halt\nch:     .word 0x78\nn:      .word 1500000\n";

#[test]
fn run_streams_every_byte_across_chunks() {
    let guest = program("writer.s", WRITER);
    let o = pgvm(&["run", &guest]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(o.stdout.len(), 1_500_000);
    assert!(o.stdout.iter().all(|&b| b == b'x'));
    assert!(!stderr(&o).contains("truncated"), "{}", stderr(&o));
    let o = pgvm(&["run", &guest, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["console"].as_str().map(str::len), Some(1_500_000));
    assert_eq!(v["console_dropped"], 0);
}
