//! Reading an input file with bounds. Every file pgvm reads (ISA descriptions, assembly
//! sources and their includes, images, witness files) is untrusted input: a path may name a
//! directory, a device such as `/dev/zero` that never ends, or a file far larger than any real
//! input. Reading goes through here so that each of those fails at once with the path and a
//! hint, instead of exhausting memory.

use std::io::Read;
use std::path::Path;

/// The largest ISA description or assembly source file read (16 MiB).
pub const MAX_SOURCE_BYTES: u64 = 16 << 20;

/// The largest image or witness file read (256 MiB): a full 2^21-word memory written as JSON
/// numbers fits well within it.
pub const MAX_DATA_BYTES: u64 = 256 << 20;

/// Why an input file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The operating system refused (missing file, no permission, ...).
    #[error("Cannot read {path}: {source}\n  hint: check that the path exists and is readable")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A directory, device, pipe or socket.
    #[error("Cannot read {path}: not a regular file\n  hint: {}", HINT_NOT_A_FILE)]
    NotAFile {
        /// The path.
        path: String,
    },
    /// More bytes than the limit for this kind of input.
    #[error("Cannot read {path}: larger than {limit} bytes\n  hint: {}", hint_too_large(*.limit))]
    TooLarge {
        /// The path.
        path: String,
        /// The limit that was passed.
        limit: u64,
    },
    /// Bytes that are not UTF-8 text.
    #[error("Cannot read {path}: not UTF-8 text\n  hint: {}", HINT_NOT_UTF8)]
    NotUtf8 {
        /// The path.
        path: String,
    },
}

const HINT_NOT_A_FILE: &str = "give the path of a file, not of a directory or device";
const HINT_NOT_UTF8: &str = "inputs are text files (sources, descriptions, JSON)";

fn hint_too_large(limit: u64) -> String {
    format!(
        "inputs are limited to {} MiB; is this the right file?",
        limit >> 20
    )
}

impl ReadError {
    /// The path that could not be read.
    pub fn path(&self) -> &str {
        match self {
            ReadError::Io { path, .. }
            | ReadError::NotAFile { path }
            | ReadError::TooLarge { path, .. }
            | ReadError::NotUtf8 { path } => path,
        }
    }

    /// What is wrong, without the path: for errors that name the file themselves, such as a
    /// located "cannot include" message.
    pub fn reason(&self) -> String {
        match self {
            ReadError::Io { source, .. } => source.to_string(),
            ReadError::NotAFile { .. } => "not a regular file".into(),
            ReadError::TooLarge { limit, .. } => format!("larger than {limit} bytes"),
            ReadError::NotUtf8 { .. } => "not UTF-8 text".into(),
        }
    }

    /// How to fix it.
    pub fn hint(&self) -> String {
        match self {
            ReadError::Io { .. } => "check that the path exists and is readable".into(),
            ReadError::NotAFile { .. } => HINT_NOT_A_FILE.into(),
            ReadError::TooLarge { limit, .. } => hint_too_large(*limit),
            ReadError::NotUtf8 { .. } => HINT_NOT_UTF8.into(),
        }
    }
}

/// Reads an ISA description or assembly source: a regular file of at most
/// [`MAX_SOURCE_BYTES`] of UTF-8 text.
pub fn read_source(path: &Path) -> Result<String, ReadError> {
    read_text(path, MAX_SOURCE_BYTES)
}

/// Reads a regular file of at most `limit` bytes of UTF-8 text. The file type is checked
/// before opening (opening a FIFO would block), and the read stops one byte past the limit,
/// so a file that grows or lies about its size cannot get further.
pub fn read_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    let name = || path.display().to_string();
    let io = |source| ReadError::Io {
        path: name(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(ReadError::NotAFile { path: name() });
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge {
            path: name(),
            limit,
        });
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit.saturating_add(1)).read_to_end(&mut bytes))
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge {
            path: name(),
            limit,
        });
    }
    String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8 { path: name() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_refused_without_reading_it() {
        let e = read_source(Path::new("/dev/zero")).err();
        assert!(matches!(e, Some(ReadError::NotAFile { .. })), "{e:?}");
        let text = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.contains("/dev/zero") && text.contains("hint:"),
            "{text}"
        );
    }

    #[test]
    fn a_directory_is_refused() {
        let e = read_source(Path::new(env!("CARGO_MANIFEST_DIR"))).err();
        assert!(matches!(e, Some(ReadError::NotAFile { .. })), "{e:?}");
    }

    #[test]
    fn the_limit_is_exact() {
        let dir = std::env::temp_dir().join(format!("pgvm-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("ten.txt");
        std::fs::write(&path, "0123456789").expect("write");
        assert_eq!(read_text(&path, 10).ok().as_deref(), Some("0123456789"));
        let e = read_text(&path, 9).err();
        assert!(
            matches!(e, Some(ReadError::TooLarge { limit: 9, .. })),
            "{e:?}"
        );
        std::fs::write(&path, [0xff, 0xfe]).expect("write");
        assert!(matches!(
            read_text(&path, 10),
            Err(ReadError::NotUtf8 { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let e = read_source(Path::new("/nonexistent/pgvm/x.isa")).err();
        assert_eq!(
            e.as_ref().map(ReadError::path),
            Some("/nonexistent/pgvm/x.isa")
        );
    }
}
