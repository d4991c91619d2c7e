; Misbehaving programs, as templates (see programs.s), for the fault build (faults.s). Each
; does one thing a process must not get away with; the kernel must stop it and nobody else.

; loop: prints with the putc call, one character at a time, then spins forever. Only the
; timer takes the processor back from it; its CPU limit ends it.
prog_loop:
        .base prog_loop - PROG_REL
loop:   li    lp_i, lp_msg
lp_next:
        ldx   SYS_A0, lp_i, lp_zero
        jz    SYS_A0, lp_spin
        svc   SYS_PUTC
        addi  lp_i, 1
        jmp   lp_next
lp_spin:
        jmp   lp_spin
lp_i:   .word 0
lp_zero: .word 0
lp_msg: .stringz "loop: spinning forever\n"
        .base 0
prog_loop_end:

; scribble: a runaway memset, from its last word upward. Just past its window lies the next
; region (the sieve's, in faults.s): the first store past the bounds must trap.
prog_scribble:
        .base prog_scribble - PROG_REL
scribble:
        li    u_arg, scr_msg
        jal   u_ret, u_puts
        li    scr_p, scr_end
scr_loop:
        stx   scr_v, scr_p, scr_zero
        addi  scr_p, 1
        jmp   scr_loop
scr_p:    .word 0
scr_zero: .word 0
scr_v:    .word 0xdead
scr_msg:  .stringz "scribble: clearing memory from my last word upward\n"
scr_end:
        .base 0
prog_scribble_end:

; badptr: an unknown system call (must be refused with all ones), then a puts of a string at
; an address outside its window (the kernel must not read it for it).
prog_badptr:
        .base prog_badptr - PROG_REL
badptr:
        svc   99
        seq   bp_t, SYS_A0, bp_ones
        li    u_arg, bp_no
        jz    bp_t, bp_said
        li    u_arg, bp_yes
bp_said:
        jal   u_ret, u_puts
        li    SYS_A0, 0x2000             ; beyond its window, inside another process's
        svc   SYS_PUTS
        li    u_arg, bp_alive
        jal   u_ret, u_puts
        jal   u_ret, u_exit
bp_t:     .word 0
bp_ones:  .word -1
bp_yes:   .stringz "badptr: svc 99 refused; now puts from address 0x2000\n"
bp_no:    .stringz "badptr: svc 99 was not refused!\n"
bp_alive: .stringz "badptr: still alive!\n"
        .base 0
prog_badptr_end:

; priv: tries to widen its window to all of memory with the privileged lrb.
prog_priv:
        .base prog_priv - PROG_REL
priv:   li    u_arg, pv_msg
        jal   u_ret, u_puts
        jal   u_ret, u_flush
        lrb   pv_all
        li    u_arg, pv_alive
        jal   u_ret, u_puts
        jal   u_ret, u_exit
pv_all:   .word 0x1fffff                 ; R = <0, 0x1fffff>
pv_msg:   .stringz "priv: loading R = <0, all of memory>\n"
pv_alive: .stringz "priv: still alive!\n"
        .base 0
prog_priv_end:

; divzero: divides by zero.
prog_divzero:
        .base prog_divzero - PROG_REL
divzero:
        li    u_arg, dz_msg
        jal   u_ret, u_puts
        div   dz_q, dz_n, dz_zero
        li    u_arg, dz_alive
        jal   u_ret, u_puts
        jal   u_ret, u_exit
dz_q:     .word 0
dz_n:     .word 42
dz_zero:  .word 0
dz_msg:   .stringz "divzero: 42 / 0\n"
dz_alive: .stringz "divzero: still alive!\n"
        .base 0
prog_divzero_end:

; illegal: jumps into its data, a word that is no instruction.
prog_illegal:
        .base prog_illegal - PROG_REL
illegal:
        li    u_arg, il_msg
        jal   u_ret, u_puts
        jmp   il_data
il_data:  .word 0
il_msg:   .stringz "illegal: jumping into data\n"
        .base 0
prog_illegal_end:
