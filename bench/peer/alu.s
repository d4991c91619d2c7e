; The ALU loop of issue 14 for pgvm: acc += i; x ^= acc; i -= 1; until i == 0. Four
; instructions a lap (add, xor, addi, jnz), as alu.c is on riscv64. bench/peer/run.sh sets
; the lap count in `i`.

        .isa   s370
        .entry start
        .org   0x10

start:  add   acc, acc, i
        xor   x, x, acc
        addi  i, -1
        jnz   i, start
        halt

acc:    .word 0
x:      .word 0
i:      .word 100000000
