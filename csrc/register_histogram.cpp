// Token histograms: counts by id and by class, accumulated in caller-owned int64 arrays.
#include "buffers.hpp"
#include "kernels/histogram.hpp"
#include "register.hpp"

namespace py = pybind11;

namespace tokprobe {

void register_histogram(py::module_& m) {
    m.def(
        "histogram_add",
        [](py::object ids, py::object counts, py::object class_map, py::object class_counts) {
            bind::View cnt = bind::view(counts, "counts", bind::Kind::i64, 1, true);
            bind::View cmap, ccnt;
            const int32_t* cm = nullptr;
            int64_t* cc = nullptr;
            size_t n_classes = 0;
            if (!class_map.is_none()) {
                cmap = bind::view(class_map, "class_map", bind::Kind::i32, 1);
                ccnt = bind::view(class_counts, "class_counts", bind::Kind::i64, 1, true);
                if (cmap.rows != cnt.rows) throw std::invalid_argument("class_map length differs from counts length");
                cm = cmap.data<int32_t>();
                cc = ccnt.mutable_data<int64_t>();
                n_classes = ccnt.rows;
            }
            const bool wide = bind::is_kind(ids, bind::Kind::i64);
            bind::View v = bind::view(ids, "ids", wide ? bind::Kind::i64 : bind::Kind::i32, 1);
            py::gil_scoped_release nogil;
            if (wide)
                histogram_add(v.data<int64_t>(), v.rows, cnt.rows, cnt.mutable_data<int64_t>(), cm, n_classes, cc);
            else
                histogram_add(v.data<int32_t>(), v.rows, cnt.rows, cnt.mutable_data<int64_t>(), cm, n_classes, cc);
        },
        py::arg("ids"), py::arg("counts"), py::arg("class_map") = py::none(), py::arg("class_counts") = py::none());
}

}  // namespace tokprobe
