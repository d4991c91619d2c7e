; tsos for pdp10, the DEC PDP-10 analogue (JRST 1 unprivileged).
; The common kernel, the pdp10 pieces, and the standard process set.

        .isa     pdp10
        .include "kernel.s"
        .include "arch/pdp10.s"

arch_name: .stringz "pdp10"

; Trap classes of this profile's own opcodes, 0x40..0x7f: jrstu jrstf jsp, all
; unprivileged.
k_class_hi:
        .word    C_PLAIN, C_PLAIN, C_PLAIN
        .space   61
        .include "procs.s"
