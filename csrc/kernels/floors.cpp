#include "kernels/floors.hpp"

#include <cmath>
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

template <int W>
TP_INLINE double sum_exps(const float* a, const float* b, size_t n) {
    using vf = typename Vec<W>::f;
    const vf lo = opaque(splat<vf>(-80.0f)), hi = opaque(splat<vf>(80.0f));
    const size_t full = n - n % W;
    LaneSum<vf> total;
    for (size_t c0 = 0; c0 < full; c0 += kBlock<W>) {  // float lanes per block, then float64, as the kernels do
        const size_t end = c0 + kBlock<W> < full ? c0 + kBlock<W> : full;
        vf acc = vf{};
        for (size_t i = c0; i < end; i += W) {
            const vf za = vmin(vmax(load<vf>(a + i), lo), hi);
            const vf zb = vmin(vmax(load<vf>(b + i), lo), hi);
            acc += (exp_clamped(za) + exp_clamped(zb)) + (exp_clamped(-za) + exp_clamped(-zb));
        }
        total.add(acc);
    }
    double s = total.total();
    for (size_t i = full; i < n; ++i) {
        const double za = std::fmin(std::fmax((double)a[i], -80.0), 80.0);
        const double zb = std::fmin(std::fmax((double)b[i], -80.0), 80.0);
        s += std::exp(za) + std::exp(zb) + std::exp(-za) + std::exp(-zb);
    }
    return s;
}

template <class F>
double over_rows(const float* a, const float* b, size_t rows, size_t cols, F row_sum) {
    double total = 0.0;
    std::mutex mu;
    parallel_for(rows, rows_per_task(cols), [&](size_t begin, size_t end) {
        double s = 0.0;
        for (size_t r = begin; r < end; ++r) s += row_sum(a + r * cols, b + r * cols, cols);
        std::lock_guard<std::mutex> lk(mu);
        total += s;
    });
    return total;
}

}  // namespace

double read_floor(const float* a, const float* b, size_t rows, size_t cols) {
    return over_rows(a, b, rows, cols, [](const float* x, const float* y, size_t n) {
        return dispatch([&](auto w) TP_LAMBDA { return sum_rows<decltype(w)::value>(x, y, n); });
    });
}

double exp_floor(const float* a, const float* b, size_t rows, size_t cols) {
    return over_rows(a, b, rows, cols, [](const float* x, const float* y, size_t n) {
        return dispatch([&](auto w) TP_LAMBDA { return sum_exps<decltype(w)::value>(x, y, n); });
    });
}

}  // namespace tokprobe
