#include "kernels/summary.hpp"

#include <cmath>

namespace tokprobe {

Moments moments(const double* v, size_t n) {
    Moments m;
    // Neumaier-compensated sum for the mean.
    double sum = 0.0, comp = 0.0;
    for (size_t i = 0; i < n; ++i) {
        const double x = v[i];
        if (std::isnan(x)) {
            ++m.nan_count;
            continue;
        }
        ++m.count;
        const double t = sum + x;
        comp += std::fabs(sum) >= std::fabs(x) ? (sum - t) + x : (x - t) + sum;
        sum = t;
        m.min = x < m.min ? x : m.min;
        m.max = x > m.max ? x : m.max;
    }
    if (m.count == 0) return m;
    const double s = std::isfinite(sum) ? sum + comp : sum;
    m.mean = s / (double)m.count;
    double sq = 0.0, dev = 0.0;
    for (size_t i = 0; i < n; ++i) {
        const double x = v[i];
        if (std::isnan(x)) continue;
        const double d = x - m.mean;
        sq += d * d;
        dev += d;
    }
    m.m2 = sq - dev * dev / (double)m.count;
    if (m.m2 < 0.0) m.m2 = 0.0;
    return m;
}

Moments merge(const Moments& a, const Moments& b) {
    Moments m;
    m.nan_count = a.nan_count + b.nan_count;
    m.count = a.count + b.count;
    m.min = a.min < b.min ? a.min : b.min;
    m.max = a.max > b.max ? a.max : b.max;
    if (a.count == 0 || b.count == 0) {
        const Moments& only = a.count ? a : b;
        m.mean = only.mean;
        m.m2 = only.m2;
        return m;
    }
    const double na = (double)a.count, nb = (double)b.count, n = na + nb;
    const double delta = b.mean - a.mean;
    m.mean = a.mean + delta * (nb / n);
    m.m2 = a.m2 + b.m2 + delta * delta * (na * nb / n);
    return m;
}

}  // namespace tokprobe
