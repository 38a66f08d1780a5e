"""Quantizes float32 values with PyPI gguf's reference quantizers.

usage: quantize_peer.py TYPE COLS IN.f32 OUT.bin
"""
import sys

import numpy as np
import gguf

qtype = gguf.GGMLQuantizationType[sys.argv[1]]
cols = int(sys.argv[2])
x = np.fromfile(sys.argv[3], dtype="<f4").reshape(-1, cols)
gguf.quants.quantize(x, qtype).tofile(sys.argv[4])
