; vmm: a trap-and-emulate monitor written in the machine's own assembly, the common part.
;
; This is the control program CP = <D, A, {v_i}> of Popek and Goldberg's proof of Theorem 1
; (section 6 of the paper), as a program of the machine itself, so that it can run under
; itself (Theorem 2, section 7): nested to depth n, level 0 runs bare, level i hosts level i+1
; in its own virtual machine, and the innermost level runs the guest. Nothing in it depends on
; which level it is: every level sees a machine that behaves like a real one of fewer words.
;
; A build file (s370.s, ...) is this file plus the profile's pieces (arch/*.s). It provides:
;   hook_size     (jal m_hret) set m_size to the words of the monitor's own window, read the
;                 profile's way (a privileged instruction: under a monitor it is emulated)
;   m_optab_hi    64 words: the interpreter of each opcode 0x40..0x7f, or m_reflect
;   m_image_end   a label after the last word of the image (it must stay below VMM_K)
;
; The VM map f (DESIGN.md section 4): the monitor owns its words 0..VMM_K-1 and its guest's
; E[i] is its word VMM_K + i; the guest runs in real user mode with R' = <VMM_K + l, b'>,
; b' = min(b, w - l), so that an address traps exactly when it would on a real machine of w
; words. The monitor keeps the guest's virtual PSW (its own M, P and R) in m_vpsw.
;
; Time: the monitor reads no clock (it executes no timing-dependent instruction; `pgvm nest`
; checks that). The guest's interval timer counts the guest's own instructions. The monitor
; cannot tell how many instructions a guest ran directly before it trapped without reading
; time, so while the guest's timer is armed it runs the guest one instruction at a time,
; with the real timer armed for exactly one guest instruction: every guest instruction then
; reaches the monitor, by a trap or by the real timer's interrupt, and the monitor counts it.
; While the guest's timer is off (the workloads), the guest runs directly at full speed.
;
; The monitor runs in supervisor mode with R = <0, its window>, so its labels are its own
; physical addresses. Supervisor code is never interrupted, so every handler runs to the end.
; Names start with m_.

        .equ  VMM_K,     0x400           ; the control program's words; the guest starts here

        .entry m_boot

        .org  0
        .word 0                                 ; E[0]: the old PSW of a trap
        .psw  super, m_trap, 0, 0x1fffff        ; E[1]: the dispatcher
        .word 0                                 ; E[2]: the old PSW of a timer interrupt
        .psw  super, m_tick, 0, 0x1fffff        ; E[3]: the single-step handler

; ---- the header: fixed places the nesting tool writes and reads (docs/recursion.md) ----------

        .org  0x10
m_gentry: .word 0                        ; 0x10  the guest's entry PSW (written by the builder)
m_vpsw:   .word 0                        ; 0x11  the guest's virtual PSW
m_w:      .word 0                        ; 0x12  the guest's memory size w
m_ntrap:  .word 0                        ; 0x13  traps taken (E[0]/E[1])
m_nemu:   .word 0                        ; 0x14  privileged instructions emulated
m_nrefl:  .word 0                        ; 0x15  traps reflected into the guest
m_nstep:  .word 0                        ; 0x16  single-step interrupts taken (E[2]/E[3])
m_nvint:  .word 0                        ; 0x17  timer interrupts reflected into the guest
m_vrem:   .word 0                        ; 0x18  guest instructions until its timer falls due (0: off)
m_vpend:  .word 0                        ; 0x19  the guest's timer fell due; waiting for user mode
m_size:   .word 0                        ; 0x1a  the monitor's own window
        .org  0x20
m_byop:   .space 128                     ; 0x20  emulations by opcode

; ---- boot: the allocator ----------------------------------------------------------------------
; The allocator owns the guest's memory: all the words after the control program's, and none of
; them twice. It checks they exist; a window too small for any guest is refused (a halt at
; m_nomem, with the guest never started).

m_boot: jal   m_hret, hook_size          ; m_size <- the monitor's own window
        sltu  m_t, m_k, m_size           ; VMM_K < size: at least one word for the guest?
        jz    m_t, m_nomem
        sub   m_w, m_size, m_k           ; w = size - VMM_K: the memory after the monitor
        mov   m_vpsw, m_gentry           ; the guest starts at its entry, in supervisor mode
        jmp   m_resume
m_nomem:
        halt

; ---- resume: from the virtual PSW to the real one ----------------------------------------------
; Every path through the monitor ends here, at an instruction boundary of the guest.

m_resume:
        jz    m_vpend, m_go              ; the guest's timer fell due: deliver it at a boundary
        shr   m_t, m_vpsw, m_63          ;   in virtual user mode only (supervisor is masked)
        jz    m_t, m_go
m_deliver:                               ; reflect the interrupt: the guest's own vector pair
        li    m_vpend, 0                 ;   E[2]/E[3], as its hardware would
        stx   m_vpsw, m_k, m_c2
        ldx   m_vpsw, m_k, m_c3
        addi  m_nvint, 1
m_go:   shr   m_l, m_vpsw, m_21          ; the virtual R = <l, b>
        and   m_l, m_l, m_mask21
        and   m_rb, m_vpsw, m_mask21
        sltu  m_t, m_l, m_w
        jz    m_t, m_nowin
        sub   m_t, m_w, m_l              ; b' = min(b, w - l)
        sltu  m_u, m_t, m_rb
        jz    m_u, m_bok
        mov   m_rb, m_t
m_bok:  add   m_rl, m_l, m_k             ; l' = VMM_K + l
        jmp   m_peek
m_nowin:                                 ; l >= w: no window at all, every address traps
        li    m_rb, 0
        mov   m_rl, m_k
m_peek: shr   m_t, m_vpsw, m_63          ; in virtual supervisor mode, a privileged instruction
        jnz   m_t, m_mkpsw               ;   next would trap at once: emulate it now, saving
        shr   m_p, m_vpsw, m_42          ;   the round trip (and, nested, the monitors' below)
        and   m_p, m_p, m_mask21
        sltu  m_t, m_p, m_rb
        jz    m_t, m_mkpsw
        ldx   m_word, m_rl, m_p
        shr   m_op, m_word, m_56
        jal   m_cret, m_lookup           ; its interpreter, if it is privileged
        seq   m_u, m_t, m_reflect_at
        jnz   m_u, m_mkpsw
        jal   m_cret, m_count            ; it counts on the guest's timer as if it had trapped
        jmp   m_decode
m_mkpsw:
        and   m_rpsw, m_vpsw, m_pmask    ; real PSW = <user, P, <l', b'>>
        shl   m_t, m_rl, m_21
        or    m_rpsw, m_rpsw, m_t
        or    m_rpsw, m_rpsw, m_rb
        or    m_rpsw, m_rpsw, m_userbit
        jz    m_vrem, m_untimed
        li    m_rarm, 1                  ; the guest's timer runs: one guest instruction, then
        stmr  m_c2                       ;   the real timer (due after this lpsw and one more)
        lpsw  m_rpsw
m_untimed:
        jz    m_rarm, m_enter            ; a single step may have left the real timer pending
        li    m_rarm, 0
        stmr  m_c0
m_enter:
        lpsw  m_rpsw

; ---- the dispatcher: every trap of the guest comes here (E[1]) ---------------------------------

m_trap: shr   m_t, 0, m_63               ; E[0]: the trapped PSW. From supervisor mode: the
        jz    m_t, m_panic               ;   monitor itself trapped, a bug
        addi  m_ntrap, 1
        jal   m_cret, m_count            ; the trapped instruction counts on the guest's timer
        and   m_t, 0, m_pmask            ; the guest's P: the trapped instruction's
        and   m_vpsw, m_vpsw, m_npmask
        or    m_vpsw, m_vpsw, m_t
        shr   m_p, m_t, m_42
        sltu  m_t, m_p, m_rb             ; P outside the window: the fetch itself trapped
        jz    m_t, m_reflect
        ldx   m_word, m_rl, m_p          ; the instruction, at the monitor's VMM_K + l + P
        shr   m_t, m_vpsw, m_63          ; virtual user mode: the trap is the guest's own
        jnz   m_t, m_reflect
        shr   m_op, m_word, m_56         ; virtual supervisor mode: decode, and dispatch on
m_decode:                                ;   the opcode by table look-up
        shr   m_a, m_word, m_38
        and   m_a, m_a, m_mask18
        shr   m_b, m_word, m_20
        and   m_b, m_b, m_mask18
        jal   m_cret, m_lookup
        jr    m_t

; m_lookup: m_t <- the interpreter of opcode m_op, m_reflect when it has none (returns via
; m_cret).
m_lookup:
        sltu  m_t, m_op, m_64
        jz    m_t, m_hiop
        ldx   m_t, m_optab_ptr, m_op
        jr    m_cret
m_hiop: sltu  m_t, m_op, m_128           ; the profile's own opcodes, 0x40..0x7f
        jz    m_t, m_noop
        ldx   m_t, m_optab_hi_ptr, m_op
        jr    m_cret
m_noop: mov   m_t, m_reflect_at
        jr    m_cret

; Reflect: the guest's own trap, through its own E[0]/E[1] (the dispatcher's second and third
; cases in the paper: a privileged instruction in virtual user mode, and every other trap).
m_reflect:
        addi  m_nrefl, 1
        stx   m_vpsw, m_k, m_c0          ; guest E[0] <- its PSW, P at the blocked instruction
        ldx   m_vpsw, m_k, m_c1          ; its PSW <- guest E[1]
        jmp   m_resume

; The single-step interrupt (E[2]/E[3]): the guest executed exactly one instruction directly.
; Most often the guest's timer is still running: the next step goes on from E[2] at once,
; which is the guest's real PSW after the instruction (M and R as the monitor set them, since
; no trap came; P moved on). The virtual PSW's P is brought up to date only when the monitor
; needs it: at the next trap (from E[0]) or when the timer falls due.
m_tick: addi  m_nstep, 1
        jz    m_vrem, m_tick_due         ; (not timed: only after a guest disarmed its timer)
        addi  m_vrem, -1
        jz    m_vrem, m_tick_fell
        stmr  m_c2                       ; one more step
        lpsw  2
m_tick_fell:
        li    m_vpend, 1                 ; the guest's timer falls due
m_tick_due:
        li    m_rarm, 0                  ; the real timer fell due and was taken: it is quiet
        and   m_t, 2, m_pmask
        and   m_vpsw, m_vpsw, m_npmask
        or    m_vpsw, m_vpsw, m_t
        jmp   m_resume

; m_count: one more guest instruction on the guest's interval timer (returns via m_cret).
m_count:
        jz    m_vrem, m_counted
        addi  m_vrem, -1
        jnz   m_vrem, m_counted
        li    m_vpend, 1                 ; it falls due
m_counted:
        jr    m_cret

; ---- the interpreters: one per privileged instruction, run in virtual supervisor mode ----------
; Each applies the instruction's effect (isa/base.isa and the profile's file) to the virtual
; state: the guest's words through its virtual R, the virtual PSW, its devices. An operand
; outside the window is the memory trap the real machine would take: reflected.

; m_chka / m_chkb: operand a (b) must be inside the window (returns via m_cret).
m_chka: sltu  m_t, m_a, m_rb
        jz    m_t, m_reflect
        jr    m_cret
m_chkb: sltu  m_t, m_b, m_rb
        jz    m_t, m_reflect
        jr    m_cret

; m_next: the instruction is done: count it, P moves to the next one, resume.
m_next: addi  m_p, 1
        and   m_p, m_p, m_mask21
        shl   m_t, m_p, m_42
        and   m_vpsw, m_vpsw, m_npmask
        or    m_vpsw, m_vpsw, m_t
m_done: addi  m_nemu, 1
        ldx   m_t, m_byop_ptr, m_op
        addi  m_t, 1
        stx   m_t, m_byop_ptr, m_op
        jmp   m_resume

m_i_lpsw:                                ; lpsw a: PSW <- E[a]
        jal   m_cret, m_chka
        ldx   m_vpsw, m_rl, m_a
        jmp   m_done
m_i_lrb:                                 ; lrb a: R <- E[a]
        jal   m_cret, m_chka
        ldx   m_t, m_rl, m_a
        and   m_t, m_t, m_rmask
        and   m_vpsw, m_vpsw, m_nrmask
        or    m_vpsw, m_vpsw, m_t
        jmp   m_next
