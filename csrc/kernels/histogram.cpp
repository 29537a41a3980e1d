#include "kernels/histogram.hpp"

#include "kernels/check.hpp"

namespace tokprobe {
namespace {

template <class I>
void add(const I* ids, size_t n, size_t vocab, int64_t* counts, const int32_t* class_map, size_t n_classes,
         int64_t* class_counts) {
    check_ids(ids, n, vocab, "ids");
    if (class_map) check_class_map(class_map, vocab, n_classes);
    for (size_t i = 0; i < n; ++i) ++counts[ids[i]];
    if (class_map)
        for (size_t i = 0; i < n; ++i) {
            const int32_t c = class_map[ids[i]];
            if (c >= 0) ++class_counts[c];
        }
}

}  // namespace

void histogram_add(const int32_t* ids, size_t n, size_t vocab, int64_t* counts, const int32_t* class_map,
                   size_t n_classes, int64_t* class_counts) {
    add(ids, n, vocab, counts, class_map, n_classes, class_counts);
}

void histogram_add(const int64_t* ids, size_t n, size_t vocab, int64_t* counts, const int32_t* class_map,
                   size_t n_classes, int64_t* class_counts) {
    add(ids, n, vocab, counts, class_map, n_classes, class_counts);
}

}  // namespace tokprobe
