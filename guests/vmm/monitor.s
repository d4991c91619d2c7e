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
        jmp   m_resume_peek
m_nomem:
        halt

; ---- resume: from the virtual PSW to the real one ----------------------------------------------
; Every path through the monitor ends here, at an instruction boundary of the guest.
;
; The real R' that the VM map gives a virtual R (a window check and a min) is kept with the
; virtual R it came from, one for each virtual mode, and worked out again only when that R
; changed: a nested monitor switches between its own R (supervisor) and its guest's (user) on
; every trap it handles. Only virtual supervisor mode needs l' and b' themselves, to emulate.

m_resume:
        jnz   m_vpend, m_pending         ; the guest's timer fell due: deliver it at a boundary
m_go:   and   m_t, m_vpsw, m_rmask       ; the virtual R = <l, b>
        shr   m_u, m_vpsw, m_63
        jnz   m_u, m_go_user
        seq   m_u, m_t, m_vr_s           ; the same as last time in supervisor mode?
        jz    m_u, m_newr_s
m_mkpsw:
        and   m_rpsw, m_vpsw, m_pmask    ; real PSW = <user, P, <l', b'>>
        or    m_rpsw, m_rpsw, m_rr_s
m_arm:  jnz   m_vrem, m_timed
        jnz   m_rarm, m_disarm           ; a single step may have left the real timer pending
        lpsw  m_rpsw
m_timed:
        li    m_rarm, 1                  ; the guest's timer runs: one guest instruction, then
        stmr  m_c2                       ;   the real timer (due after this lpsw and one more)
        lpsw  m_rpsw
m_disarm:
        li    m_rarm, 0
        stmr  m_c0
        lpsw  m_rpsw
m_go_user:
        seq   m_u, m_t, m_vr_u           ; the same as last time in user mode?
        jz    m_u, m_newr_u
m_mkpsw_u:
        and   m_rpsw, m_vpsw, m_pmask
        or    m_rpsw, m_rpsw, m_rr_u
        jmp   m_arm
m_newr_s:
        jal   m_cret, m_setr_s
        jmp   m_mkpsw
m_newr_u:
        mov   m_vr_u, m_t
        jal   m_cret, m_setr
        mov   m_rr_u, m_sr
        jmp   m_mkpsw_u

m_pending:                               ; in virtual user mode only (supervisor is masked)
        shr   m_t, m_vpsw, m_63
        jz    m_t, m_go
m_deliver:
        li    m_vpend, 0                 ; reflect the interrupt: the guest's own vector pair
        stx   m_vpsw, m_k, m_c2          ;   E[2]/E[3], as its hardware would
        ldx   m_vpsw, m_k, m_c3
        addi  m_nvint, 1
        jmp   m_go

; m_setr: the real R' for the virtual R in m_t: m_sl = l', m_sb = b', m_sr = the real PSW's
; mode and R bits (returns via m_cret). m_setr_s makes them supervisor mode's.
m_setr: shr   m_l, m_t, m_21             ; (m_t holds R alone: no mask needed for l)
        and   m_sb, m_t, m_mask21
        sltu  m_u, m_l, m_w
        jz    m_u, m_nowin
        sub   m_u, m_w, m_l              ; b' = min(b, w - l)
        sltu  m_t, m_u, m_sb
        jz    m_t, m_bok
        mov   m_sb, m_u
m_bok:  add   m_sl, m_l, m_k             ; l' = VMM_K + l
        jmp   m_mkrr
m_nowin:                                 ; l >= w: no window at all, every address traps
        li    m_sb, 0
        mov   m_sl, m_k
m_mkrr: shl   m_sr, m_sl, m_21
        or    m_sr, m_sr, m_sb
        or    m_sr, m_sr, m_userbit
        jr    m_cret
m_setr_s:
        mov   m_vr_s, m_t
        mov   m_sret, m_cret
        jal   m_cret, m_setr
        mov   m_rl, m_sl
        mov   m_rb, m_sb
        mov   m_rr_s, m_sr
        jr    m_sret

