; A memory trap: a user program reaches past its bounds.
;
; The user window is R = <0x200, 0x40>. The program's `mov` reads apparent address 0x80,
; which fails address development (a >= b), so the instruction is blocked and the machine
; traps: the user PSW (P at the `mov`) goes to physical E[0] and the handler's PSW comes from
; physical E[1]. The handler reports where the program was and halts.

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
        li    puts_arg, msg1
        jal   puts_ret, puts
        mov   phex_arg, psw_p
        jal   phex_ret, phex
        li    puts_arg, msg2
        jal   puts_ret, puts
        mov   phex_arg, psw_l
        jal   phex_ret, phex
        li    puts_arg, msg3
        jal   puts_ret, puts
        halt

user_psw: .psw user, 0, U, 0x40
msg1:   .stringz "supervisor: memory trap at user P=0x"
msg2:   .stringz ", l=0x"
msg3:   .stringz "; the user program is stopped\n"

        .include "lib/console.s"
        .include "lib/psw.s"

        .org   U
        li    0x20, 7                  ; a word inside the window: fine
        mov   0x21, 0x80               ; 0x80 >= b = 0x40: memory trap, the mov is blocked
        halt
