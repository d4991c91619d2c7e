; tsos for ia32, the Intel Pentium analogue (SGDT, PUSHF, POPF, ... unprivileged).
; The common kernel, the ia32 pieces, and the standard process set.

        .isa     ia32
        .include "kernel.s"
        .include "arch/ia32.s"

arch_name: .stringz "ia32"

; Trap classes of this profile's own opcodes, 0x40..0x7f: sgdt sidt
; sldt str smsw pushf popf rdtsc unprivileged, lgdt lidt lmsw privileged.
k_class_hi:
        .word    C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN
        .word    C_PRIV, C_PRIV, C_PRIV
        .space   53
        .include "procs.s"
