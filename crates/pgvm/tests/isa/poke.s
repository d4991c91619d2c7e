; Stores to physical address 0x10010 with the absolute store of abs-store.isa: under the
; monitor, with VMs of 65536 words from physical 0x10, that is the first word of the next VM.
        .entry start
start:  sta addr, val
        halt
addr:   .word 0x10010
val:    .word 0x77
