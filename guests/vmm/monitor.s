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
;   m_optab_hi    64 words: the interpreter of each opcode 0x40..0x7f, or m_reflect; the
;                 file's first words, right after m_optab (the dispatcher's table goes on)
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
        .psw  super, m_trap, 0, 0x1fffff        ; E[1]: the dispatcher (m_trap_timed while timed)
        .word 0                                 ; E[2]: the old PSW of a timer interrupt
        .psw  super, m_tick, 0, 0x1fffff        ; E[3]: the single-step handler

; ---- the header: fixed places the nesting tool writes and reads (docs/recursion.md) ----------

        .org  0x10
m_gentry: .word 0                        ; 0x10  the guest's entry PSW (written by the builder)
m_vpsw:   .word 0                        ; 0x11  the guest's virtual PSW
m_w:      .word 0                        ; 0x12  the guest's memory size w
m_ntrap:  .word 0                        ; 0x13  traps taken (E[0]/E[1])
m_npeek:  .word 0                        ; 0x14  instructions a look ahead found (no trap of theirs)
m_nrefl:  .word 0                        ; 0x15  traps reflected into the guest
m_nstep:  .word 0                        ; 0x16  single-step interrupts taken (E[2]/E[3])
m_nvint:  .word 0                        ; 0x17  timer interrupts reflected into the guest
m_vrem:   .word 0                        ; 0x18  guest instructions until its timer falls due (0: off)
m_vpend:  .word 0                        ; 0x19  the guest's timer fell due; waiting for user mode
m_size:   .word 0                        ; 0x1a  the monitor's own window
        .org  0x20
m_byop:   .space 128                     ; 0x20  privileged instructions emulated, by opcode

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

; ---- the dispatcher: every trap of the guest comes here (E[1]) ---------------------------------
; Exit multiplication (docs/recursion.md) makes each instruction here cost 2^n times over at
; depth n, so the common cases take few: the virtual PSW comes back from the real one with one
; xor (m_x, below), the opcode's interpreter with one look-up in a 256-word table (the opcode
; is taken signed, so 0x80..0xff index the 128 words before m_optab), and a trap in virtual
; user mode, the guest's own, goes straight to reflection.

m_trap: jneg  0, m_trap_user             ; E[0]: the trapped PSW. From supervisor mode the
m_panic:                                 ;   monitor itself trapped: a bug
        halt
m_trap_user:
        addi  m_ntrap, 1
m_trap_counted:
        xor   m_vpsw, 0, m_x             ; the virtual PSW, P at the trapped instruction
        jneg  m_vpsw, m_reflect          ; virtual user mode: the trap is the guest's own
        shr   m_p, m_vpsw, m_42          ; (the mode bit is 0: P alone)
        sltu  m_u, m_p, m_rb             ; P outside the window: the fetch itself trapped
        jz    m_u, m_reflect
        ldx   m_word, m_rl, m_p          ; the instruction, at the monitor's VMM_K + l + P
        sar   m_op, m_word, m_56         ; virtual supervisor mode: decode, and dispatch on
        ldx   m_h, m_optab_ptr, m_op     ;   the opcode by table look-up
m_dispatch:                              ; m_h: the interpreter of the instruction in m_word
        shr   m_a, m_word, m_38
        and   m_a, m_a, m_mask18
        jr    m_h

; E[1] while the guest's timer runs: the trapped instruction counts on it. m_i_stmr puts it
; there, and the resume puts m_trap back once the timers are quiet (m_quiet), so that the
; untimed trap path need not look at the timer.
m_trap_timed:
        jneg  0, m_trap_tuser
        halt
m_trap_tuser:
        addi  m_ntrap, 1
        jal   m_cret, m_count
        jmp   m_trap_counted

; Reflect: the guest's own trap, through its own E[0]/E[1] (the dispatcher's second and third
; cases in the paper: a privileged instruction in virtual user mode, and every other trap).
m_reflect:
        addi  m_nrefl, 1
        stx   m_vpsw, m_k, m_c0          ; guest E[0] <- its PSW, P at the blocked instruction
        ldx   m_vpsw, m_k, m_c1          ; its PSW <- guest E[1]
                                         ; (on into m_resume)

; ---- resume: from the virtual PSW to the real one ----------------------------------------------
; Every path through the monitor ends here, at an instruction boundary of the guest.
;
; The real PSW differs from the virtual one only in M and R: <user, P, R'> for <M, P, R>, with
; R' what the VM map gives R (a window check and a min). Their xor, m_x, is the same for every
; P, so it is kept with the virtual M and R it came from and worked out again only for an M
; and R not seen lately: the real PSW is then the virtual one xor m_x, and at the next trap
; the virtual PSW is E[0] xor m_x. A nested monitor switches between its own R (virtual
; supervisor mode) and its guest's (user mode) on every trap it handles, and the monitor
; below it sees one user R for each level above: one entry for supervisor mode and three for
; user mode (most recent first) keep all of them at depths to 4. Only virtual supervisor mode
; needs l' and b' themselves (m_rl, m_rb), to emulate.
;
; m_slow says the resume has more to do than load the real PSW: the guest's timer runs, a
; single step left the real timer pending, or the guest's timer fell due and its interrupt
; waits for virtual user mode. Only then does it look further (m_arm).

m_resume:
        and   m_t, m_vpsw, m_npmask      ; the virtual M and R
        seq   m_u, m_t, m_key_s
        jz    m_u, m_go_user
m_go_s: mov   m_x, m_x_s
        xor   m_rpsw, m_vpsw, m_x        ; real PSW = <user, P, <l', b'>>
        jnz   m_slow, m_arm
        lpsw  m_rpsw
m_go_user:
        seq   m_u, m_t, m_key_u0
        jz    m_u, m_go_u1
        mov   m_x, m_x_u0
        xor   m_rpsw, m_vpsw, m_x
        jnz   m_slow, m_arm
        lpsw  m_rpsw
m_go_u1:
        seq   m_u, m_t, m_key_u1
        jz    m_u, m_go_u2
        mov   m_x, m_x_u1
        xor   m_rpsw, m_vpsw, m_x
        jnz   m_slow, m_arm
        lpsw  m_rpsw
m_go_u2:
        seq   m_u, m_t, m_key_u2
        jz    m_u, m_newr
        mov   m_x, m_x_u2
        xor   m_rpsw, m_vpsw, m_x
        jnz   m_slow, m_arm
        lpsw  m_rpsw
m_newr: jneg  m_t, m_newr_u              ; not cached: work R' out, then go again
        jal   m_cret, m_setr_s
        jmp   m_go_s
m_newr_u:
        mov   m_key_u2, m_key_u1         ; the oldest user entry makes room
        mov   m_x_u2, m_x_u1
        mov   m_key_u1, m_key_u0
        mov   m_x_u1, m_x_u0
        jal   m_cret, m_setr
        mov   m_key_u0, m_t
        xor   m_x_u0, m_t, m_sr
        jmp   m_go_user

m_arm:  jnz   m_vpend, m_pending         ; the guest's timer fell due: deliver it at a boundary
m_go:   jnz   m_vrem, m_timed
        jnz   m_rarm, m_disarm
        jnz   m_vpend, m_waits           ; (in virtual supervisor mode)
m_quiet:
        li    m_slow, 0                  ; the real timer is quiet and the guest's is off
        mov   1, m_trap_psw
m_waits:
        lpsw  m_rpsw
m_timed:
        li    m_rarm, 1                  ; the guest's timer runs: one guest instruction, then
        stmr  m_c2                       ;   the real timer (due after this lpsw and one more)
        lpsw  m_rpsw
m_disarm:                                ; (stmr right before lpsw: the monitor below, if
        li    m_rarm, 0                  ;   any, emulates the two after one trap, by a peek)
        jnz   m_vpend, m_disarm_w
        li    m_slow, 0
        mov   1, m_trap_psw
m_disarm_w:
        stmr  m_c0
        lpsw  m_rpsw

m_pending:                               ; in virtual user mode only (supervisor is masked)
        shr   m_t, m_vpsw, m_63
        jz    m_t, m_go
m_deliver:
        li    m_vpend, 0                 ; reflect the interrupt: the guest's own vector pair
        stx   m_vpsw, m_k, m_c2          ;   E[2]/E[3], as its hardware would
        ldx   m_vpsw, m_k, m_c3
        addi  m_nvint, 1
        jmp   m_resume

; m_setr: the real R' for the virtual M and R in m_t: m_sl = l', m_sb = b', m_sr = the real
; PSW's mode and R bits (returns via m_cret; keeps m_t). m_setr_s fills supervisor mode's
; entry with them.
m_setr: and   m_r, m_t, m_rmask
        shr   m_l, m_r, m_21
        and   m_sb, m_r, m_mask21
        sltu  m_u, m_l, m_w
        jz    m_u, m_nowin
        sub   m_u, m_w, m_l              ; b' = min(b, w - l)
        sltu  m_r, m_u, m_sb
        jz    m_r, m_bok
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
        mov   m_sret, m_cret
        jal   m_cret, m_setr
        mov   m_key_s, m_t
        xor   m_x_s, m_t, m_sr
        mov   m_rl, m_sl
        mov   m_rb, m_sb
        jr    m_sret

; The commonest interpreter sits here, to run on into the resume after an emulation.
m_i_lpsw:                                ; lpsw a: PSW <- E[a]
        sltu  m_t, m_a, m_rb
        jz    m_t, m_reflect
        ldx   m_vpsw, m_rl, m_a
        addi  m_byop + 0x30, 1

; Resume after an emulation. In virtual supervisor mode, a privileged instruction next would
; trap at once: emulate it now, saving the round trip (and, nested, the monitors' below). A
; nested monitor's resume is two in a row (stmr, then lpsw) whenever its guest is timed. A
; pending timer interrupt waits meanwhile: supervisor mode masks it.
m_resume_peek:
        and   m_t, m_vpsw, m_npmask
        jneg  m_t, m_go_user             ; virtual user mode: nothing to save
        seq   m_u, m_t, m_key_s
        jnz   m_u, m_peek
        jal   m_cret, m_setr_s
m_peek: shr   m_p, m_vpsw, m_42          ; (the mode bit is 0: P alone)
        sltu  m_u, m_p, m_rb
        jz    m_u, m_go_s
        ldx   m_word, m_rl, m_p
        sar   m_op, m_word, m_56
        ldx   m_h, m_optab_ptr, m_op
        seq   m_u, m_h, m_reflect_at     ; not privileged: run it directly
        jnz   m_u, m_go_s
        addi  m_npeek, 1
        mov   m_x, m_x_s                 ; m_x and E[0] as if it had trapped (m_next_dev
        xor   0, m_vpsw, m_x             ;   resumes from E[0])
        jz    m_vrem, m_dispatch
        jal   m_cret, m_count            ; it counts on the guest's timer as if it had trapped
        jmp   m_dispatch

; The single-step interrupt (E[2]/E[3]): the guest executed exactly one instruction directly.
; Most often the guest's timer is still running: the next step goes on from E[2] at once,
; which is the guest's real PSW after the instruction (M and R as the monitor set them, since
; no trap came; P moved on, and m_x stands). The virtual PSW's P is brought up to date only
; when the monitor needs it: at the next trap (from E[0]) or when the timer falls due.
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
        xor   m_vpsw, 2, m_x
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
; outside the window is the memory trap the real machine would take: reflected. The commonest
; (lpsw, out, in) count themselves in m_byop at their own opcode's word and end on their own
; path; the others share m_next and m_done.

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
m_done: ldx   m_t, m_byop_ptr, m_op
        addi  m_t, 1
        stx   m_t, m_byop_ptr, m_op
        jmp   m_resume_peek

; m_next_dev: the end of a console instruction, which changes neither the mode nor R: the real
; PSW is the trapped one in E[0] with P + 1 (m_x stands). The guest stays in virtual supervisor
; mode, where a pending timer interrupt waits. The virtual PSW's P is left at the console
; instruction: nothing reads it before the next trap or single step brings it up to date.
;
; out looks at the guest's next instruction for one case only: an lpsw, as a nested
; monitor's own out path ends (this one's, below). The lpsw is emulated at once, without the
; trap it would cost, and the console instruction is executed after it, right before the
; resume: the monitor below, if any, then serves this monitor's out and lpsw at one trap in
; turn. At depth n a guest out then costs 2^(n-1) traps at level 0, as an lpsw does, not
; 2^n - 1 (docs/recursion.md). Any other next instruction is the guest's own work, not
; worth the general peek.
m_i_out:                                 ; out a: the console is virtual: the monitor writes
        sltu  m_t, m_a, m_rb             ;   the byte to its own console
        jz    m_t, m_reflect
        ldx   m_t, m_rl, m_a
        addi  m_byop + 0x38, 1
        add   m_rpsw, 0, m_pone
        jnz   m_slow, m_out_arm
        add   m_vpsw, m_vpsw, m_pone     ; the virtual PSW past the out
        shr   m_p, m_vpsw, m_42          ; (the mode bit is 0: P alone)
        sltu  m_u, m_p, m_rb
        jz    m_u, m_out_go
        ldx   m_word, m_rl, m_p
        sar   m_op, m_word, m_56
        seq   m_u, m_op, m_op_lpsw
        jnz   m_u, m_out_lpsw
m_out_go:
        out   m_t                        ; the console, then the resume at once: the monitor
        lpsw  m_rpsw                     ;   below, if any, emulates the two at one trap
m_out_lpsw:                              ; the next is an lpsw: emulate it first (m_i_lpsw's
        addi  m_npeek, 1                 ;   work, for the commonest resume: into the user R
        shr   m_a, m_word, m_38          ;   seen last), then the console and the resume
        and   m_a, m_a, m_mask18
        sltu  m_u, m_a, m_rb
        jz    m_u, m_out_then            ; (outside the window: m_i_lpsw reflects it)
        ldx   m_vpsw, m_rl, m_a
        addi  m_byop + 0x30, 1
        and   m_u, m_vpsw, m_npmask
        seq   m_u, m_u, m_key_u0
        jz    m_u, m_out_resume
        mov   m_x, m_x_u0                ; (m_slow is 0: nothing else for the resume to do)
        xor   m_rpsw, m_vpsw, m_x
        out   m_t
        lpsw  m_rpsw
m_out_resume:
        out   m_t
        jmp   m_resume_peek
m_out_then:
        out   m_t
        jmp   m_i_lpsw
m_out_arm:
        out   m_t
        jmp   m_arm
m_next_dev:
        add   m_rpsw, 0, m_pone
        jnz   m_slow, m_arm
        lpsw  m_rpsw
m_i_in:                                  ; in a: reads the monitor's own console
        sltu  m_t, m_a, m_rb
        jz    m_t, m_reflect
        in    m_t
        stx   m_t, m_rl, m_a
        addi  m_byop + 0x39, 1
        jmp   m_next_dev

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
        addi  m_byop + 0x3f, 1
        halt
        jmp   m_resume                   ; (under a monitor that lets a halt go on)
m_i_stmr:                                ; stmr a: the guest's timer, counted in its own
        jal   m_cret, m_chka             ;   instructions: E[a] more after this one (0: off)
        ldx   m_vrem, m_rl, m_a
        li    m_vpend, 0
        li    m_slow, 1                  ; the resume looks at the timers again, and traps
        mov   1, m_trap_timed_psw        ;   count on the guest's timer (E[1]: m_trap_timed)
        jmp   m_next

; ---- data -------------------------------------------------------------------------------------

m_optab_ptr: .word m_optab
m_op_lpsw: .word 0x30                    ; lpsw's opcode (isa/base.isa)
m_reflect_at: .word m_reflect
m_byop_ptr:  .word m_byop
m_trap_psw:  .psw  super, m_trap, 0, 0x1fffff
m_trap_timed_psw: .psw super, m_trap_timed, 0, 0x1fffff
m_k:      .word VMM_K
m_userbit: .word 1 << 63
m_pone:   .word 1 << 42                  ; P + 1
m_npmask: .word ~(0x1fffff << 42)        ; a PSW's M and R
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

m_rpsw:   .word 0                        ; the real PSW the guest runs with
m_x:      .word 0                        ;   and its xor with the virtual one (P bits 0)
m_key_s:  .word ~0                       ; virtual supervisor mode's M and R (~0: none yet),
m_x_s:    .word 0                        ;   its m_x, and l' and b' (where the guest's window
m_rl:     .word 0                        ;   is in the monitor's words)
m_rb:     .word 0
m_key_u0: .word ~0                       ; the same for three user-mode R, the most recent
m_x_u0:   .word 0                        ;   first
m_key_u1: .word ~0
m_x_u1:   .word 0
m_key_u2: .word ~0
m_x_u2:   .word 0
m_sl:     .word 0                        ; m_setr's results
m_sb:     .word 0
m_sr:     .word 0
m_slow:   .word 0                        ; the resume must look at the timers (m_arm)
m_rarm:   .word 0                        ; the real timer may be armed or pending
m_t:      .word 0                        ; scratch
m_u:      .word 0
m_l:      .word 0
m_r:      .word 0
m_p:      .word 0                        ; the trapped instruction: P, word, opcode, operands
m_word:   .word 0
m_op:     .word 0
m_h:      .word 0                        ; its interpreter
m_a:      .word 0
m_b:      .word 0
m_hret:   .word 0                        ; link words
m_cret:   .word 0
m_sret:   .word 0

; The dispatcher's table: the interpreter of every opcode, indexed by the opcode taken signed.
; The 128 words before m_optab are 0x80..0xff, m_optab itself 0x00..0x3f (the base
; repertoire, isa/base.isa), and the profile's m_optab_hi, which must follow at once (the
; first thing in arch/*.s), 0x40..0x7f. Every instruction without an interpreter traps in
; virtual supervisor mode only as it would on the real machine (an address, a zero divisor, a
; supervisor call, no such instruction): reflected.
m_optab_top:
        .fill 128, m_reflect
m_optab:
        .fill 48, m_reflect
        .word m_i_lpsw,  m_i_lrb,   m_i_spsw,  m_reflect, m_reflect, m_reflect, m_reflect, m_reflect
        .word m_i_out,   m_i_in,    m_i_stmr,  m_reflect, m_reflect, m_reflect, m_reflect, m_i_halt
