//! Memory images: what the assembler produces and the machine loads.
//!
//! An image is a list of segments (words at an origin) plus the entry PSW. On disk it is JSON
//! (see `docs/image-format.md`). Reading an image validates everything the loader relies on,
//! so that a bad file is reported at its `line:col` instead of misbehaving later.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use pgvm_isa::Mode;
use pgvm_machine::{MAX_WORDS, Machine, Psw, PswError, REG_MAX, StateView};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// The `format` tag every image file carries.
pub const FORMAT_TAG: &str = "pgvm-image";
/// The image format version this crate reads and writes.
pub const FORMAT_VERSION: u64 = 1;

/// Separates a message from its hint inside a serde error, so that validation done during
/// deserialization (where serde_json still knows the line and column) can carry a hint.
const HINT_SEP: &str = "\n  hint: ";

/// A memory image: the words to load and the PSW to start with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// The ISA profile the program was assembled for.
    pub isa: String,
    /// Where that profile's description is, when it is not a built-in: relative to the image
    /// file's directory, or absolute. Images that predate it, or whose ISA is built in, have
    /// `None`.
    pub isa_path: Option<String>,
    /// The initial PSW.
    pub entry: Entry,
    /// The words, by segment. Segments never overlap; they are kept in source order.
    pub segments: Vec<Segment>,
}

/// The initial PSW `<M, P, R>` of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The mode, written `"super"` or `"user"`.
    #[serde(with = "mode_name")]
    pub mode: Mode,
    /// The program counter, relative to `l`.
    #[serde(deserialize_with = "de_reg")]
    pub p: u64,
    /// The relocation.
    #[serde(deserialize_with = "de_reg")]
    pub l: u64,
    /// The bounds; `None` means all of memory from `l` (`q - l`, known only at load time).
    #[serde(default, deserialize_with = "de_opt_reg")]
    pub b: Option<u64>,
}

/// Consecutive words starting at physical address `org`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// The physical address of the first word.
    pub org: u64,
    /// The words.
    pub words: Vec<u64>,
}

/// Everything that can go wrong reading or loading an image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A malformed or invalid image file, located in its text.
    #[error("{file}:{line}:{col}: {message}\n  hint: {hint}")]
    Json {
        /// The file (or name) the text came from.
        file: String,
        /// 1-based line.
        line: usize,
        /// Column (as serde_json counts it).
        col: usize,
        /// What is wrong.
        message: String,
        /// How to fix it.
        hint: String,
    },
    /// The file could not be read (missing, not a regular file, too large, not text).
    #[error(transparent)]
    Io(#[from] pgvm_isa::ReadError),
    /// The image does not fit in the machine.
    #[error("Image needs {needs} words, machine has {q}\n  hint: --mem {needs}")]
    TooLarge {
        /// One past the highest address the image uses.
        needs: u64,
        /// The machine's memory size.
        q: u64,
    },
    /// The entry's relocation leaves no window (`b` = all of memory from `l` is empty).
    #[error("Entry relocation l = {l} leaves no memory in a machine of {q} words\n  hint: --mem {}", l.saturating_add(1))]
    NoWindow {
        /// The entry's relocation.
        l: u64,
        /// The machine's memory size.
        q: u64,
    },
    /// The entry PSW does not fit its registers.
    #[error("Entry PSW cannot be encoded: {0}\n  hint: P, l and b are 21-bit registers")]
    Psw(PswError),
}

impl Image {
    /// The image as pretty JSON in the documented format (`docs/image-format.md`). Words are
    /// written several to a line so that large images stay readable.
    pub fn to_json(&self) -> String {
        let mut s = String::new();
        let isa = serde_json::to_string(&self.isa).unwrap_or_else(|_| "\"\"".to_string());
        let b = self.entry.b.map_or("null".to_string(), |b| b.to_string());
        let isa_path = self.isa_path.as_ref().map_or(String::new(), |p| {
            let p = serde_json::to_string(p).unwrap_or_else(|_| "\"\"".to_string());
            format!("\n  \"isa_path\": {p},")
        });
        let _ = write!(
            s,
            "{{\n  \"format\": \"{FORMAT_TAG}\",\n  \"version\": {FORMAT_VERSION},\n  \"isa\": {isa},{isa_path}\n  \
             \"entry\": {{\"mode\": \"{}\", \"p\": {}, \"l\": {}, \"b\": {b}}},\n  \"segments\": [",
            self.entry.mode.name(),
            self.entry.p,
            self.entry.l,
        );
        for (i, seg) in self.segments.iter().enumerate() {
            let _ = write!(s, "\n    {{\"org\": {}, \"words\": [", seg.org);
            for (j, chunk) in seg.words.chunks(4).enumerate() {
                let line: Vec<String> = chunk.iter().map(u64::to_string).collect();
                let comma = if (j + 1) * 4 < seg.words.len() {
                    ","
                } else {
                    ""
                };
                let _ = write!(s, "\n      {}{comma}", line.join(", "));
            }
            let comma = if i + 1 < self.segments.len() { "," } else { "" };
            let _ = write!(s, "\n    ]}}{comma}");
        }
        if !self.segments.is_empty() {
            s.push_str("\n  ");
        }
        s.push_str("]\n}\n");
        s
    }

    /// Parses and validates an image. `file` names the text in errors.
    pub fn from_json(file: &str, text: &str) -> Result<Image, ImageError> {
        let wire: WireImage = serde_json::from_str(text).map_err(|e| json_error(file, &e))?;
        Ok(Image {
            isa: wire.isa,
            isa_path: wire.isa_path,
            entry: wire.entry,
            segments: wire.segments,
        })
    }

    /// Reads and validates an image file.
    pub fn read(path: &Path) -> Result<Image, ImageError> {
        let text = pgvm_isa::read_text(path, pgvm_isa::MAX_DATA_BYTES)?;
        Image::from_json(&path.display().to_string(), &text)
    }

    /// Notes where `isa` was read from, for the image about to be written at `image_path`, so
    /// that the image can find its ISA again: nothing for a built-in profile; the path
    /// relative to the image's directory when the description is in it or below; else the
    /// absolute path.
    pub fn record_isa_path(&mut self, isa: &pgvm_isa::Isa, image_path: &Path) {
        if pgvm_isa::is_builtin(isa) {
            self.isa_path = None;
            return;
        }
        let file = std::fs::canonicalize(&isa.file).unwrap_or_else(|_| isa.file.clone().into());
        let dir = image_path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let relative = std::fs::canonicalize(dir)
            .ok()
            .and_then(|d| file.strip_prefix(d).ok().map(Path::to_path_buf));
        self.isa_path = Some(relative.unwrap_or(file).display().to_string());
    }

    /// One past the highest address used: the smallest memory the image fits in.
    pub fn size(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| s.org.saturating_add(s.words.len() as u64))
            .max()
            .unwrap_or(0)
    }

    /// The PSW the program starts from on a machine (or in a VM) of `q` words: the entry as
    /// written, with an unstated bound `b` meaning "to the end of memory", `q - l`. The one
    /// rule every runner (bare machine, VM, equivalence checker) uses.
    pub fn entry_psw(&self, q: u64) -> Result<Psw, ImageError> {
        let Entry { mode, p, l, b } = self.entry;
        let b = match b {
            Some(b) => b,
            None => q
                .checked_sub(l)
                .filter(|&b| b > 0)
                .ok_or(ImageError::NoWindow { l, q })?,
        };
        Psw::new(mode, p, l, b).map_err(ImageError::Psw)
    }

    /// Writes the segments into the machine and sets its PSW from the entry (`b` absent means
    /// `q - l`). Checks everything first, so that on error the machine is unchanged.
    pub fn load_into<E: pgvm_machine::Engine>(&self, m: &mut Machine<E>) -> Result<(), ImageError> {
        let q = m.memory().len() as u64;
        let needs = self.size();
        if needs > q {
            return Err(ImageError::TooLarge { needs, q });
        }
        let psw = self.entry_psw(q)?;
        for seg in &self.segments {
            m.write(seg.org, &seg.words)
                .map_err(|_| ImageError::TooLarge { needs, q })?;
        }
        m.set_psw(psw);
        Ok(())
    }
}

