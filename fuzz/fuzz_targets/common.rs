//! What the `classify` and `proofs` targets share: turning fuzz bytes into a profile.
//!
//! An input is 8 bytes of seed followed by UTF-8 declarations appended to a fixed header that
//! extends `base`, so the fuzzer spends its time on instruction bodies (and features, formats)
//! rather than on rediscovering the header.

use pgvm_isa::{InsnId, Isa};

/// Every fuzzed profile starts here.
pub const HEADER: &str = "isa f \"fuzzed\"\nextends base\n";

/// The seed and the parsed profile, or `None` when the text is not UTF-8 or does not parse.
pub fn profile(data: &[u8]) -> Option<(u64, Isa)> {
    let (seed, rest) = data.split_at_checked(8)?;
    let seed = u64::from_le_bytes(seed.try_into().ok()?);
    let text = std::str::from_utf8(rest).ok()?;
    let isa = pgvm_isa::parse_str("fuzz.isa", &format!("{HEADER}{text}")).ok()?;
    Some((seed, isa))
}

/// The instructions to look at: up to `n` that the fuzzed text declared (or redefined), else
/// one inherited instruction chosen by the seed (the text may still have changed its
/// context, `feature assist;` say).
pub fn chosen(isa: &Isa, seed: u64, n: usize) -> Vec<InsnId> {
    use std::sync::OnceLock;
    static BASE: OnceLock<Option<Isa>> = OnceLock::new();
    let base = BASE.get_or_init(|| pgvm_isa::parse_str("h.isa", HEADER).ok());
    let inherited = |id: InsnId| {
        let i = &isa.insns[id];
        base.as_ref().is_some_and(|b| {
            b.insn(&i.mnemonic)
                .is_some_and(|j| b.insns[j].body == i.body && b.insns[j].opcode == i.opcode)
        })
    };
    let mut ids: Vec<InsnId> = (0..isa.insns.len())
        .filter(|&id| !inherited(id))
        .take(n)
        .collect();
    if ids.is_empty() && !isa.insns.is_empty() {
        ids.push((seed % isa.insns.len() as u64) as usize);
    }
    ids
}
