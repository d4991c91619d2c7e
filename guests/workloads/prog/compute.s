; compute: a pure compute loop. Sums the Collatz total stopping times of 1..COMP_N (the
; number of 3n+1 / n/2 steps each takes to reach 1), printing the running sum every COMP_Q.
; Checksum: the sum.
;
; A program for the user runtime (usys-bare.s or usys-svc.s); all its names start with comp_.
; The file that includes it sets COMP_N and COMP_Q with `.equ` first: the workload and tsos
; run 1..1000 by 250; the nesting benchmark's long guest (benches/guests/) runs further.

compute:
        li    comp_n, 1
comp_next:
        mov   comp_x, comp_n
comp_step:
        seq   comp_t, comp_x, comp_one
        jnz   comp_t, comp_reached
        addi  comp_sum, 1
        and   comp_t, comp_x, comp_one
        jz    comp_t, comp_even
        mul   comp_x, comp_x, comp_three ; odd: 3x + 1
        addi  comp_x, 1
        jmp   comp_step
comp_even:
        shr   comp_x, comp_x, comp_one   ; even: x / 2
        jmp   comp_step
comp_reached:
        rem   comp_t, comp_n, comp_q
        jnz   comp_t, comp_more
        li    u_arg, comp_m1             ; "compute: 1..N take S steps"
        jal   u_ret, u_puts
        mov   u_arg, comp_n
        jal   u_ret, u_dec
        li    u_arg, comp_m2
        jal   u_ret, u_puts
        mov   u_arg, comp_sum
        jal   u_ret, u_dec
        li    u_arg, comp_m3
        jal   u_ret, u_puts
comp_more:
        addi  comp_n, 1
        sltu  comp_t, comp_last, comp_n
        jz    comp_t, comp_next
        li    u_arg, comp_m4             ; "compute: checksum S"
        jal   u_ret, u_puts
        mov   u_arg, comp_sum
        jal   u_ret, u_dec
        li    u_arg, comp_nl
        jal   u_ret, u_puts
        jal   u_ret, u_exit

comp_n:     .word 0
comp_x:     .word 0
comp_t:     .word 0
comp_sum:   .word 0
comp_one:   .word 1
comp_three: .word 3
comp_q:     .word COMP_Q
comp_last:  .word COMP_N
comp_m1:    .stringz "compute: 1.."
comp_m2:    .stringz " take "
comp_m3:    .stringz " steps\n"
comp_m4:    .stringz "compute: checksum "
comp_nl:    .stringz "\n"
