; vmm for m68010, the Motorola MC68010 analogue: the common monitor and the 68010 pieces.

        .isa     m68010
        .include "monitor.s"
        .include "arch/m68k.s"
m_image_end:
