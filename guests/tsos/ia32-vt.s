; tsos for ia32-vt, IA-32 with a VT-x-like assist, which this kernel leaves off.
; The common kernel, the ia32 pieces, and the standard process set.

        .isa     ia32-vt
        .include "kernel.s"
        .include "arch/ia32.s"

arch_name: .stringz "ia32-vt"

; Trap classes of this profile's own opcodes, 0x40..0x7f: as in
; ia32 (the critical ones trap only with the assist on), plus vmxon and vmxoff privileged.
k_class_hi:
        .word    C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN
        .word    C_PRIV, C_PRIV, C_PRIV
        .space   5
        .word    C_PRIV, C_PRIV
        .space   46
        .include "procs.s"
