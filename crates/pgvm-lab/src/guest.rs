//! A program as a guest of the monitor: an image, or a state the classifier found.

use pgvm_asm::{Image, ImageError};
use pgvm_classify::State;
use pgvm_machine::{MAX_WORDS, PswError};
pub use pgvm_vmm::Guest;

/// The most words a VM can have: the real machine's largest memory, less the control
/// program's own words.
pub const MAX_GUEST_WORDS: u64 = MAX_WORDS - pgvm_vmm::CP_WORDS;

/// Why a program cannot be a guest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuestError {
    /// A VM size no VM can have.
    #[error("A guest has 1 to {MAX_GUEST_WORDS} words, not {w}")]
    Words {
        /// The size asked for.
        w: u64,
    },
    /// The image's entry has no window at all in the guest's memory.
    #[error("The entry's l = {l} leaves no window in {w} words")]
    NoWindow {
        /// The entry's relocation.
        l: u64,
        /// The guest's memory.
        w: u64,
    },
    /// The image's words reach past the guest's memory.
    #[error("The image needs {needed} words but the guest has {w}")]
    TooSmall {
        /// One past the highest word the image writes.
        needed: u64,
        /// The guest's memory.
        w: u64,
    },
    /// The entry PSW does not encode.
    #[error(transparent)]
    Psw(#[from] PswError),
    /// The image's entry cannot start a guest for another reason.
    #[error("{0}")]
    Entry(String),
    /// A state larger than any VM.
    #[error("The state's q = {q} words does not fit in a VM (at most {MAX_GUEST_WORDS})")]
    StateTooLarge {
        /// The state's memory size.
        q: u64,
    },
}

/// Refuses a guest memory size no VM can have.
pub fn check_words(w: u64) -> Result<(), GuestError> {
    if w == 0 || w > MAX_GUEST_WORDS {
        return Err(GuestError::Words { w });
    }
    Ok(())
}

/// The words an image needs: one past the highest address it writes.
pub fn words_needed(image: &Image) -> u64 {
    image
        .segments
        .iter()
        .map(|s| s.org.saturating_add(s.words.len() as u64))
        .max()
        .unwrap_or(0)
}

/// The image as both the bare machine and a VM of `w` words start it. An entry without `b`
/// gets the window from `l` to the end of memory.
pub fn guest_of(image: &Image, w: u64) -> Result<Guest, GuestError> {
    check_words(w)?;
    let needed = words_needed(image);
    if needed > w {
        return Err(GuestError::TooSmall { needed, w });
    }
    // The one rule for an image's starting PSW, shared with the bare machine's loader.
    let entry = image.entry_psw(w).map_err(|e| match e {
        ImageError::NoWindow { l, .. } => GuestError::NoWindow { l, w },
        ImageError::Psw(p) => GuestError::Psw(p),
        other => GuestError::Entry(other.to_string()),
    })?;
    Ok(Guest {
        w,
        segments: image
            .segments
            .iter()
            .map(|s| (s.org, s.words.clone()))
            .collect(),
        entry,
        input: Vec::new(),
        assist: false,
        clock: 0,
    })
}

/// A classifier state as a guest of `w = q` words: its memory as segments, its PSW as the
/// entry, its assist bit and clock as the guest's at entry. Nothing is moved or shrunk, so the
/// guest is exactly the state the classifier saw.
pub fn guest_of_state(s: &State) -> Result<Guest, GuestError> {
    if s.q > MAX_GUEST_WORDS {
        return Err(GuestError::StateTooLarge { q: s.q });
    }
    let mut segments: Vec<(u64, Vec<u64>)> = Vec::new();
    for &(pa, value) in &s.memory {
        match segments.last_mut() {
            Some((org, words)) if *org + words.len() as u64 == pa => words.push(value),
            _ => segments.push((pa, vec![value])),
        }
    }
    Ok(Guest {
        w: s.q,
        segments,
        entry: s.psw(),
        input: Vec::new(),
        assist: s.assist,
        clock: s.clock,
    })
}
