; tsos on the DEC PDP-10 analogue: the PDP-10 kernel's own idioms.
;
;   hook_boot   the PDP-10 has no instruction that reads the relocation register back, so the
;               kernel reads its own PSW with spsw and takes the window size from it.
;   hook_enter  DATAO APR then JRST 1: the monitor loads the user's relocation and protection
;               (lrb, the DATAO APR analogue) and then jumps into user mode (jrstu, the JRST 1
;               analogue, "return to user mode", unprivileged).
;
; On this machine relocation applies in supervisor mode too, so the instruction after the lrb
; is already fetched through the process's window, at apparent address GATE (abi.s). The
; kernel therefore writes its gate, `jrstu P`, into the process's word GATE first, and runs
; the lrb from physical GATE - 1: the next fetch is the gate, which drops into user mode at P.

hook_boot:
        spsw  pdp_psw
        and   k_memsize, pdp_psw, k_mask21
        jr    k_hret

hook_entry:
        jr    k_hret

hook_enter:
        shr   pdp_p, k_psw, k_42         ; the process's P, l and R
        and   pdp_p, pdp_p, k_mask21
        shr   pdp_l, k_psw, k_21
        and   pdp_l, pdp_l, k_mask21
        and   pdp_r, k_psw, pdp_rmask
        or    pdp_t, pdp_p, pdp_jrstu    ; the gate: jrstu P
        add   pdp_at, pdp_l, pdp_gate
        stx   pdp_t, pdp_at, k_c0        ; physical l + GATE
        jmp   pdp_lrb

pdp_psw:   .word 0
pdp_p:     .word 0
pdp_l:     .word 0
pdp_r:     .word 0
pdp_t:     .word 0
pdp_at:    .word 0
pdp_gate:  .word GATE
pdp_rmask: .word (1 << 42) - 1           ; R: l << 21 | b, the PSW's low 42 bits
pdp_jrstu: .word 0x40 << 56              ; jrstu's opcode (isa/pdp10.isa), imm = 0
pdp_back:

        .org  GATE - 1
pdp_lrb:
        lrb   pdp_r                      ; DATAO APR: the next fetch is the gate
        .org  pdp_back