m_i_spsw:                                ; spsw a: E[a] <- PSW, P at the next instruction
        jal   m_cret, m_chka
        addi  m_p, 1
        and   m_p, m_p, m_mask21
        shl   m_t, m_p, m_42
        and   m_u, m_vpsw, m_npmask
        or    m_u, m_u, m_t
        stx   m_u, m_rl, m_a
        addi  m_p, -1
        jmp   m_next
m_i_halt:                                ; halt: the guest halts, so the machine does
        addi  m_nemu, 1
        ldx   m_t, m_byop_ptr, m_op
        addi  m_t, 1
        stx   m_t, m_byop_ptr, m_op
        halt
        jmp   m_resume                   ; (under a monitor that lets a halt go on)
m_i_out:                                 ; out a: the console is virtual: the monitor writes
        jal   m_cret, m_chka             ;   the byte to its own console
        ldx   m_t, m_rl, m_a
        out   m_t
        jmp   m_next
m_i_in:                                  ; in a: reads the monitor's own console
        jal   m_cret, m_chka
        in    m_t
        stx   m_t, m_rl, m_a
        jmp   m_next
m_i_stmr:                                ; stmr a: the guest's timer, counted in its own
        jal   m_cret, m_chka             ;   instructions: E[a] more after this one (0: off)
        ldx   m_vrem, m_rl, m_a
        li    m_vpend, 0
        jmp   m_next

m_panic:
        halt

; ---- data -------------------------------------------------------------------------------------

; The interpreter of each opcode 0x00..0x3f of the base repertoire (isa/base.isa); every other
; instruction traps in virtual supervisor mode only as it would on the real machine (an
; address, a zero divisor, a supervisor call, no such instruction): reflected.
m_optab:
        .word m_reflect, m_reflect, m_reflect, m_reflect, m_reflect, m_reflect, m_reflect, m_reflect
        .word m_reflect, m_reflect, m_reflect, m_reflect, m_reflect, m_reflect, m_reflect, m_reflect
        .word m_reflect, m_reflect, m_reflect, m_reflect, m_reflect, m_reflect, m_reflect, m_reflect
        .word m_reflect, m_reflect, m_reflect, m_reflect, m_reflect, m_reflect, m_reflect, m_reflect
        .word m_reflect, m_reflect, m_reflect, m_reflect, m_reflect, m_reflect, m_reflect, m_reflect
        .word m_reflect, m_reflect, m_reflect, m_reflect, m_reflect, m_reflect, m_reflect, m_reflect
        .word m_i_lpsw,  m_i_lrb,   m_i_spsw,  m_reflect, m_reflect, m_reflect, m_reflect, m_reflect
        .word m_i_out,   m_i_in,    m_i_stmr,  m_reflect, m_reflect, m_reflect, m_reflect, m_i_halt

m_optab_ptr: .word m_optab
m_reflect_at: .word m_reflect
m_optab_hi_ptr: .word m_optab_hi - 64
m_byop_ptr:  .word m_byop
m_k:      .word VMM_K
m_userbit: .word 1 << 63
m_pmask:  .word 0x1fffff << 42           ; a PSW's P field
m_npmask: .word ~(0x1fffff << 42)
m_rmask:  .word (1 << 42) - 1            ; a PSW's R = <l, b>
m_nrmask: .word ~((1 << 42) - 1)
m_mask21: .word 0x1fffff
m_mask18: .word 0x3ffff
m_c0:     .word 0
m_c1:     .word 1
m_c2:     .word 2
m_c3:     .word 3
m_20:     .word 20
m_21:     .word 21
m_38:     .word 38
m_42:     .word 42
m_56:     .word 56
m_63:     .word 63
m_64:     .word 64
m_128:    .word 128

m_rpsw:   .word 0                        ; the real PSW the guest runs with
m_rl:     .word 0                        ; its l' and b': where the guest's window is
m_rb:     .word 0
m_rarm:   .word 0                        ; the real timer may be armed or pending
m_t:      .word 0                        ; scratch
m_u:      .word 0
m_l:      .word 0
m_p:      .word 0                        ; the trapped instruction: P, word, opcode, operands
m_word:   .word 0
m_op:     .word 0
m_a:      .word 0
m_b:      .word 0
m_hret:   .word 0                        ; link words
m_cret:   .word 0
