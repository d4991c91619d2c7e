; Print a greeting through the console device, then halt.
;
; The machine starts in supervisor mode (see `.entry`) with R = <0, q>, so the privileged
; `out` and `halt` are allowed. `ldx` is the table look-up of the paper's model.

        .isa   s370
        .entry start
        .org   0x10

start:  li    ptr, msg            ; ptr <- address of the first character
next:   ldx   ch, ptr, zero       ; ch <- E[E[ptr] + E[zero]]
        jz    ch, done
        out   ch
        addi  ptr, 1
        jmp   next
done:   halt

zero:   .word 0
ptr:    .word 0
ch:     .word 0
msg:    .stringz "Hello from the third-generation machine!\n"
