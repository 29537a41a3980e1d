// IEEE binary16 -> binary32, bit-exact (subnormals, inf, NaN), without relying on F16C or _Float16.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/simd.hpp"

namespace tokprobe {

// Exponent and mantissa shifted into float position are off by a factor 2^112 (bias 127 vs 15);
// one multiply fixes normals and subnormals alike. Inf/NaN get the float exponent field directly.
inline float half_to_float(uint16_t h) {
    uint32_t em = h & 0x7fffu;
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t bits;
    if (em >= 0x7c00u) {
        bits = (em << 13) | 0x7f800000u;
    } else {
        float f;
        uint32_t shifted = em << 13;
        std::memcpy(&f, &shifted, 4);
        f *= 0x1p112f;
        std::memcpy(&bits, &f, 4);
    }
    bits |= sign;
    float out;
    std::memcpy(&out, &bits, 4);
    return out;
}

namespace simd {

template <class VF>
TP_INLINE VF half_to_float(typename Vec<lanes<VF>>::h h16) {
    using VU = UIntOf<VF>;
    const VU h = __builtin_convertvector(h16, VU);
    const VU em = h & 0x7fffu;
    const VU sign = (h & 0x8000u) << 16;
    const VU shifted = em << 13;
    const VU finite = (VU)((VF)shifted * 0x1p112f);
    const VU special = (VU)(em >= 0x7c00u);
    return (VF)(((shifted | 0x7f800000u) & special) | (finite & ~special) | sign);
}

template <class VF>
TP_INLINE VF load(const uint16_t* p) {
    typename Vec<lanes<VF>>::h h;
    std::memcpy(&h, p, sizeof h);
    return half_to_float<VF>(h);
}

template <class VF>
TP_INLINE VF load_partial(const uint16_t* p, size_t n, float pad) {
    VF v = splat<VF>(pad);
    for (size_t i = 0; i < n; ++i) v[i] = tokprobe::half_to_float(p[i]);
    return v;
}

}  // namespace simd

// Scalar element read for either storage type.
inline float to_float(float x) { return x; }
inline float to_float(uint16_t x) { return half_to_float(x); }

}  // namespace tokprobe
