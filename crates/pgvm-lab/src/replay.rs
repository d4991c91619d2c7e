//! Witnesses re-executed: each pair of runs as rows of what the two sides hold, and which
//! rows differ. The CLI lays the rows out side by side.

use std::collections::HashMap;
use std::path::Path;

use pgvm_classify::{
    Atom, Evidence, HypoView, Observation, State, Witness, WitnessError, WitnessFile,
};
use pgvm_isa::{Isa, IsaError};
use pgvm_machine::Step;
use serde::Serialize;

/// Why a witness file could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The file could not be read, or a witness is malformed.
    #[error(transparent)]
    Witness(#[from] WitnessError),
    /// The profile given instead of the witnesses' own does not load.
    #[error(transparent)]
    Isa(#[from] IsaError),
    /// A witness's own profile does not load.
    #[error("Witness {index} needs profile `{isa}`")]
    NeedsProfile {
        /// 0-based index in the file.
        index: usize,
        /// The profile it names.
        isa: String,
        /// Why it does not load.
        #[source]
        source: IsaError,
    },
}

/// One row: a label and the two sides' values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// What the row shows (`PSW`, `E|r[0x3]`, `step`...).
    pub label: String,
    /// The first run's value (empty where only the second run has one).
    pub left: String,
    /// The second run's value.
    pub right: String,
    /// Whether the underlying values differ (the text may differ only in annotations).
    pub differs: bool,
}

fn row(label: impl Into<String>, left: String, right: String) -> Row {
    let differs = left != right;
    Row {
        label: label.into(),
        left,
        right,
        differs,
    }
}

/// A group of rows: `""` for a single run, `before` and `after` for a pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    /// The section's name.
    pub name: &'static str,
    /// Its rows.
    pub rows: Vec<Row>,
}

/// One witness, replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WitnessReplay {
    /// 0-based index in the file.
    pub index: usize,
    /// The profile it was replayed on.
    pub isa: String,
    /// The instruction.
    pub mnemonic: String,
    /// The question it answers.
    pub atom: Atom,
    /// How it was found.
    pub found_by: Evidence,
    /// The seed of the search that found it.
    pub seed: u64,
    /// The sample that found it.
    pub sample: u64,
    /// What the file claims.
    pub file_claim: String,
    /// The file's observation.
    pub file_observation: Observation,
    /// The claim recomputed from what replay observed (never echoed from the file); `None`
    /// when the definition's check finds no difference.
    pub claim: Option<String>,
    /// Whether the file's observation is exactly what replay observed.
    pub observation_matches: bool,
    /// What the two columns are.
    pub columns: [String; 2],
    /// The rows, in sections.
    pub sections: Vec<Section>,
    /// What the definition's check observed this time.
    pub observed: Option<Observation>,
    /// Whether that is what the witness claims.
    pub confirmed: bool,
}

/// Every witness of a file, replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    /// The file.
    pub file: String,
    /// One per witness, in the file's order.
    pub witnesses: Vec<WitnessReplay>,
}

impl ReplayReport {
    /// The witnesses that did not replay as claimed.
    pub fn failed(&self) -> usize {
        self.witnesses.iter().filter(|w| !w.confirmed).count()
    }
}

/// Replays every witness of the file at `path`, each on its own profile or on `isa` (a name
/// or a path) when given.
pub fn replay_file(path: &Path, isa: Option<&str>) -> Result<ReplayReport, ReplayError> {
    let file = WitnessFile::read(path)?;
    let mut isas: HashMap<(String, String), Isa> = HashMap::new();
    let mut witnesses = Vec::new();
    for (k, w) in file.witnesses.iter().enumerate() {
        let key = (w.isa.clone(), w.isa_file.clone());
        if !isas.contains_key(&key) {
            let loaded = match isa {
                Some(name) => pgvm_isa::load(name)?,
                None => w.load_isa().map_err(|source| ReplayError::NeedsProfile {
                    index: k,
                    isa: w.isa.clone(),
                    source,
                })?,
            };
            isas.insert(key.clone(), loaded);
        }
        let isa = &isas[&key];
        witnesses.push(replay_one(isa, w, k)?);
    }
    Ok(ReplayReport {
        file: path.display().to_string(),
        witnesses,
    })
}

