//! How an error reaches the user: plain `error: file:line:col: message` + `hint:` text when
//! stderr is not a terminal (scripts and tests read it), a miette report with the source line
//! and a caret on a terminal (in colour unless `NO_COLOR` is set), and one JSON object under
//! `--json`.
//!
//! Every library error arrives as an `anyhow::Error`; its chain is walked once here. Causes
//! whose text an outer message already contains are dropped, so an OS error that a library
//! both prints and returns as `source()` shows once.

use std::io::Read;

use serde::Serialize;

/// Source files larger than this are not read back for the snippet.
const MAX_SNIPPET_SOURCE: u64 = 16 << 20;

/// Where an error is, as far as it is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The file (or built-in profile name).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<u32>,
    /// 1-based column, when known.
    pub col: Option<u32>,
}

/// An error, taken apart for rendering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// What went wrong, without the location and the hint.
    pub message: String,
    /// Where, when known.
    pub location: Option<Location>,
    /// How to fix it, when known.
    pub hint: Option<String>,
    /// The whole chain as one text (the plain rendering, without `error: `).
    #[serde(skip)]
    pub plain: String,
}

fn located(file: &str, line: usize, col: usize) -> Location {
    Location {
        file: file.to_string(),
        line: u32::try_from(line).ok(),
        col: u32::try_from(col).ok(),
    }
}

/// The structured parts of the library errors that carry them: location, bare message, hint.
fn structured(
    e: &(dyn std::error::Error + 'static),
) -> Option<(Location, Option<String>, Option<String>)> {
    if let Some(e) = e.downcast_ref::<pgvm_isa::IsaError>() {
        return match e {
            pgvm_isa::IsaError::Source {
                origin,
                message,
                hint,
            } => Some((
                located(&origin.file, origin.line as usize, origin.col as usize),
                Some(message.clone()),
                Some(hint.clone()),
            )),
            pgvm_isa::IsaError::Io(r) => Some((file_only(r.path()), None, None)),
            _ => None,
        };
    }
    if let Some(e) = e.downcast_ref::<pgvm_asm::AsmError>() {
        return match e {
            pgvm_asm::AsmError::Source {
                origin,
                message,
                hint,
            } => Some((
                located(&origin.file, origin.line as usize, origin.col as usize),
                Some(message.clone()),
                Some(hint.clone()),
            )),
            pgvm_asm::AsmError::Io(r) => Some((file_only(r.path()), None, None)),
        };
    }
    if let Some(e) = e.downcast_ref::<pgvm_asm::ImageError>() {
        return match e {
            pgvm_asm::ImageError::Json {
                file,
                line,
                col,
                message,
                hint,
            } => Some((
                located(file, *line, *col),
                Some(message.clone()),
                Some(hint.clone()),
            )),
            pgvm_asm::ImageError::Io(r) => Some((file_only(r.path()), None, None)),
            _ => None,
        };
    }
    if let Some(e) = e.downcast_ref::<pgvm_lab::cost::CostError>() {
        return match e {
            pgvm_lab::cost::CostError::Source {
                file,
                line,
                col,
                message,
                hint,
            } => Some((
                located(file, *line, *col),
                Some(message.clone()),
                Some(hint.clone()),
            )),
            pgvm_lab::cost::CostError::Io(r) => Some((file_only(r.path()), None, None)),
        };
    }
    if let Some(r) = e.downcast_ref::<pgvm_isa::ReadError>() {
        return Some((file_only(r.path()), None, None));
    }
    if let Some(e) = e.downcast_ref::<pgvm_classify::WitnessError>() {
        return match e {
            pgvm_classify::WitnessError::Json {
                path,
                line,
                column,
                message,
            } => Some((located(path, *line, *column), Some(message.clone()), None)),
            pgvm_classify::WitnessError::Io(r) => Some((file_only(r.path()), None, None)),
            _ => None,
        };
    }
    None
}

fn file_only(path: &str) -> Location {
    Location {
        file: path.to_string(),
        line: None,
        col: None,
    }
}

/// Splits `text` at its first `\n  hint: `.
fn split_hint(text: &str) -> (&str, Option<&str>) {
    match text.find("\n  hint: ") {
        Some(i) => (&text[..i], Some(&text[i + "\n  hint: ".len()..])),
        None => (text, None),
    }
}

impl Diagnostic {
    /// Takes an error chain apart.
    pub fn of(e: &anyhow::Error) -> Diagnostic {
        let mut plain = String::new();
        let mut parts: Vec<String> = Vec::new();
        let mut location = None;
        let mut hint: Option<String> = None;
        for cause in e.chain() {
            let text = cause.to_string();
            if plain.contains(&text) {
                continue;
            }
            if !plain.is_empty() {
                plain.push_str(": ");
            }
            plain.push_str(&text);
            let (bare, h) = split_hint(&text);
            let mut piece = bare.to_string();
            let mut h = h.map(str::to_string);
            if location.is_none()
                && let Some((loc, message, structured_hint)) = structured(cause)
            {
                if let Some(m) = message {
                    piece = m;
                }
                h = structured_hint.or(h);
                location = Some(loc);
            }
            if hint.is_none() {
                hint = h;
            }
            parts.push(piece);
        }
        Diagnostic {
            message: parts.join(": "),
            location,
            hint,
            plain,
        }
    }

    /// The plain text: `error: ` and the chain, each cause once.
    pub fn plain_text(&self) -> String {
        format!("error: {}", self.plain)
    }

    /// One JSON object: `message`, `location` (`file`, `line`, `col`) and `hint`.
    pub fn json_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            format!(
                "{{\"message\": {:?}, \"location\": null, \"hint\": null}}",
                self.message
            )
        })
    }

    /// A miette report: the message, the source line with a caret when the file can be read,
    /// and the hint; in colour unless `color` is false.
    pub fn fancy_text(&self, color: bool) -> String {
        let theme = if color {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        };
        let report = Report::new(self);
        let mut out = String::new();
        let handler = miette::GraphicalReportHandler::new_themed(theme);
        match handler.render_report(&mut out, &report) {
            Ok(()) => out,
            Err(_) => self.plain_text(),
        }
    }
}

