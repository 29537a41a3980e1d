// Argument checks shared by kernels. The Python layer validates first; these keep _core from ever
// reading out of bounds when called directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace tokprobe {

// Throws std::invalid_argument unless every id is in [0, limit).
template <class I>
void check_ids(const I* ids, size_t n, size_t limit, const char* what) {
    for (size_t i = 0; i < n; ++i)
        if (ids[i] < 0 || (uint64_t)ids[i] >= (uint64_t)limit)
            throw std::invalid_argument(std::string(what) + "[" + std::to_string(i) + "] = " + std::to_string(ids[i]) +
                                        " is outside [0, " + std::to_string(limit) + ")");
}

// Throws std::invalid_argument unless every class id is -1 (no class) or in [0, n_classes).
inline void check_class_map(const int32_t* class_map, size_t vocab, size_t n_classes) {
    for (size_t i = 0; i < vocab; ++i)
        if (class_map[i] < -1 || (class_map[i] >= 0 && (uint64_t)class_map[i] >= (uint64_t)n_classes))
            throw std::invalid_argument("class_map[" + std::to_string(i) + "] = " + std::to_string(class_map[i]) +
                                        " is outside [-1, " + std::to_string(n_classes) + ")");
}

inline void check_vocab(size_t vocab) {
    if (vocab == 0) throw std::invalid_argument("vocab must be at least 1");
}

}  // namespace tokprobe
