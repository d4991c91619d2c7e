; yield: context-switch heavy. Yields YL_N times; after each yield it asks for its pid again
; and folds it into a hash, h <- h * 31 + pid + i (modulo 2^64, from h = 0, i = 0..YL_N-1),
; so a process that comes back as someone else, or with its words disturbed, shows.
; Under tsos several copies run at once and each yield switches to another process.
; Prints "yield PID: I rounds" every YL_Q rounds. Checksum: h.
;
; A program for the user runtime (usys-bare.s or usys-svc.s); all its names start with yl_.

        .equ  YL_N, 1000
        .equ  YL_Q, 250

yield:  jal   u_ret, u_getpid
        mov   yl_pid, u_arg
yl_loop:
        jal   u_ret, u_yield
        jal   u_ret, u_getpid
        mul   yl_h, yl_h, yl_31
        add   yl_h, yl_h, u_arg
        add   yl_h, yl_h, yl_i
        addi  yl_i, 1
        rem   yl_t, yl_i, yl_q
        jnz   yl_t, yl_more
        jal   yl_ret, yl_name            ; "yield PID: I rounds"
        mov   u_arg, yl_i
        jal   u_ret, u_dec
        li    u_arg, yl_m2
        jal   u_ret, u_puts
yl_more:
        sltu  yl_t, yl_i, yl_n
        jnz   yl_t, yl_loop
        jal   yl_ret, yl_name            ; "yield PID: checksum H"
        li    u_arg, yl_m3
        jal   u_ret, u_puts
        mov   u_arg, yl_h
        jal   u_ret, u_dec
        li    u_arg, yl_nl
        jal   u_ret, u_puts
        jal   u_ret, u_exit

; "yield PID: " (returns via yl_ret)
yl_name:
        li    u_arg, yl_m1
        jal   u_ret, u_puts
        mov   u_arg, yl_pid
        jal   u_ret, u_dec
        li    u_arg, yl_colon
        jal   u_ret, u_puts
        jr    yl_ret

yl_pid:   .word 0
yl_i:     .word 0
yl_t:     .word 0
yl_h:     .word 0
yl_ret:   .word 0
yl_31:    .word 31
yl_n:     .word YL_N
yl_q:     .word YL_Q
yl_m1:    .stringz "yield "
yl_colon: .stringz ": "
yl_m2:    .stringz " rounds\n"
yl_m3:    .stringz "checksum "
yl_nl:    .stringz "\n"
