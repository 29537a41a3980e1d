// Class mass per row.
#include "buffers.hpp"
#include "kernels/class_mass.hpp"
#include "register.hpp"

namespace py = pybind11;

namespace tokprobe {

void register_class_mass(py::module_& m) {
    m.def(
        "class_mass",
        [](py::object logits, py::object class_map, long long n_classes) {
            bind::View x = bind::view(logits, "logits", bind::Kind::f32, 2);
            bind::View c = bind::view(class_map, "class_map", bind::Kind::i32, 1);
            if (c.rows != x.cols)
                throw std::invalid_argument("class_map has " + std::to_string(c.rows) + " entries for vocab " +
                                            std::to_string(x.cols));
            if (n_classes < 0) throw std::invalid_argument("n_classes must be >= 0");
            auto out = bind::new_array<double>(x.rows, (size_t)n_classes);
            {
                py::gil_scoped_release nogil;
                class_mass(x.data<float>(), x.rows, x.cols, c.data<int32_t>(), (size_t)n_classes, out.mutable_data());
            }
            return out;
        },
        py::arg("logits"), py::arg("class_map"), py::arg("n_classes"));
}

}  // namespace tokprobe
