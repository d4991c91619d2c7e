//! The monitor of `guests/vmm/`: its sources, assembled for a profile, and the check that its
//! code reads no clock (Theorem 2's condition on the monitor, by the classifier's classes).

use std::collections::BTreeMap;
use std::path::Path;

use pgvm_asm::{Image, Listing, MemorySources};
use pgvm_classify::{Class, Config};
use pgvm_isa::Isa;
use serde::Serialize;

use super::{NestError, VMM_K};
use crate::guest::words_needed;

/// The monitor's sources, as `guests/vmm/` holds them: (path relative to it, text).
pub const MONITOR_FILES: &[(&str, &str)] = &[
    (
        "monitor.s",
        include_str!("../../../../guests/vmm/monitor.s"),
    ),
    (
        "arch/s370.s",
        include_str!("../../../../guests/vmm/arch/s370.s"),
    ),
    ("s370.s", include_str!("../../../../guests/vmm/s370.s")),
    (
        "arch/ppc.s",
        include_str!("../../../../guests/vmm/arch/ppc.s"),
    ),
    ("ppc.s", include_str!("../../../../guests/vmm/ppc.s")),
    (
        "arch/m68k.s",
        include_str!("../../../../guests/vmm/arch/m68k.s"),
    ),
    ("m68010.s", include_str!("../../../../guests/vmm/m68010.s")),
];

/// The profiles the monitor is written for: the build file of each.
const BUILDS: &[(&str, &str)] = &[("s370", "s370.s"), ("ppc", "ppc.s"), ("m68010", "m68010.s")];

/// The monitor assembled for one profile.
#[derive(Debug, Clone)]
pub struct MonitorBuild {
    /// The build file (relative to `guests/vmm/`).
    pub file: String,
    /// Its image.
    pub image: Image,
    /// Its labels and source lines.
    pub listing: Listing,
    /// The files it was assembled from.
    files: Vec<(String, String)>,
}

impl MonitorBuild {
    pub(super) fn label(&self, name: &'static str) -> Result<u64, NestError> {
        self.listing
            .labels()
            .find(|(_, n)| *n == name)
            .map(|(a, _)| a)
            .ok_or(NestError::MissingLabel(name))
    }
}

/// The profile and build file for `isa`: its own, or the nearest ancestor's.
fn build_file(isa: &Isa) -> Option<(&'static str, &'static str)> {
    std::iter::once(&isa.name)
        .chain(isa.ancestors.iter())
        .find_map(|n| BUILDS.iter().find(|(p, _)| p == n).copied())
}

/// Assembles the monitor for `isa` from `files` (normally [`MONITOR_FILES`]; a test passes a
/// changed copy).
pub fn assemble_monitor(isa: &Isa, files: &[(&str, &str)]) -> Result<MonitorBuild, NestError> {
    let Some((profile, file)) = build_file(isa) else {
        return Err(NestError::NoMonitor {
            isa: isa.name.clone(),
            have: BUILDS
                .iter()
                .map(|(p, _)| *p)
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    // A profile that extends the monitor's runs it as its ancestor assembles it: extending
    // keeps every inherited instruction's encoding.
    let own;
    let asm_isa = if isa.name == profile {
        isa
    } else {
        own = pgvm_isa::load(profile).map_err(|e| NestError::Profile(e.to_string()))?;
        &own
    };
    let sources = MemorySources::new(files.iter().copied());
    let (image, listing) = pgvm_asm::assemble_from_listed(Path::new(file), &sources, asm_isa)?;
    let needed = words_needed(&image);
    if needed > VMM_K {
        return Err(NestError::MonitorTooLarge(needed));
    }
    Ok(MonitorBuild {
        file: file.to_string(),
        image,
        listing,
        files: files
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
    })
}

/// One instruction of the monitor's code that depends on time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimingUse {
    /// Where, in the monitor's words.
    pub at: u64,
    /// The instruction.
    pub mnemonic: String,
}

/// The Theorem 2 check of the monitor's own code: every word assembled from an instruction
/// line, decoded, against the classifier's timing-dependent class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CodeCheck {
    /// Instruction words in the monitor.
    pub instructions: u64,
    /// Distinct instructions it uses.
    pub mnemonics: Vec<String>,
    /// The ones the classifier calls timing-dependent, where they are (none: the monitor
    /// has no timing dependency, condition (b) of Theorem 2 by construction).
    pub timing_dependent: Vec<TimingUse>,
}

/// Checks that the monitor's code executes no timing-dependent instruction.
pub fn check_code(isa: &Isa, build: &MonitorBuild) -> CodeCheck {
    let mut used: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    let mut instructions = 0;
    for seg in &build.image.segments {
        for (i, &word) in seg.words.iter().enumerate() {
            let pa = seg.org + i as u64;
            if !is_instruction_line(isa, build, pa) {
                continue;
            }
            if let Some(id) = isa.decode(word) {
                instructions += 1;
                used.entry(id).or_default().push(pa);
            }
        }
    }
    let config = Config::default();
    let mut timing_dependent = Vec::new();
    for (&id, places) in &used {
        if pgvm_classify::classify_insn(isa, id, &config).is(Class::TimingDependent) {
            timing_dependent.extend(places.iter().map(|&at| TimingUse {
                at,
                mnemonic: isa.insns[id].mnemonic.clone(),
            }));
        }
    }
    CodeCheck {
        instructions,
        mnemonics: used
            .keys()
            .map(|&id| isa.insns[id].mnemonic.clone())
            .collect(),
        timing_dependent,
    }
}

/// Whether the word at `pa` was assembled from an instruction (its line's first word, after
/// any label, is a mnemonic), not from data.
fn is_instruction_line(isa: &Isa, build: &MonitorBuild, pa: u64) -> bool {
    let Some(line) = build.listing.line_at(pa) else {
        return false;
    };
    let Some((_, text)) = build
        .files
        .iter()
        .find(|(name, _)| line.file.ends_with(name.as_str()))
    else {
        return false;
    };
    let Some(src) = text.lines().nth(line.line as usize - 1) else {
        return false;
    };
    let code = src.split(';').next().unwrap_or("");
    let code = match code.split_once(':') {
        Some((label, rest)) if !label.contains(char::is_whitespace) => rest,
        _ => code,
    };
    code.split_whitespace()
        .next()
        .is_some_and(|m| isa.insns.iter().any(|i| i.mnemonic == m))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The code check finds a clock read where one is, and only in instruction lines.
    #[test]
    fn the_code_check_finds_a_clock_read() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/isa/s370-stck.isa");
        let isa = pgvm_isa::load_file(&path).expect("the test profile loads");
        let src = "start: stck t\n    halt\nt: .word 0\n";
        let (image, listing) = pgvm_asm::assemble_str_listed("<t>", src, &isa).expect("assembles");
        let build = MonitorBuild {
            file: "<t>".into(),
            image,
            listing,
            files: vec![("<t>".into(), src.into())],
        };
        let check = check_code(&isa, &build);
        assert_eq!(check.instructions, 2, "the data word is not an instruction");
        assert_eq!(
            check.timing_dependent,
            vec![TimingUse {
                at: 0,
                mnemonic: "stck".into()
            }]
        );
    }

    #[test]
    fn the_monitors_read_no_clock() {
        for name in ["s370", "ppc", "m68010"] {
            let isa = pgvm_isa::load(name).expect("loads");
            let build = assemble_monitor(&isa, MONITOR_FILES).expect("assembles");
            let check = check_code(&isa, &build);
            assert!(check.instructions > 150, "{name}: {}", check.instructions);
            assert!(check.timing_dependent.is_empty(), "{name}: {check:?}");
        }
    }
}
