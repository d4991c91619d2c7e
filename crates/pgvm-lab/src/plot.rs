//! The bench's plots (SVG, drawn with `plotters`' SVG backend: text is emitted as `<text>`
//! elements, so no font library is needed) and its one-page HTML report.

use std::fmt::Write as _;

use pgvm_vmm::TechniqueKind;
use plotters::prelude::*;

use crate::bench::{BenchReport, Config, Run};

/// A plot could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("Cannot draw the plot {file}: {message}")]
pub struct PlotError {
    /// The plot.
    pub file: &'static str,
    /// What plotters said.
    pub message: String,
}

/// One drawn plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    /// Its file name in `--svg DIR`.
    pub file: &'static str,
    /// Its title.
    pub title: &'static str,
    /// The names of its series, in the legend's order.
    pub series: Vec<String>,
    /// The SVG document.
    pub svg: String,
}

const SIZE: (u32, u32) = (820, 520);

fn err(file: &'static str) -> impl Fn(String) -> PlotError {
    move |message| PlotError { file, message }
}

/// A guest's name, short: without `guests/`-relative folders.
fn short(guest: &str) -> &str {
    guest.rsplit('/').next().unwrap_or(guest)
}

/// Every plot of the report.
pub fn plots(r: &BenchReport) -> Result<Vec<Plot>, PlotError> {
    Ok(vec![
        percent_of_native(r)?,
        nesting(r)?,
        assist_speedup(r)?,
        crossover(r)?,
    ])
}

/// One line of points, sorted by x.
type Series = (String, Vec<(f64, f64)>);

/// Draws `series` as lines with points, a legend, and an optional note when there are none.
#[allow(clippy::too_many_arguments)]
fn draw(
    file: &'static str,
    title: &'static str,
    x_desc: &str,
    y_desc: &str,
    series: &[Series],
    log_y: bool,
    note: Option<&str>,
) -> Result<Plot, PlotError> {
    let e = err(file);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        let pts = series.iter().flat_map(|(_, p)| p.iter());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in pts {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if x0 > x1 {
            (x0, x1, y0, y1) = (0.0, 1.0, 1.0, 2.0);
        }
        if x1 - x0 < 1e-9 {
            x1 = x0 + 1.0;
        }
        let pad = (x1 - x0) * 0.05;
        let (x0, x1) = (x0 - pad, x1 + pad);
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60);
        let color = |i: usize| Palette99::pick(i).to_rgba();
        if log_y {
            let y0 = (y0.min(1.0) * 0.9).max(1e-3);
            let y1 = (y1 * 1.2).max(y0 * 2.0);
            let mut chart = builder
                .build_cartesian_2d(x0..x1, (y0..y1).log_scale())
                .map_err(|x| e(x.to_string()))?;
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc(y_desc)
                .draw()
                .map_err(|x| e(x.to_string()))?;
            for (i, (name, p)) in series.iter().enumerate() {
                let c = color(i);
                chart
                    .draw_series(LineSeries::new(p.iter().copied(), c.stroke_width(2)))
                    .map_err(|x| e(x.to_string()))?
                    .label(name.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c));
                chart
                    .draw_series(p.iter().map(|&(x, y)| Circle::new((x, y), 3, c.filled())))
                    .map_err(|x| e(x.to_string()))?;
            }
            if !series.is_empty() {
                chart
                    .configure_series_labels()
                    .border_style(BLACK)
                    .background_style(WHITE.mix(0.85))
                    .draw()
                    .map_err(|x| e(x.to_string()))?;
            }
        } else {
            let y0 = y0.min(0.0);
            let y1 = if y1 > y0 { y1 * 1.1 } else { y0 + 1.0 };
            let mut chart = builder
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(|x| e(x.to_string()))?;
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc(y_desc)
                .draw()
                .map_err(|x| e(x.to_string()))?;
            for (i, (name, p)) in series.iter().enumerate() {
                let c = color(i);
                chart
                    .draw_series(LineSeries::new(p.iter().copied(), c.stroke_width(2)))
                    .map_err(|x| e(x.to_string()))?
                    .label(name.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c));
                chart
                    .draw_series(p.iter().map(|&(x, y)| Circle::new((x, y), 3, c.filled())))
                    .map_err(|x| e(x.to_string()))?;
            }
            if !series.is_empty() {
                chart
                    .configure_series_labels()
                    .border_style(BLACK)
                    .background_style(WHITE.mix(0.85))
                    .draw()
                    .map_err(|x| e(x.to_string()))?;
            }
        }
        if let Some(note) = note {
            root.draw(&Text::new(
                note.to_string(),
                (120, (SIZE.1 / 2) as i32),
                ("sans-serif", 18).into_font(),
            ))
            .map_err(|x| e(x.to_string()))?;
        }
        root.present().map_err(|x| e(x.to_string()))?;
    }
    Ok(Plot {
        file,
        title,
        series: series.iter().map(|(n, _)| n.clone()).collect(),
        svg,
    })
}

