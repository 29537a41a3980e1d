// Token histograms over streams of token ids, accumulated into caller-owned counters.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tokprobe {

// counts[id] += 1 for each id; with class_map (length vocab, -1 = no class) also
// class_counts[class_map[id]] += 1. Throws std::invalid_argument, before counting anything, if an id
// is outside [0, vocab) or a class outside [-1, n_classes).
void histogram_add(const int32_t* ids, size_t n, size_t vocab, int64_t* counts, const int32_t* class_map,
                   size_t n_classes, int64_t* class_counts);
void histogram_add(const int64_t* ids, size_t n, size_t vocab, int64_t* counts, const int32_t* class_map,
                   size_t n_classes, int64_t* class_counts);

}  // namespace tokprobe
