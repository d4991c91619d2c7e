; The tsos process ABI: what a user program may rely on. See docs/guests.md.
;
; A process runs in user mode in its own window R = <l, b>: l is its region's physical base
; and b the region's size, so its apparent addresses are 0..b-1 wherever the region is.
;
; The region, in apparent addresses:
;   0x000        SYS_A0: the system-call argument and result word
;   0x001..0x00e reserved for the kernel's use (zero today)
;   0x00f        GATE: the pdp10 kernel writes its `jrstu` gate here (see arch/pdp10.s)
;   0x010..      the user runtime (guests/lib/usys-svc.s), copied in by the kernel at boot
;   PROG_REL..   the program, copied in by the kernel at boot; its first word is its entry
;   above        free: zero at reset (a program may use it up to b - 1)
;
; System calls: put the argument in SYS_A0, execute `svc N`. The kernel resumes the process
; at the instruction after the svc. Nothing but SYS_A0 (for getpid and unknown calls) changes.
;   svc 0  exit      end the process
;   svc 1  putc      print the low byte of E[SYS_A0]
;   svc 2  puts      print the zero-terminated string at apparent address E[SYS_A0]; a string
;                    that is not inside the window kills the process (bad address)
;   svc 3  yield     give up the rest of the time slice
;   svc 4  getpid    E[SYS_A0] <- the process id (1, 2, ... in process-table order)
;   other            E[SYS_A0] <- all ones (no such call)

        .equ  SYS_EXIT,   0
        .equ  SYS_PUTC,   1
        .equ  SYS_PUTS,   2
        .equ  SYS_YIELD,  3
        .equ  SYS_GETPID, 4
        .equ  NSYS,       5

        .equ  SYS_A0,     0x000
        .equ  GATE,       0x00f
        .equ  RT_REL,     0x010
        .equ  PROG_REL,   0x100
