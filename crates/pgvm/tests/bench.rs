//! `pgvm bench`: its refusals (a bad cost model, an unwritable --svg directory) and one
//! short run's outputs.

mod common;

use common::{fails, pgvm, stderr, stdout};

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pgvm-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

const MODEL: &str = include_str!("../../pgvm-lab/cost/default.toml");

#[test]
fn an_unwritable_svg_directory_is_refused_with_exit_2() {
    let err = fails(&["bench", "--svg", "Cargo.toml/plots"]);
    assert!(err.contains("SVG directory Cargo.toml/plots"), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn a_negative_price_is_refused_at_its_line_and_column() {
    let dir = temp("negative");
    let file = dir.join("m.toml");
    let text = MODEL.replacen("cycles = 80", "cycles = -80", 1);
    std::fs::write(&file, &text).expect("write");
    let line = text
        .lines()
        .position(|l| l == "cycles = -80")
        .expect("there")
        + 1;
    let f = file.to_str().expect("utf-8 path");
    let err = fails(&["bench", "--cost-model", f]);
    assert!(
        err.contains(&format!("{f}:{line}:10: Price -80 is negative")),
        "{err}"
    );
    assert!(
        err.contains("hint: a price is a number of model cycles"),
        "{err}"
    );
}

#[test]
fn a_missing_price_is_refused_with_a_location_and_a_hint() {
    let dir = temp("missing");
    let file = dir.join("m.toml");
    let start = MODEL.find("[price.assisted]").expect("there");
    let end = start + MODEL[start..].find("\n\n").expect("blank line");
    std::fs::write(&file, format!("{}{}", &MODEL[..start], &MODEL[end..])).expect("write");
    let f = file.to_str().expect("utf-8 path");
    let o = pgvm(&["--json", "bench", "--cost-model", f]);
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_str(&stderr(&o)).expect("one JSON error");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("assisted")),
        "{v}"
    );
    assert_eq!(v["location"]["file"], f);
    assert!(
        v["location"]["line"].as_u64().is_some_and(|l| l >= 1),
        "{v}"
    );
    assert!(v["location"]["col"].as_u64().is_some(), "{v}");
    assert!(
        v["hint"].as_str().is_some_and(|h| h.contains("[price]")),
        "{v}"
    );
}

#[test]
fn a_missing_cost_model_file_is_refused() {
    let err = fails(&["bench", "--cost-model", "no/such/model.toml"]);
    assert!(err.contains("no/such/model.toml"), "{err}");
}

/// A short bench on s370 (step-limited, without nesting): the plots and the page are written
/// and parse, and every technique that applies has a row.
#[test]
fn a_short_bench_writes_plots_and_a_page() {
    let dir = temp("short");
    let svg = dir.join("svg");
    let page = dir.join("bench.html");
    let o = pgvm(&[
        "--json",
        "bench",
        "--isa",
        "s370",
        "--max-steps",
        "3000",
        "--min-time-ms",
        "0",
        "--depth",
        "0",
        "--svg",
        svg.to_str().expect("utf-8"),
        "--html",
        page.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let runs = v["runs"].as_array().expect("runs");
    let of = |guest: &str, config: &str| {
        runs.iter()
            .filter(|r| {
                r["guest"] == guest
                    && (r["config"]["kind"] == config || r["config"]["technique"] == config)
            })
            .count()
    };
    assert_eq!(of("tsos/s370.s", "bare"), 1);
    assert_eq!(of("tsos/s370.s", "tae"), 1);
    assert_eq!(of("tsos/s370.s", "tae-assist"), 1);
    assert_eq!(of("workloads/compute.s", "tae-assist"), 1);
    assert_eq!(of("tsos/s370.s+syscalls", "bt-kernel"), 1);
    assert_eq!(
        of("tsos/s370.s", "assist"),
        0,
        "s370 has no hardware assist"
    );
    for f in [
        "percent-of-native.svg",
        "nesting.svg",
        "assist-speedup.svg",
        "crossover.svg",
    ] {
        let text = std::fs::read_to_string(svg.join(f)).expect("written");
        roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    let html = std::fs::read_to_string(&page).expect("written");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg").count(), 4);
}

#[test]
fn the_paravirtualized_tsos_is_benched_under_pv_on_ia32() {
    let o = pgvm(&[
        "--json",
        "bench",
        "--isa",
        "ia32",
        "--max-steps",
        "3000",
        "--min-time-ms",
        "0",
        "--depth",
        "0",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let runs = v["runs"].as_array().expect("runs");
    let pv: Vec<&str> = runs
        .iter()
        .filter(|r| r["config"]["technique"] == "pv")
        .filter_map(|r| r["guest"].as_str())
        .collect();
    assert_eq!(
        pv,
        ["tsos/ia32-pv.s"],
        "pv runs the paravirtualized guest only"
    );
}
