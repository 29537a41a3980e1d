// Floors for benchmarks/bench_core.py: passes over two matrices on the shared pool that do only part
// of the divergence's work, so its time can be read against what it cannot avoid.
#pragma once

#include <cstddef>

namespace tokprobe {

// Sums both matrices: a pass that only reads memory.
double read_floor(const float* a, const float* b, size_t rows, size_t cols);

// Sums e^a, e^b, e^-a and e^-b (arguments clamped to [-80, 80]) with the kernels' float32 exp: the
// four exps per token pair an exact KL + JS + entropies needs without vocab-sized temporaries (one
// per row to normalise, two for max(p, q) and min/max), and nothing else.
double exp_floor(const float* a, const float* b, size_t rows, size_t cols);

}  // namespace tokprobe
