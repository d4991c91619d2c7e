; tsos on the IA-32 analogue (and ia32-vt with the assist off): the IA-32 kernel's own idioms.
;
;   hook_boot   SGDT (sgdt) stores the descriptor-table register, here R packed as
;               l << 21 | b: its low 21 bits are the size of the kernel's window.
;   hook_entry  PUSHF (pushf): save the flags at every kernel entry, as `pushf; cli` does;
;   hook_enter  ... and POPF (popf) them back just before returning to the process, as the
;               matching `popf` does, then lpsw (the IRET analogue) enters the process.
;
; Both are critical instructions on the real Pentium: SGDT is user location-sensitive, PUSHF
; mode-sensitive and POPF silently ignores the privilege bits in user mode (isa/ia32.isa).

hook_boot:
        sgdt  ia32_gdtr
        and   k_memsize, ia32_gdtr, k_mask21
        jr    k_hret

hook_entry:
        pushf ia32_flags
        jr    k_hret

hook_enter:
        popf  ia32_flags
        lpsw  k_psw                      ; IRET

ia32_gdtr:  .word 0
ia32_flags: .word 0
