; The user runtime for processes under tsos: the u_* routines of guests/lib/stdio.s plus the
; system calls, each a `svc` (ABI in guests/tsos/abi.s, which must be included first).
;
; tsos assembles this once, as a template, and copies it into every process's region at
; apparent address RT_REL, so every process has its own copy (its own buffer and words) at
; the same apparent addresses.
;
;   u_getpid  E[u_arg] <- the process id
;   u_yield   give up the processor
;   u_exit    print what is buffered, then end the process
; plus u_putc, u_puts, u_dec and u_flush (stdio.s). All return via u_ret.

        .equ  u_arg, SYS_A0           ; the argument word is the system calls' own

u_getpid:
        svc   SYS_GETPID
        jr    u_ret
u_yield:
        svc   SYS_YIELD
        jr    u_ret
u_exit: jal   io_link, io_flush
        svc   SYS_EXIT
        jmp   u_exit                  ; not reached: the kernel never resumes an exited process
u_write:
        svc   SYS_PUTS
        jr    io_wret
u_ret:  .word 0

        .include "stdio.s"
