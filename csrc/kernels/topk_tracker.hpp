// The k largest values of a row, offered in increasing token id; order: value desc, then id asc.
#pragma once

#include <cstdint>
#include <utility>

namespace tokprobe {

// Min-heap over caller-owned storage (no allocation per row). The root is the current worst entry,
// so a new value enters only if it beats the root; since ids arrive increasing, equal values never do,
// which gives the "ties by lower id" rule for free.
struct TopKTracker {
    float* val = nullptr;
    int32_t* idx = nullptr;
    int k = 0;
    int size = 0;

    TopKTracker() = default;
    TopKTracker(float* v, int32_t* i, int cap) : val(v), idx(i), k(cap) {}

    bool full() const { return size >= k; }
    // Values must exceed this to enter (once full).
    float threshold() const { return val[0]; }

    void reset() { size = 0; }

    void offer(float v, int32_t id) {
        if (size < k) {
            int c = size++;
            // sift up
            while (c > 0) {
                int p = (c - 1) / 2;
                if (!worse(v, id, val[p], idx[p])) break;
                val[c] = val[p];
                idx[c] = idx[p];
                c = p;
            }
            val[c] = v;
            idx[c] = id;
        } else if (k > 0 && v > val[0]) {
            sift_down(0, v, id, size);
        }
    }

    // Sorts the entries best first (value desc, id asc), destroying the heap.
    void sort_best_first() {
        for (int n = size - 1; n > 0; --n) {
            float v = val[n];
            int32_t id = idx[n];
            val[n] = val[0];
            idx[n] = idx[0];
            sift_down(0, v, id, n);  // heap of size n: put (v, id) back from the root
        }
    }

private:
    static bool worse(float va, int32_t ia, float vb, int32_t ib) {
        return va < vb || (va == vb && ia > ib);
    }

    void sift_down(int c, float v, int32_t id, int n) {
        while (true) {
            int l = 2 * c + 1;
            if (l >= n) break;
            int r = l + 1;
            int w = (r < n && worse(val[r], idx[r], val[l], idx[l])) ? r : l;
            if (!worse(val[w], idx[w], v, id)) break;
            val[c] = val[w];
            idx[c] = idx[w];
            c = w;
        }
        val[c] = v;
        idx[c] = id;
    }
};

}  // namespace tokprobe
