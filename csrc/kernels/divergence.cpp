#include "kernels/divergence.hpp"

#include <cmath>
#include <limits>

#include "kernels/check.hpp"
#include "kernels/half.hpp"
#include "kernels/row_scan.hpp"
#include "kernels/simd.hpp"
#include "kernels/thread_pool.hpp"

// Pass 1 (row_scan) gives each row's log-sum-exp, entropy, argmax and top-10. Pass 2 reads both rows
// again (from cache) with the log-sum-exps known and sums three non-negative terms per token.
//
// With s = log q - log p, hi = max(p, q), t = |s|, u = e^-t, v = 1 - u, phi = e^-t - 1 + t:
//   KL(P||Q)  = sum p (e^s - 1 - s)        (adds sum q - sum p = 0, makes every term >= 0)
//   KL(Q||P)  = sum q (e^-s - 1 + s)
//   each term is hi * sigma or hi * phi, sigma = u (e^t - 1 - t) = v^2 - phi u  (which one: sign of s)
//   JS        = 1/2 sum hi * J(t),  J = (1 + u) (ln 2 - log1p u) - t u = v^2 M(v) - phi u
// where M is a degree-7 polynomial. Written this way no term cancels catastrophically when P ~ Q
// (phi comes from the exp's own remainder r^2 P(r) for small t), every term is >= 0, identical rows
// give exactly 0, and an error in either log-sum-exp only enters at second order.

