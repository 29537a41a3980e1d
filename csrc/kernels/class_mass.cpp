#include "kernels/class_mass.hpp"

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/check.hpp"
#include "kernels/row_scan.hpp"
#include "kernels/simd.hpp"
#include "kernels/thread_pool.hpp"

namespace tokprobe {
namespace {

using namespace simd;

constexpr int kCopies = 4;  // interleaved bin copies: consecutive tokens of one class do not chain adds

// One read of the row with an online max, as in row_scan: the bins are rescaled when the max grows.
// bins: kCopies * (nc + 1) scratch; bin nc collects tokens in no class, so the normaliser is the sum
// of all bins (in double) and the masses of a fully classified vocab sum to 1 to double precision.
template <int W>
TP_INLINE void class_mass_row(const float* x, size_t n, const int32_t* cls, size_t nc, double* bins, double* out) {
    using vf = typename Vec<W>::f;
    constexpr size_t B = kBlock<W>;
    const size_t nb = nc + 1;
    float m = -kInf;
    for (size_t i = 0; i < kCopies * nb; ++i) bins[i] = 0.0;
    vf buf[B / W];
    float e_buf[B];
    for (size_t c0 = 0; c0 < n; c0 += B) {
        const size_t len = n - c0 < B ? n - c0 : B;
        const size_t nv = (len + W - 1) / W;
        vf mx = splat<vf>(-kInf);
        for (size_t j = 0; j < nv; ++j) {
            const size_t off = c0 + j * W;
            buf[j] = off + W <= n ? load<vf>(x + off) : load_partial<vf>(x + off, n - off, -kInf);
            mx = vmax(buf[j], mx);
        }
        const float cm = hmax(mx);
        if (cm > m) {
            if (m != -kInf) {
                const double c = std::exp((double)m - (double)cm);
                for (size_t i = 0; i < kCopies * nb; ++i) bins[i] *= c;
            }
            m = cm;
        }
        const float mf = m == -kInf ? 0.0f : m;  // as in row_scan: keeps NaN visible
        for (size_t j = 0; j < nv; ++j) {
            const vf e = exp_exact(buf[j] - mf);  // exact 0 for masked tokens
            std::memcpy(e_buf + j * W, &e, sizeof e);
        }
        const int32_t* c = cls + c0;
        for (size_t i = 0; i < len; ++i) {
            const size_t k = c[i] >= 0 ? (size_t)c[i] : nc;
            bins[(i % kCopies) * nb + k] += e_buf[i];
        }
    }
    double sum = 0.0;
    for (size_t k = 0; k < nb; ++k)
        for (int j = 0; j < kCopies; ++j) sum += bins[(size_t)j * nb + k];
    if (m == -kInf || std::isnan(sum)) {
        for (size_t k = 0; k < nc; ++k) out[k] = std::numeric_limits<double>::quiet_NaN();
        return;
    }
    for (size_t k = 0; k < nc; ++k) {
        double b = 0.0;
        for (int j = 0; j < kCopies; ++j) b += bins[(size_t)j * nb + k];
        out[k] = b / sum;
    }
}

}  // namespace

void class_mass(const float* logits, size_t rows, size_t vocab, const int32_t* class_map, size_t n_classes,
                double* out) {
    check_vocab(vocab);
    check_class_map(class_map, vocab, n_classes);
    if (n_classes == 0) return;
    parallel_for(rows, rows_per_task(vocab), [&](size_t begin, size_t end) {
        std::vector<double> bins(kCopies * (n_classes + 1));  // per task, reused across its rows
        for (size_t r = begin; r < end; ++r)
            dispatch([&](auto w) TP_LAMBDA {
                class_mass_row<decltype(w)::value>(logits + r * vocab, vocab, class_map, n_classes, bins.data(),
                                                   out + r * n_classes);
            });
    });
}

}  // namespace tokprobe
