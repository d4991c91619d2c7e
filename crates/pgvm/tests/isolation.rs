//! `pgvm vm` and `pgvm equiv` refuse an ISA on which the monitor cannot isolate a guest
//! (an instruction control-sensitive from user mode that does not trap), unless
//! `--unsafe-isolation` asks to run anyway; the built-in profiles are never refused.

mod common;

use common::{pgvm, refused, stderr, stdout};

const HALT: &str = "crates/pgvm/tests/isa/halt.s";

/// The three hostile profiles, each with the instruction that escapes and a word of what its
/// witness claims.
const HOSTILE: [(&str, &str, &str); 3] = [
    ("abs-store", "sta", "outside the window"),
    ("load-r", "setr", "R changed"),
    ("set-super", "sup", "M changed: user -> super"),
];

fn isa_path(name: &str) -> String {
    format!("crates/pgvm/tests/isa/{name}.isa")
}

#[test]
fn each_hostile_isa_is_refused_naming_the_instruction_and_its_witness() {
    for (name, insn, claim) in HOSTILE {
        let isa = isa_path(name);
        for args in [
            vec!["vm", HALT, HALT, "--isa", &isa],
            vec!["equiv", HALT, "--isa", &isa],
            vec!["equiv", HALT, "--isa", &isa, "--monitor", "hvm"],
        ] {
            let o = pgvm(&args);
            let err = refused(&o, &args);
            assert!(
                err.contains(&format!("`{name}` cannot isolate guests")),
                "{args:?}: {err}"
            );
            assert!(
                err.contains(&format!("`{insn}` is not privileged; control_user witness")),
                "{args:?}: {err}"
            );
            assert!(err.contains(claim), "{args:?}: {err}");
            assert!(err.contains("from the state M=user"), "{args:?}: {err}");
            assert!(err.contains("hint: "), "{args:?}: {err}");
            assert!(err.contains("--unsafe-isolation"), "{args:?}: {err}");
            assert!(stdout(&o).is_empty(), "nothing ran: {}", stdout(&o));
        }
    }
}

#[test]
fn the_refusal_is_a_json_error_under_json() {
    let isa = isa_path("load-r");
    let o = pgvm(&["equiv", HALT, "--isa", &isa, "--json"]);
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&o.stderr).expect("one JSON error");
    let message = v["message"].as_str().expect("message");
    assert!(message.contains("`setr` is not privileged"), "{message}");
    assert!(
        v["hint"]
            .as_str()
            .is_some_and(|h| h.contains("--unsafe-isolation")),
        "{v}"
    );
}

#[test]
fn unsafe_isolation_warns_and_runs_and_the_neighbour_is_corrupted() {
    let isa = isa_path("abs-store");
    let args = [
        "vm",
        "crates/pgvm/tests/isa/poke.s",
        HALT,
        "--isa",
        &isa,
        "--unsafe-isolation",
    ];
    let o = pgvm(&args);
    let err = stderr(&o);
    assert!(
        err.starts_with("warning: `abs-store` cannot isolate guests"),
        "{err}"
    );
    assert!(err.contains("`sta` is not privileged"), "{err}");
    assert!(err.contains("running anyway (--unsafe-isolation)"), "{err}");
    let out = stdout(&o);
    let vm0 = out.find("== VM 0").expect("VM 0 ran");
    let vm1 = out.find("== VM 1").expect("VM 1 ran");
    assert!(out[vm0..vm1].contains("halted"), "{out}");
    // The poke overwrote the neighbour's first word, its entry point: what the refusal is for.
    assert!(!out[vm1..].contains("halted"), "{out}");
    assert_eq!(o.status.code(), Some(1), "{out}");

    let o = pgvm(&[
        "equiv",
        "crates/pgvm/tests/isa/poke.s",
        "--isa",
        &isa,
        "--unsafe-isolation",
    ]);
    let err = stderr(&o);
    assert!(err.starts_with("warning: "), "{err}");
    assert!(err.contains("`sta` is not privileged"), "{err}");
    assert!(
        stdout(&o).contains("on abs-store under trap-and-emulate"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn no_builtin_tsos_is_refused() {
    let profiles = pgvm_isa::builtin_names();
    let mut checked = 0;
    for profile in profiles {
        let guest = format!("guests/tsos/{profile}.s");
        if !common::root().join(&guest).exists() {
            continue;
        }
        checked += 1;
        for args in [
            vec!["vm", &guest, "--max-steps", "20000"],
            vec!["equiv", &guest, "--max-steps", "20000"],
            vec!["equiv", &guest, "--max-steps", "20000", "--monitor", "hvm"],
        ] {
            let o = pgvm(&args);
            let err = stderr(&o);
            assert_ne!(o.status.code(), Some(2), "{args:?}: {err}");
            assert!(!err.contains("cannot isolate"), "{args:?}: {err}");
            assert!(!err.contains("warning"), "{args:?}: {err}");
            let out = stdout(&o);
            let ran = if args[0] == "vm" { "== VM 0" } else { "under " };
            assert!(out.contains(ran), "{args:?}: {out}");
        }
    }
    assert!(checked >= 7, "{checked} tsos profiles checked");
}

/// Binary translation of kernel code runs user mode directly and needs the same condition as
/// trap-and-emulate; binary translation of all code scans user mode too, translates the
/// escaping instruction like any critical one, and declares no condition.
#[test]
fn bt_kernel_is_refused_and_bt_all_runs() {
    for (name, insn, _) in HOSTILE {
        let isa = isa_path(name);
        let args = ["equiv", HALT, "--isa", &isa, "--monitor", "bt-kernel"];
        let err = refused(&pgvm(&args), &args);
        assert!(
            err.contains(&format!("`{insn}` is not privileged; control_user witness")),
            "{args:?}: {err}"
        );
        let o = pgvm(&["equiv", HALT, "--isa", &isa, "--monitor", "bt-all"]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        assert!(
            stdout(&o).contains("critical instructions and untrapped clock reads: "),
            "{name}: {}",
            stdout(&o)
        );
        assert!(stdout(&o).contains(insn), "{name}: {}", stdout(&o));
    }
}
