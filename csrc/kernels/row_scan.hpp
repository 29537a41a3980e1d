// One read of a row of logits: max, log-sum-exp, entropy, argmax and optionally the top-k and the min.
//
// The max is tracked online, block by block: a block's max is found first while it sits in L1, the
// running sums are rescaled when the max grows, then the block's exps are summed. Sums run in float
// lanes within a block (32 terms per lane) and in double across blocks, so long rows keep
// float64-level sums.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kernels/half.hpp"
#include "kernels/simd.hpp"
#include "kernels/topk_tracker.hpp"

namespace tokprobe {

// Elements per block at W lanes: 32 terms per float lane before the block total goes to double.
template <int W>
constexpr size_t kBlock = 32 * W;

// Rows per pool task: enough elements that a task is worth scheduling.
inline size_t rows_per_task(size_t vocab) { return vocab >= (1u << 15) ? 1 : (1u << 15) / (vocab ? vocab : 1); }

struct RowScan {
    float max = -simd::kInf;  // largest logit (-inf if all masked)
    float min = simd::kInf;   // smallest logit (only when asked for)
    double lse = std::numeric_limits<double>::quiet_NaN();  // NaN marks an invalid row
    double log_sum = std::numeric_limits<double>::quiet_NaN();  // lse - max = -(max log-prob)
    double entropy = std::numeric_limits<double>::quiet_NaN();
    int32_t argmax = -1;
    bool valid() const { return !std::isnan(lse); }
};

// Row x[0..n). A row is invalid (lse NaN, argmax -1) if it holds NaN or +inf, or only -inf:
// NaN and +inf turn the exp sum into NaN on their own (x - max is NaN), so no extra check is needed.
template <int W, bool kTrackMin, class T>
TP_INLINE RowScan scan_row(const T* x, size_t n, TopKTracker* topk) {
    using namespace simd;
    using vf = typename Vec<W>::f;
    constexpr size_t B = kBlock<W>;
    RowScan out;
    float m = -kInf;
    LaneSum<vf> sum;   // sum of e^(x - m)
    LaneSum<vf> tsum;  // sum of e^(x - m) * (x - m), <= 0
    size_t max_block = 0;
    vf vmin_acc = splat<vf>(kInf);
    float tail_min = kInf;
    vf buf[B / W];
    const vf exp_floor = opaque(splat<vf>(kExpFloor));

    for (size_t c0 = 0; c0 < n; c0 += B) {
        const size_t len = n - c0 < B ? n - c0 : B;
        const size_t nv = (len + W - 1) / W;
        const size_t rem = len % W;  // valid lanes of a partial last vector (0: none partial)

        vf mx0 = splat<vf>(-kInf), mx1 = mx0;
        for (size_t j = 0; j < nv; ++j) {
            const size_t off = c0 + j * W;
            vf v;
            if (off + W <= n) {
                v = load<vf>(x + off);
                if (kTrackMin) vmin_acc = vmin(v, vmin_acc);
            } else {
                v = load_partial<vf>(x + off, n - off, -kInf);
                if (kTrackMin)
                    for (size_t i = off; i < n; ++i) tail_min = to_float(x[i]) < tail_min ? to_float(x[i]) : tail_min;
            }
            buf[j] = v;
            if (j & 1) mx1 = vmax(v, mx1);
            else mx0 = vmax(v, mx0);
        }
        const float cm = hmax(vmax(mx0, mx1));

        if (topk && topk->k > 0 && (!topk->full() || cm > topk->threshold())) {
            for (size_t j = 0; j < nv; ++j) {
                const size_t off = c0 + j * W;
                const size_t lanes = off + W <= n ? W : n - off;
                if (topk->full() && !any(buf[j] > topk->threshold())) continue;
                for (size_t l = 0; l < lanes; ++l) topk->offer(buf[j][l], (int32_t)(off + l));
            }
        }

        if (cm > m) {
            if (m != -kInf) {  // rescale the sums to the new max
                const double d = (double)cm - (double)m;
                const double c = std::exp(-d);
                tsum.v = c * (tsum.v - d * sum.v);
                sum.scale(c);
            }
            m = cm;
            max_block = c0;
        }

        // Until a finite max is seen the block is all -inf or NaN: subtracting 0 keeps NaN visible.
        const float mf = m == -kInf ? 0.0f : m;
        vf acc_s = vf{}, acc_t = vf{}, ones = vf{};
        // A block holding the running max counts its e^0 = 1 terms apart: a float lane holding 1
        // would drop terms below 6e-8, and log(sum) = log(1 + tiny) would lose the entropy of a
        // confident row.
        auto exps = [&](auto split_ones) TP_LAMBDA {
            for (size_t j = 0; j < nv; ++j) {
                const vf z = vmax(exp_floor, buf[j] - mf);  // keeps NaN (max's second operand)
                vf e = exp_clamped(z);
                if (j == nv - 1 && rem) e = zero_unless(first_lanes<vf>(rem), e);
                if constexpr (decltype(split_ones)::value) {
                    const auto at_max = z == 0.0f;
                    ones += select(at_max, e, vf{});
                    acc_s += select(at_max, vf{}, e);
                } else {
                    acc_s += e;
                }
                acc_t += e * z;
            }
        };
        if (cm == m) exps(std::true_type{});
        else exps(std::false_type{});
        sum.add(ones);
        sum.add(acc_s);
        tsum.add(acc_t);
    }

    if (kTrackMin) {
        out.min = hmin(vmin_acc);
        if (tail_min < out.min) out.min = tail_min;
    }
    out.max = m;
    const double total = sum.total();
    if (m == -kInf || std::isnan(total)) return out;

    const double log_sum = std::log(total);
    out.log_sum = log_sum;
    out.lse = (double)m + log_sum;
    const double h = log_sum - tsum.total() / total;
    out.entropy = h > 0.0 ? h : 0.0;
    const size_t end = max_block + B < n ? max_block + B : n;
    for (size_t i = max_block; i < end; ++i)
        if (to_float(x[i]) == m) {
            out.argmax = (int32_t)i;
            break;
        }
    return out;
}

// Instances at the CPU's best vector width (simd::dispatch); defined in row_scan.cpp.
RowScan scan_f32(const float* x, size_t n, TopKTracker* topk);
RowScan scan_f16(const uint16_t* x, size_t n, TopKTracker* topk);
RowScan scan_f32_min(const float* x, size_t n);  // also fills RowScan::min

inline RowScan scan(const float* x, size_t n, TopKTracker* topk) { return scan_f32(x, n, topk); }
inline RowScan scan(const uint16_t* x, size_t n, TopKTracker* topk) { return scan_f16(x, n, topk); }

}  // namespace tokprobe
