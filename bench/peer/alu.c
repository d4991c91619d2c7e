/* The ALU loop of issue 14 in C: acc += i; x ^= acc; i -= 1; until i == 0.
 * Built for riscv64 it is four instructions a lap (add, xor, addi, bnez), the same four as
 * alu.s in pgvm. The empty asm keeps the three values in registers and the loop a loop: no
 * closed form, no vectorization, so every lap executes. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    unsigned long i = argc > 1 ? strtoul(argv[1], 0, 10) : 100000000UL;
    unsigned long acc = 0, x = 0;
    do {
        acc += i;
        x ^= acc;
        __asm__ volatile("" : "+r"(acc), "+r"(x), "+r"(i));
    } while (--i);
    printf("%lu %lu\n", acc, x);
    return 0;
}
