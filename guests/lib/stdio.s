; Line-buffered console output for user programs, shared by both user runtimes
; (usys-bare.s and usys-svc.s), which supply `u_write` (print the zero-terminated string at
; address E[u_arg]; returns via io_wret) and the words `u_arg` and `u_ret`.
;
; Calling convention: put the argument in u_arg, `jal u_ret, ROUTINE`. u_arg is not preserved.
;   u_putc   append the character E[u_arg]
;   u_puts   append the zero-terminated string at address E[u_arg]
;   u_dec    append E[u_arg] in unsigned decimal
;   u_flush  print what is buffered
; A newline (or a full buffer) prints the line with one u_write, so that under tsos a line is
; one system call and the lines of different processes never mix.

u_putc: mov   io_ret, u_ret
        mov   io_ch, u_arg
        jal   io_link, io_add
        jr    io_ret

u_puts: mov   io_ret, u_ret
        mov   io_src, u_arg
io_next:
        ldx   io_ch, io_src, io_zero
        jz    io_ch, io_done
        jal   io_link, io_add
        addi  io_src, 1
        jmp   io_next
io_done:
        jr    io_ret

u_dec:  mov   io_ret, u_ret
        mov   io_n, u_arg
        li    io_dp, io_dend          ; digits are written backwards, ending at io_dend
io_digit:
        addi  io_dp, -1
        rem   io_ch, io_n, io_ten
        add   io_ch, io_ch, io_c0
        stx   io_ch, io_dp, io_zero
        div   io_n, io_n, io_ten
        jnz   io_n, io_digit
io_dcopy:
        ldx   io_ch, io_dp, io_zero
        jz    io_ch, io_done
        jal   io_link, io_add
        addi  io_dp, 1
        jmp   io_dcopy

u_flush:
        mov   io_ret, u_ret
        jal   io_link, io_flush
        jr    io_ret

; io_add: append io_ch; print the line at a newline or when the buffer is full (via io_link).
io_add: stx   io_ch, io_bp, io_zero
        addi  io_bp, 1
        seq   io_t, io_ch, io_nl
        jnz   io_t, io_flush
        seq   io_t, io_bp, io_bend
        jnz   io_t, io_flush
        jr    io_link

; io_flush: print and empty the buffer, if anything is in it (via io_link).
io_flush:
        seq   io_t, io_bp, io_bstart
        jnz   io_t, io_flushed
        stx   io_zero, io_bp, io_zero ; terminate the line
        mov   io_save, u_arg
        mov   u_arg, io_bstart
        jal   io_wret, u_write
        mov   u_arg, io_save
        mov   io_bp, io_bstart
io_flushed:
        jr    io_link

io_zero:  .word 0
io_ten:   .word 10
io_c0:    .word '0'
io_nl:    .word '\n'
io_t:     .word 0
io_ch:    .word 0
io_n:     .word 0
io_src:   .word 0
io_dp:    .word 0
io_save:  .word 0
io_ret:   .word 0
io_link:  .word 0
io_wret:  .word 0
io_bp:    .word io_buf               ; where the next character goes
io_bstart: .word io_buf
io_bend:  .word io_buf + 72          ; full at 72 characters
io_buf:   .space 73
io_dbuf:  .space 20                  ; u_64 has at most 20 decimal digits
io_dend:  .word 0
