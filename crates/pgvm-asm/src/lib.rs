//! The pgvm assembler and disassembler, driven by an ISA description.
//!
//! Mnemonics, operand order and operand ranges all come from the [`pgvm_isa::Isa`]: nothing
//! here knows any particular instruction set. The assembler turns source into an [`Image`]
//! (segments of words plus the entry PSW); the disassembler turns an image back into source
//! that reassembles to the identical image. See `docs/assembler.md` for the language and
//! `docs/image-format.md` for the image file.

mod asm;
mod disasm;
mod image;
mod listing;

pub use asm::{
    AsmError, FileSystem, MAX_INCLUDE_DEPTH, MAX_INCLUDES, MAX_TOTAL_SOURCE_BYTES, MemorySources,
    Sources, assemble_file, assemble_file_listed, assemble_from, assemble_from_listed,
    assemble_str, assemble_str_listed, declared_isa, declared_isa_at,
};
pub use disasm::{disassemble, disassemble_word};
pub use image::{Entry, FORMAT_TAG, FORMAT_VERSION, Image, ImageError, Segment};
pub use listing::{Listing, SourceLine};
