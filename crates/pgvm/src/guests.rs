//! The sample guests (`guests/**/*.s`), built into the binary so that `pgvm tour` needs no
//! source tree. `build.rs` lists them; they assemble from memory, `.include`s included.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Result, anyhow};
use pgvm_asm::{Image, MemorySources};
use pgvm_isa::Isa;

use crate::program::DEFAULT_ISA;

/// Every guest, as (path relative to `guests/`, text).
pub const GUESTS: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// Assembles the built-in guest at `rel` (relative to `guests/`, e.g. `tsos/s370.s`) for the
/// built-in ISA its `.isa` line names.
pub fn load(rel: &Path) -> Result<(Arc<Isa>, Image)> {
    let sources = MemorySources::new(GUESTS.iter().copied());
    let (_, src) = GUESTS
        .iter()
        .find(|(name, _)| Path::new(name) == rel)
        .ok_or_else(|| anyhow!("No built-in guest {}", rel.display()))?;
    let name = pgvm_asm::declared_isa(src).unwrap_or_else(|| DEFAULT_ISA.to_string());
    let isa = Arc::new(pgvm_isa::load(&name)?);
    let image = pgvm_asm::assemble_from(rel, &sources, &isa)?;
    Ok((isa, image))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every embedded program that names its ISA assembles from memory to the same image as
    /// from disk, so the embedded set holds everything they include.
    #[test]
    fn embedded_guests_assemble_as_on_disk() {
        let top = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests");
        let mut programs = 0;
        for (rel, src) in GUESTS {
            if pgvm_asm::declared_isa(src).is_none() {
                continue;
            }
            let (isa, embedded) = match load(Path::new(rel)) {
                Ok(x) => x,
                Err(e) => panic!("{rel}: {e:#}"),
            };
            match pgvm_asm::assemble_file(&top.join(rel), &isa) {
                Ok(on_disk) => assert!(embedded == on_disk, "{rel} differs from disk"),
                Err(e) => panic!("{rel}: {e}"),
            }
            programs += 1;
        }
        for needed in [
            "hello.s",
            "svc.s",
            "memtrap.s",
            "privtrap.s",
            "tsos/s370.s",
            "tsos/m68000.s",
        ] {
            assert!(
                GUESTS.iter().any(|(n, _)| *n == needed),
                "{needed} is not embedded"
            );
        }
        assert!(programs >= 6, "only {programs} programs embedded");
    }
}