/// Turns a serde_json error into a located [`ImageError`], splitting off a hint that a
/// validator embedded in the message.
fn json_error(file: &str, e: &serde_json::Error) -> ImageError {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = full.strip_suffix(&suffix).unwrap_or(&full);
    let (message, hint) = match msg.split_once(HINT_SEP) {
        Some((m, h)) => (m.to_string(), h.to_string()),
        None => {
            let hint = match e.classify() {
                serde_json::error::Category::Syntax => "the file is not valid JSON",
                serde_json::error::Category::Eof => {
                    "the JSON ends too early; is the file truncated?"
                }
                _ => {
                    "an image is {\"format\": \"pgvm-image\", \"version\": 1, \"isa\": ..., \
                     \"entry\": {...}, \"segments\": [...]}; see docs/image-format.md"
                }
            };
            (msg.to_string(), hint.to_string())
        }
    };
    ImageError::Json {
        file: file.to_string(),
        line: e.line(),
        col: e.column(),
        message,
        hint: hint.to_string(),
    }
}

/// The file as read: the tag and version are checked and dropped.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireImage {
    #[serde(rename = "format", deserialize_with = "de_format")]
    _format: (),
    #[serde(rename = "version", deserialize_with = "de_version")]
    _version: (),
    #[serde(deserialize_with = "de_isa")]
    isa: String,
    #[serde(default, deserialize_with = "de_isa_path")]
    isa_path: Option<String>,
    entry: Entry,
    #[serde(deserialize_with = "de_segments")]
    segments: Vec<Segment>,
}

fn hinted<E: de::Error>(message: String, hint: &str) -> E {
    E::custom(format!("{message}{HINT_SEP}{hint}"))
}

fn de_format<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    let tag = String::deserialize(d)?;
    if tag != FORMAT_TAG {
        return Err(hinted(
            format!("not a pgvm image: format is `{tag}`"),
            &format!("an image file starts with \"format\": \"{FORMAT_TAG}\""),
        ));
    }
    Ok(())
}

fn de_version<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    let v = u64::deserialize(d)?;
    if v != FORMAT_VERSION {
        return Err(hinted(
            format!("unsupported image version {v}"),
            &format!("this pgvm reads version {FORMAT_VERSION}; reassemble the program"),
        ));
    }
    Ok(())
}

fn de_isa<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let name = String::deserialize(d)?;
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        return Err(hinted(
            format!("invalid ISA name {name:?}"),
            "ISA names are letters, digits, `_` and `-`, such as \"s370\"",
        ));
    }
    Ok(name)
}

fn de_isa_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let path = String::deserialize(d)?;
    if path.is_empty() {
        return Err(hinted(
            "`isa_path` is empty".to_string(),
            "leave `isa_path` out for a built-in profile",
        ));
    }
    Ok(Some(path))
}

fn de_reg<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = u64::deserialize(d)?;
    check_reg(v)
}

fn de_opt_reg<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Option::<u64>::deserialize(d)?.map(check_reg).transpose()
}

fn check_reg<E: de::Error>(v: u64) -> Result<u64, E> {
    if v > REG_MAX {
        return Err(hinted(
            format!("entry value {v} does not fit in 21 bits"),
            &format!("P, l and b are 21-bit registers: each must be 0..={REG_MAX}"),
        ));
    }
    Ok(v)
}

fn de_segments<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Segment>, D::Error> {
    d.deserialize_seq(SegmentsVisitor)
}

/// Reads the segment list. Each segment is checked inside its own object's visitor, so that
/// serde_json places the error right after the offending segment rather than at the end of
/// the list.
struct SegmentsVisitor;

impl<'de> Visitor<'de> for SegmentsVisitor {
    type Value = Vec<Segment>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of segments")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Segment>, A::Error> {
        let mut out: Vec<Segment> = Vec::new();
        let mut seen = BTreeMap::new();
        while let Some(seg) = seq.next_element_seed(SegmentSeed {
            seen: &mut seen,
            index: out.len(),
        })? {
            out.push(seg);
        }
        Ok(out)
    }
}

/// Origin → (end, index) of the segments read so far.
type Seen = BTreeMap<u64, (u64, usize)>;

/// Reads segment number `index`, checking it against the segments before it.
struct SegmentSeed<'a> {
    seen: &'a mut Seen,
    index: usize,
}

impl<'de> de::DeserializeSeed<'de> for SegmentSeed<'_> {
    type Value = Segment;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Segment, D::Error> {
        d.deserialize_struct("Segment", &["org", "words"], self)
    }
}

impl<'de> Visitor<'de> for SegmentSeed<'_> {
    type Value = Segment;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a segment {\"org\": N, \"words\": [...]}")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Segment, A::Error> {
        let mut org: Option<u64> = None;
        let mut words: Option<Vec<u64>> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "org" if org.is_some() => return Err(de::Error::duplicate_field("org")),
                "words" if words.is_some() => return Err(de::Error::duplicate_field("words")),
                "org" => org = Some(map.next_value()?),
                "words" => words = Some(map.next_value()?),
                other => return Err(de::Error::unknown_field(other, &["org", "words"])),
            }
        }
        let org = org.ok_or_else(|| de::Error::missing_field("org"))?;
        let words = words.ok_or_else(|| de::Error::missing_field("words"))?;
        let i = self.index;
        let len = words.len() as u64;
        if len == 0 {
            return Err(hinted(
                format!("segment {i} has no words"),
                "drop it: every segment holds at least one word",
            ));
        }
        let end = org
            .checked_add(len)
            .filter(|&e| e <= MAX_WORDS)
            .ok_or_else(|| {
                hinted::<A::Error>(
                    format!("segment {i} ({len} words at {org:#x}) ends beyond the largest memory"),
                    &format!("every address must be below {MAX_WORDS:#x}"),
                )
            })?;
        if let Some((&other, &(oend, j))) = self.seen.range(..end).next_back()
            && oend > org
        {
            return Err(hinted(
                format!(
                    "segment {i} ({org:#x}..{end:#x}) overlaps segment {j} ({other:#x}..{oend:#x})"
                ),
                "segments must not overlap",
            ));
        }
        self.seen.insert(org, (end, i));
        Ok(Segment { org, words })
    }
}

