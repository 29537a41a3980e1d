// Binding-side argument handling: any buffer-protocol object -> checked pointer + shape, no copy.
// Every mistake becomes std::invalid_argument (Python ValueError); nothing here can crash.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace tokprobe::bind {

namespace py = pybind11;

enum class Kind { f32, f16, i32, i64, f64 };

inline const char* kind_name(Kind k) {
    switch (k) {
        case Kind::f32: return "float32";
        case Kind::f16: return "float16";
        case Kind::i32: return "int32";
        case Kind::i64: return "int64";
        case Kind::f64: return "float64";
    }
    return "?";
}

// Struct-module format code without a native/little-endian prefix, or "" for foreign byte order.
inline std::string native_code(const std::string& fmt) {
    const bool little = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
    if (fmt.empty()) return fmt;
    const char c = fmt[0];
    if (c == '@' || c == '=') return fmt.substr(1);
    if (c == '<') return little ? fmt.substr(1) : std::string();
    if (c == '>' || c == '!') return little ? std::string() : fmt.substr(1);
    return fmt;
}

inline bool matches(const py::buffer_info& b, Kind k) {
    const std::string c = native_code(b.format);
    if (c.size() != 1) return false;
    switch (k) {
        case Kind::f32: return c == "f" && b.itemsize == 4;
        case Kind::f16: return c == "e" && b.itemsize == 2;
        case Kind::f64: return c == "d" && b.itemsize == 8;
        case Kind::i32: return (c == "i" || c == "l") && b.itemsize == 4;
        case Kind::i64: return (c == "l" || c == "q") && b.itemsize == 8;
    }
    return false;
}

// True if obj is a buffer of that element kind (any shape).
inline bool is_kind(py::handle obj, Kind k) {
    if (!PyObject_CheckBuffer(obj.ptr())) return false;
    return matches(py::reinterpret_borrow<py::buffer>(obj).request(), k);
}

// A C-contiguous view. rows x cols for 2-D; size x 1 for 1-D. Keep it alive (and the GIL released
// only inside its lifetime): it holds the exporter's buffer.
struct View {
    py::buffer_info info;
    size_t rows = 0, cols = 1;
    template <class T>
    const T* data() const {
        return static_cast<const T*>(info.ptr);
    }
    template <class T>
    T* mutable_data() const {
        return static_cast<T*>(info.ptr);
    }
    size_t size() const { return rows * cols; }
};

inline View view(py::handle obj, const char* name, Kind kind, int ndim, bool writable = false) {
    if (!PyObject_CheckBuffer(obj.ptr()))
        throw std::invalid_argument(std::string(name) + " must be a " + kind_name(kind) +
                                    " array or buffer, got " + std::string(py::str(py::type::of(obj).attr("__name__"))));
    View v;
    v.info = py::reinterpret_borrow<py::buffer>(obj).request(writable);
    const py::buffer_info& b = v.info;
    if (!matches(b, kind))
        throw std::invalid_argument(std::string(name) + " must be " + kind_name(kind) + ", got buffer format '" +
                                    b.format + "' (itemsize " + std::to_string(b.itemsize) + ")");
    if (b.ndim != ndim)
        throw std::invalid_argument(std::string(name) + " must have " + std::to_string(ndim) + " dimension(s), got " +
                                    std::to_string(b.ndim));
    // C order; strides of length-1 dimensions do not matter (as in numpy's flag).
    py::ssize_t expect = b.itemsize;
    for (int d = ndim - 1; d >= 0; --d) {
        if (b.shape[d] > 1 && b.strides[d] != expect)
            throw std::invalid_argument(std::string(name) + " must be C-contiguous");
        expect *= b.shape[d];
    }
    v.rows = (size_t)b.shape[0];
    v.cols = ndim == 2 ? (size_t)b.shape[1] : 1;
    return v;
}

inline void same_rows(const View& a, const char* an, const View& b, const char* bn) {
    if (a.rows != b.rows)
        throw std::invalid_argument(std::string(an) + " has " + std::to_string(a.rows) + " rows but " + bn + " has " +
                                    std::to_string(b.rows));
}

// Optional [rows] int32 targets; null pointer when None.
inline const int32_t* targets_arg(const py::object& targets, View& holder, size_t rows) {
    if (targets.is_none()) return nullptr;
    holder = view(targets, "targets", Kind::i32, 1);
    if (holder.rows != rows)
        throw std::invalid_argument("targets has " + std::to_string(holder.rows) + " entries for " +
                                    std::to_string(rows) + " rows");
    return holder.data<int32_t>();
}

template <class T>
py::array_t<T> new_array(size_t rows) {
    return py::array_t<T>((py::ssize_t)rows);
}

template <class T>
py::array_t<T> new_array(size_t rows, size_t cols) {
    return py::array_t<T>({(py::ssize_t)rows, (py::ssize_t)cols});
}

}  // namespace tokprobe::bind
