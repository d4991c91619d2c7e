; tsos: a small time-sharing operating system for the paper's machine. The common kernel.
;
; Every profile's build (s370.s, ppc.s, pdp10.s, m68000.s, m68010.s, ia32.s, ia32-vt.s) is
; this file plus that architecture's pieces (arch/*.s) and a process set. See docs/guests.md
; for the memory layout, the system-call ABI and how to add a process.
;
; A build file provides:
;   arch_name      a zero-terminated string: the profile's name, for the banner
;   hook_boot      (jal k_hret) read the kernel's own window the profile's way and set
;                  k_memsize to its size: the words of memory the kernel may hand out
;   hook_entry     (jal k_hret) run at every entry to the kernel, trap or interrupt
;   hook_enter     (jmp) enter the process whose PSW is in k_psw; never returns
;   k_class_hi     64 words: the trap class of opcodes 0x40..0x7f in this profile
;   proc_table, proc_table_end   the process table (PROC_WORDS words per process)
;   image_end      a label after the last word of the image
;
; The kernel runs in supervisor mode with R = <0, all of memory>, so its labels are physical
; addresses and physical E[0]..E[3] are its relative 0..3. Supervisor code is never
; interrupted (docs/machine.md), so every handler runs to completion.
;
; A process is its region and its PSW: the machine is memory to memory, so there are no
; registers to save. The kernel keeps, per process: its state, its saved PSW, the time
; slices it has used, its CPU limit and its name.
;
; Naming: everything here starts with k_, except the hooks and the console library.

        .include "abi.s"

        .equ  NPROC_MAX,  8           ; process slots
        .equ  PROC_WORDS, 6           ; words per process-table entry
        .equ  QUANTUM,    1000        ; a time slice, in executed instructions
        .equ  USER_LO,    0x4000      ; regions start here; the image must end below it
        .equ  FREE,       0       ; process states
        .equ  READY,      1
        .equ  DEAD,       2

        .entry k_boot

        .org  0
        .word 0                                 ; E[0]: the old PSW of a trap
        .psw  super, k_trap, 0, 0x1fffff        ; E[1]: trap handler (all of memory)
        .word 0                                 ; E[2]: the old PSW of a timer interrupt
        .psw  super, k_tick, 0, 0x1fffff        ; E[3]: timer handler

; ---- boot -----------------------------------------------------------------------------------

        .org  0x10
k_boot: jal   k_hret, hook_boot          ; k_memsize <- the kernel's window size
        li    puts_arg, k_m_boot         ; "tsos: <arch> kernel, N processes, memory 0x... words"
        jal   puts_ret, puts
        li    puts_arg, arch_name
        jal   puts_ret, puts
        li    puts_arg, k_m_boot2
        jal   puts_ret, puts
        mov   k_t, k_nproc
        jal   k_pret, k_putdigit
        li    puts_arg, k_m_boot3
        jal   puts_ret, puts
        mov   phex_arg, k_memsize
        jal   phex_ret, phex
        li    puts_arg, k_m_boot4
        jal   puts_ret, puts

        li    k_why, k_p_toomany         ; sanity checks of the build itself
        sltu  k_t, k_nmax, k_nproc
        jnz   k_t, k_panic_msg
        li    k_why, k_p_image
        sltu  k_t, k_userlo, k_imgend
        jnz   k_t, k_panic_msg
        li    k_why, k_p_runtime
        add   k_t, k_rtrel, k_rtlen
        sltu  k_t, k_progrel, k_t
        jnz   k_t, k_panic_msg

; Load every process: check its region, copy the runtime and the program in, make its PSW.
        li    k_i, 0
        li    k_e, proc_table
        mov   k_prev, k_userlo           ; regions must ascend and not overlap