/// Serializes a [`Mode`] by its short name, `"super"` or `"user"`, the names the assembler
/// uses (`Mode`'s own serialization says `"supervisor"`).
mod mode_name {
    use pgvm_isa::Mode;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(m: &Mode, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(m.name())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Mode, D::Error> {
        let name = String::deserialize(d)?;
        match name.as_str() {
            "super" => Ok(Mode::Supervisor),
            "user" => Ok(Mode::User),
            _ => Err(super::hinted(
                format!("unknown mode {name:?}"),
                "the mode is \"super\" or \"user\"",
            )),
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn sample() -> Image {
        Image {
            isa: "s370".to_string(),
            isa_path: None,
            entry: Entry {
                mode: Mode::User,
                p: 16,
                l: 0,
                b: Some(100),
            },
            segments: vec![
                Segment {
                    org: 0,
                    words: vec![0, u64::MAX, 1, 2, 3],
                },
                Segment {
                    org: 0x40,
                    words: vec![7],
                },
            ],
        }
    }

    fn json_err(text: &str) -> (usize, usize, String, String) {
        match Image::from_json("img.json", text) {
            Err(ImageError::Json {
                line,
                col,
                message,
                hint,
                ..
            }) => (line, col, message, hint),
            other => panic!("expected a located error, got {other:?}"),
        }
    }

    fn machine(q: u64) -> Machine {
        match Machine::new(pgvm_testkit::isa("s370"), q) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn json_round_trips() {
        for img in [
            sample(),
            Image {
                isa: "ia32-vt".into(),
                isa_path: Some("../profiles/my \"toy\".isa".into()),
                entry: Entry {
                    mode: Mode::Supervisor,
                    p: 0,
                    l: 0,
                    b: None,
                },
                segments: vec![],
            },
        ] {
            let text = img.to_json();
            match Image::from_json("x", &text) {
                Ok(back) => assert_eq!(back, img, "{text}"),
                Err(e) => panic!("{e}\n{text}"),
            }
        }
    }

    #[test]
    fn json_has_the_documented_shape() {
        let text = sample().to_json();
        let v: serde_json::Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(v["format"], "pgvm-image");
        assert_eq!(v["version"], 1);
        assert_eq!(v["entry"]["mode"], "user");
        assert_eq!(v["segments"][1]["org"], 0x40);
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn missing_b_means_none() {
        let text = r#"{"format":"pgvm-image","version":1,"isa":"s370","entry":{"mode":"super","p":16,"l":0},"segments":[]}"#;
        match Image::from_json("x", text) {
            Ok(img) => assert_eq!(img.entry.b, None),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn malformed_json_is_located() {
        let (line, col, _, hint) = json_err("{\n  \"format\": \"pgvm-image\",\n  \"version\" 1\n}");
        assert_eq!((line, col), (3, 13));
        assert!(hint.contains("JSON"), "{hint}");
        let (line, _, _, hint) = json_err("{\"format\":");
        assert_eq!(line, 1);
        assert!(hint.contains("ends too early"), "{hint}");
    }

    #[test]
    fn overlapping_segments_are_refused() {
        let text = "{\"format\":\"pgvm-image\",\"version\":1,\"isa\":\"s370\",\n\"entry\":{\"mode\":\"super\",\"p\":0,\"l\":0,\"b\":null},\n\"segments\":[\n{\"org\":10,\"words\":[1,2,3]},\n{\"org\":0,\"words\":[1,2,3,4,5,6,7,8,9,10,11]}\n]}";
        let (line, _, message, hint) = json_err(text);
        assert_eq!(line, 5);
        assert!(message.contains("overlaps segment 0"), "{message}");
        assert!(hint.contains("overlap"), "{hint}");
        let adjacent = text.replace("10,11]", "10]");
        assert!(Image::from_json("x", &adjacent).is_ok());
    }

    #[test]
    fn bad_version_and_format_are_refused() {
        let (line, col, message, hint) =
            json_err("{\"format\":\"pgvm-image\",\n \"version\": 2,\n \"isa\":\"s370\"}");
        assert_eq!((line, col), (2, 13));
        assert_eq!(message, "unsupported image version 2");
        assert!(hint.contains("version 1"), "{hint}");
        let (_, _, message, _) = json_err("{\"format\":\"elf\"}");
        assert!(message.contains("not a pgvm image"), "{message}");
    }

    #[test]
    fn semantic_problems_are_refused() {
        let base = sample().to_json();
        for (from, to, needle) in [
            ("\"p\": 16", "\"p\": 2097152", "21 bits"),
            (
                "\"mode\": \"user\"",
                "\"mode\": \"supervisor\"",
                "unknown mode",
            ),
            (
                "\"isa\": \"s370\"",
                "\"isa\": \"s 370\"",
                "invalid ISA name",
            ),
            (
                "\"org\": 64",
                "\"org\": 2097151",
                "beyond the largest memory",
            ),
            ("\"org\": 64", "\"org\": 18446744073709551615", "beyond"),
            (
                "\"org\": 64, \"words\": [\n      7\n    ]",
                "\"org\": 64, \"words\": []",
                "no words",
            ),
            (
                "\"version\": 1,",
                "\"version\": 1, \"extra\": 0,",
                "unknown field",
            ),
            ("\"isa\": \"s370\",", "", "missing field `isa`"),
            ("\"org\": 64", "\"org\": -1", "invalid value"),
        ] {
            assert!(base.contains(from), "{from}");
            let text = base.replace(from, to);
            let (line, _, message, _) = json_err(&text);
            assert!(line > 0, "{message}");
            assert!(message.contains(needle), "{needle}: {message}");
        }
    }

    #[test]
    fn error_display_has_location_and_hint() {
        match Image::from_json("f.json", "[") {
            Err(e) => {
                let s = e.to_string();
                assert!(s.starts_with("f.json:1:"), "{s}");
                assert!(s.contains("\n  hint: "), "{s}");
            }
            Ok(_) => panic!("`[` is not an image"),
        }
    }

    #[test]
    fn read_reports_io_errors() {
        assert!(matches!(
            Image::read(Path::new("/nonexistent/pgvm/img.json")),
            Err(ImageError::Io { .. })
        ));
    }

    #[test]
    fn read_refuses_devices_and_directories() {
        for path in ["/dev/zero", "/"] {
            match Image::read(Path::new(path)) {
                Err(ImageError::Io(e)) => {
                    assert!(matches!(e, pgvm_isa::ReadError::NotAFile { .. }), "{e}")
                }
                other => panic!("{path}: expected a read error, got {other:?}"),
            }
        }
    }

    #[test]
    fn size_is_one_past_the_highest_address() {
        assert_eq!(sample().size(), 0x41);
        let mut img = sample();
        img.segments.clear();
        assert_eq!(img.size(), 0);
    }

    #[test]
    fn load_into_writes_words_and_psw() {
        let mut m = machine(0x100);
        if let Err(e) = sample().load_into(&mut m) {
            panic!("{e}");
        }
        assert_eq!(&m.memory()[..5], &[0, u64::MAX, 1, 2, 3]);
        assert_eq!(m.memory()[0x40], 7);
        let psw = m.psw();
        assert_eq!(
            (psw.mode, psw.p, psw.r.l, psw.r.b),
            (Mode::User, 16, 0, 100)
        );
    }

    #[test]
    fn load_into_fills_in_b_from_memory_size() {
        let mut img = sample();
        img.entry.b = None;
        img.entry.l = 0x10;
        let mut m = machine(0x100);
        if let Err(e) = img.load_into(&mut m) {
            panic!("{e}");
        }
        assert_eq!(m.psw().r.b, 0xf0);
        img.entry.l = 0x100;
        assert!(matches!(
            img.load_into(&mut m),
            Err(ImageError::NoWindow { l: 0x100, q: 0x100 })
        ));
    }

    #[test]
    fn load_into_refuses_images_larger_than_memory() {
        let mut m = machine(0x20);
        match sample().load_into(&mut m) {
            Err(
                e @ ImageError::TooLarge {
                    needs: 0x41,
                    q: 0x20,
                },
            ) => {
                assert!(e.to_string().contains("--mem 65"), "{e}");
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        assert!(
            m.memory().iter().all(|&w| w == 0),
            "nothing written on error"
        );
    }

    #[test]
    fn load_into_refuses_unencodable_entries() {
        let mut img = sample();
        img.entry.p = REG_MAX + 1;
        let mut m = machine(0x100);
        assert!(matches!(img.load_into(&mut m), Err(ImageError::Psw(_))));
        img.entry.p = 0;
        img.entry.l = u64::MAX;
        img.entry.b = None;
        assert!(img.load_into(&mut m).is_err());
        let _ = img.load_into(&mut m).map_err(|e| e.to_string());
    }
}
