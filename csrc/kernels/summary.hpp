// Streaming moments of per-row values: count, mean, M2, min, max; batches merge exactly (Chan et al.).
#pragma once

#include <cstddef>
#include <cstdint>

namespace tokprobe {

struct Moments {
    int64_t count = 0;      // values that are not NaN
    int64_t nan_count = 0;  // NaN values, skipped
    double mean = 0.0;
    double m2 = 0.0;  // sum of squared deviations from the mean
    double min = __builtin_inf();
    double max = -__builtin_inf();
};

// Two passes over the batch (mean, then deviations with the rounding-error correction term), so a
// large common offset does not cost precision. Infinite values give mean +-inf and m2 NaN.
Moments moments(const double* values, size_t n);

Moments merge(const Moments& a, const Moments& b);

}  // namespace tokprobe
