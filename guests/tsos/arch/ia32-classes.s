; Trap classes of ia32's own opcodes, 0x40..0x7f, for the kernel's trap handler: sgdt sidt
; sldt str smsw pushf popf rdtsc unprivileged, lgdt lidt lmsw privileged. Shared by
; tsos/ia32.s and its paravirtualized variant tsos/ia32-pv.s.
k_class_hi:
        .word    C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN, C_PLAIN
        .word    C_PRIV, C_PRIV, C_PRIV
        .space   53
