; tsos on the System/370 analogue: the S/370 kernel's own idioms.
;
;   hook_boot   STCTL (stctl) stores the translation control registers, here R.l and R.b:
;               the size of the kernel's own window is the memory it may hand out.
;   hook_enter  LPSW (lpsw) loads mode, P and R in one instruction: how OS/360 and VM/370
;               dispatch a program.

hook_boot:
        stctl s370_l, k_memsize
        jr    k_hret

hook_entry:
        jr    k_hret

hook_enter:
        lpsw  k_psw

s370_l: .word 0
