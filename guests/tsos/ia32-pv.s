; tsos for ia32, paravirtualized: arch/ia32-pv.s asks the hypervisor by hypercall for what
; arch/ia32.s does with SGDT, PUSHF and POPF (docs/paravirt.md). Run it with --monitor pv.
; The common kernel, the ia32 pieces, and the standard process set.

        .isa     ia32
        .include "kernel.s"
        .include "arch/ia32-pv.s"

arch_name: .stringz "ia32"

        .include "arch/ia32-classes.s"
        .include "procs.s"
