"""Benchmarks of keras-mixup against the memory-copy limit and its peers."""

import os

# TensorFlow's default CPU allocator keeps no statistics (get_memory_info on
# "CPU:0" raises); its BFC allocator does. Read when TensorFlow first
# allocates, so this must run before any TensorFlow op in the process.
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
