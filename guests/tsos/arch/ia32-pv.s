; tsos on the IA-32 analogue, paravirtualized (docs/paravirt.md): the kernel's three critical
; instructions (arch/ia32.s) become hypercalls, so that a hypervisor need not find them.
;
;   hook_boot   SGDT  -> hypercall sgdt  (the hypervisor stores the guest's own R)
;   hook_entry  PUSHF -> hypercall pushf (the guest's own mode in the flags word)
;   hook_enter  POPF  -> hypercall popf, then lpsw (IRET), which traps and is emulated
;
; A hypercall is `svc HC + (opcode << 18) + operand`: a supervisor call with bit 36 of its
; immediate set, naming the instruction by its opcode. It is a program of the machine that
; implements the hypercalls (pgvm_vmm::Reference), not of the bare ia32: there the kernel's
; own svc would trap into the kernel.

        .equ  HC, 0x1000000000          ; the hypercall bit
        .equ  OP_SGDT, 0x40
        .equ  OP_PUSHF, 0x45
        .equ  OP_POPF, 0x46

hook_boot:
        svc   HC + (OP_SGDT << 18) + ia32_gdtr
        and   k_memsize, ia32_gdtr, k_mask21
        jr    k_hret

hook_entry:
        svc   HC + (OP_PUSHF << 18) + ia32_flags
        jr    k_hret

hook_enter:
        svc   HC + (OP_POPF << 18) + ia32_flags
        lpsw  k_psw                      ; IRET

ia32_gdtr:  .word 0
ia32_flags: .word 0
