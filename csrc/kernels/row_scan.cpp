#include "kernels/row_scan.hpp"

namespace tokprobe {

RowScan scan_f32(const float* x, size_t n, TopKTracker* topk) {
    return simd::dispatch([&](auto w) TP_LAMBDA { return scan_row<decltype(w)::value, false>(x, n, topk); });
}

RowScan scan_f16(const uint16_t* x, size_t n, TopKTracker* topk) {
    return simd::dispatch([&](auto w) TP_LAMBDA { return scan_row<decltype(w)::value, false>(x, n, topk); });
}

RowScan scan_f32_min(const float* x, size_t n) {
    return simd::dispatch([&](auto w) TP_LAMBDA { return scan_row<decltype(w)::value, true>(x, n, nullptr); });
}

}  // namespace tokprobe
