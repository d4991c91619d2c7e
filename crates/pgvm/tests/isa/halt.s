; A guest that only halts: any profile extending base assembles it.
        .entry start
start:  halt
