//! Builds the list of sample guests (`guests/**/*.s`) that the binary embeds, so that
//! `pgvm tour` runs from an installed binary, away from the source tree. The files themselves
//! are embedded with `include_str!`, which also makes Cargo rebuild when one changes; the
//! directory is watched for files added or removed.

use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let guests = manifest.join("../../guests");
    println!("cargo::rerun-if-changed={}", guests.display());
    let mut files = Vec::new();
    collect(&guests, Path::new(""), &mut files);
    files.sort();
    let mut out = String::from("&[\n");
    for rel in &files {
        out += &format!(
            "    ({rel:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/../../guests/\", {rel:?}))),\n"
        );
    }
    out += "]\n";
    let dest = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("guests.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        panic!("cannot write {}: {e}", dest.display());
    }
}

/// The `.s` files under `dir`, as `/`-separated paths relative to the top.
fn collect(dir: &Path, rel: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = rel.join(entry.file_name());
        if path.is_dir() {
            collect(&path, &name, out);
        } else if path.extension().is_some_and(|e| e == "s") {
            let parts: Vec<String> = name
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(parts.join("/"));
        }
    }
}