k_load:
        seq   k_t, k_i, k_nproc
        jnz   k_t, k_loaded
        mov   k_cur, k_i                 ; (for messages)
        ldx   k_base, k_e, k_c0
        ldx   k_size, k_e, k_c1
        ldx   k_src, k_e, k_c2           ; the program's template ...
        ldx   k_cnt, k_e, k_c3           ; ... and its end
        sub   k_cnt, k_cnt, k_src
        ldx   k_t, k_e, k_c4
        stx   k_t, k_limit_ptr, k_i
        ldx   k_t, k_e, k_c5
        stx   k_t, k_name_ptr, k_i
        sltu  k_t, k_base, k_prev        ; base below the previous region's end?
        jnz   k_t, k_nofit
        add   k_t, k_progrel, k_cnt      ; the program must fit in the region
        sltu  k_t, k_size, k_t
        jnz   k_t, k_nofit
        add   k_prev, k_base, k_size     ; and the region in memory
        sltu  k_t, k_memsize, k_prev
        jnz   k_t, k_nofit
        add   k_dst, k_base, k_progrel   ; copy the program ...
        jal   k_cret, k_copy
        li    k_src, k_rt                ; ... and the runtime
        mov   k_cnt, k_rtlen
        add   k_dst, k_base, k_rtrel
        jal   k_cret, k_copy
        shl   k_t, k_base, k_21          ; PSW <user, PROG_REL, <base, size>>
        or    k_t, k_t, k_size
        or    k_t, k_t, k_uentry
        stx   k_t, k_psw_ptr, k_i
        li    k_t, READY
        stx   k_t, k_state_ptr, k_i
        jmp   k_load_next
k_nofit:
        li    k_t, DEAD
        stx   k_t, k_state_ptr, k_i
        jal   k_pret, k_who              ; "tsos: process N (name) "
        li    puts_arg, k_m_nofit
        jal   puts_ret, puts
k_load_next:
        addi  k_i, 1
        add   k_e, k_e, k_pwords
        jmp   k_load
k_loaded:
        mov   k_cur, k_nproc             ; the scheduler starts after the last, at the first
        addi  k_cur, -1
        jmp   k_switch

; ---- the scheduler ----------------------------------------------------------------------------

; k_switch: run the next READY process after k_cur, round robin, with a fresh time slice.
; When none is left, halt.
k_switch:
        mov   k_n, k_nproc
        mov   k_i, k_cur
k_sw_next:
        addi  k_i, 1
        seq   k_t, k_i, k_nproc
        jz    k_t, k_sw_look
        li    k_i, 0
k_sw_look:
        ldx   k_t, k_state_ptr, k_i
        seq   k_t, k_t, k_ready
        jnz   k_t, k_sw_found
        addi  k_n, -1
        jnz   k_n, k_sw_next
        li    puts_arg, k_m_done         ; nobody left
        jal   puts_ret, puts
        halt
k_sw_found:
        mov   k_cur, k_i
        ldx   k_psw, k_psw_ptr, k_cur
        stmr  k_quantum
        jmp   hook_enter

; k_resume: return to the current process after its svc (P + 1), in the same time slice.
k_resume:
        add   0, 0, k_p_one
        mov   k_psw, 0
        jmp   hook_enter

; ---- the timer interrupt: preemption ----------------------------------------------------------

k_tick: jal   k_hret, hook_entry
        mov   k_t, 2                     ; E[2]: the interrupted PSW, P at its next instruction
        stx   k_t, k_psw_ptr, k_cur
        ldx   k_t, k_used_ptr, k_cur     ; one more slice used up
        addi  k_t, 1
        stx   k_t, k_used_ptr, k_cur
        ldx   k_u, k_limit_ptr, k_cur
        jz    k_u, k_switch              ; no limit
        sltu  k_u, k_t, k_u
        jnz   k_u, k_switch
        li    k_why, k_w_cpu             ; over its CPU limit: kill it
        li    k_showp, 0
        jmp   k_kill

; ---- traps: system calls and faults -----------------------------------------------------------

k_trap: jal   k_hret, hook_entry
        shr   k_t, 0, k_63               ; E[0]: the trapped PSW. From supervisor mode?
        jz    k_t, k_panic_trap
        shr   k_p, 0, k_42               ; its P, l and b
        and   k_p, k_p, k_mask21
        shr   k_l, 0, k_21
        and   k_l, k_l, k_mask21
        and   k_b, 0, k_mask21
        li    k_showp, 1
        sltu  k_t, k_p, k_b              ; P outside the window: the fetch itself trapped
        jz    k_t, k_f_memory
        ldx   k_w, k_l, k_p              ; the trapping instruction, at physical l + P
        shr   k_op, k_w, k_56
        sltu  k_t, k_op, k_64            ; its class, by table look-up on the opcode
        jz    k_t, k_class_high
        ldx   k_c, k_class_ptr, k_op
k_classified:
        ldx   k_t, k_cjump_ptr, k_c
        jr    k_t
k_class_high:
        sltu  k_t, k_op, k_128
        jz    k_t, k_f_illegal
        ldx   k_c, k_class_hi_ptr, k_op
        jmp   k_classified

; The classes: what a trapping instruction of that opcode means.
        .equ  C_ILLEGAL, 0               ; no such instruction
        .equ  C_PLAIN,   1               ; traps only when an address fails: a memory trap
        .equ  C_PRIV,    2               ; privileged
        .equ  C_SVC,     3               ; the supervisor call
        .equ  C_DIVIDE,  4               ; div/rem: a zero divisor, or a memory trap
        .equ  C_TRAP,    5               ; another trapping instruction (ppc's sc)
k_cjump:
        .word k_f_illegal, k_f_memory, k_f_priv, k_syscall, k_f_divide, k_f_trap

k_f_illegal:
        li    k_why, k_w_illegal
        jmp   k_kill
k_f_memory:
        li    k_why, k_w_memory
        jmp   k_kill
k_f_priv:
        li    k_why, k_w_priv
        jmp   k_kill
k_f_trap:
        li    k_why, k_w_trap
        jmp   k_kill
k_f_divide:
        shr   k_t, k_w, k_2              ; the c field (bits 19..2): the divisor's address
        and   k_t, k_t, k_mask18
        sltu  k_u, k_t, k_b
        jz    k_u, k_f_memory
        ldx   k_u, k_l, k_t
        jnz   k_u, k_f_memory            ; a divisor that is not zero: an address failed
        li    k_why, k_w_divide
        jmp   k_kill

; k_kill: kill the current process for the reason at k_why (and " at P=..." if k_showp).
k_kill: li    k_t, DEAD
        stx   k_t, k_state_ptr, k_cur
        jal   k_pret, k_who
        li    puts_arg, k_m_killed
        jal   puts_ret, puts
        mov   puts_arg, k_why
        jal   puts_ret, puts
        jz    k_showp, k_kill_nl
        li    puts_arg, k_m_at
        jal   puts_ret, puts
        mov   phex_arg, k_p
        jal   phex_ret, phex
k_kill_nl:
        li    puts_arg, k_m_nl
        jal   puts_ret, puts
        jmp   k_switch

; ---- system calls -----------------------------------------------------------------------------

k_syscall:
        and   k_n, k_w, k_immmask        ; the svc's number
        sltu  k_t, k_n, k_nsys
        jz    k_t, k_sys_none
        ldx   k_t, k_sjump_ptr, k_n
        jr    k_t
k_sjump:
        .word k_sys_exit, k_sys_putc, k_sys_puts, k_sys_yield, k_sys_getpid

k_sys_none:                              ; no such call: all ones in SYS_A0
        li    k_t, -1
        stx   k_t, k_l, k_c0
        jmp   k_resume

k_sys_exit:
        li    k_t, DEAD
        stx   k_t, k_state_ptr, k_cur
        jal   k_pret, k_who
        li    puts_arg, k_m_exited
        jal   puts_ret, puts
        jmp   k_switch

k_sys_putc:
        ldx   k_t, k_l, k_c0             ; E[l + SYS_A0]
        out   k_t
        jmp   k_resume

k_sys_puts:
        ldx   k_u, k_l, k_c0             ; the string's apparent address
k_puts_next:
        sltu  k_t, k_u, k_b              ; every character must be inside the window
        jz    k_t, k_puts_bad
        ldx   k_t, k_l, k_u
        jz    k_t, k_resume
        out   k_t
        addi  k_u, 1
        jmp   k_puts_next
k_puts_bad:
        li    k_why, k_w_badaddr
        jmp   k_kill

k_sys_yield:
        add   k_t, 0, k_p_one            ; resume after the svc, when its turn comes again
        stx   k_t, k_psw_ptr, k_cur
        jmp   k_switch

k_sys_getpid:
        add   k_t, k_cur, k_c1
        stx   k_t, k_l, k_c0
        jmp   k_resume

; ---- kernel routines --------------------------------------------------------------------------

; k_copy: copy E[k_cnt] words from physical E[k_src].. to E[k_dst].. (returns via k_cret).
k_copy: jz    k_cnt, k_copied
        ldx   k_t, k_src, k_c0
        stx   k_t, k_dst, k_c0
        addi  k_src, 1
        addi  k_dst, 1
        addi  k_cnt, -1
        jmp   k_copy
k_copied:
        jr    k_cret

; k_who: print "tsos: process N (name) " for k_cur (returns via k_pret).
k_who:  mov   k_wret, k_pret
        li    puts_arg, k_m_proc
        jal   puts_ret, puts
        add   k_t, k_cur, k_c1
        jal   k_pret, k_putdigit
        li    puts_arg, k_m_open
        jal   puts_ret, puts
        ldx   puts_arg, k_name_ptr, k_cur
        jal   puts_ret, puts
        li    puts_arg, k_m_close
        jal   puts_ret, puts
        jr    k_wret

; k_putdigit: print E[k_t], 0..9, as one digit (returns via k_pret).
k_putdigit:
        add   k_t, k_t, k_char0
        out   k_t
        jr    k_pret

; A trap in supervisor mode is a kernel bug; a failed sanity check is a bad build.
k_panic_trap:
        li    k_why, k_p_trap
        shr   k_p, 0, k_42
        and   k_p, k_p, k_mask21
        li    puts_arg, k_m_panic
        jal   puts_ret, puts
        mov   puts_arg, k_why
        jal   puts_ret, puts
        li    puts_arg, k_m_at
        jal   puts_ret, puts
        mov   phex_arg, k_p
        jal   phex_ret, phex
        li    puts_arg, k_m_nl
        jal   puts_ret, puts
        halt
k_panic_msg:
        li    puts_arg, k_m_panic
        jal   puts_ret, puts
        mov   puts_arg, k_why
        jal   puts_ret, puts
        li    puts_arg, k_m_nl
        jal   puts_ret, puts
        halt

        .include "../lib/console.s"

; ---- kernel data ------------------------------------------------------------------------------

k_state:  .space NPROC_MAX               ; per process: FREE, READY or DEAD
k_psws:   .space NPROC_MAX               ; saved PSW
k_used:   .space NPROC_MAX               ; time slices used
k_limits: .space NPROC_MAX               ; CPU limit in time slices (0: none)
k_names:  .space NPROC_MAX               ; name string
k_state_ptr: .word k_state
k_psw_ptr:   .word k_psws
k_used_ptr:  .word k_used
k_limit_ptr: .word k_limits
k_name_ptr:  .word k_names
k_class_ptr: .word k_class
k_class_hi_ptr: .word k_class_hi - 64
k_cjump_ptr: .word k_cjump
k_sjump_ptr: .word k_sjump

k_memsize: .word 0
k_nproc:  .word (proc_table_end - proc_table) / PROC_WORDS
k_nmax:   .word NPROC_MAX
k_pwords: .word PROC_WORDS
k_userlo: .word USER_LO
k_imgend: .word image_end
k_rtrel:  .word RT_REL
k_progrel: .word PROG_REL
k_rtlen:  .word k_rt_end - k_rt
k_uentry: .word 1 << 63 | PROG_REL << 42   ; user mode, P = PROG_REL
k_quantum: .word QUANTUM
k_nsys:   .word NSYS
k_ready:  .word READY
k_p_one:  .word 1 << 42                    ; 1 in a PSW's P field
k_mask21: .word 0x1fffff
k_mask18: .word 0x3ffff
k_immmask: .word 0x3fffffffff              ; the svc's 38-bit immediate
k_char0:  .word '0'
k_c0:     .word 0
k_c1:     .word 1
k_c2:     .word 2
k_c3:     .word 3
k_c4:     .word 4
k_c5:     .word 5
k_2:      .word 2
k_21:     .word 21
k_42:     .word 42
k_56:     .word 56
k_63:     .word 63
k_64:     .word 64
k_128:    .word 128

k_t:      .word 0                          ; scratch words
k_u:      .word 0
k_n:      .word 0
k_i:      .word 0
k_e:      .word 0
k_cur:    .word 0                          ; the running process's slot (pid - 1)
k_psw:    .word 0                          ; the PSW hook_enter loads
k_p:      .word 0                          ; the trapped P, l and b
k_l:      .word 0
k_b:      .word 0
k_w:      .word 0                          ; the trapping instruction, its opcode, its class
k_op:     .word 0
k_c:      .word 0
k_why:    .word 0
k_showp:  .word 0
k_base:   .word 0
k_size:   .word 0
k_prev:   .word 0
k_src:    .word 0
k_dst:    .word 0
k_cnt:    .word 0
k_hret:   .word 0                          ; link words
k_cret:   .word 0
k_pret:   .word 0
k_wret:   .word 0

k_m_boot:    .stringz "tsos: "
k_m_boot2:   .stringz " kernel, "
k_m_boot3:   .stringz " processes, memory 0x"
k_m_boot4:   .stringz " words\n"
k_m_proc:    .stringz "tsos: process "
k_m_open:    .stringz " ("
k_m_close:   .stringz ") "
k_m_exited:  .stringz "exited\n"
k_m_killed:  .stringz "killed: "
k_m_nofit:   .stringz "not started: its region does not fit\n"
k_m_at:      .stringz " at P=0x"
k_m_nl:      .stringz "\n"
k_m_done:    .stringz "tsos: all processes have exited; halting\n"
k_m_panic:   .stringz "tsos: panic: "
k_w_memory:  .stringz "memory trap"
k_w_priv:    .stringz "privileged instruction"
k_w_illegal: .stringz "illegal instruction"
k_w_divide:  .stringz "divide by zero"
k_w_trap:    .stringz "unsupported trap instruction"
k_w_badaddr: .stringz "bad address in system call"
k_w_cpu:     .stringz "CPU time limit"
k_p_trap:    .stringz "trap in supervisor mode"
k_p_toomany: .stringz "too many processes"
k_p_image:   .stringz "the image reaches into user memory"
k_p_runtime: .stringz "the user runtime does not fit below PROG_REL"

; The trap class of opcodes 0x00..0x3f, the base repertoire (isa/base.isa).
k_class:
        .word 0, 1, 1, 1, 4, 4, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0    ; 0x00: add .. addi
        .word 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0    ; 0x10: seq sltu slt, li mov ldx stx
        .word 1, 1, 1, 1, 1, 1, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0    ; 0x20: jumps, svc
        .word 2, 2, 2, 0, 0, 0, 0, 0, 2, 2, 2, 0, 0, 0, 0, 2    ; 0x30: lpsw lrb spsw, out in stmr, halt

; ---- the user runtime template ----------------------------------------------------------------
; Assembled once with apparent addresses from RT_REL, copied into every region at boot.

k_rt:                                    ; (a label on a .base line would take the new base)
        .base k_rt - RT_REL
        .include "../lib/usys-svc.s"
        .base 0
k_rt_end:
