; sieve: the sieve of Eratosthenes over 0..SIEVE_N-1, one word per number, in the free words
; after the program (sv_flags). Prints the number of primes below each SIEVE_Q.
; Checksum: the sum of the primes below SIEVE_N.
;
; A program for the user runtime (usys-bare.s or usys-svc.s); all its names start with sv_.
; Needs SIEVE_N words after its last word.

        .equ  SIEVE_N, 3000
        .equ  SIEVE_Q, 1000

sieve:
        li    sv_i, 0                    ; clear the flags: a region need not be zero
sv_clear:
        stx   sv_zero, sv_base, sv_i     ; flags[i] <- 0
        addi  sv_i, 1
        sltu  sv_t, sv_i, sv_n
        jnz   sv_t, sv_clear
        li    sv_i, 2
sv_outer:
        mul   sv_j, sv_i, sv_i           ; cross out from i*i, while i*i < N
        sltu  sv_t, sv_j, sv_n
        jz    sv_t, sv_count
        ldx   sv_t, sv_base, sv_i        ; flags[i]: already crossed out?
        jnz   sv_t, sv_onext
sv_mark:
        stx   sv_one, sv_base, sv_j      ; flags[j] <- 1
        add   sv_j, sv_j, sv_i
        sltu  sv_t, sv_j, sv_n
        jnz   sv_t, sv_mark
sv_onext:
        addi  sv_i, 1
        jmp   sv_outer

sv_count:
        li    sv_i, 2
sv_cloop:
        ldx   sv_t, sv_base, sv_i
        jnz   sv_t, sv_cnext
        addi  sv_primes, 1
        add   sv_sum, sv_sum, sv_i
sv_cnext:
        addi  sv_i, 1
        rem   sv_t, sv_i, sv_q
        jnz   sv_t, sv_cmore
        li    u_arg, sv_m1               ; "sieve: P primes below I"
        jal   u_ret, u_puts
        mov   u_arg, sv_primes
        jal   u_ret, u_dec
        li    u_arg, sv_m2
        jal   u_ret, u_puts
        mov   u_arg, sv_i
        jal   u_ret, u_dec
        li    u_arg, sv_nl
        jal   u_ret, u_puts
sv_cmore:
        sltu  sv_t, sv_i, sv_n
        jnz   sv_t, sv_cloop
        li    u_arg, sv_m3               ; "sieve: checksum S"
        jal   u_ret, u_puts
        mov   u_arg, sv_sum
        jal   u_ret, u_dec
        li    u_arg, sv_nl
        jal   u_ret, u_puts
        jal   u_ret, u_exit

sv_i:      .word 0
sv_j:      .word 0
sv_t:      .word 0
sv_primes: .word 0
sv_sum:    .word 0
sv_zero:   .word 0
sv_one:    .word 1
sv_n:      .word SIEVE_N
sv_q:      .word SIEVE_Q
sv_base:   .word sv_flags
sv_m1:     .stringz "sieve: "
sv_m2:     .stringz " primes below "
sv_m3:     .stringz "sieve: checksum "
sv_nl:     .stringz "\n"
sv_flags:                               ; SIEVE_N words from here, beyond the program
