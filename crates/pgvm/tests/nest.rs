//! `pgvm nest`: exit codes, the report and its errors.

mod common;

use common::{fails, pgvm, stderr, stdout};

#[test]
fn nesting_hello_three_deep_is_equivalent_with_a_row_per_level() {
    let o = pgvm(&["nest", "guests/hello.s", "--depth", "3"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("nested 3 deep"), "{text}");
    assert!(text.contains("equivalent: the guest's window"), "{text}");
    assert!(text.contains("none timing-dependent"), "{text}");
    for row in [
        "  0     monitor",
        "  1     monitor",
        "  2     monitor",
        "  3     guest",
    ] {
        assert!(text.contains(row), "{row} in {text}");
    }
}

#[test]
fn nesting_under_the_host_monitor_reports_it_as_level_0() {
    let o = pgvm(&[
        "nest",
        "guests/hello.s",
        "--depth",
        "2",
        "--l0",
        "native",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON value");
    assert_eq!(v["equivalent"], true);
    assert_eq!(v["l0"], "native");
    assert_eq!(v["levels"][0]["role"], "host monitor");
    assert_eq!(v["levels"][1]["role"], "monitor");
    assert_eq!(v["levels"][2]["role"], "guest");
    assert_eq!(v["w"], 65536 - 16 - 1024);
}

#[test]
fn too_little_memory_names_the_words_needed() {
    let msg = fails(&["nest", "guests/hello.s", "--depth", "4", "--mem", "4096"]);
    assert!(
        msg.contains("Depth 4 needs at least 4164 words (4 assembly monitors of 1024 words and the guest's 68); the machine has 4096"),
        "{msg}"
    );
    let msg = fails(&["nest", "guests/tsos/pdp10.s"]);
    assert!(msg.contains("No assembly monitor for `pdp10`"), "{msg}");
}

#[test]
fn a_guest_reading_an_unprivileged_clock_diverges_with_exit_1() {
    let dir = std::env::temp_dir().join(format!("pgvm-nest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let src = dir.join("clock.s");
    std::fs::write(
        &src,
        ".entry go\n.org 0x10\ngo: stck t0\n halt\nt0: .word 0\n",
    )
    .expect("write");
    let isa = common::root().join("crates/pgvm-lab/tests/isa/s370-stck.isa");
    let o = pgvm(&[
        "nest",
        src.to_str().expect("path"),
        "--isa",
        isa.to_str().expect("path"),
        "--depth",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("NOT equivalent"), "{text}");
    assert!(
        text.contains("first difference: E[0x12]: bare 0x0, nested "),
        "{text}"
    );
}
