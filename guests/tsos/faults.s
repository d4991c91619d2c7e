; tsos with misbehaving processes (s370): a process that loops forever, one that scribbles past
; its region into its neighbour's, one that hands the kernel a bad pointer, one that tries a
; privileged instruction, one that divides by zero and one that executes data, among two
; well-behaved workloads. Each bad one is killed with a message saying which and why; the
; others run to the end with their correct checksums, and the kernel halts.

        .isa     s370
        .include "kernel.s"
        .include "arch/s370.s"

arch_name: .stringz "s370"

k_class_hi:
        .word    C_PRIV, C_PRIV, C_PRIV, C_PRIV
        .space   60

        .include "programs.s"
        .include "bad.s"

proc_table:
        .word 0x4000, 0x1000, prog_loop,     prog_loop_end,     20, pn_loop
        .word 0x5000, 0x1000, prog_scribble, prog_scribble_end, 0,  pn_scribble
        .word 0x6000, 0x1000, prog_sieve,    prog_sieve_end,    0,  pn_sieve
        .word 0x7000, 0x1000, prog_badptr,   prog_badptr_end,   0,  pn_badptr
        .word 0x8000, 0x1000, prog_priv,     prog_priv_end,     0,  pn_priv
        .word 0x9000, 0x1000, prog_divzero,  prog_divzero_end,  0,  pn_divzero
        .word 0xa000, 0x1000, prog_illegal,  prog_illegal_end,  0,  pn_illegal
        .word 0xb000, 0x1000, prog_sort,     prog_sort_end,     0,  pn_sort
proc_table_end:

pn_loop:     .stringz "loop"
pn_scribble: .stringz "scribble"
pn_sieve:    .stringz "sieve"
pn_badptr:   .stringz "badptr"
pn_priv:     .stringz "priv"
pn_divzero:  .stringz "divzero"
pn_illegal:  .stringz "illegal"
pn_sort:     .stringz "sort"

image_end:
