; tsos for s370, the IBM System/370 analogue (every sensitive instruction privileged).
; The common kernel, the S/370 pieces, and the standard process set.

        .isa     s370
        .include "kernel.s"
        .include "arch/s370.s"

arch_name: .stringz "s370"

; Trap classes of this profile's own opcodes, 0x40..0x7f: lra stctl lctl stidp, privileged.
k_class_hi:
        .word    C_PRIV, C_PRIV, C_PRIV, C_PRIV
        .space   60

        .include "procs.s"
