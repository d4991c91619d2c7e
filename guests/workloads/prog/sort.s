; sort: insertion sort of SORT_M pseudo-random keys with indexed loads and stores (the
; machine's table look-up, ldx/stx). The keys come from the C library's classic generator,
; x <- (x * 1103515245 + 12345) mod 2^31, key = x >> 16, from x = 1. Checks the result is in
; order and prints the number of keys out of order (0).
; Checksum: the sum over i of (i + 1) * key[i] of the sorted keys, modulo 2^64.
;
; A program for the user runtime (usys-bare.s or usys-svc.s); all its names start with st_.
; Needs SORT_M words after its last word.

        .equ  SORT_M, 300
        .equ  SORT_Q, 100

sort:   li    st_i, 0
st_fill:
        mul   st_x, st_x, st_mula
        add   st_x, st_x, st_addc
        and   st_x, st_x, st_mask
        shr   st_key, st_x, st_16
        stx   st_key, st_base, st_i      ; key[i] <- x >> 16
        addi  st_i, 1
        sltu  st_t, st_i, st_m
        jnz   st_t, st_fill

        li    st_i, 1
st_outer:
        ldx   st_key, st_base, st_i      ; insert key[i] into key[0..i)
        mov   st_j, st_i
st_inner:
        jz    st_j, st_place
        add   st_jm, st_j, st_minus1
        ldx   st_v, st_base, st_jm       ; key[j-1]
        sltu  st_t, st_key, st_v
        jz    st_t, st_place
        stx   st_v, st_base, st_j        ; key[j] <- key[j-1]
        mov   st_j, st_jm
        jmp   st_inner
st_place:
        stx   st_key, st_base, st_j
        addi  st_i, 1
        rem   st_t, st_i, st_q
        jnz   st_t, st_omore
        li    u_arg, st_m1               ; "sort: I keys in order"
        jal   u_ret, u_puts
        mov   u_arg, st_i
        jal   u_ret, u_dec
        li    u_arg, st_m2
        jal   u_ret, u_puts
st_omore:
        sltu  st_t, st_i, st_m
        jnz   st_t, st_outer

        li    st_i, 0                    ; check and sum
st_check:
        ldx   st_v, st_base, st_i
        add   st_jm, st_i, st_one
        mul   st_t, st_v, st_jm
        add   st_sum, st_sum, st_t       ; sum += (i + 1) * key[i]
        sltu  st_t, st_jm, st_m
        jz    st_t, st_report
        ldx   st_key, st_base, st_jm
        sltu  st_t, st_key, st_v         ; key[i+1] < key[i]: out of order
        add   st_bad, st_bad, st_t
        mov   st_i, st_jm
        jmp   st_check
st_report:
        li    u_arg, st_m3               ; "sort: B keys out of order"
        jal   u_ret, u_puts
        mov   u_arg, st_bad
        jal   u_ret, u_dec
        li    u_arg, st_m4
        jal   u_ret, u_puts
        li    u_arg, st_m5               ; "sort: checksum S"
        jal   u_ret, u_puts
        mov   u_arg, st_sum
        jal   u_ret, u_dec
        li    u_arg, st_nl
        jal   u_ret, u_puts
        jal   u_ret, u_exit

st_i:      .word 0
st_j:      .word 0
st_jm:     .word 0
st_t:      .word 0
st_v:      .word 0
st_key:    .word 0
st_bad:    .word 0
st_sum:    .word 0
st_x:      .word 1
st_mula:   .word 1103515245
st_addc:   .word 12345
st_mask:   .word 0x7fffffff
st_16:     .word 16
st_one:    .word 1
st_minus1: .word -1
st_m:      .word SORT_M
st_q:      .word SORT_Q
st_base:   .word st_keys
st_m1:     .stringz "sort: "
st_m2:     .stringz " keys in order\n"
st_m3:     .stringz "sort: "
st_m4:     .stringz " keys out of order\n"
st_m5:     .stringz "sort: checksum "
st_nl:     .stringz "\n"
st_keys:                                ; SORT_M words from here, beyond the program
