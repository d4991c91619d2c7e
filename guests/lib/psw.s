; Taking a saved PSW apart (layout in docs/machine.md: M at bit 63, P at 62..42, l at 41..21,
; b at 20..0). Include after the code that uses it.
;
;   psw_split  E[psw_in] -> E[psw_p], E[psw_l]            (returns via psw_ret)

psw_split:
        shr   psw_p, psw_in, psw_42
        and   psw_p, psw_p, psw_mask
        shr   psw_l, psw_in, psw_21
        and   psw_l, psw_l, psw_mask
        jr    psw_ret

psw_in:   .word 0
psw_p:    .word 0
psw_l:    .word 0
psw_ret:  .word 0
psw_21:   .word 21
psw_42:   .word 42
psw_mask: .word 0x1fffff
