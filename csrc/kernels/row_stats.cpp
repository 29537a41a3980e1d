#include "kernels/row_stats.hpp"

#include <limits>

#include "kernels/check.hpp"
#include "kernels/row_scan.hpp"
#include "kernels/thread_pool.hpp"

namespace tokprobe {

void row_stats(const float* logits, size_t rows, size_t vocab, const int32_t* targets, const RowStatsOut& out) {
    check_vocab(vocab);
    if (targets) check_ids(targets, rows, vocab, "targets");
    const double nan = std::numeric_limits<double>::quiet_NaN();
    parallel_for(rows, rows_per_task(vocab), [&](size_t begin, size_t end) {
        for (size_t r = begin; r < end; ++r) {
            const float* x = logits + r * vocab;
            const RowScan s = scan(x, vocab, nullptr);
            out.logsumexp[r] = s.lse;
            out.entropy[r] = s.entropy;
            out.argmax[r] = s.argmax;
            out.max_logprob[r] = -s.log_sum;
            out.target_logprob[r] = (targets && s.valid()) ? (double)x[targets[r]] - s.lse : nan;
        }
    });
}

}  // namespace tokprobe
