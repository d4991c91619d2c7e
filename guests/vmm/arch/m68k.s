; vmm on the Motorola MC68010 analogue: the profile's pieces (isa/m68010.isa, which extends
; isa/m68000.isa).
;
;   hook_size   the monitor reads its own PSW with spsw and takes its window size from it.
;   interpreters for MOVE from SR (movesr, privileged on the 68010: the reason a monitor can
;   exist) and MOVE to SR (movetosr); MOVE from CCR is innocuous and never comes here.

; The interpreter of each opcode 0x40..0x7f: movesr and movetosr, the rest reflected.
        .org  m_optab + 64               ; right after monitor.s's m_optab: one table
m_optab_hi:
        .word m_i_movesr, m_i_movetosr, m_reflect, m_reflect, m_reflect, m_reflect, m_reflect, m_reflect
        .fill 56, m_reflect

hook_size:
        spsw  m68k_psw
        and   m_size, m68k_psw, m_mask21
        jr    m_hret

m_i_movesr:                              ; movesr a: E[a] <- S << 13, S = 1 in virtual
        jal   m_cret, m_chka             ;   supervisor mode
        shr   m_t, m_vpsw, m_63
        xor   m_t, m_t, m_c1
        shl   m_t, m_t, m68k_13
        stx   m_t, m_rl, m_a
        jmp   m_next

m_i_movetosr:                            ; movetosr a: the virtual mode <- supervisor if S
        jal   m_cret, m_chka             ;   (bit 13) of E[a] is set, else user
        ldx   m_t, m_rl, m_a
        shr   m_t, m_t, m68k_13
        and   m_t, m_t, m_c1
        xor   m_t, m_t, m_c1
        shl   m_t, m_t, m_63
        and   m_vpsw, m_vpsw, m68k_nmode
        or    m_vpsw, m_vpsw, m_t
        jmp   m_next

m68k_psw:   .word 0
m68k_13:    .word 13
m68k_nmode: .word 0x7fffffffffffffff
