//! Every example in `docs/` is tested. Fenced blocks carry an info string: ```` ```isa ````
//! blocks must parse as ISA descriptions (`extends` may name built-ins), ```` ```asm ````
//! blocks must assemble for the ISA their `.isa` line names, the image example must read as
//! an image and the witness example must replay as claimed. A block with no info string is
//! an error, so that a new example cannot slip by untested.

use std::path::PathBuf;

/// A fenced block: file, line of the opening fence, info string, text.
struct Block {
    file: String,
    line: usize,
    info: String,
    text: String,
}

fn docs() -> Vec<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("docs/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    files
}

fn blocks() -> Vec<Block> {
    let mut out = Vec::new();
    for path in docs() {
        let name = format!(
            "docs/{}",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        let text = std::fs::read_to_string(&path).expect("readable");
        let mut open: Option<Block> = None;
        // Fences may be indented (inside a list item); the block's lines lose that indent.
        let mut indent = 0;
        for (i, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            let Some(info) = trimmed.strip_prefix("```") else {
                if let Some(b) = open.as_mut() {
                    let cut = line.len() - line.trim_start().len();
                    b.text.push_str(&line[cut.min(indent)..]);
                    b.text.push('\n');
                }
                continue;
            };
            match open.take() {
                Some(b) => out.push(b),
                None => {
                    indent = line.len() - trimmed.len();
                    open = Some(Block {
                        file: name.clone(),
                        line: i + 1,
                        info: info.trim().to_string(),
                        text: String::new(),
                    })
                }
            }
        }
        assert!(open.is_none(), "{name}: unclosed code block");
    }
    out
}

#[test]
fn every_block_says_what_it_is() {
    let blocks = blocks();
    assert!(blocks.len() >= 10, "only {} blocks found", blocks.len());
    for b in &blocks {
        assert!(
            !b.info.is_empty(),
            "{}:{}: a code block needs an info string (isa, asm, json, sh or text)",
            b.file,
            b.line
        );
    }
}

#[test]
fn isa_examples_parse() {
    let mut n = 0;
    for b in blocks().iter().filter(|b| b.info == "isa") {
        let name = format!("{}:{}", b.file, b.line);
        if let Err(e) = pgvm_isa::parse_str(&name, &b.text) {
            panic!("{name}: the example does not parse:\n{e}");
        }
        n += 1;
    }
    assert!(n >= 1, "no ISA examples found");
}

#[test]
fn asm_examples_assemble() {
    let mut n = 0;
    for b in blocks().iter().filter(|b| b.info == "asm") {
        let name = format!("{}:{}", b.file, b.line);
        let declared = pgvm_asm::declared_isa(&b.text)
            .unwrap_or_else(|| panic!("{name}: an asm example names its ISA with `.isa`"));
        let isa = pgvm_isa::load(&declared).unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Err(e) = pgvm_asm::assemble_str(&name, &b.text, &isa) {
            panic!("{name}: the example does not assemble:\n{e}");
        }
        n += 1;
    }
    assert!(n >= 3, "only {n} assembly examples found");
}

#[test]
fn the_image_example_reads() {
    let examples: Vec<Block> = blocks()
        .into_iter()
        .filter(|b| b.file == "docs/image-format.md" && b.info == "json")
        .collect();
    assert!(!examples.is_empty(), "no image example found");
    for b in examples {
        let name = format!("{}:{}", b.file, b.line);
        if let Err(e) = pgvm_asm::Image::from_json(&name, &b.text) {
            panic!("{name}: the example is not an image:\n{e}");
        }
    }
}

#[test]
fn the_witness_example_replays_as_claimed() {
    let examples: Vec<Block> = blocks()
        .into_iter()
        .filter(|b| b.file == "docs/classification.md" && b.info == "json")
        .collect();
    assert!(!examples.is_empty(), "no witness example found");
    for b in examples {
        let name = format!("{}:{}", b.file, b.line);
        let file = pgvm_classify::WitnessFile::parse(&name, &b.text)
            .unwrap_or_else(|e| panic!("{name}: not a witness file:\n{e}"));
        assert!(!file.witnesses.is_empty(), "{name}: no witnesses");
        for (k, w) in file.witnesses.iter().enumerate() {
            let isa = w.load_isa().unwrap_or_else(|e| panic!("{name}: {e}"));
            let r = pgvm_classify::replay(&isa, w, k).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                r.confirmed,
                "{name}: witness {k} does not replay as claimed"
            );
        }
    }
}