fn technique_runs(r: &BenchReport, t: TechniqueKind) -> impl Iterator<Item = &Run> {
    r.runs
        .iter()
        .filter(move |x| x.config == Config::Technique { technique: t } && x.equivalent)
}

/// A guest's trap density: its traps per thousand instructions under trap-and-emulate (the
/// same x for every technique's point of that guest), else under the run's own technique.
fn density(r: &BenchReport, run: &Run) -> f64 {
    technique_runs(r, TechniqueKind::Tae)
        .find(|t| t.guest == run.guest && t.isa == run.isa)
        .map_or(run.trap_density, |t| t.trap_density)
}

/// Percent of native (modelled) against trap density, one line per technique (and profile).
pub fn percent_of_native(r: &BenchReport) -> Result<Plot, PlotError> {
    // One line per technique and profile: the profiles' prices differ (a VT-x exit is not a
    // System/370 interruption), so one line across profiles would join unlike points.
    let mut series = Vec::new();
    for isa in &r.profiles {
        for &t in &r.techniques {
            let mut pts: Vec<(f64, f64)> = technique_runs(r, t)
                .filter(|run| run.isa == *isa)
                .map(|run| (density(r, run), run.percent_of_native))
                .collect();
            if pts.is_empty() {
                continue;
            }
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            series.push((format!("{} ({isa})", t.name()), pts));
        }
    }
    draw(
        "percent-of-native.svg",
        "Percent of native (modelled) against trap density",
        "traps per 1000 guest instructions (under tae)",
        "% of native (cost model)",
        &series,
        false,
        None,
    )
}

/// Modelled slowdown against nesting depth, one line per guest.
pub fn nesting(r: &BenchReport) -> Result<Plot, PlotError> {
    let mut series: Vec<Series> = Vec::new();
    for run in &r.runs {
        let Config::Nested { depth } = run.config else {
            continue;
        };
        let name = format!("{} ({})", short(&run.guest), run.isa);
        let i = match series.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                series.push((name, vec![(0.0, 1.0)]));
                series.len() - 1
            }
        };
        series[i].1.push((f64::from(depth), run.slowdown_modelled));
    }
    let note = series
        .is_empty()
        .then_some("no nested runs: no profile with an assembly monitor was benched");
    draw(
        "nesting.svg",
        "Slowdown (modelled) against nesting depth",
        "monitor levels (0: bare)",
        "slowdown x (cost model, log scale)",
        &series,
        true,
        note,
    )
}

/// The VM assist's speed-up over trap-and-emulate, per workload: modelled and measured.
pub fn assist_speedup(r: &BenchReport) -> Result<Plot, PlotError> {
    let mut series = Vec::new();
    let note = if r.assist_gains.is_empty() {
        Some("tae-assist: no equivalent runs on the profiles benched")
    } else {
        let modelled = r
            .assist_gains
            .iter()
            .enumerate()
            .map(|(i, g)| (i as f64, g.modelled))
            .collect();
        let measured: Vec<(f64, f64)> = r
            .assist_gains
            .iter()
            .enumerate()
            .filter_map(|(i, g)| g.measured.map(|m| (i as f64, m)))
            .collect();
        series.push(("modelled".to_string(), modelled));
        if !measured.is_empty() {
            series.push(("measured".to_string(), measured));
        }
        None
    };
    draw(
        "assist-speedup.svg",
        "The VM assist's speed-up over tae, per workload",
        "workload (in the order of the table)",
        "tae time / tae-assist time",
        &series,
        false,
        note,
    )
}

/// Binary translation against the hardware assist as the exit price varies (modelled).
pub fn crossover(r: &BenchReport) -> Result<Plot, PlotError> {
    let mut series = Vec::new();
    for c in &r.crossovers {
        let g = short(&c.guest);
        series.push((
            format!("assist {g}"),
            c.sweep.iter().map(|&(x, a, _)| (x, a)).collect(),
        ));
        series.push((
            format!("{} {g}", c.translator),
            c.sweep.iter().map(|&(x, _, b)| (x, b)).collect(),
        ));
    }
    let note = series
        .is_empty()
        .then_some("no profile with a hardware assist was benched");
    draw(
        "crossover.svg",
        "Binary translation against the hardware assist, by VM exit price",
        "VM exit and entry, model cycles",
        "slowdown x (cost model, log scale)",
        &series,
        true,
        note,
    )
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.digits$}"))
}

/// The one-page report: the matrix, the plots inline, and the tables; no external resources.
pub fn html(r: &BenchReport, plots: &[Plot]) -> String {
    let mut h = String::new();
    h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>pgvm bench</title>\n";
    h += "<style>body{font-family:sans-serif;max-width:1100px;margin:1em auto;padding:0 1em}table{border-collapse:collapse;margin:1em 0;font-size:90%}td,th{border:1px solid #bbb;padding:2px 6px;text-align:right}td:first-child,th:first-child{text-align:left}.bad{color:#b00}</style>\n";
    h += "</head>\n<body>\n<h1>pgvm bench</h1>\n";
    let _ = writeln!(
        h,
        "<p>Profiles: {}. Cost model: <code>{}</code> ({}). Each technique run is limited to {} guest instructions. Modelled figures come from the cost model and are the same on every host; measured ones are host time and are not.</p>",
        esc(&r.profiles.join(", ")),
        esc(&r.cost_model.name),
        esc(&r.cost_model.file),
        r.max_steps
    );
    h += "<ul>\n";
    for v in &r.variants {
        let _ = writeln!(h, "<li>{}</li>", esc(v));
    }
    h += "</ul>\n";

    // The matrix: guests against configurations.
    h += "<h2>Matrix</h2>\n<p>Each cell: modelled slowdown / measured slowdown against the bare run; <span class=\"bad\">red</span>: not equivalent.</p>\n";
    let mut configs: Vec<String> = Vec::new();
    let mut rows: Vec<(String, String)> = Vec::new();
    for run in &r.runs {
        let c = run.config.name();
        if !configs.contains(&c) {
            configs.push(c);
        }
        let row = (run.guest.clone(), run.isa.clone());
        if !rows.contains(&row) {
            rows.push(row);
        }
    }
    h += "<table class=\"matrix\">\n<tr><th>guest</th><th>profile</th>";
    for c in &configs {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h += "</tr>\n";
    for (g, isa) in &rows {
        let _ = write!(h, "<tr><td>{}</td><td>{}</td>", esc(g), esc(isa));
        for c in &configs {
            match r
                .runs
                .iter()
                .find(|x| x.guest == *g && x.isa == *isa && x.config.name() == *c)
            {
                Some(x) => {
                    let class = if x.equivalent { "" } else { " class=\"bad\"" };
                    let _ = write!(
                        h,
                        "<td{class}>{:.2} / {}</td>",
                        x.slowdown_modelled,
                        opt(x.slowdown_measured, 2)
                    );
                }
                None => h += "<td>-</td>",
            }
        }
        h += "</tr>\n";
    }
    h += "</table>\n";

    h += "<h2>Plots</h2>\n";
    for p in plots {
        let _ = writeln!(h, "<h3>{}</h3>\n<figure>", esc(p.title));
        let svg = p.svg.trim_start();
        let svg = match svg.find("<svg") {
            Some(i) => &svg[i..],
            None => svg,
        };
        h += svg;
        h += "\n</figure>\n";
    }

    h += "<h2>Runs</h2>\n<table class=\"runs\">\n<tr><th>guest</th><th>profile</th><th>configuration</th><th>equivalent</th><th>guest instructions</th><th>machine instructions</th><th>traps</th><th>traps/1000</th><th>direct</th><th>guest instr/s</th><th>traps/s</th><th>slowdown measured</th><th>slowdown modelled</th><th>% of native (model)</th></tr>\n";
    for x in &r.runs {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.1}%</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.1}</td></tr>",
            esc(&x.guest),
            esc(&x.isa),
            esc(&x.config.name()),
            if x.equivalent { "yes" } else { "NO" },
            x.guest_instructions,
            x.machine_instructions,
            x.traps,
            x.trap_density,
            x.direct_fraction * 100.0,
            opt(x.instructions_per_second, 0),
            opt(x.traps_per_second, 0),
            opt(x.slowdown_measured, 2),
            x.slowdown_modelled,
            x.percent_of_native
        );
    }
    h += "</table>\n";

    h += "<h2>Binary translation against the hardware assist</h2>\n<table class=\"crossover\">\n<tr><th>guest</th><th>profile</th><th>translator</th><th>VM exits</th><th>model exit price</th><th>break-even exit price</th></tr>\n";
    for c in &r.crossovers {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.guest),
            esc(&c.isa),
            c.translator,
            c.exits,
            c.model_exit,
            opt(c.breakeven_exit, 0)
        );
    }
    h += "</table>\n<p>The translator is cheaper than the assist when a VM exit costs more than the break-even price, and stops being cheaper below it.</p>\n";

    h += "<h2>The VM assist</h2>\n";
    if r.assist_gains.is_empty() {
        h += "<p>tae-assist: no equivalent runs on the profiles benched.</p>\n";
    } else {
        h += "<table class=\"assist\">\n<tr><th>guest</th><th>profile</th><th>modelled gain</th><th>measured gain</th></tr>\n";
        for g in &r.assist_gains {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{:.2}</td><td>{}</td></tr>",
                esc(&g.guest),
                esc(&g.isa),
                g.modelled,
                opt(g.measured, 2)
            );
        }
        h += "</table>\n";
    }

    h += "<h2>Cost model</h2>\n<table class=\"cost\">\n<tr><th>event</th><th>model cycles</th><th>source</th></tr>\n";
    if let Ok(v) = serde_json::to_value(&r.cost_model.prices) {
        for e in crate::cost::EVENTS {
            let _ = writeln!(
                h,
                "<tr><td>{e}</td><td>{}</td><td style=\"text-align:left\">{}</td></tr>",
                v[e]["cycles"],
                esc(v[e]["source"].as_str().unwrap_or(""))
            );
        }
    }
    h += "</table>\n";
    for (scope, map) in [
        ("profile", &r.cost_model.profiles),
        ("technique", &r.cost_model.techniques),
    ] {
        for (name, o) in map {
            if let Ok(serde_json::Value::Object(v)) = serde_json::to_value(o) {
                for (e, p) in v {
                    let _ = writeln!(
                        h,
                        "<p>{scope} <code>{}</code>: {e} = {} ({})</p>",
                        esc(name),
                        p["cycles"],
                        esc(p["source"].as_str().unwrap_or(""))
                    );
                }
            }
        }
    }
    h += "</body>\n</html>\n";
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{AssistGain, Crossover};
    use crate::cost::CostModel;

    fn run(guest: &str, config: Config, density: f64, percent: f64) -> Run {
        Run {
            guest: guest.into(),
            isa: "s370".into(),
            config,
            equivalent: true,
            guest_instructions: 1000,
            machine_instructions: 1000,
            traps: 10,
            trap_density: density,
            direct_fraction: 0.9,
            seconds: Some(0.01),
            instructions_per_second: Some(1e5),
            traps_per_second: Some(1e3),
            slowdown_measured: Some(1.5),
            model_cycles: 100_000.0 / percent,
            bare_model_cycles: 1000.0,
            slowdown_modelled: 100.0 / percent,
            percent_of_native: percent,
            tally: None,
        }
    }

    fn report() -> BenchReport {
        let tae = Config::Technique {
            technique: TechniqueKind::Tae,
        };
        let hvm = Config::Technique {
            technique: TechniqueKind::Hvm,
        };
        let mut runs = Vec::new();
        for (g, d) in [("workloads/a.s", 1.0), ("tsos/s370.s", 40.0)] {
            runs.push(run(g, Config::Bare, 0.0, 100.0));
            runs.push(run(g, tae, d, 100.0 - d));
            runs.push(run(g, hvm, d / 2.0, 10.0));
            for depth in 1..=2 {
                runs.push(run(g, Config::Nested { depth }, d, 50.0 / f64::from(depth)));
            }
        }
        BenchReport {
            cost_model: CostModel::builtin().expect("built-in"),
            profiles: vec!["s370".into()],
            techniques: TechniqueKind::ALL.to_vec(),
            max_steps: 10,
            variants: vec!["+x: <a variant> & more".into()],
            runs,
            crossovers: vec![Crossover {
                guest: "tsos/ia32-vt.s+yield".into(),
                isa: "ia32-vt".into(),
                translator: TechniqueKind::BtKernel,
                model_exit: 1500.0,
                exits: 10,
                assist_base: 1000.0,
                translator_cycles: 5000.0,
                breakeven_exit: Some(400.0),
                sweep: vec![(0.0, 1.0, 5.0), (1000.0, 11.0, 5.0)],
            }],
            assist_gains: vec![
                AssistGain {
                    guest: "tsos/s370.s".into(),
                    isa: "s370".into(),
                    modelled: 2.1,
                    measured: Some(1.8),
                },
                AssistGain {
                    guest: "workloads/syscalls.s".into(),
                    isa: "s370".into(),
                    modelled: 1.9,
                    measured: None,
                },
            ],
        }
    }

    /// The texts of an SVG document's `<text>` elements.
    fn texts(svg: &str) -> Vec<String> {
        let doc = roxmltree::Document::parse(svg).expect("the SVG parses as XML");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        doc.descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| n.text().unwrap_or("").trim().to_string())
            .collect()
    }

    fn count(texts: &[String], s: &str) -> usize {
        texts.iter().filter(|t| *t == s).count()
    }

    #[test]
    fn percent_of_native_has_one_series_per_technique_with_runs() {
        let p = percent_of_native(&report()).expect("draws");
        assert_eq!(p.series, ["tae (s370)", "hvm (s370)"]);
        let t = texts(&p.svg);
        assert_eq!(count(&t, "tae (s370)"), 1, "{t:?}");
        assert_eq!(count(&t, "hvm (s370)"), 1, "{t:?}");
        assert_eq!(count(&t, "bt-kernel (s370)"), 0, "no runs, no series");
    }

    #[test]
    fn nesting_has_one_series_per_guest() {
        let p = nesting(&report()).expect("draws");
        assert_eq!(p.series, ["a.s (s370)", "s370.s (s370)"]);
        let t = texts(&p.svg);
        assert_eq!(count(&t, "a.s (s370)"), 1, "{t:?}");
    }

    #[test]
    fn the_assist_plot_has_the_modelled_and_measured_gains() {
        let p = assist_speedup(&report()).expect("draws");
        assert_eq!(p.series, ["modelled", "measured"]);
        let t = texts(&p.svg);
        assert_eq!(count(&t, "modelled"), 1, "{t:?}");
        assert_eq!(count(&t, "measured"), 1, "{t:?}");
        let mut none = report();
        none.assist_gains.clear();
        let p = assist_speedup(&none).expect("draws");
        assert!(p.series.is_empty());
        let t = texts(&p.svg);
        assert_eq!(
            count(&t, "tae-assist: no equivalent runs on the profiles benched"),
            1,
            "{t:?}"
        );
    }

    #[test]
    fn the_crossover_has_the_assist_and_the_translator_per_guest() {
        let p = crossover(&report()).expect("draws");
        assert_eq!(
            p.series,
            ["assist ia32-vt.s+yield", "bt-kernel ia32-vt.s+yield"]
        );
        let t = texts(&p.svg);
        assert_eq!(count(&t, "assist ia32-vt.s+yield"), 1, "{t:?}");
        assert_eq!(count(&t, "bt-kernel ia32-vt.s+yield"), 1, "{t:?}");
    }

    #[test]
    fn the_page_parses_and_holds_the_plots_and_the_matrix() {
        let r = report();
        let plots = plots(&r).expect("draws");
        let page = html(&r, &plots);
        let opts = roxmltree::ParsingOptions {
            allow_dtd: true,
            ..roxmltree::ParsingOptions::default()
        };
        let doc = roxmltree::Document::parse_with_options(&page, opts).expect("the page parses");
        assert_eq!(doc.root_element().tag_name().name(), "html");
        let svgs = doc.descendants().filter(|n| n.has_tag_name("svg")).count();
        assert_eq!(svgs, 4);
        let table = |class: &str| {
            doc.descendants()
                .find(|n| n.has_tag_name("table") && n.attribute("class") == Some(class))
                .unwrap_or_else(|| panic!("a {class} table"))
        };
        let rows = |class: &str| {
            table(class)
                .children()
                .filter(|n| n.has_tag_name("tr"))
                .count()
        };
        assert_eq!(rows("matrix"), 1 + 2, "a header and one row per guest");
        assert_eq!(rows("runs"), 1 + r.runs.len());
        assert_eq!(rows("assist"), 1 + r.assist_gains.len());
        let head: Vec<&str> = table("matrix")
            .children()
            .find(|n| n.has_tag_name("tr"))
            .expect("header")
            .children()
            .filter_map(|n| n.text())
            .collect();
        assert_eq!(
            head,
            [
                "guest", "profile", "bare", "tae", "hvm", "nested-1", "nested-2"
            ]
        );
        let external = doc
            .descendants()
            .filter(|n| n.attribute("src").is_some() || n.attribute("href").is_some())
            .count();
        assert_eq!(external, 0, "self-contained: nothing to fetch");
        assert!(page.contains("&lt;a variant&gt; &amp; more"));
    }
}
