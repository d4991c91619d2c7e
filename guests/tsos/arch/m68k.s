; tsos on the Motorola MC68000 and MC68010 analogues: the 68000 kernel's own idioms.
;
;   hook_boot   the kernel reads its own PSW with spsw and takes the window size from it.
;   hook_entry  MOVE from SR (movesr): at every entry the kernel reads its status register and
;               checks the S bit (bit 13) before it does anything else; with S clear it
;               refuses to go on and panics ("kernel entered without the S bit").
;   hook_enter  lpsw stands for RTE: it loads mode, P and R together.
;
; On the MC68000, MOVE from SR is unprivileged: run this kernel in user mode under a
; trap-and-emulate monitor and movesr reads S = 0 instead of trapping, so the kernel decides
; differently there than on the bare machine (isa/m68000.isa). On the MC68010 it is privileged,
; and a monitor can emulate it.

hook_boot:
        spsw  m68k_psw
        and   k_memsize, m68k_psw, k_mask21
        jr    k_hret

hook_entry:
        movesr m68k_sr
        and   m68k_t, m68k_sr, m68k_s
        jz    m68k_t, m68k_panic
        jr    k_hret
m68k_panic:
        li    k_why, m68k_m
        jmp   k_panic_msg

hook_enter:
        lpsw  k_psw                      ; RTE

m68k_psw: .word 0
m68k_sr:  .word 0
m68k_t:   .word 0
m68k_s:   .word 0x2000                   ; SR's S bit
m68k_m:   .stringz "kernel entered without the S bit in SR"