/// Replays one witness on `isa`.
pub fn replay_one(isa: &Isa, w: &Witness, index: usize) -> Result<WitnessReplay, ReplayError> {
    let r = pgvm_classify::replay(isa, w, index)?;
    Ok(WitnessReplay {
        index,
        isa: isa.name.clone(),
        mnemonic: w.mnemonic.clone(),
        atom: w.atom,
        found_by: w.found_by,
        seed: w.seed,
        sample: w.sample,
        file_claim: w.claim.clone(),
        file_observation: w.observation.clone(),
        columns: column_labels(w),
        sections: sections(isa, w, &r),
        claim: r.claim,
        observation_matches: r.observation_matches,
        observed: r.observed,
        confirmed: r.confirmed,
    })
}

/// Labels of a witness's columns.
fn column_labels(w: &Witness) -> [String; 2] {
    use pgvm_classify::Atom::*;
    match w.atom {
        ControlUser | ControlSuper => ["before".into(), "after".into()],
        NotPrivileged | ModeSensitive => ["S1 (supervisor)".into(), "S2 (user)".into()],
        LocationUser | LocationSuper => [
            "S1".into(),
            format!("S2 = S1 shifted by x = {}", w.shift.unwrap_or(0)),
        ],
        BoundsUser | BoundsSuper => [
            "S1".into(),
            format!("S2 = S1 with b = {:#x}", w.states.get(1).map_or(0, |s| s.b)),
        ],
        TimingUser | TimingSuper => ["clock 1".into(), "clock 2".into()],
        AssistUnsound => ["assist off".into(), "assist on".into()],
    }
}

/// What to show of two states.
#[derive(Clone, Copy)]
struct Show {
    /// The instruction's apparent address, shown disassembled.
    at: u64,
    /// Physical words outside the first state's window that differ (meaningless when the two
    /// states have different windows).
    physical: bool,
    /// The clock (when it matters to the witness, or differs).
    clock: bool,
}

/// Rows for two states.
fn state_rows(isa: &Isa, a: &State, b: &State, show: Show) -> Vec<Row> {
    let mut rows = vec![
        row("PSW", a.psw().to_string(), b.psw().to_string()),
        row("q", format!("{:#x}", a.q), format!("{:#x}", b.q)),
    ];
    if a.assist || b.assist {
        rows.push(row("assist", a.assist.to_string(), b.assist.to_string()));
    }
    if show.clock || a.clock != b.clock {
        rows.push(row("clock", a.clock.to_string(), b.clock.to_string()));
    }
    let word = |s: &State, off: u64| -> (Option<u64>, String) {
        match s.develop(off) {
            Some(pa) => {
                let v = s.word(pa);
                let text = if off == show.at {
                    format!("{v:#x}  ({})", pgvm_asm::disassemble_word(v, isa))
                } else {
                    format!("{v:#x}")
                };
                (Some(v), text)
            }
            None => (None, "-".into()),
        }
    };
    let mut offsets: Vec<u64> = [a, b]
        .iter()
        .flat_map(|s| s.memory.iter().filter_map(|&(pa, _)| pa.checked_sub(s.l)))
        .filter(|&off| off < a.b.max(b.b))
        .collect();
    offsets.sort_unstable();
    offsets.dedup();
    for off in offsets.into_iter().take(16) {
        let ((x, left), (y, right)) = (word(a, off), word(b, off));
        rows.push(Row {
            label: format!("E|r[{off:#x}]"),
            left,
            right,
            differs: x != y,
        });
    }
    if show.physical {
        let outside = |s: &State, pa: u64| pa < s.l || pa >= s.l.saturating_add(s.b);
        let mut phys: Vec<u64> = a
            .memory
            .iter()
            .chain(&b.memory)
            .map(|&(pa, _)| pa)
            .filter(|&pa| outside(a, pa) && a.word(pa) != b.word(pa))
            .collect();
        phys.sort_unstable();
        phys.dedup();
        for pa in phys.into_iter().take(8) {
            rows.push(row(
                format!("E[{pa:#x}] (physical)"),
                format!("{:#x}", a.word(pa)),
                format!("{:#x}", b.word(pa)),
            ));
        }
    }
    rows
}

