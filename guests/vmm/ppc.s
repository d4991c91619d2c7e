; vmm for ppc, the PowerPC analogue: the common monitor and the PowerPC pieces.

        .isa     ppc
        .include "monitor.s"
        .include "arch/ppc.s"
m_image_end:
