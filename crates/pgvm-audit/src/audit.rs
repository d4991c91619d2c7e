//! The audit: every group of opcode words put to sampled states on the emulator, classified by
//! DESIGN.md §2's definitions ([`pgvm_classify::oracle`]), and Theorems 1 and 3 derived from
//! the classes exactly as for an ISA profile ([`pgvm_classify::theorem`]).

use pgvm_classify::generate::Rng;
use pgvm_classify::oracle::{self, OracleWitness, OracleWitnessFile};
use pgvm_classify::{InsnReport, Theorem, theorem};
use rayon::prelude::*;
use serde::Serialize;

use crate::family::{Cpu, M68kOracle, M68kState};
use crate::groups::{self, Group};

/// The default number of states per group.
pub const DEFAULT_SAMPLES: u64 = 2_000;

/// The most states per group accepted: about 730 groups, each state run twice, so the
/// largest audit is about 1.5 billion runs (an hour or so per CPU on two cores).
pub const MAX_SAMPLES: u64 = 1_000_000;

/// How to audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AuditConfig {
    /// Which CPU.
    pub cpu: Cpu,
    /// States per group (at least 1).
    pub samples: u64,
    /// The seed of every sampled state.
    pub seed: u64,
}

/// Errors of the audit's configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// Samples out of range.
    #[error(
        "Samples must be between 1 and {MAX_SAMPLES}, not {0}\n  hint: the default is {DEFAULT_SAMPLES}; the tour uses 100"
    )]
    Samples(u64),
}

/// One group's result.
#[derive(Debug, Clone, Serialize)]
pub struct GroupResult {
    /// The group's name.
    pub name: String,
    /// What the emulator's disassembler prints for its first word.
    pub dasm: String,
    /// How many opcode words it has.
    pub words: usize,
    /// Its first word.
    pub first: u16,
    /// Whether the emulator decodes its words as instructions (not the illegal groups).
    pub legal: bool,
    /// The classification (classes and findings; the witnesses are in `witnesses`).
    #[serde(skip)]
    pub report: InsnReport,
    /// The witnesses the findings index.
    #[serde(skip)]
    pub witnesses: Vec<OracleWitness>,
    /// States drawn.
    pub samples: u64,
}

impl GroupResult {
    /// Sensitive: some control or mode witness.
    pub fn sensitive(&self) -> bool {
        self.report.sensitive()
    }

    /// Privileged: no counterexample among the states drawn.
    pub fn privileged(&self) -> bool {
        self.report.is(pgvm_classify::Class::Privileged)
    }

    /// User-sensitive (§8).
    pub fn user_sensitive(&self) -> bool {
        self.report.is(pgvm_classify::Class::UserSensitive)
    }
}

/// One CPU's audit.
#[derive(Debug, Clone, Serialize)]
pub struct Audit {
    /// The settings.
    pub config: AuditConfig,
    /// The emulator: crate and version.
    pub emulator: String,
    /// Every group.
    pub groups: Vec<GroupResult>,
    /// Theorem 1: sensitive ⊆ privileged.
    pub theorem1: Theorem,
    /// Theorem 3: user-sensitive ⊆ privileged.
    pub theorem3: Theorem,
}

/// The emulator's name and version, as the lock file pins it.
pub const EMULATOR: &str = "m68k 0.15.1";

/// The extension words and operands of one sample: edge values and random ones.
fn word(rng: &mut Rng) -> u16 {
    match rng.below(6) {
        0 => 0,
        1 => rng.range(1, 8) as u16,
        2 => 0xFFFF,
        3 => (rng.below(0x8000) as u16) & !1,
        _ => rng.next_u64() as u16,
    }
}

fn data(rng: &mut Rng) -> u32 {
    match rng.below(7) {
        0 => 0,
        1 => rng.range(1, 16) as u32,
        2 => 0xFFFF_FFFF,
        3 => 0x8000_0000,
        4 => 1 << rng.below(32),
        _ => rng.next_u64() as u32,
    }
}

/// An address: even and inside the 24-bit space most of the time, so that word and long
/// accesses do not all end in address errors; sometimes odd or anything.
fn address(rng: &mut Rng) -> u32 {
    match rng.below(10) {
        0 => rng.next_u64() as u32,
        1 => (rng.next_u64() as u32 & 0x00FF_FFFF) | 1,
        2 => rng.range(0x400, 0x1000) as u32 & !1,
        _ => (rng.range(0x1000, 0x00FF_0000) as u32) & !1,
    }
}

/// One starting state for a word of `group`.
pub fn draw(cpu: Cpu, group: &Group, rng: &mut Rng) -> M68kState {
    let k = rng.below(group.opcodes.len() as u64) as usize;
    // NOP for an empty group, which `groups` never makes.
    let op = group.opcodes.get(k).copied().unwrap_or(0x4E71);
    let mut code = vec![op];
    for _ in 0..5 {
        code.push(word(rng));
    }
    // SR: the mode is set by the pair; the trace bit is off (with it on, a trace exception
    // follows every instruction that completes: a trap after the fact, not the instruction's
    // own), the mask and the condition codes anything.
    let sr = ((rng.below(8) as u16) << 8) | (rng.below(32) as u16);
    let mut d = [0u32; 8];
    for x in &mut d {
        *x = data(rng);
    }
    let mut a = [0u32; 8];
    for x in &mut a {
        *x = if rng.chance(1, 4) {
            data(rng)
        } else {
            address(rng)
        };
    }
    let pc = match rng.below(4) {
        0 => rng.range(0x400, 0x1000) as u32 & !1,
        _ => (rng.range(0x1000, 0x00FF_0000) as u32) & !1,
    };
    let control = if cpu == Cpu::M68010 {
        [
            if rng.chance(1, 2) {
                0
            } else {
                address(rng) & !3
            },
            rng.below(8) as u32,
            rng.below(8) as u32,
        ]
    } else {
        [0; 3]
    };
    M68kState {
        sr,
        d,
        a,
        pc,
        code,
        fill: if rng.chance(1, 8) { 0 } else { rng.next_u64() },
        control,
    }
}

/// Audits one CPU. `progress` is called once per group finished; `total` is the number of
/// groups (see [`group_count`]).
pub fn audit(config: AuditConfig, progress: &(dyn Fn() + Sync)) -> Result<Audit, AuditError> {
    audit_groups(config, &groups::groups(config.cpu), progress)
}

/// The number of groups [`audit`] reports progress for.
pub fn group_count(cpu: Cpu) -> u64 {
    groups::groups(cpu).len() as u64
}

/// Audits the given groups of one CPU.
pub fn audit_groups(
    config: AuditConfig,
    groups: &[Group],
    progress: &(dyn Fn() + Sync),
) -> Result<Audit, AuditError> {
    if config.samples == 0 || config.samples > MAX_SAMPLES {
        return Err(AuditError::Samples(config.samples));
    }
    let oracle = M68kOracle { cpu: config.cpu };
    let results: Vec<GroupResult> = groups
        .par_iter()
        .filter(|g| !g.opcodes.is_empty())
        .map(|g| {
            let legal = !g.name.starts_with('(');
            let first = g.opcodes.first().copied().unwrap_or(0);
            let r = oracle::search(
                &oracle,
                &g.name,
                u64::from(first),
                config.seed,
                config.samples,
                |rng| draw(config.cpu, g, rng),
            );
            progress();
            GroupResult {
                name: g.name.clone(),
                dasm: g.dasm.clone(),
                words: g.opcodes.len(),
                first,
                legal,
                report: r.report,
                witnesses: r.witnesses,
                samples: r.samples,
            }
        })
        .collect();
    let reports: Vec<InsnReport> = results.iter().map(|g| g.report.clone()).collect();
    Ok(Audit {
        config,
        emulator: EMULATOR.to_string(),
        theorem1: theorem::theorem1(&reports),
        theorem3: theorem::theorem3(&reports),
        groups: results,
    })
}

impl Audit {
    /// Every witness of every group, as a witness file `pgvm replay` reads.
    pub fn witness_file(&self) -> OracleWitnessFile {
        OracleWitnessFile {
            pgvm_oracle_witnesses: 1,
            witnesses: self
                .groups
                .iter()
                .flat_map(|g| g.witnesses.iter().cloned())
                .collect(),
        }
    }

    /// The group of that name.
    pub fn group(&self, name: &str) -> Option<&GroupResult> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The group holding opcode word `op`.
    pub fn group_of(&self, op: u16, groups: &[Group]) -> Option<&GroupResult> {
        let g = groups.iter().find(|g| g.opcodes.contains(&op))?;
        self.group(&g.name)
    }

    /// The groups that break Theorem 1: sensitive and not privileged.
    pub fn violations(&self) -> Vec<&GroupResult> {
        self.groups
            .iter()
            .filter(|g| self.theorem1.violations.contains(&g.name))
            .collect()
    }
}
