//! `pgvm equiv` and `pgvm vm` end to end, on the guest OS and the samples.

mod common;
use common::pgvm;

fn equiv_json(guest: &str) -> (Option<i32>, serde_json::Value) {
    let o = pgvm(&["equiv", guest, "--json"]);
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{guest}: {e}: {}", String::from_utf8_lossy(&o.stderr)));
    (o.status.code(), v)
}

#[test]
fn the_os_is_equivalent_where_theorem_1_holds() {
    for profile in ["s370", "ppc", "m68010", "ia32-vt"] {
        let (code, v) = equiv_json(&format!("guests/tsos/{profile}.s"));
        assert_eq!(code, Some(0), "{profile}: {v}");
        assert_eq!(v["equivalent"], true, "{profile}");
        assert_eq!(v["halted"], true, "{profile}");
        assert!(v["divergence"].is_null());
        let direct = v["direct"].as_u64().expect("direct");
        let total = v["guest_instructions"].as_u64().expect("total");
        assert_eq!(
            direct
                + v["emulated"].as_u64().expect("emulated")
                + v["reflected"].as_u64().expect("reflected"),
            total,
            "{profile}: every guest instruction is counted once"
        );
        assert!(
            direct * 10 > total * 9,
            "{profile}: most instructions run directly"
        );
        assert_eq!(v["console_bare"], v["console_vm"]);
    }
}

#[test]
fn the_os_diverges_at_the_critical_instruction_where_theorem_1_fails() {
    for (profile, critical) in [("pdp10", "jrstu"), ("m68000", "movesr"), ("ia32", "sgdt")] {
        let (code, v) = equiv_json(&format!("guests/tsos/{profile}.s"));
        assert_eq!(code, Some(1), "{profile}");
        assert_eq!(v["equivalent"], false, "{profile}");
        assert_eq!(
            v["divergence"]["mnemonic"], critical,
            "{profile}: {}",
            v["divergence"]
        );
        assert!(
            v["divergence"]["differences"]
                .as_array()
                .is_some_and(|d| !d.is_empty()),
            "{profile}"
        );
    }
}

