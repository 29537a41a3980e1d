// The memory-read floor for benchmarks: sums two matrices on the shared pool and does nothing else.
#pragma once

#include <cstddef>

namespace tokprobe {

double read_floor(const float* a, const float* b, size_t rows, size_t cols);

}  // namespace tokprobe
