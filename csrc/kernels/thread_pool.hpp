// A persistent pool of worker threads shared by all kernels; the calling thread works too.
#pragma once

#include <cstddef>
#include <functional>

namespace tokprobe {

// Cores this process may run on (CPU affinity where the OS reports it).
int available_cores();

// Pool size including the calling thread (>= 1). The pool starts lazily on first use.
int get_threads();

// n <= 0 selects available_cores(). Waits for a running loop to finish first.
void set_threads(int n);

// Calls fn(begin, end) over [0, n) in chunks of `grain` items and returns when all are done. One loop
// runs at a time; a call from inside a loop runs inline. The first exception fn throws is rethrown here.
void parallel_for(size_t n, size_t grain, const std::function<void(size_t, size_t)>& fn);

}  // namespace tokprobe