fn events(v: &HypoView) -> String {
    let e = &v.events;
    let mut parts = Vec::new();
    if !e.out.is_empty() {
        parts.push(format!("console out {:02x?}", e.out));
    }
    if let Some(n) = e.timer {
        parts.push(format!("timer {n}"));
    }
    if v.touched_device() && e.out.is_empty() && e.timer.is_none() {
        parts.push("console input read".into());
    }
    if v.clock_read() {
        parts.push("clock read".into());
    }
    if !e.stores.is_empty() {
        let s: Vec<String> = e.stores.iter().map(|a| format!("{a:#x}")).collect();
        parts.push(format!("stores to physical {}", s.join(", ")));
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join("; ")
    }
}

fn step_text(s: Step) -> String {
    pgvm_classify::check::step_name(s)
}

/// The rows of a replay, in sections: one (before/after) for a single run, "before" and
/// "after" for a pair.
fn sections(isa: &Isa, w: &Witness, r: &pgvm_classify::Replay) -> Vec<Section> {
    let Some(at) = r.runs.first().map(|(s, _, _)| s.p) else {
        return Vec::new();
    };
    let show = Show {
        at,
        physical: w.shift.is_none(),
        clock: r.runs.iter().any(|(_, v, _)| v.clock_read()),
    };
    if let [(before, after, step)] = r.runs.as_slice() {
        let mut rows = state_rows(isa, before, &after.state, show);
        rows.push(row("step", String::new(), step_text(*step)));
        rows.push(row("events", String::new(), events(after)));
        return vec![Section { name: "", rows }];
    }
    let [(a, va, sa), (b, vb, sb), ..] = r.runs.as_slice() else {
        return Vec::new();
    };
    let before = Show {
        physical: false,
        ..show
    };
    let mut after = vec![row("step", step_text(*sa), step_text(*sb))];
    let shown = Show {
        clock: false,
        ..show
    };
    after.extend(
        state_rows(isa, &va.state, &vb.state, shown)
            .into_iter()
            .filter(|r| r.label != "q"),
    );
    // Store addresses are physical: they differ between shifted windows without meaning it.
    after.push(Row {
        differs: false,
        ..row("events", events(va), events(vb))
    });
    vec![
        Section {
            name: "before",
            rows: state_rows(isa, a, b, before),
        },
        Section {
            name: "after",
            rows: after,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The m68000's `movesr` is mode-sensitive: its witness pair differs after the step, and
    /// the rows say where.
    #[test]
    fn a_mode_witness_shows_what_differs_after_the_step() {
        let isa = pgvm_isa::load("m68000").expect("built-in");
        let id = isa.insn("movesr").expect("movesr");
        let config = pgvm_classify::Config {
            samples: 2000,
            ..Default::default()
        };
        let report = pgvm_classify::classify_insn(&isa, id, &config);
        let w = report
            .witnesses
            .iter()
            .find(|w| w.atom == Atom::ModeSensitive)
            .expect("a mode witness");
        let r = replay_one(&isa, w, 0).expect("replays");
        assert!(r.confirmed, "{r:?}");
        assert_eq!(r.columns[0], "S1 (supervisor)");
        let names: Vec<&str> = r.sections.iter().map(|s| s.name).collect();
        assert_eq!(names, ["before", "after"]);
        let before = &r.sections[0].rows;
        let psw = before.iter().find(|r| r.label == "PSW").expect("PSW row");
        assert!(psw.differs, "the two states differ in mode: {psw:?}");
        assert!(
            r.sections[1]
                .rows
                .iter()
                .any(|r| r.differs && r.label != "events"),
            "something differs after: {:?}",
            r.sections[1]
        );
        let events = r.sections[1]
            .rows
            .iter()
            .find(|r| r.label == "events")
            .expect("events");
        assert!(
            !events.differs,
            "store addresses never count as a difference"
        );
    }
}
