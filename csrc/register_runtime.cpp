// Runtime configuration: thread pool size and the SIMD width the kernels run at.
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "kernels/simd.hpp"
#include "kernels/thread_pool.hpp"
#include "register.hpp"

namespace py = pybind11;

namespace tokprobe {

void register_runtime(py::module_& m) {
    m.def(
        "set_threads",
        [](py::object n) {
            int k = 0;
            if (!n.is_none()) {
                k = n.cast<int>();
                if (k < 1 || k > 1024)
                    throw std::invalid_argument("threads must be in [1, 1024] (or None for all available cores)");
            }
            py::gil_scoped_release nogil;
            set_threads(k);
        },
        py::arg("n") = py::none(), "Pool size; None = available cores.");
    m.def("get_threads", [] { return get_threads(); });
    m.def("available_cores", &available_cores);
    m.def("simd_level", [] { return std::string(simd::level_name(simd::level())); },
          "Vector instruction level the kernels use: 'avx512', 'avx2' or 'base' (SSE2/NEON).");
    m.def(
        "_set_simd_level",
        [](const std::string& name) {
            if (name == "base") simd::set_level(simd::Level::base);
            else if (name == "avx2") simd::set_level(simd::Level::avx2);
            else if (name == "avx512") simd::set_level(simd::Level::avx512);
            else throw std::invalid_argument("SIMD level must be 'base', 'avx2' or 'avx512'");
            return std::string(simd::level_name(simd::level()));
        },
        py::arg("name"), "Testing hook: lower the SIMD level (capped at what the CPU supports).");
}

}  // namespace tokprobe
