; tsos on the PowerPC analogue: the PowerPC kernel's own idioms.
;
;   hook_boot   mfsr (Move From Segment Register) reads the relocation register, R packed as
;               l << 21 | b: its low 21 bits are the size of the kernel's window. mfmsr reads
;               the MSR; the kernel checks that PR (problem state, bit 14) is clear, i.e. that
;               it really is in supervisor state, before it trusts anything else.
;   hook_enter  rfi (Return From Interrupt) loads mode, P and R from the old-PSW slot at
;               physical E[0], as the real rfi loads MSR and PC from SRR1/SRR0: the kernel
;               puts the process's PSW there and returns "from the interrupt" into it.

hook_boot:
        mfmsr ppc_msr
        and   ppc_t, ppc_msr, ppc_pr
        li    k_why, ppc_m_pr
        jnz   ppc_t, k_panic_msg         ; PR set: not in supervisor state
        mfsr  ppc_r
        and   k_memsize, ppc_r, k_mask21
        jr    k_hret

hook_entry:
        jr    k_hret

hook_enter:
        mov   0, k_psw                   ; SRR0/SRR1 <- the process's PC and MSR
        rfi

ppc_msr:  .word 0
ppc_r:    .word 0
ppc_t:    .word 0
ppc_pr:   .word 0x4000
ppc_m_pr: .stringz "MSR[PR] is set: not in supervisor state"