/// What miette renders: the diagnostic and, when its file can be read, the source.
#[derive(Debug)]
struct Report {
    message: String,
    hint: Option<String>,
    source: Option<miette::NamedSource<String>>,
    span: Option<miette::SourceSpan>,
}

impl Report {
    fn new(d: &Diagnostic) -> Report {
        let mut message = d.message.clone();
        let mut source = None;
        let mut span = None;
        if let Some(loc) = &d.location {
            let at = match (loc.line, loc.col) {
                (Some(l), Some(c)) => format!("{}:{l}:{c}", loc.file),
                (Some(l), None) => format!("{}:{l}", loc.file),
                _ => loc.file.clone(),
            };
            if let (Some(line), Some(col)) = (loc.line, loc.col)
                && let Some(text) = read_bounded(&loc.file)
                && let Some(offset) = offset_of(&text, line, col)
            {
                span = Some(miette::SourceSpan::from((offset, 1)));
                source = Some(miette::NamedSource::new(&loc.file, text));
            } else {
                // No snippet to carry the location: the message does.
                message = format!("{at}: {message}");
            }
        }
        Report {
            message,
            hint: d.hint.clone(),
            source,
            span,
        }
    }
}

/// The file's text, if it is a regular file of at most [`MAX_SNIPPET_SOURCE`] bytes of UTF-8.
fn read_bounded(path: &str) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_SNIPPET_SOURCE {
        return None;
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_SNIPPET_SOURCE)
        .read_to_end(&mut bytes)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// The byte offset of 1-based `line`, `col` (columns count characters).
fn offset_of(text: &str, line: u32, col: u32) -> Option<usize> {
    let mut start = 0;
    for _ in 1..line {
        start += text[start..].find('\n')? + 1;
    }
    let this = &text[start..];
    let end = this.find('\n').unwrap_or(this.len());
    let within = this[..end]
        .char_indices()
        .nth(col.saturating_sub(1) as usize)
        .map_or(end, |(i, _)| i);
    Some(start + within)
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.hint
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let span = self.span?;
        Some(Box::new(std::iter::once(
            miette::LabeledSpan::new_with_span(Some("here".into()), span),
        )))
    }
}

/// Whether the error (anywhere in its chain) is a write to a closed pipe.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_in_the_message_prints_once() {
        let io = std::io::Error::new(std::io::ErrorKind::IsADirectory, "Is a directory");
        let e = anyhow::Error::new(pgvm_isa::IsaError::Io(pgvm_isa::ReadError::Io {
            path: "/tmp".into(),
            source: io,
        }));
        let d = Diagnostic::of(&e);
        assert_eq!(
            d.plain_text(),
            "error: Cannot read /tmp: Is a directory\n  hint: check that the path exists and is readable"
        );
        assert_eq!(d.location.map(|l| l.file), Some("/tmp".to_string()));
    }

    #[test]
    fn the_hint_and_location_are_taken_apart() {
        let e = anyhow::anyhow!("--mem 0 is out of range\n  hint: a guest has 1 to 9 words")
            .context("The tour needs x");
        let d = Diagnostic::of(&e);
        assert_eq!(d.message, "The tour needs x: --mem 0 is out of range");
        assert_eq!(d.hint.as_deref(), Some("a guest has 1 to 9 words"));
        assert!(d.location.is_none());
        let v: serde_json::Value = serde_json::from_str(&d.json_text()).expect("json");
        assert_eq!(v["hint"], "a guest has 1 to 9 words");
        assert!(v["location"].is_null());
    }

    #[test]
    fn offsets_count_lines_and_characters() {
        let text = "ab\ncé d\n";
        assert_eq!(offset_of(text, 2, 1), Some(3));
        assert_eq!(offset_of(text, 2, 3), Some(3 + "cé".len()));
        assert_eq!(offset_of(text, 9, 1), None);
    }

    #[test]
    fn the_snippet_has_the_line_and_a_caret() {
        let dir = std::env::temp_dir().join(format!("pgvm-diag-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("bad.s");
        std::fs::write(&path, ".entry start\nstart: frob 1\n").expect("write");
        let d = Diagnostic {
            message: "Unknown mnemonic `frob`".into(),
            location: Some(Location {
                file: path.display().to_string(),
                line: Some(2),
                col: Some(8),
            }),
            hint: Some("see pgvm isa doc".into()),
            plain: String::new(),
        };
        let text = d.fancy_text(false);
        assert!(text.contains("start: frob 1"), "{text}");
        assert!(text.contains("see pgvm isa doc"), "{text}");
        assert!(text.contains('^') || text.contains('┬'), "{text}");
        assert!(!text.contains("\u{1b}["), "no colour: {text}");
    }
}
