; tsos for m68010, the Motorola MC68010 analogue (MOVE from SR privileged).
; The common kernel, the m68k pieces, and the standard process set.

        .isa     m68010
        .include "kernel.s"
        .include "arch/m68k.s"

arch_name: .stringz "m68010"

; Trap classes of this profile's own opcodes, 0x40..0x7f: movesr and
; movetosr privileged, moveccr unprivileged.
k_class_hi:
        .word    C_PRIV, C_PRIV, C_PLAIN
        .space   61
        .include "procs.s"
