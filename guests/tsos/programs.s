; The workloads as program templates: each assembled once with apparent addresses from
; PROG_REL (.base), and copied into the region of every process that runs it.

prog_compute:
        .equ  COMP_N, 1000
        .equ  COMP_Q, 250
        .base prog_compute - PROG_REL
        .include "../workloads/prog/compute.s"
        .base 0
prog_compute_end:

prog_sieve:
        .base prog_sieve - PROG_REL
        .include "../workloads/prog/sieve.s"
        .base 0
prog_sieve_end:

prog_sort:
        .base prog_sort - PROG_REL
        .include "../workloads/prog/sort.s"
        .base 0
prog_sort_end:

prog_syscalls:
        .base prog_syscalls - PROG_REL
        .include "../workloads/prog/syscalls.s"
        .base 0
prog_syscalls_end:

prog_yield:
        .base prog_yield - PROG_REL
        .include "../workloads/prog/yield.s"
        .base 0
prog_yield_end:
