//! pgvm's experiments as a library, one module per experiment.
//!
//! The `pgvm` binary parses arguments and renders what these functions return; everything
//! that decides an outcome lives here, so that the tour, the tests and other programs get
//! the same answers as the command line. Every report derives [`serde::Serialize`]: the
//! CLI's `--json` output is that serialization, never a second list of fields.
//!
//! - [`program`]: loading a source or an image, with its ISA and the assembler's listing.
//! - [`run`]: one program on the bare machine, streamed or traced, and its report.
//! - [`trace`]: readable traces, bare or under a monitor, with traps, interrupts and labels.
//! - [`guest`]: a program (image or classifier state) as a guest of the monitor.
//! - [`equiv`]: one guest bare and under a monitor technique, with the efficiency check.
//! - [`isolation`]: whether a technique can confine guests on a profile, by the classifier.
//! - [`vms`]: several guests sharing one real machine.
//! - [`counterexample`]: Theorem 1's violations, each shown diverging on the monitor.
//! - [`replay`]: witnesses re-executed, as rows of what differs between two runs.
//! - [`classify`]: the classifier's report in its serializable form.
//! - [`assist`]: the gate that refuses a monitor turning an unsound assist on.
//! - [`matrix`]: every profile against every technique, checked against the theorems.
//! - [`cost`]: the cost model: a price in model cycles for each event a run counts.
//! - [`mod@bench`]: every workload in every configuration, measured and priced by the cost model.
//! - [`plot`]: the bench's SVG plots and its one-page HTML report.
//! - [`nest`]: the assembly monitor of `guests/vmm/` nested under itself (Theorem 2).
//!
//! The monitor (`pgvm-vmm`) is called from [`equiv::check`], [`vms::run`], [`trace`] and
//! [`matrix`]'s timed runs only, each after [`assist::check`].

pub mod assist;
pub mod bench;
pub mod classify;
pub mod cost;
pub mod counterexample;
pub mod equiv;
pub mod guest;
pub mod isolation;
pub mod matrix;
pub mod nest;
pub mod plot;
pub mod program;
pub mod replay;
pub mod run;
pub mod trace;
pub mod vms;

pub use pgvm_vmm::{BareOutcome, Tally, TechniqueKind};

/// Serializes a value through its `Display` text (PSWs are shown as in the text reports).
pub(crate) fn display<T: std::fmt::Display, S: serde::Serializer>(
    v: &T,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}
