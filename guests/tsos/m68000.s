; tsos for m68000, the Motorola MC68000 analogue (MOVE from SR unprivileged).
; The common kernel, the m68k pieces, and the standard process set.

        .isa     m68000
        .include "kernel.s"
        .include "arch/m68k.s"

arch_name: .stringz "m68000"

; Trap classes of this profile's own opcodes, 0x40..0x7f: movesr
; unprivileged, movetosr privileged.
k_class_hi:
        .word    C_PLAIN, C_PRIV
        .space   62
        .include "procs.s"
