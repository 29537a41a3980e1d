#include "kernels/simd.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace tokprobe::simd {
namespace {

Level detect() {
#if TOKPROBE_X86_DISPATCH
    // The features the AVX2 / AVX-512 instances are compiled for (simd.hpp); libgcc's check also
    // confirms the OS saves the wider registers.
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                      __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") &&
                      __builtin_cpu_supports("f16c");
    const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    if (avx512) return Level::avx512;
    if (avx2) return Level::avx2;
#endif
    return Level::base;
}

Level from_env(Level best) {
    const char* e = std::getenv("TOKPROBE_SIMD");
    if (!e) return best;
    Level want = best;
    if (!std::strcmp(e, "base")) want = Level::base;
    else if (!std::strcmp(e, "avx2")) want = Level::avx2;
    else if (!std::strcmp(e, "avx512")) want = Level::avx512;
    return (int)want < (int)best ? want : best;
}

const Level g_max = detect();
std::atomic<int> g_level{(int)from_env(g_max)};

}  // namespace

Level level() { return (Level)g_level.load(std::memory_order_relaxed); }
Level max_level() { return g_max; }

void set_level(Level l) { g_level.store((int)l < (int)g_max ? (int)l : (int)g_max, std::memory_order_relaxed); }

const char* level_name(Level l) {
    switch (l) {
        case Level::avx512: return "avx512";
        case Level::avx2: return "avx2";
        default: return "base";
    }
}

}  // namespace tokprobe::simd
