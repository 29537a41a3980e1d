// Probability mass of each token class per row.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tokprobe {

// class_map [vocab]: class id in [0, n_classes) or -1 (in no class). out [rows, n_classes].
// Invalid rows give NaN.
void class_mass(const float* logits, size_t rows, size_t vocab, const int32_t* class_map, size_t n_classes,
                double* out);

}  // namespace tokprobe
