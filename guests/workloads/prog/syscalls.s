; syscalls: a system-call-heavy loop. Calls getpid SC_N times and folds the answers into a
; hash, h <- h * 33 + pid (modulo 2^64, from h = 0), so a single wrong answer shows.
; Prints progress every SC_Q calls. Checksum: h.
;
; A program for the user runtime (usys-bare.s or usys-svc.s); all its names start with sc_.

        .equ  SC_N, 100000
        .equ  SC_Q, 25000

syscalls:
        jal   u_ret, u_getpid
        mul   sc_h, sc_h, sc_33
        add   sc_h, sc_h, u_arg
        addi  sc_i, 1
        rem   sc_t, sc_i, sc_q
        jnz   sc_t, sc_more
        li    u_arg, sc_m1               ; "syscalls: I getpid calls"
        jal   u_ret, u_puts
        mov   u_arg, sc_i
        jal   u_ret, u_dec
        li    u_arg, sc_m2
        jal   u_ret, u_puts
sc_more:
        sltu  sc_t, sc_i, sc_n
        jnz   sc_t, syscalls
        li    u_arg, sc_m3               ; "syscalls: checksum H"
        jal   u_ret, u_puts
        mov   u_arg, sc_h
        jal   u_ret, u_dec
        li    u_arg, sc_nl
        jal   u_ret, u_puts
        jal   u_ret, u_exit

sc_i:   .word 0
sc_t:   .word 0
sc_h:   .word 0
sc_33:  .word 33
sc_n:   .word SC_N
sc_q:   .word SC_Q
sc_m1:  .stringz "syscalls: "
sc_m2:  .stringz " getpid calls\n"
sc_m3:  .stringz "syscalls: checksum "
sc_nl:  .stringz "\n"
