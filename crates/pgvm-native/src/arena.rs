//! Executable memory for emitted code, shared by the whole process.
//!
//! A mapping of its own for each piece of code costs three system calls and a page fault
//! (map, protect, fault; unmap when dropped): about 2 µs, as long as emitting the code, and
//! paid by every hot loop of every short run. Here code is appended to a chunk instead: a
//! memory file mapped twice, once writable and once executable, so that no page is ever both
//! at one address and appending costs no system call. Where the host has no memory files (or
//! refuses to execute them), each piece of code gets a mapping of its own, as before.
//!
//! The invariant the crate's safety argument rests on: a byte of a chunk is written once,
//! before any [`Placed`] covers it, and never after. A chunk is never written from its start
//! again, and a process never appends to a chunk that another process made: the memory of a
//! memory file is shared across `fork`, so a child appending to its parent's chunk (or a
//! parent reusing a chunk whose code a child still runs) would write over code that runs.

use std::sync::{Arc, Mutex};

use memmap2::{MmapMut, MmapRaw};

use crate::NativeError;

/// Bytes of one chunk: room for the regions of dozens of hot loops.
const CHUNK: usize = 1 << 18;

/// Code longer than this gets a mapping of its own: a chunk holds several pieces.
const LARGEST: usize = CHUNK / 4;

/// Each piece starts on a cache line of its own, so that appending never writes a line
/// that code already running shares.
const LINE: usize = 64;

/// Pieces placed in mappings of their own, after a chunk could not be made, before the next
/// try: a failure may pass (descriptors or memory short for a moment) or not (no memory
/// files here), and a try costs a system call or two.
const RETRY_AFTER: u32 = 64;

/// Where a piece of code lies: the executable mapping that holds it (kept alive by this),
/// and its offset there. The mapping is raw: Rust never reads it as data, only the code is
/// run from it, so no reference to bytes that another thread is writing is ever made.
#[derive(Debug, Clone)]
pub(crate) struct Placed {
    home: Arc<MmapRaw>,
    offset: usize,
    len: usize,
}

impl Placed {
    /// The code's first byte.
    pub(crate) fn ptr(&self) -> *const u8 {
        self.home.as_ptr().wrapping_add(self.offset)
    }

