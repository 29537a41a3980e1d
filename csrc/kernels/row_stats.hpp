// Per-row statistics of a logits matrix: log-sum-exp, entropy, argmax, max and target log-prob.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tokprobe {

struct RowStatsOut {
    double* logsumexp;
    double* entropy;  // nats
    int32_t* argmax;  // -1 for an invalid row
    double* max_logprob;
    double* target_logprob;  // NaN where targets is null
};

// logits: C-contiguous [rows, vocab]; targets: null or [rows] ids in [0, vocab) (checked: throws
// std::invalid_argument). Invalid rows (NaN, +inf, or all -inf) give NaN and argmax -1.
void row_stats(const float* logits, size_t rows, size_t vocab, const int32_t* targets, const RowStatsOut& out);

}  // namespace tokprobe