; Resume after an emulation. In virtual supervisor mode, a privileged instruction next would
; trap at once: emulate it now, saving the round trip (and, nested, the monitors' below). A
; nested monitor's resume is two in a row (stmr, then lpsw) whenever its guest is timed.
m_resume_peek:
        jnz   m_vpend, m_pending
        shr   m_u, m_vpsw, m_63          ; virtual user mode: nothing to save
        jnz   m_u, m_go
        and   m_t, m_vpsw, m_rmask
        seq   m_u, m_t, m_vr_s
        jnz   m_u, m_peek
        jal   m_cret, m_setr_s
m_peek: shr   m_p, m_vpsw, m_42          ; (the mode bit is 0: P alone)
        sltu  m_t, m_p, m_rb
        jz    m_t, m_mkpsw
        ldx   m_word, m_rl, m_p
        shr   m_op, m_word, m_56
        sltu  m_t, m_op, m_64
        jz    m_t, m_peek_hi
        ldx   m_h, m_optab_ptr, m_op
m_peek_found:
        seq   m_u, m_h, m_reflect_at     ; not privileged: run it directly
        jnz   m_u, m_mkpsw
        jz    m_vrem, m_dispatch
        jal   m_cret, m_count            ; it counts on the guest's timer as if it had trapped
        jmp   m_dispatch
m_peek_hi:
        jal   m_cret, m_lookup_hi
        jmp   m_peek_found

; ---- the dispatcher: every trap of the guest comes here (E[1]) ---------------------------------

m_trap: shr   m_t, 0, m_63               ; E[0]: the trapped PSW. From supervisor mode: the
        jz    m_t, m_panic               ;   monitor itself trapped, a bug
        addi  m_ntrap, 1
        jnz   m_vrem, m_trap_timed       ; the trapped instruction counts on the guest's timer
m_trap_counted:
        and   m_t, 0, m_pmask            ; the guest's P: the trapped instruction's
        and   m_vpsw, m_vpsw, m_npmask
        or    m_vpsw, m_vpsw, m_t
        shr   m_u, m_vpsw, m_63          ; virtual user mode: the trap is the guest's own
        jnz   m_u, m_reflect
        shr   m_p, m_t, m_42
        sltu  m_u, m_p, m_rb             ; P outside the window: the fetch itself trapped
        jz    m_u, m_reflect
        ldx   m_word, m_rl, m_p          ; the instruction, at the monitor's VMM_K + l + P
        shr   m_op, m_word, m_56         ; virtual supervisor mode: decode, and dispatch on
        sltu  m_t, m_op, m_64            ;   the opcode by table look-up
        jz    m_t, m_trap_hi
        ldx   m_h, m_optab_ptr, m_op
m_dispatch:                              ; m_h: the interpreter of the instruction in m_word
        shr   m_a, m_word, m_38
        and   m_a, m_a, m_mask18
        jr    m_h
m_trap_hi:
        jal   m_cret, m_lookup_hi
        jmp   m_dispatch
m_trap_timed:
        jal   m_cret, m_count
        jmp   m_trap_counted

; m_lookup_hi: m_h <- the interpreter of opcode m_op >= 64: the profile's own table for
; 0x40..0x7f, m_reflect above (returns via m_cret).
m_lookup_hi:
        sltu  m_t, m_op, m_128
        jz    m_t, m_nohi
        ldx   m_h, m_optab_hi_ptr, m_op
        jr    m_cret
m_nohi: mov   m_h, m_reflect_at
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

; m_chka / m_chkb: operand a (b) must be inside the window (returns via m_cret). m_chkb
; decodes b first: only a few of the profiles' instructions have one.
m_chka: sltu  m_t, m_a, m_rb
        jz    m_t, m_reflect
        jr    m_cret
m_chkb: shr   m_b, m_word, m_20
        and   m_b, m_b, m_mask18
        sltu  m_t, m_b, m_rb
        jz    m_t, m_reflect
        jr    m_cret

; m_next: the instruction is done: P moves to the next one (P < b' <= 2^21 - 1, so P + 1
; cannot carry out of its field), count it, resume.
m_next: add   m_vpsw, m_vpsw, m_pone
m_done: addi  m_nemu, 1
        ldx   m_t, m_byop_ptr, m_op
        addi  m_t, 1
        stx   m_t, m_byop_ptr, m_op
        jmp   m_resume_peek

; m_next_dev: the same for a console instruction, which changes neither the mode nor R: the
; real R' stands, and the guest's next instruction is its own work, not worth a peek.
m_next_dev:
        add   m_vpsw, m_vpsw, m_pone
        addi  m_nemu, 1
        ldx   m_t, m_byop_ptr, m_op
        addi  m_t, 1
        stx   m_t, m_byop_ptr, m_op
        jnz   m_vpend, m_resume
        jmp   m_mkpsw                    ; (in virtual supervisor mode, where it trapped)

m_i_lpsw:                                ; lpsw a: PSW <- E[a]
        sltu  m_t, m_a, m_rb
        jz    m_t, m_reflect
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
        add   m_u, m_vpsw, m_pone
        stx   m_u, m_rl, m_a
        jmp   m_next
m_i_halt:                                ; halt: the guest halts, so the machine does
        addi  m_nemu, 1
        ldx   m_t, m_byop_ptr, m_op
        addi  m_t, 1
        stx   m_t, m_byop_ptr, m_op
        halt
        jmp   m_resume                   ; (under a monitor that lets a halt go on)
m_i_out:                                 ; out a: the console is virtual: the monitor writes
        sltu  m_t, m_a, m_rb             ;   the byte to its own console
        jz    m_t, m_reflect
        ldx   m_t, m_rl, m_a
        out   m_t
        jmp   m_next_dev
m_i_in:                                  ; in a: reads the monitor's own console
        sltu  m_t, m_a, m_rb
        jz    m_t, m_reflect
        in    m_t
        stx   m_t, m_rl, m_a
        jmp   m_next_dev
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
m_pone:   .word 1 << 42                  ; P + 1
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
m_vr_s:   .word ~0                       ; virtual supervisor mode's R, the one that m_rl,
m_rl:     .word 0                        ;   its l', m_rb, its b' (where the guest's window
m_rb:     .word 0                        ;   is) and m_rr_s, the real PSW's mode and R, are for
m_rr_s:   .word 0
m_vr_u:   .word ~0                       ; the same for virtual user mode
m_rr_u:   .word 0
m_sl:     .word 0                        ; m_setr's results
m_sb:     .word 0
m_sr:     .word 0
m_rarm:   .word 0                        ; the real timer may be armed or pending
m_t:      .word 0                        ; scratch
m_u:      .word 0
m_l:      .word 0
m_p:      .word 0                        ; the trapped instruction: P, word, opcode, operands
m_word:   .word 0
m_op:     .word 0
m_h:      .word 0                        ; its interpreter
m_a:      .word 0
m_b:      .word 0
m_hret:   .word 0                        ; link words
m_cret:   .word 0
m_sret:   .word 0
