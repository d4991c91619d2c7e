//! Auditing a real instruction set: the MC68000 and MC68010, run on the `m68k` emulator (a
//! safe Rust interpreter nobody here wrote), classified by the same definitions as pgvm's own
//! profiles (DESIGN.md §2) through the classifier's oracle interface
//! ([`pgvm_classify::oracle`]).
//!
//! - [`family`]: the 68000 family as an [`Oracle`](pgvm_classify::Oracle), and how the
//!   paper's terms map to it;
//! - [`groups`]: the 65,536 opcode words, grouped by the instruction the emulator decodes;
//! - [`mod@audit`]: every group on sampled states, and Theorems 1 and 3;
//! - [`compare`]: the derived table beside a built-in profile's verdicts.
//!
//! No `proof` is claimed here: pgvm cannot read the emulator's semantics. Every sensitivity
//! and every "not privileged" rests on a witness that `pgvm replay` re-runs; every absence is
//! `search` with its N and seed.

pub mod audit;
pub mod compare;
pub mod family;
pub mod groups;

pub use audit::{Audit, AuditConfig, AuditError, DEFAULT_SAMPLES, GroupResult, audit};
pub use family::{Cpu, M68kOracle, M68kState};
