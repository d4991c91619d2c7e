; The user runtime for a program that runs alone on the bare machine, in supervisor mode with
; R = all of memory: the same u_* routines as usys-svc.s, done directly on the console.
; Include it first: it lays out the trap vector at E[0]/E[1] and itself from 0x10.
;
;   u_getpid  E[u_arg] <- 1 (the only process)
;   u_yield   returns at once (nothing else to run)
;   u_exit    print what is buffered, then halt
; plus u_putc, u_puts, u_dec and u_flush (stdio.s). All return via u_ret.
; Any trap (the program has no business trapping) prints where it happened and halts.

        .org  0
        .word 0                             ; E[0]: the old PSW of a trap
        .psw  super, u_trapped, 0, 0x1fffff ; E[1]: the trap handler, with all of memory

        .org  0x10
u_getpid:
        li    u_arg, 1
        jr    u_ret
u_yield:
        jr    u_ret
u_exit: jal   io_link, io_flush
        halt
u_write:
        ldx   u_ch, u_arg, io_zero
        jz    u_ch, u_written
        out   u_ch
        addi  u_arg, 1
        jmp   u_write
u_written:
        jr    io_wret

u_trapped:
        mov   psw_in, 0
        jal   psw_ret, psw_split
        li    puts_arg, u_trap_msg
        jal   puts_ret, puts
        mov   phex_arg, psw_p
        jal   phex_ret, phex
        li    puts_arg, u_trap_end
        jal   puts_ret, puts
        halt

u_arg:  .word 0
u_ret:  .word 0
u_ch:   .word 0
u_trap_msg: .stringz "\nbare: unexpected trap at P=0x"
u_trap_end: .stringz "; halting\n"

        .include "stdio.s"
        .include "console.s"
        .include "psw.s"
