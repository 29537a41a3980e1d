#include "kernels/read_floor.hpp"

#include <mutex>

#include "kernels/row_scan.hpp"
#include "kernels/simd.hpp"
#include "kernels/thread_pool.hpp"

namespace tokprobe {
namespace {

using namespace simd;

template <int W>
TP_INLINE double sum_rows(const float* a, const float* b, size_t n) {
    using vf = typename Vec<W>::f;
    vf s0 = vf{}, s1 = s0, s2 = s0, s3 = s0;  // independent chains, enough to stay load-bound
    size_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
        s0 += load<vf>(a + i);
        s1 += load<vf>(a + i + W);
        s2 += load<vf>(b + i);
        s3 += load<vf>(b + i + W);
    }
    double s = hsum(s0 + s1) + hsum(s2 + s3);
    for (; i < n; ++i) s += (double)a[i] + (double)b[i];
    return s;
}

}  // namespace

double read_floor(const float* a, const float* b, size_t rows, size_t cols) {
    double total = 0.0;
    std::mutex mu;
    parallel_for(rows, rows_per_task(cols), [&](size_t begin, size_t end) {
        double s = 0.0;
        for (size_t r = begin; r < end; ++r)
            s += dispatch([&](auto w) TP_LAMBDA { return sum_rows<decltype(w)::value>(a + r * cols, b + r * cols, cols); });
        std::lock_guard<std::mutex> lk(mu);
        total += s;
    });
    return total;
}

}  // namespace tokprobe
