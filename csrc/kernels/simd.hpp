// Float vectors of the target's native width and the vector math every kernel shares.
//
// Why explicit vectors instead of plain loops: without -ffast-math, GCC keeps -ftrapping-math and then
// refuses to if-convert the selects an exp needs, so an exp loop stays scalar. GCC/Clang vector
// extensions compile the same source to SSE2, AVX2, AVX-512 or NEON without intrinsics, provided the
// vector is the target's native width (wider ones get their compares lowered to scalar code).
//
// Kernels are templates on the lane count W. dispatch() runs one at the best width the CPU has:
// on x86-64 the AVX2 and AVX-512 instances are compiled with target attributes inside a portable
// (SSE2) build and picked at run time; elsewhere the baseline instance is the only one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#if defined(__x86_64__) && !defined(TOKPROBE_NO_DISPATCH)
#include <immintrin.h>
#endif

#if !defined(__GNUC__)
#error "tokprobe kernels need GCC or Clang (vector extensions)"
#endif

// Vector arguments never cross a non-inlined call, so the "vector ABI changed" notes do not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

#define TP_INLINE inline __attribute__((always_inline))

#if defined(__x86_64__) && !defined(TOKPROBE_NO_DISPATCH)
#define TOKPROBE_X86_DISPATCH 1
#else
#define TOKPROBE_X86_DISPATCH 0
#endif

namespace tokprobe::simd {

template <int W>
struct Vec {
    typedef float f __attribute__((vector_size(4 * W)));
    typedef int32_t i __attribute__((vector_size(4 * W)));
    typedef uint32_t u __attribute__((vector_size(4 * W)));
    typedef uint16_t h __attribute__((vector_size(2 * W)));
    typedef double d __attribute__((vector_size(8 * W)));
};

template <class VF>
constexpr int lanes = (int)(sizeof(VF) / sizeof(float));
template <class VF>
using IntOf = typename Vec<lanes<VF>>::i;
template <class VF>
using UIntOf = typename Vec<lanes<VF>>::u;

constexpr float kInf = __builtin_inff();

// ---- run-time choice of width -------------------------------------------------------------------

enum class Level : int { base = 0, avx2 = 1, avx512 = 2 };

// Best level this CPU supports, lowered by env TOKPROBE_SIMD=base|avx2|avx512 or set_level().
Level level();
Level max_level();  // what the CPU supports
void set_level(Level l);  // clamped to max_level(); for tests and benchmarks
const char* level_name(Level l);

constexpr int kBaseW = 4;  // SSE2 / NEON: 16-byte vectors

#if TOKPROBE_X86_DISPATCH
// Feature lists rather than arch=x86-64-v3/v4 names, which need GCC 11+. level() checks the same.
#define TOKPROBE_AVX2_FEATURES "avx2,fma,bmi,bmi2,f16c"
#define TOKPROBE_AVX512_FEATURES TOKPROBE_AVX2_FEATURES ",avx512f,avx512bw,avx512dq,avx512vl"
namespace detail {
template <class F>
__attribute__((target(TOKPROBE_AVX512_FEATURES), noinline)) auto run_avx512(F& f) {
    return f(std::integral_constant<int, 16>{});
}
template <class F>
__attribute__((target(TOKPROBE_AVX2_FEATURES), noinline)) auto run_avx2(F& f) {
    return f(std::integral_constant<int, 8>{});
}
}  // namespace detail
#endif

// Calls f(std::integral_constant<int, W>) at the best width. f must be a lambda marked TP_LAMBDA so
// it inlines into the target-specific caller.
template <class F>
auto dispatch(F&& f) {
#if TOKPROBE_X86_DISPATCH
    switch (level()) {
        case Level::avx512: return detail::run_avx512(f);
        case Level::avx2: return detail::run_avx2(f);
        default: break;
    }
#endif
    return f(std::integral_constant<int, kBaseW>{});
}

#define TP_LAMBDA __attribute__((always_inline))

// ---- loads and lane-wise helpers -----------------------------------------------------------------

template <class VF>
TP_INLINE VF splat(float a) {
    return VF{} + a;
}

// A constant the compiler may not look into. Strict IEEE rules (NaN, -0) stop GCC from turning a
// compare-select against a known constant into one max/min instruction; against an unknown value
// it does. Make these once, outside loops.
template <class VF>
TP_INLINE VF opaque(VF v) {
#if defined(__x86_64__) || defined(__i386__)
    __asm__("" : "+x"(v));
#elif defined(__aarch64__)
    __asm__("" : "+w"(v));
#endif
    return v;
}

template <class VF>
TP_INLINE VF load(const float* p) {
    VF v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// Lanes [n, W) hold `pad` (-inf: a masked token, neutral for every kernel).
template <class VF>
TP_INLINE VF load_partial(const float* p, size_t n, float pad) {
    VF v = splat<VF>(pad);
    for (size_t i = 0; i < n; ++i) v[i] = p[i];
    return v;
}

template <class VF>
TP_INLINE VF select(IntOf<VF> m, VF a, VF b) {
    return (VF)((m & (IntOf<VF>)a) | (~m & (IntOf<VF>)b));
}

template <class VF>
TP_INLINE VF zero_unless(IntOf<VF> keep, VF a) {
    return (VF)(keep & (IntOf<VF>)a);
}

// max/min that ignore a NaN in `a` (keep b); kernels detect NaN rows elsewhere. Written as the
// conditional so GCC emits one max/min instruction (x86 maxps has exactly these NaN semantics).
#if defined(__clang__)  // older Clang lacks ?: on GCC-style vectors; same semantics via select
template <class VF>
TP_INLINE VF vmax(VF a, VF b) {
    return select(a > b, a, b);
}
template <class VF>
TP_INLINE VF vmin(VF a, VF b) {
    return select(a < b, a, b);
}
#else
template <class VF>
TP_INLINE VF vmax(VF a, VF b) {
    return a > b ? a : b;
}
template <class VF>
TP_INLINE VF vmin(VF a, VF b) {
    return a < b ? a : b;
}
#endif
// max(z, lo) that keeps NaN, so NaN still poisons the sums it feeds.
template <class VF>
TP_INLINE VF clamp_low(VF z, float lo) {
    return vmax(splat<VF>(lo), z);
}
template <class VF>
TP_INLINE VF vabs(VF a) {
    return (VF)((UIntOf<VF>)a & 0x7fffffffu);
}

// Any lane of a compare mask set. OR-ing 64-bit words (not lanes) lets GCC fold it as a short tree.
template <class VI>
TP_INLINE bool any(VI m) {
    uint64_t w[sizeof(VI) / 8];
    std::memcpy(w, &m, sizeof m);
    uint64_t r = 0;
    for (size_t i = 0; i < sizeof(VI) / 8; ++i) r |= w[i];
    return r != 0;
}

// Float64 sums kept lane-wise: a block's float lanes are widened and added here (two converts and
// two adds per block), and only the row's end pays for one horizontal sum.
template <class VF>
struct LaneSum {
    using D = typename Vec<lanes<VF>>::d;
    D v{};
    TP_INLINE void add(VF a) { v += __builtin_convertvector(a, D); }
    TP_INLINE void scale(double c) { v *= c; }
    // Horizontal sum as a tree: a chain of W dependent adds would cost more than a block.
    TP_INLINE double total() const {
        double t[lanes<VF>];
        for (int i = 0; i < lanes<VF>; ++i) t[i] = v[i];
        for (int w = lanes<VF> / 2; w > 0; w /= 2)
            for (int i = 0; i < w; ++i) t[i] += t[i + w];
        return t[0];
    }
};

// One vector's lanes summed in double.
template <class VF>
TP_INLINE double hsum(VF a) {
    LaneSum<VF> s;
    s.add(a);
    return s.total();
}

template <class VF>
TP_INLINE float hmax(VF a) {
    float t[lanes<VF>];
    std::memcpy(t, &a, sizeof t);
    for (int w = lanes<VF> / 2; w > 0; w /= 2)
        for (int i = 0; i < w; ++i) t[i] = t[i + w] > t[i] ? t[i + w] : t[i];
    return t[0];
}

template <class VF>
TP_INLINE float hmin(VF a) {
    float t[lanes<VF>];
    std::memcpy(t, &a, sizeof t);
    for (int w = lanes<VF> / 2; w > 0; w /= 2)
        for (int i = 0; i < w; ++i) t[i] = t[i + w] < t[i] ? t[i + w] : t[i];
    return t[0];
}

// Lanes with index < n.
template <class VF>
TP_INLINE IntOf<VF> first_lanes(size_t n) {
    IntOf<VF> lane;
    for (int i = 0; i < lanes<VF>; ++i) lane[i] = i;
    return lane < (int32_t)n;
}

// ---- exp ------------------------------------------------------------------------------------------
// e^z = 2^n e^r, n = round(z / ln 2), |r| <= ln2/2 (Cody-Waite split of ln 2: n * kLn2Hi is exact),
// e^r by a polynomial in r (exp_poly). Valid for z <= 88; the kernels only call it with z <= ~0.

constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2 = 0.693147180559945309f;
constexpr float kLn2Hi = 0.693145751953125f;
constexpr float kLn2Lo = 1.428606765330187045e-06f;
constexpr float kRound = 12582912.0f;     // 1.5 * 2^23: adding it rounds to an integer in the low bits
constexpr uint32_t kRoundBits = 0x4b400000u;
constexpr float kExpLow = -87.33f;  // below this e^z is under FLT_MIN

template <class VF>
struct Reduced {
    VF r;   // reduced argument
    VF sh;  // z*log2e + kRound: its low mantissa bits hold n
    VF n;
};

// sh = z * log2e + kRound, passed in so callers can fold a negation into it.
template <class VF>
TP_INLINE Reduced<VF> reduce(VF z, VF sh) {
    Reduced<VF> o;
    o.sh = sh;
    o.n = sh - kRound;
    if constexpr (lanes<VF> >= 8) {
        // Wide instances run on AVX2/AVX-512, where this is one fused multiply-add: the error of ln 2
        // in float (2e-9) times |n| stays below float precision for the terms that matter (|n| < 30).
        o.r = z - o.n * kLn2;
    } else {
        o.r = z - o.n * kLn2Hi;
        o.r = o.r - o.n * kLn2Lo;
    }
    return o;
}

template <class VF>
TP_INLINE Reduced<VF> reduce(VF z) {
    return reduce(z, z * kLog2e + kRound);
}

// 2^n from the rounding trick's bits (valid for -126 <= n <= 127).
template <class VF>
TP_INLINE VF pow2n(VF sh) {
    return (VF)(((UIntOf<VF>)sh << 23) + ((127u - kRoundBits) << 23));
}

// AVX-512 scales by 2^n in one instruction (vscalefps), with correct underflow to 0 for any n.
// (Building 2^n from integer ops and folding it into the last multiply-add measured slower on Zen 4.)
template <class VF>
constexpr bool kScalef = TOKPROBE_X86_DISPATCH && lanes<VF> == 16;

// er * 2^n.
template <class VF>
TP_INLINE VF scale2n(VF er, const Reduced<VF>& q) {
#if TOKPROBE_X86_DISPATCH
    // The builtin, not _mm512_scalef_ps: the intrinsic wrapper would have to inline into this
    // default-target template; the builtin is only checked where it lands (the AVX-512 instance).
    if constexpr (kScalef<VF>)
        return (VF)__builtin_ia32_scalefps512_mask((__v16sf)er, (__v16sf)q.n, (__v16sf)er, (__mmask16)-1,
                                                   _MM_FROUND_CUR_DIRECTION);
#endif
    return er * pow2n(q.sh);
}

// e^r on [-ln2/2, ln2/2] by Horner's rule, minimax for relative error (1e-7, ~2 ulp): five
// multiply-adds, the least that keeps float precision.
template <class VF>
TP_INLINE VF exp_poly(VF r) {
    VF p = splat<VF>(8.312530815601349e-3f);
    p = p * r + 4.189012199640274e-2f;
    p = p * r + 1.6667114198207855e-1f;
    p = p * r + 4.99992311000824e-1f;
    p = p * r + 1.0f;
    return p * r + 1.0f;
}

// Degree 5: r^2 P(r) itself (e^r - 1 - r) to ~1.5e-7 relative, for where that remainder is a result.
template <class VF>
TP_INLINE VF poly5(VF r) {
    VF p = splat<VF>(1.9890980911441147e-4f);
    p = p * r + 1.3933641603216529e-3f;
    p = p * r + 8.33331048488617e-3f;
    p = p * r + 4.166646674275398e-2f;
    p = p * r + 1.666666716337204e-1f;
    p = p * r + 0.5f;
    return p;
}

// Below this every exp underflows to 0; clamping -inf here keeps e^z * z finite (0, not NaN).
constexpr float kExpFloor = -200.0f;

// e^z for z already clamped to >= kExpFloor; exactly 0 below kExpLow (vscalefps underflows on its
// own, elsewhere a mask does it). NaN propagates.
template <class VF>
TP_INLINE VF exp_clamped(VF zc) {
    const Reduced<VF> q = reduce(zc);
    const VF er = exp_poly(q.r);
    if constexpr (kScalef<VF>) return scale2n(er, q);
    else return zero_unless(~(zc < kExpLow), scale2n(er, q));
}

// e^z for any z <= 88, exactly 0 for z < kExpLow and z = -inf; NaN propagates.
template <class VF>
TP_INLINE VF exp_exact(VF z) {
    return exp_clamped(clamp_low(z, kExpFloor));
}

// e^-t (t >= 0) plus, where n == 0 (t < ln2/2), the accurate remainder e^-t - 1 + t = r^2 P(r):
// the divergence kernel needs that remainder where 1 - t - e^-t would cancel.
template <class VF>
struct ExpParts {
    VF value;         // e^-t, exactly 0 for t > -kExpLow
    VF rem;           // e^-t - 1 + t, valid where `small`
    IntOf<VF> small;  // lanes with n == 0
};

// tc: t clamped to [0, -kExpFloor] by the caller. Taking t rather than -t lets the negation fold
// into the reduction's multiply-adds.
template <class VF>
TP_INLINE ExpParts<VF> exp_parts_neg(VF tc) {
    const Reduced<VF> q = reduce(-tc, kRound - tc * kLog2e);
    ExpParts<VF> o;
    o.rem = q.r * q.r * poly5(q.r);
    o.value = scale2n(o.rem + q.r + 1.0f, q);
    if constexpr (!kScalef<VF>) o.value = zero_unless(~(tc > -kExpLow), o.value);
    o.small = q.n == 0.0f;
    return o;
}

}  // namespace tokprobe::simd
