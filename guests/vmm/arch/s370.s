; vmm on the System/370 analogue: the profile's pieces (isa/s370.isa).
;
;   hook_size   STCTL (stctl) stores the translation control registers, R.l and R.b: the
;               size of the monitor's own window is the memory it may give its guest.
;   interpreters for the profile's privileged instructions lra, stctl, lctl and stidp.

; The interpreter of each opcode 0x40..0x7f: lra stctl lctl stidp, the rest reflected.
        .org  m_optab + 64               ; right after monitor.s's m_optab: one table
m_optab_hi:
        .word m_i_lra,   m_i_stctl, m_i_lctl,  m_i_stidp, m_reflect, m_reflect, m_reflect, m_reflect
        .fill 56, m_reflect

hook_size:
        stctl s370_l, m_size
        jr    m_hret

s370_l: .word 0

m_i_lra:                                 ; lra a, b: E[a] <- E[b] + l if E[b] < b, else ~0,
        jal   m_cret, m_chka             ;   with the guest's virtual R (the 360/67 LRA the
        jal   m_cret, m_chkb             ;   paper names: the guest sees its own relocation)
        ldx   m_u, m_rl, m_b
        and   s370_b, m_vpsw, m_mask21
        sltu  m_t, m_u, s370_b
        jz    m_t, s370_lra_none
        shr   m_t, m_vpsw, m_21
        and   m_t, m_t, m_mask21
        add   m_u, m_u, m_t
        stx   m_u, m_rl, m_a
        jmp   m_next
s370_lra_none:
        stx   s370_ones, m_rl, m_a
        jmp   m_next

m_i_stctl:                               ; stctl a, b: E[a] <- l, E[b] <- b (virtual R)
        jal   m_cret, m_chka
        jal   m_cret, m_chkb
        shr   m_t, m_vpsw, m_21
        and   m_t, m_t, m_mask21
        stx   m_t, m_rl, m_a
        and   m_t, m_vpsw, m_mask21
        stx   m_t, m_rl, m_b
        jmp   m_next

m_i_lctl:                                ; lctl a, b: l <- E[a], b <- E[b] (21 bits each)
        jal   m_cret, m_chka
        jal   m_cret, m_chkb
        ldx   m_t, m_rl, m_a
        and   m_t, m_t, m_mask21
        shl   m_t, m_t, m_21
        ldx   m_u, m_rl, m_b
        and   m_u, m_u, m_mask21
        or    m_t, m_t, m_u
        and   m_vpsw, m_vpsw, m_nrmask
        or    m_vpsw, m_vpsw, m_t
        jmp   m_next

m_i_stidp:                               ; stidp a: E[a] <- the CPU id; innocuous but
        jal   m_cret, m_chka             ;   privileged, so it comes here all the same
        stx   s370_cpuid, m_rl, m_a
        jmp   m_next

s370_b:     .word 0
s370_ones:  .word ~0
s370_cpuid: .word 0x3168
