#include "kernels/topk_tail.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/check.hpp"
#include "kernels/row_scan.hpp"
#include "kernels/thread_pool.hpp"

namespace tokprobe {
namespace {

// Smallest logit among tokens not in `sorted_ids` (ascending). Only needed when the row minimum sits
// on a top-K token, which is rare, so a plain loop is fine.
float min_outside(const float* y, size_t n, const int32_t* sorted_ids, size_t k) {
    float m = std::numeric_limits<float>::infinity();
    size_t j = 0;
    for (size_t i = 0; i < n; ++i) {
        if (j < k && (size_t)sorted_ids[j] == i) {
            ++j;
            continue;
        }
        if (y[i] < m) m = y[i];
    }
    return m;
}

}  // namespace

void topk_tail_divergence(const int32_t* ref_ids, const float* ref_logprobs, size_t k, const float* var,
                          size_t rows, size_t vocab, const int32_t* targets, const TopKTailOut& out) {
    check_vocab(vocab);
    if (k > vocab) throw std::invalid_argument("K must be at most vocab");
    check_ids(ref_ids, rows * k, vocab, "ref_ids");
    if (targets) check_ids(targets, rows, vocab, "targets");
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();

    parallel_for(rows, rows_per_task(vocab), [&](size_t begin, size_t end) {
        std::vector<int32_t> sorted(k);
        for (size_t r = begin; r < end; ++r) {
            const float* y = var + r * vocab;
            const int32_t* ids = ref_ids + r * k;
            const float* lp = ref_logprobs + r * k;
            std::copy(ids, ids + k, sorted.begin());
            std::sort(sorted.begin(), sorted.end());
            if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
                throw std::invalid_argument("ref_ids row " + std::to_string(r) + " repeats a token id");

            const RowScan sq = scan_f32_min(y, vocab);
            out.entropy_var[r] = sq.entropy;
            out.argmax_var[r] = sq.argmax;
            out.target_logprob_var[r] = (targets && sq.valid()) ? (double)y[targets[r]] - sq.lse : nan;
            out.kl_lower[r] = out.kl_upper[r] = out.tail_mass_ref[r] = out.tail_mass_var[r] = nan;
            if (!sq.valid()) continue;

            bool ref_ok = true, head_inf = false;
            double sum_p = 0.0, sum_q = 0.0, head = 0.0;
            double p_min = 1.0;  // p_i <= p_K for tail tokens; with K = 0 only p_i <= 1 is known
            bool min_on_head = false;
            for (size_t i = 0; i < k; ++i) {
                const float l = lp[i];
                if (std::isnan(l) || l == std::numeric_limits<float>::infinity()) ref_ok = false;
                const double p = std::exp((double)l);
                const double lq = (double)y[ids[i]] - sq.lse;
                const double q = std::exp(lq);
                sum_p += p;
                sum_q += q;
                p_min = i == 0 || p < p_min ? p : p_min;
                min_on_head = min_on_head || y[ids[i]] == sq.min;
                if (p > 0.0) {
                    if (lq == -inf) head_inf = true;
                    else head += p * ((double)l - lq);
                }
            }
            // Q's smallest tail probability; the tail holds at least (V - K) times it, which keeps
            // q_tail > 0 where 1 - sum(q_K) rounds to 0.
            const size_t n_tail = vocab - k;
            double log_q_min = -inf, q_tail = 0.0;
            if (n_tail > 0) {
                const float y_min = min_on_head ? min_outside(y, vocab, sorted.data(), k) : sq.min;
                log_q_min = (double)y_min - sq.lse;
                const double floor = (double)n_tail * std::exp(log_q_min);
                q_tail = sum_q < 1.0 - floor ? 1.0 - sum_q : floor;
            }
            out.tail_mass_var[r] = q_tail;
            if (!ref_ok) continue;
            const double p_tail = sum_p < 1.0 ? 1.0 - sum_p : 0.0;
            out.tail_mass_ref[r] = p_tail;

            // With no tail tokens (K = V) the tail holds no KL terms: p_tail is then rounding only.
            double tail_lower = 0.0, tail_upper = 0.0;
            if (p_tail > 0.0 && n_tail > 0) {
                tail_lower = q_tail > 0.0 ? p_tail * std::log(p_tail / q_tail) : inf;
                tail_upper = log_q_min == -inf ? inf : p_tail * (std::log(p_min) - log_q_min);
            }
            double lower = head_inf ? inf : head + tail_lower;
            lower = lower > 0.0 ? lower : 0.0;
            const double upper = head_inf ? inf : head + tail_upper;
            out.kl_lower[r] = lower;
            out.kl_upper[r] = upper > lower ? upper : lower;
        }
    });
}

}  // namespace tokprobe
