// Per-row divergence between a reference (P) and a variant (Q) logits matrix of the same shape.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tokprobe {

struct DivergenceOut {
    double* kl;          // KL(P || Q), nats; +inf where some token has P > 0 and Q = 0
    double* kl_reverse;  // KL(Q || P)
    double* js;          // Jensen-Shannon divergence, in [0, ln 2]
    double* entropy_ref;
    double* entropy_var;
    double* target_logprob_ref;  // NaN where targets is null
    double* target_logprob_var;
    int32_t* argmax_ref;
    int32_t* argmax_var;
    double* top5_overlap;   // |top5(P) & top5(Q)| / min(5, vocab)
    double* top10_overlap;  // |top10(P) & top10(Q)| / min(10, vocab)
};

// ref, var: C-contiguous [rows, vocab]. targets: null or [rows] ids in [0, vocab).
// A row invalid in either matrix (NaN, +inf, all -inf) gives NaN divergences; each side's own
// entropy, target log-prob and argmax are still reported when that side is valid.
void divergence(const float* ref, const float* var, size_t rows, size_t vocab, const int32_t* targets,
                const DivergenceOut& out);

// Same, with the reference given as IEEE float16 bits (the cached reference's log-probs; they are
// renormalised, so rounding to float16 cannot make the reference sum to other than 1).
void divergence_ref16(const uint16_t* ref, const float* var, size_t rows, size_t vocab, const int32_t* targets,
                      const DivergenceOut& out);

}  // namespace tokprobe
