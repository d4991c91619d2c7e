; vmm on the PowerPC analogue: the profile's pieces (isa/ppc.isa).
;
;   hook_size   mfsr (move from segment register) reads R packed as l << 21 | b: its low 21
;               bits are the size of the monitor's own window.
;   interpreters for mfmsr, mtmsr, mfsr, mtsr and rfi; sc traps in both modes and is
;   reflected like svc.

; The interpreter of each opcode 0x40..0x7f: mfmsr mtmsr mfsr mtsr rfi, the rest (sc among
; them) reflected.
        .org  m_optab + 64               ; right after monitor.s's m_optab: one table
m_optab_hi:
        .word m_i_mfmsr, m_i_mtmsr, m_i_mfsr , m_i_mtsr , m_i_rfi  , m_reflect, m_reflect, m_reflect
        .fill 56, m_reflect

hook_size:
        mfsr  ppc_r
        and   m_size, ppc_r, m_mask21
        jr    m_hret

m_i_mfmsr:                               ; mfmsr a: E[a] <- PR << 14 | IR | DR, PR the
        jal   m_cret, m_chka             ;   virtual mode (1 = user)
        shr   m_t, m_vpsw, m_63
        shl   m_t, m_t, ppc_14
        or    m_t, m_t, ppc_irdr
        stx   m_t, m_rl, m_a
        jmp   m_next

m_i_mtmsr:                               ; mtmsr a: the virtual mode <- user if PR (bit 14)
        jal   m_cret, m_chka             ;   of E[a] is set, else supervisor
        ldx   m_t, m_rl, m_a
        shr   m_t, m_t, ppc_14
        and   m_t, m_t, m_c1
        shl   m_t, m_t, m_63
        and   m_vpsw, m_vpsw, ppc_nmode
        or    m_vpsw, m_vpsw, m_t
        jmp   m_next

m_i_mfsr:                                ; mfsr a: E[a] <- the virtual R, packed
        jal   m_cret, m_chka
        and   m_t, m_vpsw, m_rmask
        stx   m_t, m_rl, m_a
        jmp   m_next

m_i_mtsr:                                ; mtsr a: the virtual R <- E[a]
        jal   m_cret, m_chka
        ldx   m_t, m_rl, m_a
        and   m_t, m_t, m_rmask
        and   m_vpsw, m_vpsw, m_nrmask
        or    m_vpsw, m_vpsw, m_t
        jmp   m_next

m_i_rfi:                                 ; rfi: PSW <- the guest's absolute E[0], whatever
        ldx   m_vpsw, m_k, m_c0          ;   its R (the guest has at least that word)
        jmp   m_done

ppc_r:     .word 0
ppc_14:    .word 14
ppc_irdr:  .word 0x30
ppc_nmode: .word 0x7fffffffffffffff