namespace tokprobe {
namespace {

using namespace simd;

constexpr float kTMax = 1e30f;  // |s| where one side is -inf: finite, so 0 * t never makes NaN

// M(v) = ((2 - v) L(v/2) - v (1 - v)) / v^2 with L(w) = -log(1 - w), v in [0, 1]; degree 6, 7e-8
// relative (minimax for relative error).
template <class VF>
TP_INLINE VF js_poly(VF v) {
    VF p = splat<VF>(-7.819247548468411e-4f);
    p = p * v + 8.394559263251722e-4f;
    p = p * v - 2.0229597575962543e-3f;
    p = p * v - 2.7374231722205877e-3f;
    p = p * v - 1.0488155297935009e-2f;
    p = p * v - 4.166170209646225e-2f;
    p = p * v + 0.7499999403953552f;
    return p;
}

struct PairSums {
    double kl = 0.0, kl_reverse = 0.0, js = 0.0;
    float s_max = -kInf, s_min = kInf;  // +-inf: a token masked in exactly one row
};

// Splits a double into float hi + lo so x - (hi + lo) keeps the double's accuracy.
struct Split {
    float hi, lo;
    explicit Split(double d) : hi((float)d), lo((float)(d - (double)(float)d)) {}
};

template <int W, class T>
TP_INLINE PairSums pair_pass(const T* x, const float* y, size_t n, double lse_p, double lse_q) {
    using vf = typename Vec<W>::f;
    constexpr size_t B = kBlock<W>;
    const Split cp(lse_p), cq(lse_q), c(lse_q - lse_p);
    const vf t_max = opaque(splat<vf>(kTMax)), t_exp = opaque(splat<vf>(-kExpFloor));
    const vf exp_floor = opaque(splat<vf>(kExpFloor));
    PairSums out;
    vf smax = splat<vf>(-kInf), smin = splat<vf>(kInf);
    LaneSum<vf> sum_f, sum_r, sum_j;
    for (size_t c0 = 0; c0 < n; c0 += B) {
        const size_t end = c0 + B < n ? c0 + B : n;
        vf acc_f = vf{}, acc_r = vf{}, acc_j = vf{};
        for (size_t off = c0; off < end; off += W) {
            vf xv, yv;
            if (off + W <= n) {
                xv = load<vf>(x + off);
                yv = load<vf>(y + off);
            } else {  // -inf in both rows: a token that contributes exactly 0
                xv = load_partial<vf>(x + off, n - off, -kInf);
                yv = load_partial<vf>(y + off, n - off, -kInf);
            }
            // log q - log p = (y - x) - c, with y - x kept exact (TwoSum error term): where the logits
            // differ by more than a factor 2 the rounded difference would lose s (a peaked row's top
            // token, s ~ 0, would show KL ~ ulp^2).
            const vf d = yv - xv;
            const vf yr = d + xv;
            const vf d_err = (yv - yr) - (xv - (yr - d));  // NaN where a logit is -inf: dropped
            const vf s = ((d - c.hi) + zero_unless(d_err == d_err, d_err)) - c.lo;
            const vf a = (xv - cp.hi) - cp.lo;
            const vf b = (yv - cq.hi) - cq.lo;
            smax = vmax(s, smax);
            smin = vmin(s, smin);
            const vf t = vmin(vabs(s), t_max);  // NaN (both -inf) -> kTMax
            const vf hi = exp_clamped(vmax(vmax(a, b), exp_floor));  // a, b are never NaN here
            const ExpParts<vf> e = exp_parts_neg(vmin(t, t_exp));
            const vf u = e.value;
            const vf v = select(e.small, t - e.rem, 1.0f - u);
            const vf phi = select(e.small, e.rem, t - v);
            const vf v2 = v * v;
            const vf w = phi * u;
            const vf sigma = v2 - w;
            const vf jt = v2 * js_poly(v) - w;
            const auto q_ge_p = s >= 0.0f;
            acc_f += hi * select(q_ge_p, sigma, phi);
            acc_r += hi * select(q_ge_p, phi, sigma);
            acc_j += hi * jt;
        }
        sum_f.add(acc_f);
        sum_r.add(acc_r);
        sum_j.add(acc_j);
    }
    out.kl = sum_f.total();
    out.kl_reverse = sum_r.total();
    out.js = sum_j.total();
    out.s_max = hmax(smax);
    out.s_min = hmin(smin);
    return out;
}

template <class T>
PairSums pair_sums(const T* x, const float* y, size_t n, double lse_p, double lse_q) {
    return dispatch([&](auto w) TP_LAMBDA { return pair_pass<decltype(w)::value>(x, y, n, lse_p, lse_q); });
}

constexpr int kTop = 10;

// |first k of a ∩ first k of b| for two best-first id lists.
double overlap(const int32_t* a, const int32_t* b, int k) {
    int common = 0;
    for (int i = 0; i < k; ++i)
        for (int j = 0; j < k; ++j)
            if (a[i] == b[j]) {
                ++common;
                break;
            }
    return (double)common / (double)k;
}

template <class T>
void divergence_impl(const T* ref, const float* var, size_t rows, size_t vocab, const int32_t* targets,
                     const DivergenceOut& out) {
    check_vocab(vocab);
    if (targets) check_ids(targets, rows, vocab, "targets");
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    const int k = vocab < (size_t)kTop ? (int)vocab : kTop;
    const int k5 = k < 5 ? k : 5;
    parallel_for(rows, rows_per_task(vocab), [&](size_t begin, size_t end) {
        float tv[2 * kTop];
        int32_t ti[2 * kTop];
        for (size_t r = begin; r < end; ++r) {
            const T* x = ref + r * vocab;
            const float* y = var + r * vocab;
            TopKTracker tp(tv, ti, k), tq(tv + kTop, ti + kTop, k);
            const RowScan sp = scan(x, vocab, &tp);
            const RowScan sq = scan(y, vocab, &tq);
            out.entropy_ref[r] = sp.entropy;
            out.entropy_var[r] = sq.entropy;
            out.argmax_ref[r] = sp.argmax;
            out.argmax_var[r] = sq.argmax;
            out.target_logprob_ref[r] = (targets && sp.valid()) ? (double)to_float(x[targets[r]]) - sp.lse : nan;
            out.target_logprob_var[r] = (targets && sq.valid()) ? (double)y[targets[r]] - sq.lse : nan;
            if (!sp.valid() || !sq.valid()) {
                out.kl[r] = out.kl_reverse[r] = out.js[r] = nan;
                out.top5_overlap[r] = out.top10_overlap[r] = nan;
                continue;
            }
            if (vocab == 1) {  // two point masses: identical, whatever the logits (spares rounding y - x)
                out.kl[r] = out.kl_reverse[r] = out.js[r] = 0.0;
                out.top5_overlap[r] = out.top10_overlap[r] = 1.0;
                continue;
            }
            const PairSums ps = pair_sums(x, y, vocab, sp.lse, sq.lse);
            // s = -inf: P > 0 where Q is masked; s = +inf: the other way round.
            out.kl[r] = ps.s_min == -kInf ? inf : (ps.kl > 0.0 ? ps.kl : 0.0);
            out.kl_reverse[r] = ps.s_max == kInf ? inf : (ps.kl_reverse > 0.0 ? ps.kl_reverse : 0.0);
            const double js = 0.5 * ps.js;
            out.js[r] = js < 0.0 ? 0.0 : (js > M_LN2 ? M_LN2 : js);
            tp.sort_best_first();
            tq.sort_best_first();
            out.top5_overlap[r] = overlap(tp.idx, tq.idx, k5);
            out.top10_overlap[r] = overlap(tp.idx, tq.idx, k);
        }
    });
}

}  // namespace

void divergence(const float* ref, const float* var, size_t rows, size_t vocab, const int32_t* targets,
                const DivergenceOut& out) {
    divergence_impl(ref, var, rows, vocab, targets, out);
}

void divergence_ref16(const uint16_t* ref, const float* var, size_t rows, size_t vocab, const int32_t* targets,
                      const DivergenceOut& out) {
    divergence_impl(ref, var, rows, vocab, targets, out);
}

}  // namespace tokprobe
