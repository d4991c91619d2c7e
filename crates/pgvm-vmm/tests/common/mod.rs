//! Helpers shared by the monitor's integration tests.
//!
//! The testkit stops at the machine's types (it cannot name `Guest` without depending on the
//! monitor), so the one conversion from its programs to the monitor's guests lives here.
#![allow(dead_code)]

use pgvm_testkit::Program;
use pgvm_vmm::Guest;

/// A testkit program as the monitor loads it: one segment at 0 filling the whole window.
pub fn guest(p: Program) -> Guest {
    Guest::whole(p.image, p.entry, p.input)
}