#[test]
fn equiv_text_names_the_verdict_and_the_counts() {
    let o = pgvm(&["equiv", "guests/svc.s"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("equivalent: f(S2) == S2' at the halt"),
        "{out}"
    );
    assert!(out.contains("emulated: halt x1, lpsw x"), "{out}");
    assert!(out.contains("reflected"), "{out}");
    assert!(
        out.contains("efficiency check: every emulated instruction is privileged or trapping"),
        "{out}"
    );
}

#[test]
fn vm_runs_guests_side_by_side_and_a_spinner_starves_nobody() {
    let dir = std::env::temp_dir().join(format!("pgvm-vm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let spin = dir.join("spin.s");
    std::fs::write(&spin, ".entry start\nstart: jmp start\n").expect("write");
    let spin = spin.to_string_lossy().into_owned();
    let o = pgvm(&[
        "vm",
        &spin,
        "guests/hello.s",
        "guests/svc.s",
        "--mem",
        "4096",
        "--slice",
        "100",
        "--max-steps",
        "200000",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1), "the spinner never halts");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let vms = v["vms"].as_array().expect("vms");
    assert_eq!(vms.len(), 3);
    assert_eq!(vms[0]["exit"], "step budget spent");
    assert_eq!(vms[1]["exit"], "halted");
    assert_eq!(
        vms[1]["console"],
        "Hello from the third-generation machine!\n"
    );
    assert_eq!(vms[2]["exit"], "halted");
    assert!(
        vms[2]["console"]
            .as_str()
            .is_some_and(|c| c.contains("user: hello through svc 1"))
    );
    let bases: Vec<u64> = vms
        .iter()
        .map(|v| v["base"].as_u64().expect("base"))
        .collect();
    assert!(
        bases.windows(2).all(|w| w[1] >= w[0] + 4096),
        "disjoint memory: {bases:?}"
    );
}

#[test]
fn vm_refuses_what_does_not_fit_and_runs_the_rest() {
    let o = pgvm(&[
        "vm",
        "guests/hello.s",
        "guests/hello.s",
        "--mem",
        "4096",
        "--host-mem",
        "6000",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("guests/hello.s (guest 2): refused: it asks for 4096 words"),
        "{err}"
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("Hello from the third-generation machine!"),
        "{out}"
    );
    assert_eq!(o.status.code(), Some(2), "a refusal is bad input");
}

#[test]
fn equiv_bad_input_exits_2() {
    let o = pgvm(&["equiv", "guests/hello.s", "--mem", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--mem 0 is out of range"));
    let o = pgvm(&["equiv", "guests/hello.s", "--max-steps", "0"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--max-steps 0 compares nothing") && err.contains("hint:"),
        "{err}"
    );
    let o = pgvm(&["vm", "guests/hello.s", "guests/tsos/ia32.s"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("one ISA"));
}

fn counterexample_json(profile: &str) -> (Option<i32>, serde_json::Value) {
    let o = pgvm(&[
        "counterexample",
        "--isa",
        profile,
        "--samples",
        "5000",
        "--json",
    ]);
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{profile}: {e}: {}", String::from_utf8_lossy(&o.stderr)));
    (o.status.code(), v)
}

#[test]
fn counterexamples_diverge_for_every_violation_where_theorem_1_fails() {
    for profile in ["pdp10", "m68000", "ia32"] {
        let (code, v) = counterexample_json(profile);
        assert_eq!(code, Some(0), "{profile}: {v}");
        let violations = v["theorem1"]["violations"].as_array().expect("violations");
        let cases = v["counterexamples"].as_array().expect("counterexamples");
        assert!(!violations.is_empty(), "{profile}");
        assert_eq!(cases.len(), violations.len(), "{profile}");
        for (c, name) in cases.iter().zip(violations) {
            assert_eq!(&c["mnemonic"], name, "{profile}");
            assert_eq!(c["equiv"]["equivalent"], false, "{profile} {name}");
            let d = &c["equiv"]["divergence"];
            assert_eq!(
                d["mnemonic"], *name,
                "{profile}: the witness's own instruction diverges: {d}"
            );
            assert_eq!(d["index"], 0, "{profile} {name}");
        }
    }
}

#[test]
fn no_counterexample_where_theorem_1_holds() {
    for profile in ["s370", "ia32-vt"] {
        let (code, v) = counterexample_json(profile);
        assert_eq!(code, Some(0), "{profile}");
        assert_eq!(v["theorem1"]["holds"], true, "{profile}");
        assert_eq!(v["counterexamples"], serde_json::json!([]), "{profile}");
    }
}

/// Every program in `guests/`: the sources that name their profile with `.isa`.
fn guest_programs() -> Vec<String> {
    let mut out = Vec::new();
    let mut dirs = vec![common::root().join("guests")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("guests/") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "s") {
                let src = std::fs::read_to_string(&path).expect("source");
                // A program names its profile; the included parts (kernel.s, arch/...) do not.
                if src.lines().any(|l| l.trim_start().starts_with(".isa")) {
                    let rel = path.strip_prefix(common::root()).expect("under the root");
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_guest_is_equivalent_on_a_theorem_1_profile() {
    let theorem_1 = ["s370", "ppc", "m68010", "ia32-vt"];
    let guests = guest_programs();
    assert!(guests.len() >= 15, "{guests:?}");
    let mut checked = 0;
    for g in &guests {
        let (code, v) = equiv_json(g);
        let isa = v["isa"].as_str().expect("isa").to_string();
        if !theorem_1.contains(&isa.as_str()) {
            continue;
        }
        checked += 1;
        assert_eq!(code, Some(0), "{g} on {isa}: {}", v["divergence"]);
        assert_eq!(v["equivalent"], true, "{g}");
        assert_eq!(
            v["efficiency_breaches"],
            serde_json::json!([]),
            "{g}: every emulated instruction is privileged"
        );
    }
    assert!(checked >= 12, "{checked} guests checked");
}

#[test]
fn vm_reports_a_guest_that_escapes_through_an_unprivileged_load_of_r() {
    let dir = std::env::temp_dir().join(format!("pgvm-leaky-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let isa = dir.join("leaky.isa");
    std::fs::write(
        &isa,
        "isa leaky \"base with an unprivileged load of R\"\nextends base\n\
         insn setr rrr 0x50 (a) \"load R, unprivileged\" { R = E[a]; }\n",
    )
    .expect("write");
    let guest = dir.join("escape.s");
    std::fs::write(
        &guest,
        ".entry start\nstart: setr wide\nspin: jmp spin\nwide: .psw user, 0, 0, 100\n",
    )
    .expect("write");
    let other = dir.join("other.s");
    std::fs::write(&other, ".entry start\nstart: halt\n").expect("write");
    let isa = isa.to_string_lossy().into_owned();
    let guest = guest.to_string_lossy().into_owned();
    let other = other.to_string_lossy().into_owned();
    // The profile is refused without the flag (tests/isolation.rs); with it, the monitor's
    // own escape check is what stops the guest.
    let o = pgvm(&[
        "vm",
        &guest,
        &other,
        "--isa",
        &isa,
        "--json",
        "--unsafe-isolation",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    assert_eq!(o.status.code(), Some(1), "{v}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("`setr` is not privileged"),
        "the flag warns"
    );
    let exit = v["vms"][0]["exit"].as_str().expect("exit");
    assert!(exit.starts_with("escaped"), "{exit}");
    assert_eq!(v["vms"][1]["exit"], "halted", "the other VM still runs");
}

#[test]
fn vm_names_each_refused_guest_by_position_and_lists_it_in_json() {
    let o = pgvm(&[
        "vm",
        "guests/hello.s",
        "guests/svc.s",
        "guests/hello.s",
        "--mem",
        "4096",
        "--host-mem",
        "6000",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(2), "a refusal exits 2");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("guests/svc.s (guest 2): refused"), "{err}");
    assert!(err.contains("guests/hello.s (guest 3): refused"), "{err}");
    assert!(!err.contains("VM 1") && !err.contains("VM 2"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let vms = v["vms"].as_array().expect("vms");
    assert_eq!(vms.len(), 3, "refused guests are listed too: {v}");
    assert_eq!(vms[0]["exit"], "halted");
    for (k, file) in [(1, "guests/svc.s"), (2, "guests/hello.s")] {
        assert_eq!(vms[k]["guest"], file);
        assert_eq!(vms[k]["position"], k + 1);
        assert!(
            vms[k]["refused"]
                .as_str()
                .is_some_and(|r| r.contains("asks for 4096 words")),
            "{}",
            vms[k]
        );
    }
}

#[test]
fn vm_refuses_a_zero_slice() {
    let o = pgvm(&["vm", "guests/hello.s", "--slice", "0"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--slice 0"), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn too_little_memory_hints_at_the_flag_and_the_size() {
    for cmd in ["equiv", "vm"] {
        let o = pgvm(&[cmd, "guests/svc.s", "--mem", "256"]);
        assert_eq!(o.status.code(), Some(2), "{cmd}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("needs 551 words"), "{cmd}: {err}");
        assert!(
            err.contains("hint: raise --mem to at least 551"),
            "{cmd}: {err}"
        );
    }
    let o = pgvm(&["vm", "guests/hello.s", "--host-mem", "0"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--host-mem 0"), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn a_guest_stuck_in_a_trap_loop_is_reported_stuck_not_halted() {
    // A user-mode halt traps through E[1] to itself, and E[0] already holds that PSW.
    let dir = std::env::temp_dir().join(format!("pgvm-monitor-stuck-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("stuck.s");
    let src = "        .isa   s370\n        .entry user, start, 0, 64\n        .org   0\n        .psw   user, start, 0, 64\n        .psw   user, start, 0, 64\n        .org   0x10\nstart:  halt\n";
    std::fs::write(&path, src).expect("write");
    let guest = path.to_str().expect("utf-8 path");
    let (code, v) = equiv_json(guest);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["equivalent"], true);
    assert_eq!(v["halted"], false, "{v}");
    assert_eq!(v["bare"], "stuck", "{v}");
    let o = pgvm(&["equiv", guest]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("stuck in a trap loop"), "{out}");
    assert!(!out.contains("at the halt"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_monitor_refuses_to_turn_an_unsound_assist_on() {
    let dir = std::env::temp_dir().join(format!("pgvm-monitor-assist-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let isa = common::root().join("crates/pgvm-classify/tests/isa/assist-unsound.isa");
    std::fs::copy(&isa, dir.join("assist-unsound.isa")).expect("copy");
    let guest = dir.join("g.s");
    std::fs::write(
        &guest,
        ".isa \"assist-unsound.isa\"\n.org 0x10\nstart:\n    sr 0x20\n    halt\n",
    )
    .expect("write");
    let g = guest.to_str().expect("utf-8 path");
    for args in [
        vec!["equiv", g],
        vec!["equiv", g, "--monitor", "hvm"],
        vec!["equiv", g, "--trace"],
        vec!["vm", g],
    ] {
        let err = common::fails(&args);
        assert!(
            err.contains("The assist of `assist-unsound` is unsound: `sr` from <user"),
            "{args:?}: {err}"
        );
        assert!(err.contains("hint: see the witness"), "{err}");
    }
}

/// `pgvm matrix`: the rows and columns asked for, each cell with its licence, and each
/// divergence's instruction. A short step limit keeps it quick in a debug build;
/// every divergence tsos shows comes before it.
#[test]
fn the_matrix_on_tsos_names_each_divergence() {
    let args = [
        "matrix",
        "--tsos-only",
        "--technique",
        "tae",
        "--max-steps",
        "20000",
    ];
    // One run, as JSON: the classifier it starts with takes most of the time in a debug
    // build. The text is the tour's last section, tested there.
    let mut json = args.to_vec();
    json.push("--json");
    let o = pgvm(&json);
    assert_eq!(o.status.code(), Some(0), "{}", common::stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON value");
    let cells = v["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 7, "tsos on every profile, one technique");
    assert!(cells.iter().all(|c| c["technique"] == "tae"));
    assert_eq!(v["max_steps"], 20000);
    for c in cells {
        if c["licensed"] == true {
            assert_eq!(c["equivalent"], true, "{c}");
        }
        if c["equivalent"] == false {
            assert!(c["divergence"]["mnemonic"].is_string(), "{c}");
        }
    }
    let refused = common::fails(&["matrix", "--max-steps", "0"]);
    assert!(refused.contains("--max-steps 0"), "{refused}");
}

/// The red pill (`guests/redpill.s`, a user-mode `sgdt` on ia32): binary translation of kernel
/// code only runs it directly and the checker finds the leak; translating user code too hides
/// it.
#[test]
fn the_red_pill_is_found_under_bt_kernel_and_hidden_by_bt_all() {
    let o = pgvm(&["equiv", "guests/redpill.s", "--monitor", "bt-kernel"]);
    let out = common::stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("NOT equivalent"), "{out}");
    assert!(out.contains("guests/redpill.s:50 (sgdt)"), "{out}");
    assert!(
        out.contains("critical instructions and untrapped clock reads: sgdt, sidt"),
        "{out}"
    );
    let o = pgvm(&["equiv", "guests/redpill.s", "--monitor", "bt-all"]);
    let out = common::stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("equivalent: f(S2) == S2'"), "{out}");
    assert!(out.contains(", 1 translated"), "{out}");
    assert!(out.contains("re-scanned"), "{out}");
}

/// `--monitor assist`: trap-and-emulate with the assist on, on the profile that has one;
/// refused where there is none.
#[test]
fn the_assist_technique_runs_where_the_profile_has_an_assist() {
    let o = pgvm(&[
        "equiv",
        "guests/tsos/ia32-vt.s",
        "--monitor",
        "assist",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", common::stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["monitor"], "assist");
    assert_eq!(v["equivalent"], true);
    assert_eq!(v["halted"], true);
    let err = common::fails(&["equiv", "guests/svc.s", "--monitor", "assist"]);
    assert!(err.contains("`assist` does not apply to `s370`"), "{err}");
    assert!(err.contains("hint: "), "{err}");
}

/// `--monitor tae-assist`: the VM assist carries out the guest kernel's instructions, shown in
/// the counts and in JSON; refused on a profile without a VM assist.
#[test]
fn the_vm_assist_technique_runs_where_the_profile_has_one() {
    let o = pgvm(&["equiv", "guests/svc.s", "--monitor", "tae-assist"]);
    let out = common::stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("equivalent: f(S2) == S2'"), "{out}");
    assert!(out.contains(" assisted"), "{out}");
    let o = pgvm(&["equiv", "guests/svc.s", "--monitor", "tae-assist", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", common::stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["monitor"], "tae-assist");
    assert_eq!(v["equivalent"], true);
    assert!(v["assisted"].as_u64().is_some_and(|n| n > 0), "{v}");
    for m in ["lpsw", "svc"] {
        assert!(
            v["assisted_by_mnemonic"][m].as_u64().is_some_and(|n| n > 0),
            "{m}: {v}"
        );
    }
    let err = common::fails(&["equiv", "guests/tsos/ppc.s", "--monitor", "tae-assist"]);
    assert!(
        err.contains("`tae-assist` does not apply to `ppc`"),
        "{err}"
    );
    assert!(err.contains("hint: "), "{err}");
}

/// `--monitor pv` on the paravirtualized tsos: equivalent to the machine that implements the
/// hypercalls, with the hypercalls counted.
#[test]
fn the_paravirtualized_tsos_is_equivalent_under_pv() {
    let o = pgvm(&["equiv", "guests/tsos/ia32-pv.s", "--monitor", "pv"]);
    let out = common::stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("equivalent: f(S2) == S2' at the halt"),
        "{out}"
    );
    assert!(out.contains(" hypercalls"), "{out}");
}
