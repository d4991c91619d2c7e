; vmm for s370, the IBM System/370 analogue: the common monitor and the S/370 pieces.

        .isa     s370
        .include "monitor.s"
        .include "arch/s370.s"
m_image_end:
