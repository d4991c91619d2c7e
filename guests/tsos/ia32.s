; tsos for ia32, the Intel Pentium analogue (SGDT, PUSHF, POPF, ... unprivileged).
; The common kernel, the ia32 pieces, and the standard process set.

        .isa     ia32
        .include "kernel.s"
        .include "arch/ia32.s"

arch_name: .stringz "ia32"

        .include "arch/ia32-classes.s"
        .include "procs.s"
