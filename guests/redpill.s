; The red pill: a user-mode `sgdt` that tells a program whether it runs in a virtual machine
; (Joanna Rutkowska's 2004 "Red Pill" used SIDT, the same leak).
;
; On ia32, `sgdt` (the SGDT analogue) is unprivileged and stores R, packed l << 21 | b. The
; kernel enters a user program whose window starts at l = U; the program stores R with `sgdt`
; and calls the kernel, which prints the relocation the program saw and halts. Bare, that is
; U. Under any monitor that runs user code directly (trap-and-emulate, the hybrid monitor,
; binary translation of kernel code only, as VMware did) the real R' holds U plus the VM's
; base, so the program sees the monitor. Binary translation of user code too (`bt-all`)
; emulates `sgdt` on the virtual R and hides it:
;
;   pgvm equiv guests/redpill.s --monitor bt-kernel   # NOT equivalent: the leak, at sgdt
;   pgvm equiv guests/redpill.s --monitor bt-all      # equivalent

        .isa   ia32
        .entry start
        .equ   U, 0x200

        .org   0
        .word  0
        .psw   super, kernel, 0, 0x1000

        .org   0x10
start:  lpsw  user_psw

kernel:
        ldx   seen, k_u, k_gdt         ; the word the program stored, E[U + 0x20]
        shr   seen_l, seen, k21        ; its relocation l
        li    puts_arg, msg1
        jal   puts_ret, puts
        mov   phex_arg, seen_l
        jal   phex_ret, phex
        li    puts_arg, msg2
        jal   puts_ret, puts
        halt

user_psw: .psw user, 0, U, 0x40
k_u:    .word U
k_gdt:  .word 0x20
k21:    .word 21
seen:   .word 0
seen_l: .word 0
msg1:   .stringz "user-mode sgdt saw l=0x"
msg2:   .stringz "\n"

        .include "lib/console.s"
        .include "lib/psw.s"

        .org   U
user:   sgdt  0x20                     ; unprivileged: stores the real R
        svc   0
