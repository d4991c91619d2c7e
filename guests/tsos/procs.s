; The standard process set: the five workloads (guests/workloads/prog/), the context-switch
; one twice. Included last by every profile's build.
;
; A process-table entry is PROC_WORDS words:
;   region base, region size, program template, template end, CPU limit (time slices, 0 =
;   none), name
; Regions must ascend, start at or above USER_LO, not overlap, and fit in memory; a process
; whose region does not is reported and not started.

        .include "programs.s"

proc_table:
        .word 0x4000, 0x1000, prog_compute,  prog_compute_end,  0, pn_compute
        .word 0x5000, 0x1000, prog_sieve,    prog_sieve_end,    0, pn_sieve
        .word 0x6000, 0x1000, prog_sort,     prog_sort_end,     0, pn_sort
        .word 0x7000, 0x1000, prog_syscalls, prog_syscalls_end, 0, pn_syscalls
        .word 0x8000, 0x1000, prog_yield,    prog_yield_end,    0, pn_yield
        .word 0x9000, 0x1000, prog_yield,    prog_yield_end,    0, pn_yield
proc_table_end:

pn_compute:  .stringz "compute"
pn_sieve:    .stringz "sieve"
pn_sort:     .stringz "sort"
pn_syscalls: .stringz "syscalls"
pn_yield:    .stringz "yield"

image_end:
