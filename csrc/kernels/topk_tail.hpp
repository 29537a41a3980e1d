// Divergence against a reference stored only as its top-K tokens (ids + log-probs) per row.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tokprobe {

struct TopKTailOut {
    double* kl_lower;  // KL of the (top-K + one tail bucket) distributions: <= true KL
    double* kl_upper;  // >= true KL: tail terms bounded with p_i <= p_K and q_i >= min tail q
    double* tail_mass_ref;
    double* tail_mass_var;
    double* target_logprob_var;  // NaN where targets is null
    int32_t* argmax_var;
    double* entropy_var;
};

// ref_ids, ref_logprobs: [rows, k] (distinct ids in [0, vocab), log-probs of the full reference,
// -inf allowed); var: [rows, vocab] logits. Invalid var rows or NaN/+inf reference log-probs give NaN.
void topk_tail_divergence(const int32_t* ref_ids, const float* ref_logprobs, size_t k, const float* var,
                          size_t rows, size_t vocab, const int32_t* targets, const TopKTailOut& out);

}  // namespace tokprobe
