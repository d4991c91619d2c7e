; Console routines for supervisor-mode code (the console instructions are privileged).
;
; Calling convention: `jal RET, routine` stores the return address in the word RET and jumps;
; the routine returns with `jr RET`. Arguments travel in the words named below.
;
;   puts  print the zero-terminated string at address E[puts_arg]      (returns via puts_ret)
;   phex  print E[phex_arg] as six hex digits, enough for a 21-bit address (returns via phex_ret)

puts:   ldx   lib_ch, puts_arg, lib_zero   ; lib_ch <- E[E[puts_arg]]
        jz    lib_ch, puts_done
        out   lib_ch
        addi  puts_arg, 1
        jmp   puts
puts_done:
        jr    puts_ret

phex:   li    lib_n, 6
        li    lib_sh, 20
phex_digit:
        shr   lib_ch, phex_arg, lib_sh     ; the next four bits ...
        and   lib_ch, lib_ch, lib_15
        ldx   lib_ch, lib_hex, lib_ch      ; ... looked up in the digit table
        out   lib_ch
        addi  lib_sh, -4
        addi  lib_n, -1
        jnz   lib_n, phex_digit
        jr    phex_ret

lib_zero:   .word 0
lib_15:     .word 15
lib_ch:     .word 0
lib_n:      .word 0
lib_sh:     .word 0
lib_hex:    .word lib_digits
lib_digits: .string "0123456789abcdef"
puts_arg:   .word 0
puts_ret:   .word 0
phex_arg:   .word 0
phex_ret:   .word 0
