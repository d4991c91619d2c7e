; A privileged instruction attempted in user mode.
;
; The user program tries `lrb` (load R) to widen its own window over the supervisor. In user
; mode a privileged instruction traps instead: R is untouched, the user PSW goes to physical
; E[0] and the handler runs. The handler prints the trapping P and opcode, and halts.

        .isa   s370
        .entry start
        .equ   U, 0x200

        .org   0
        .word  0
        .psw   super, handler, 0, 0x1000

        .org   0x10
start:  lpsw  user_psw

handler:
        mov   psw_in, 0
        jal   psw_ret, psw_split
        ldx   word, psw_l, psw_p       ; the instruction that trapped
        shr   op, word, k56
        li    puts_arg, msg1
        jal   puts_ret, puts
        mov   phex_arg, psw_p
        jal   phex_ret, phex
        li    puts_arg, msg2
        jal   puts_ret, puts
        mov   phex_arg, op
        jal   phex_ret, phex
        li    puts_arg, msg3
        jal   puts_ret, puts
        halt

user_psw: .psw user, 0, U, 0x40
word:   .word 0
op:     .word 0
k56:    .word 56
msg1:   .stringz "supervisor: privileged-instruction trap at user P=0x"
msg2:   .stringz ", opcode 0x"
msg3:   .stringz " (lrb); R was not changed\n"

        .include "lib/console.s"
        .include "lib/psw.s"

        .org   U
        li    0x20, 0x1fffff           ; R = <0, 0x1fffff>: all of memory
        lrb   0x20                     ; privileged: traps in user mode
        halt
