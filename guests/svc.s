; A supervisor call handled by the handler whose PSW sits at E[1].
;
; The supervisor starts a user program in its own window R = <0x200, 0x100>. The program
; prints by putting a character in its word 2 and executing `svc 1`; `svc 0` ends it. Every
; trap stores the running PSW at physical E[0] (with P still at the svc) and loads physical
; E[1]. The handler looks the svc up at l + P, serves it, and resumes the program one
; instruction later.

        .isa   s370
        .entry start
        .equ   U, 0x200            ; the user window's base (user labels below are physical)

        .org   0
        .word  0                   ; E[0]: the old PSW of the last trap
        .psw   super, handler, 0, 0x1000   ; E[1]: the handler's PSW

        .org   0x10
start:  li    puts_arg, banner
        jal   puts_ret, puts
        lpsw  user_psw             ; enter the user program

handler:
        mov   psw_in, 0            ; the trapped PSW: user mode, P at the svc
        jal   psw_ret, psw_split
        ldx   word, psw_l, psw_p   ; the trapping instruction, at physical l + P
        shr   op, word, k56
        seq   t, op, svc_op
        jz    t, not_svc
        and   num, word, k_low
        jz    num, exit
        add   t, psw_l, k2         ; svc 1: print the character in the user's word 2
        ldx   ch, t, zero
        out   ch
        add   0, 0, p_one          ; resume after the svc: P + 1 in the saved PSW
        lpsw  0
exit:   li    puts_arg, bye
        jal   puts_ret, puts
        halt
not_svc:
        li    puts_arg, oops
        jal   puts_ret, puts
        halt

user_psw: .psw user, 4, U, 0x100
zero:   .word 0
word:   .word 0
op:     .word 0
num:    .word 0
t:      .word 0
ch:     .word 0
k2:     .word 2
k56:    .word 56
k_low:  .word 0x3fffffffff        ; the svc's 38-bit immediate
svc_op: .word 0x28
p_one:  .word 1 << 42             ; 1 in the PSW's P field
banner: .stringz "supervisor: starting the user program at l=0x200\n"
bye:    .stringz "supervisor: the user program exited with svc 0\n"
oops:   .stringz "supervisor: unexpected trap\n"

        .include "lib/console.s"
        .include "lib/psw.s"

; ---- the user program: relative addresses are physical ones minus U --------------------
        .org   U
        .word  0, 0, 0, 0          ; user words 0..3; word 2 carries svc 1's character
uloop:  ldx   2, uptr - U, uzero - U
        jz    2, udone - U
        svc   1
        addi  uptr - U, 1
        jmp   uloop - U
udone:  svc   0
uzero:  .word 0
uptr:   .word umsg - U
umsg:   .stringz "user: hello through svc 1\n"
