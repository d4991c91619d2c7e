//! Arbitrary UTF-8 as an image file: `Image::from_json` must return an image or an error,
//! never panic; an accepted image must disassemble and survive its own JSON round trip.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pgvm_asm::Image;
use pgvm_isa::Isa;

fn isa() -> Option<&'static Isa> {
    static ISA: OnceLock<Option<Isa>> = OnceLock::new();
    ISA.get_or_init(|| pgvm_isa::load("s370").ok()).as_ref()
}

fuzz_target!(|text: &str| {
    let Some(isa) = isa() else { return };
    if let Ok(image) = Image::from_json("fuzz.json", text) {
        let _ = pgvm_asm::disassemble(&image, isa);
        let again = Image::from_json("again.json", &image.to_json());
        assert!(
            again.as_ref().ok() == Some(&image),
            "image JSON does not round-trip"
        );
    }
});