    /// The code's length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// A chunk being filled: its two views of one memory file, the bytes used, and the process
/// that made it.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
struct Chunk {
    write: MmapMut,
    exec: Arc<MmapRaw>,
    used: usize,
    pid: u32,
}

/// The process's chunk, or why it has none.
enum Arena {
    /// No chunk made yet.
    Untried,
    Ready(Chunk),
    /// The last chunk could not be made: this many more pieces get mappings of their own
    /// before the next try.
    Unavailable(u32),
}

static ARENA: Mutex<Arena> = Mutex::new(Arena::Untried);

/// `code`, copied into executable memory.
pub(crate) fn place(code: &[u8]) -> Result<Placed, NativeError> {
    if code.len() <= LARGEST
        && let Ok(mut arena) = ARENA.lock()
        && let Some(placed) = append(&mut arena, code)
    {
        return Ok(placed);
    }
    own(code)
}

/// `code` in a mapping of its own.
fn own(code: &[u8]) -> Result<Placed, NativeError> {
    let mut map = MmapMut::map_anon(code.len().max(1)).map_err(|_| NativeError::Map)?;
    map[..code.len()].copy_from_slice(code);
    let map = map.make_exec().map_err(|_| NativeError::Map)?;
    Ok(Placed {
        home: Arc::new(MmapRaw::from(map)),
        offset: 0,
        len: code.len(),
    })
}

/// `code` appended to the process's chunk (a new one when it is full or another process
/// made it), or `None` when there is no chunk to be had.
fn append(arena: &mut Arena, code: &[u8]) -> Option<Placed> {
    let pid = std::process::id();
    let fits = |c: &Chunk| c.pid == pid && c.used.next_multiple_of(LINE) + code.len() <= CHUNK;
    match arena {
        Arena::Ready(c) if fits(c) => {}
        Arena::Unavailable(n) if *n > 0 => {
            *n -= 1;
            return None;
        }
        // The old chunk (if any) is dropped from here: its pieces keep its executable view.
        _ => {
            *arena = match chunk(pid) {
                Some(c) => Arena::Ready(c),
                None => Arena::Unavailable(RETRY_AFTER),
            };
        }
    }
    let Arena::Ready(c) = arena else {
        return None;
    };
    let start = c.used.next_multiple_of(LINE);
    let end = start + code.len();
    c.write.get_mut(start..end)?.copy_from_slice(code);
    c.used = end;
    Some(Placed {
        home: Arc::clone(&c.exec),
        offset: start,
        len: code.len(),
    })
}

/// A new chunk for process `pid`: a memory file of [`CHUNK`] bytes, sealed at that length,
/// mapped writable and, elsewhere, executable, both with their pages in place (a fault a
/// page would cost more).
#[cfg(target_os = "linux")]
fn chunk(pid: u32) -> Option<Chunk> {
    use std::fs::File;

    use memmap2::MmapOptions;
    use rustix::fs::{MemfdFlags, SealFlags, fcntl_add_seals, memfd_create};

    let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    let file = File::from(memfd_create("pgvm-native", flags).ok()?);
    file.set_len(CHUNK as u64).ok()?;
    fcntl_add_seals(&file, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL).ok()?;
    // SAFETY: `memmap2` maps files unsafely because the file may be changed or shortened
    // under the mapping. This file has no name, its length is sealed, and its descriptor is
    // this function's and closed when it returns (the mappings keep the memory). It is
    // written only through `write`, and only at bytes no `Placed` covers yet (see the module
    // documentation); the executable view is never read as data, only run.
    #[allow(unsafe_code)]
    let write = unsafe { MmapOptions::new().len(CHUNK).populate().map_mut(&file) }.ok()?;
    // SAFETY: as above.
    #[allow(unsafe_code)]
    let exec = unsafe { MmapOptions::new().len(CHUNK).populate().map_exec(&file) }.ok()?;
    Some(Chunk {
        write,
        exec: Arc::new(MmapRaw::from(exec)),
        used: 0,
        pid,
    })
}

/// No memory files here: every piece of code is mapped on its own.
#[cfg(not(target_os = "linux"))]
fn chunk(_pid: u32) -> Option<Chunk> {
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Small pieces are appended to one chunk, each on a line of its own; a large one is
    /// mapped alone. (Other tests place code at the same time, so a piece may start a new
    /// chunk: of four in a row, some two share one.)
    #[test]
    fn small_pieces_share_a_chunk_and_large_ones_do_not() {
        let pieces: Vec<Placed> = (0..4).map(|_| place(&[0xc3; 100]).unwrap()).collect();
        assert!(
            pieces
                .iter()
                .all(|p| p.offset % LINE == 0 && p.len() == 100)
        );
        assert!(
            pieces
                .windows(2)
                .any(|w| Arc::ptr_eq(&w[0].home, &w[1].home) && w[1].offset >= w[0].offset + 128)
        );
        let large = place(&vec![0xc3; LARGEST + 1]).unwrap();
        assert_eq!((large.offset, large.home.len()), (0, LARGEST + 1));
    }

    /// A chunk another process made (as a child inherits its parent's) is not appended to.
    #[test]
    fn a_chunk_of_another_process_is_left_alone() {
        let mut arena = Arena::Untried;
        let first = append(&mut arena, &[0xc3; 100]).unwrap();
        let Arena::Ready(c) = &mut arena else {
            panic!("no chunk on Linux");
        };
        c.pid = c.pid.wrapping_add(1);
        let second = append(&mut arena, &[0xc3; 100]).unwrap();
        assert!(!Arc::ptr_eq(&first.home, &second.home));
        assert_eq!(second.offset, 0);
    }
}
