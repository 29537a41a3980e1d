// Top-k token ids and log-probs per row.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tokprobe {

// ids [rows, k] and logprobs [rows, k], best first (probability desc, ties by lower id); 0 <= k <= vocab.
// Invalid rows give ids -1 and NaN log-probs.
void topk(const float* logits, size_t rows, size_t vocab, size_t k, int32_t* ids, double* logprobs);

}  // namespace tokprobe
