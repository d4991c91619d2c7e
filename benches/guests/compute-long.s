; compute.s run further: the Collatz total stopping times of 1..10000, printed every 2500, as
; guests/workloads/compute.s does for 1..1000. It runs 14 times as many instructions (6.3
; million, about 2.5 ms bare on this project's machine) and prints as often, so the nested
; monitors' work for its prints (their instructions on the ops, their blocks compiled), which
; does not grow with the run, weighs 14 times less against it: the nesting benchmark's
; compute-bound guest (benches/benches/nest.rs, docs/performance.md).

        .isa     s370
        .entry   compute
        .include "../../guests/lib/usys-bare.s"
        .equ     COMP_N, 10000
        .equ     COMP_Q, 2500
        .include "../../guests/workloads/prog/compute.s"
