//! The cost model (DESIGN.md §4c "Cost"): a price in model cycles for each event a run
//! counts, so that a run's modelled time is the same on every host.
//!
//! The defaults are `cost/default.toml`, built in; `pgvm bench --cost-model FILE` replaces
//! them. Every price carries the source it was taken from, and says when it is an estimate
//! calibrated to reproduce a claim rather than a measured figure (docs/practice.md).
//!
//! A model cycle is the time of one innocuous instruction run directly. A run under a
//! technique costs
//!
//! ```text
//! direct·direct + emulated·(exit + emulate) + reflected·(reflect + guest_trap)
//!   + interpreted·interpret + translated·translate + blocks_scanned·block_scan
//!   + hypercalls·hypercall + assisted·assisted
//! ```
//!
//! and the same guest on the bare machine `instructions·direct + reflected·guest_trap` (the
//! traps a monitor reflects are the ones the bare machine takes too). A nested run's monitors
//! are programs of the machine: `instructions·direct + l0_traps·nested_trap`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use pgvm_isa::Isa;
use pgvm_vmm::{Tally, TechniqueKind};
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// The built-in cost model's text.
pub const DEFAULT_TOML: &str = include_str!("../cost/default.toml");

/// The name the built-in model's errors (if it ever had one) are reported under.
pub const DEFAULT_FILE: &str = "<built-in cost model>";

/// Why a cost model could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    /// A malformed or incomplete cost model, located in its text.
    #[error("{file}:{line}:{col}: {message}\n  hint: {hint}")]
    Source {
        /// The file it came from.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        col: usize,
        /// What is wrong.
        message: String,
        /// How to fix it.
        hint: String,
    },
    /// The file could not be read.
    #[error(transparent)]
    Io(#[from] pgvm_isa::ReadError),
}

macro_rules! events {
    ($($field:ident: $doc:literal,)*) => {
        /// One price for each event, resolved for one profile and technique.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        pub struct Prices {
            $(#[doc = $doc] pub $field: Price,)*
        }

        /// The names of the events, as the file spells them.
        pub const EVENTS: &[&str] = &[$(stringify!($field),)*];

        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct WirePrices {
            $($field: Spanned<WirePrice>,)*
        }

        #[derive(Deserialize, Default)]
        #[serde(deny_unknown_fields)]
        struct WirePartial {
            $(#[serde(default)] $field: Option<Spanned<WirePrice>>,)*
        }

        #[derive(Deserialize, Default)]
        #[serde(deny_unknown_fields)]
        struct WireProfile {
            $(#[serde(default)] $field: Option<Spanned<WirePrice>>,)*
            #[serde(default)]
            technique: BTreeMap<Spanned<String>, WirePartial>,
        }

        /// Some prices: an override table.
        #[derive(Debug, Clone, Default, PartialEq, Serialize)]
        pub struct Override {
            $(#[doc = $doc] #[serde(skip_serializing_if = "Option::is_none")] pub $field: Option<Price>,)*
        }

        impl Override {
            fn apply(&self, p: &mut Prices) {
                $(if let Some(v) = &self.$field { p.$field = v.clone(); })*
            }
        }

        impl Parser<'_> {
            fn prices(&self, w: WirePrices) -> Result<Prices, CostError> {
                Ok(Prices { $($field: self.price(w.$field)?,)* })
            }
            fn partial(&self, w: WirePartial) -> Result<Override, CostError> {
                Ok(Override { $($field: w.$field.map(|p| self.price(p)).transpose()?,)* })
            }
            fn profile(&self, w: WireProfile) -> Result<(Override, WireTechniques), CostError> {
                Ok((Override { $($field: w.$field.map(|p| self.price(p)).transpose()?,)* }, w.technique))
            }
        }
    };
}

events! {
    direct: "One guest instruction executed directly by the real processor.",
    guest_trap: "A trap delivered to the guest's own handler by the hardware (the bare machine pays it too).",
    exit: "The round trip of a privileged instruction's trap into the monitor and back (a VM exit and entry).",
    emulate: "The monitor's work to emulate one trapped privileged instruction.",
    reflect: "The whole monitor round trip of one of the guest's own traps (a supervisor call, a fault), reflected into its E\\[0\\]/E\\[1\\].",
    interpret: "One guest instruction interpreted in software (hvm).",
    translate: "One critical instruction a binary translator carried out on the virtual state.",
    block_scan: "One basic block scanned by a binary translator.",
    hypercall: "One hypercall served (pv).",
    assisted: "One privileged instruction performed by the machine's VM assist, with no trap.",
    nested_trap: "One trap taken at level 0 of a nested run (the monitors' work is counted as their instructions).",
}

type WireTechniques = BTreeMap<Spanned<String>, WirePartial>;

/// One price: model cycles per event, and where the figure comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Price {
    /// Model cycles per event (finite, at least 0).
    pub cycles: f64,
    /// The source, or how the estimate was made.
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WirePrice {
    cycles: Spanned<f64>,
    source: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireModel {
    #[serde(default)]
    name: Option<String>,
    price: WirePrices,
    #[serde(default)]
    profile: BTreeMap<String, WireProfile>,
    #[serde(default)]
    technique: WireTechniques,
}

/// A cost model: default prices, and overrides by profile, technique, or both.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostModel {
    /// Its name, from the file.
    pub name: String,
    /// Where it was read from.
    pub file: String,
    /// The default prices.
    pub prices: Prices,
    /// Prices for one profile and the profiles that extend it.
    pub profiles: BTreeMap<String, Override>,
    /// Prices for one technique on every profile.
    pub techniques: BTreeMap<String, Override>,
    /// Prices for one technique on one profile: `(profile, technique)`.
    pub profile_techniques: BTreeMap<String, BTreeMap<String, Override>>,
}

struct Parser<'a> {
    file: &'a str,
    text: &'a str,
}

impl Parser<'_> {
    fn error(&self, span: Option<Range<usize>>, message: String, hint: &str) -> CostError {
        let (line, col) = line_col(self.text, span.map_or(0, |s| s.start));
        CostError::Source {
            file: self.file.to_string(),
            line,
            col,
            message,
            hint: hint.to_string(),
        }
    }

    fn price(&self, p: Spanned<WirePrice>) -> Result<Price, CostError> {
        let span = p.span();
        let p = p.into_inner();
        let cycles = *p.cycles.get_ref();
        if !cycles.is_finite() || cycles < 0.0 {
            return Err(self.error(
                Some(p.cycles.span()),
                format!("Price {cycles} is negative or not a number"),
                "a price is a number of model cycles, 0 or more",
            ));
        }
        if p.source.get_ref().trim().is_empty() {
            return Err(self.error(
                Some(span),
                "Price without a source".to_string(),
                "say where the figure comes from, or that it is an estimate and how it was made",
            ));
        }
        Ok(Price {
            cycles,
            source: p.source.into_inner(),
        })
    }

    fn technique_name(&self, name: &Spanned<String>) -> Result<String, CostError> {
        if TechniqueKind::ALL
            .iter()
            .any(|t| t.name() == name.get_ref())
        {
            Ok(name.get_ref().clone())
        } else {
            Err(self.error(
                Some(name.span()),
                format!("Unknown technique `{}`", name.get_ref()),
                &format!(
                    "techniques: {}",
                    TechniqueKind::ALL.map(TechniqueKind::name).join(", ")
                ),
            ))
        }
    }
}

/// The 1-based line and column (in characters) of byte `at` of `text`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let at = (0..=at.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

/// The hint for an error the TOML reader or the field checks reported, by its message.
fn hint_for(message: &str) -> &'static str {
    let message = message.to_lowercase();
    if message.contains("missing field") {
        "every event needs a price under [price]: direct, guest_trap, exit, emulate, reflect, interpret, translate, block_scan, hypercall, assisted, nested_trap; each as { cycles = N, source = \"...\" }"
    } else if message.contains("unknown field") {
        "see the built-in model (crates/pgvm-lab/cost/default.toml) for the keys a cost model has"
    } else {
        "a cost model is TOML: [price.<event>] tables with `cycles` and `source`; see docs/practice.md"
    }
}

impl CostModel {
    /// The built-in model.
    pub fn builtin() -> Result<CostModel, CostError> {
        CostModel::parse(DEFAULT_FILE, DEFAULT_TOML)
    }

    /// Reads a model from a file.
    pub fn read(path: &Path) -> Result<CostModel, CostError> {
        let text = pgvm_isa::read_source(path)?;
        CostModel::parse(&path.display().to_string(), &text)
    }

    /// Parses a model from `text`, naming `file` in its errors.
    pub fn parse(file: &str, text: &str) -> Result<CostModel, CostError> {
        let p = Parser { file, text };
        let wire: WireModel = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().to_string();
            let message = capitalize(&message);
            let hint = hint_for(&message);
            p.error(e.span(), message, hint)
        })?;
        let prices = p.prices(wire.price)?;
        let mut profiles = BTreeMap::new();
        let mut profile_techniques = BTreeMap::new();
        for (name, w) in wire.profile {
            let (o, techs) = p.profile(w)?;
            profiles.insert(name.clone(), o);
            let mut by = BTreeMap::new();
            for (t, w) in techs {
                by.insert(p.technique_name(&t)?, p.partial(w)?);
            }
            if !by.is_empty() {
                profile_techniques.insert(name, by);
            }
        }
        let mut techniques = BTreeMap::new();
        for (t, w) in wire.technique {
            techniques.insert(p.technique_name(&t)?, p.partial(w)?);
        }
        Ok(CostModel {
            name: wire.name.unwrap_or_else(|| "unnamed".to_string()),
            file: file.to_string(),
            prices,
            profiles,
            techniques,
            profile_techniques,
        })
    }

    /// The profile override that applies to `isa`: its own, else its nearest ancestor's.
    fn profile_key<'s>(&'s self, isa: &Isa) -> Option<&'s str> {
        std::iter::once(&isa.name)
            .chain(isa.ancestors.iter())
            .find_map(|n| self.profiles.get_key_value(n.as_str()))
            .map(|(k, _)| k.as_str())
    }

    /// The prices of a run of `technique` (`None`: bare or nested) on `isa`.
    pub fn prices_for(&self, isa: &Isa, technique: Option<TechniqueKind>) -> Prices {
        let mut p = self.prices.clone();
        let key = self.profile_key(isa);
        if let Some(o) = key.and_then(|k| self.profiles.get(k)) {
            o.apply(&mut p);
        }
        if let Some(t) = technique {
            if let Some(o) = self.techniques.get(t.name()) {
                o.apply(&mut p);
            }
            if let Some(o) = key
                .and_then(|k| self.profile_techniques.get(k))
                .and_then(|m| m.get(t.name()))
            {
                o.apply(&mut p);
            }
        }
        p
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

impl Prices {
    /// Model cycles of the guest's bare run: `instructions` executed, and the traps its own
    /// machine takes (the ones a monitor reflects).
    pub fn bare(&self, instructions: u64, own_traps: u64) -> f64 {
        instructions as f64 * self.direct.cycles + own_traps as f64 * self.guest_trap.cycles
    }

    /// Model cycles of a run under a technique, from its counts.
    pub fn virtualized(&self, t: &Tally) -> f64 {
        let n = |x: u64| x as f64;
        n(t.direct) * self.direct.cycles
            + n(t.emulated) * (self.exit.cycles + self.emulate.cycles)
            + n(t.reflected) * (self.reflect.cycles + self.guest_trap.cycles)
            + n(t.interpreted) * self.interpret.cycles
            + n(t.translated) * self.translate.cycles
            + n(t.blocks_scanned) * self.block_scan.cycles
            + n(t.hypercalls) * self.hypercall.cycles
            + n(t.assisted) * self.assisted.cycles
    }

    /// Model cycles of a nested run: every real instruction (all levels' code and the
    /// guest's), and the traps taken at level 0.
    pub fn nested(&self, instructions: u64, l0_traps: u64) -> f64 {
        instructions as f64 * self.direct.cycles + l0_traps as f64 * self.nested_trap.cycles
    }

    /// The traps of a run that pay `exit`: the emulated instructions.
    pub fn exits(t: &Tally) -> u64 {
        t.emulated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> (usize, usize, String, String) {
        match CostModel::parse("m.toml", text) {
            Err(CostError::Source {
                line,
                col,
                message,
                hint,
                ..
            }) => (line, col, message, hint),
            other => panic!("expected a located error, got {other:?}"),
        }
    }

    #[test]
    fn the_builtin_model_parses_and_every_price_has_a_source() {
        let m = CostModel::builtin().expect("built-in model");
        assert_eq!(m.name, "default");
        assert_eq!(m.prices.direct.cycles, 1.0);
        let json = serde_json::to_value(&m.prices).expect("json");
        for e in EVENTS {
            let src = json[e]["source"].as_str().expect("a source");
            assert!(src.len() > 20, "{e}: {src}");
        }
    }

    #[test]
    fn overrides_resolve_most_specific_last() {
        let vt = pgvm_isa::load("ia32-vt").expect("built-in");
        let s370 = pgvm_isa::load("s370").expect("built-in");
        let m = CostModel::builtin().expect("built-in");
        let base = m.prices.exit.cycles;
        assert_eq!(
            m.prices_for(&s370, Some(TechniqueKind::Tae)).exit.cycles,
            base
        );
        let vt_exit = m.prices_for(&vt, Some(TechniqueKind::Assist)).exit.cycles;
        assert!(vt_exit > base, "{vt_exit}");
        let bt = m.prices_for(&vt, Some(TechniqueKind::BtKernel)).exit.cycles;
        assert!(
            bt < vt_exit,
            "a profile's technique price beats the profile's"
        );
        let text = format!(
            "{DEFAULT_TOML}\n[technique.hvm.exit]\ncycles = 7\nsource = \"t\"\n[profile.ia32-vt.technique.hvm.exit]\ncycles = 9\nsource = \"t\"\n"
        );
        let m = CostModel::parse("m.toml", &text).expect("parses");
        let hvm = Some(TechniqueKind::Hvm);
        assert_eq!(
            m.prices_for(&s370, hvm).exit.cycles,
            7.0,
            "technique over default"
        );
        assert_eq!(
            m.prices_for(&vt, hvm).exit.cycles,
            9.0,
            "profile and technique"
        );
    }

    #[test]
    fn a_negative_price_is_located_at_its_number() {
        let text = DEFAULT_TOML.replacen("cycles = 80", "cycles = -3", 1);
        let line = text
            .lines()
            .position(|l| l.contains("cycles = -3"))
            .expect("there")
            + 1;
        let (l, c, message, hint) = err(&text);
        assert_eq!((l, c), (line, 10), "{message}");
        assert!(
            message.contains("-3") && message.contains("negative"),
            "{message}"
        );
        assert!(hint.contains("0 or more"), "{hint}");
    }

    #[test]
    fn a_missing_price_is_named_with_a_hint() {
        let start = DEFAULT_TOML.find("[price.hypercall]").expect("there");
        let end = start + DEFAULT_TOML[start..].find("\n\n").expect("blank line");
        let text = format!("{}{}", &DEFAULT_TOML[..start], &DEFAULT_TOML[end..]);
        let (line, _, message, hint) = err(&text);
        assert!(message.contains("hypercall"), "{message}");
        assert!(line >= 1);
        assert!(hint.contains("[price]"), "{hint}");
    }

    #[test]
    fn unknown_keys_and_techniques_are_refused() {
        let text = DEFAULT_TOML.replacen("cycles = 1\n", "cycles = 1\ncolour = 2\n", 1);
        let (_, _, message, _) = err(&text);
        assert!(message.contains("colour"), "{message}");
        let text = format!("{DEFAULT_TOML}\n[technique.jit.exit]\ncycles = 1\nsource = \"x\"\n");
        let (line, col, message, hint) = err(&text);
        assert!(message.contains("`jit`"), "{message}");
        assert_eq!((line, col), (text.lines().count() - 2, 12));
        assert!(hint.contains("bt-kernel"), "{hint}");
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncé d", 3 + "cé".len()), (2, 3));
        assert_eq!(line_col("", 5), (1, 1));
    }
}

#[cfg(test)]
mod hand_counted {
    use super::*;

    /// Three additions, one privileged innocuous instruction and a halt, in virtual supervisor
    /// mode: under trap-and-emulate the additions run directly, and `stidp` and the halt trap
    /// and are emulated (the halt ends the run).
    const GUEST: &str = ".isa s370\n.entry start\n.org 0x10\nstart: addi x, 1\n addi x, 1\n stidp y\n addi x, 1\n halt\nx: .word 0\ny: .word 0\n";

    #[test]
    fn a_hand_counted_run_costs_what_the_formula_says() {
        let p = crate::program::from_source("h.s", GUEST, None).expect("assembles");
        let guest = crate::guest::guest_of(&p.image, 256).expect("guest");
        let r = crate::equiv::check(&p.isa, &guest, TechniqueKind::Tae, 100).expect("runs");
        assert!(r.equivalent);
        let t = r.tally;
        assert_eq!((t.direct, t.emulated, t.reflected), (3, 2, 0), "{t:?}");
        assert_eq!(r.guest_instructions, 5, "four instructions and the halt");
        let m = CostModel::builtin().expect("built-in");
        let p = m.prices_for(&p.isa, Some(TechniqueKind::Tae));
        // By hand, with the built-in prices: 3 direct at 1, two exits (30) and emulations (80).
        assert_eq!(
            (p.direct.cycles, p.exit.cycles, p.emulate.cycles),
            (1.0, 30.0, 80.0)
        );
        assert_eq!(p.virtualized(&t), 3.0 + 2.0 * 110.0);
        assert_eq!(p.bare(r.guest_instructions, t.reflected), 5.0);
        assert_eq!(Prices::exits(&t), 2);
    }
}
