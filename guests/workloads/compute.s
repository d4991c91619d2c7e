; The compute workload on the bare machine: it runs alone, in supervisor mode, and prints through
; the console directly. The same program runs as a process under tsos (guests/tsos/).

        .isa     s370
        .entry   compute
        .include "../lib/usys-bare.s"
        .equ     COMP_N, 1000
        .equ     COMP_Q, 250
        .include "prog/compute.s"
