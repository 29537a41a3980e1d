#include "kernels/topk.hpp"

#include <limits>
#include <stdexcept>
#include <vector>

#include "kernels/check.hpp"
#include "kernels/row_scan.hpp"
#include "kernels/thread_pool.hpp"

namespace tokprobe {

void topk(const float* logits, size_t rows, size_t vocab, size_t k, int32_t* ids, double* logprobs) {
    check_vocab(vocab);
    if (k > vocab) throw std::invalid_argument("k must be at most vocab");
    if (k == 0) return;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    parallel_for(rows, rows_per_task(vocab), [&](size_t begin, size_t end) {
        std::vector<float> val(k);  // one heap per task, reused across its rows
        std::vector<int32_t> idx(k);
        for (size_t r = begin; r < end; ++r) {
            TopKTracker top(val.data(), idx.data(), (int)k);
            const RowScan s = scan(logits + r * vocab, vocab, &top);
            int32_t* out_ids = ids + r * k;
            double* out_lp = logprobs + r * k;
            if (!s.valid()) {
                for (size_t i = 0; i < k; ++i) {
                    out_ids[i] = -1;
                    out_lp[i] = nan;
                }
                continue;
            }
            top.sort_best_first();
            for (size_t i = 0; i < k; ++i) {
                out_ids[i] = idx[i];
                out_lp[i] = (double)val[i] - s.lse;
            }
        }
    });
}

}  // namespace tokprobe
