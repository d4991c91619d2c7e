; tsos for ppc, the PowerPC analogue (mfmsr/mtmsr privileged).
; The common kernel, the ppc pieces, and the standard process set.

        .isa     ppc
        .include "kernel.s"
        .include "arch/ppc.s"

arch_name: .stringz "ppc"

; Trap classes of this profile's own opcodes, 0x40..0x7f: mfmsr mtmsr mfsr mtsr rfi
; privileged, sc a trap of its own (tsos's system call is svc).
k_class_hi:
        .word    C_PRIV, C_PRIV, C_PRIV, C_PRIV, C_PRIV, C_TRAP
        .space   58
        .include "procs.s"
