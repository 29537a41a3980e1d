// Dense matrix with expression-free operators, LU decomposition and a solver.
#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <iomanip>
#include <iostream>
#include <stdexcept>
#include <vector>

namespace linalg {

class Matrix {
public:
    Matrix(std::size_t rows, std::size_t cols, double fill = 0.0)
        : rows_(rows), cols_(cols), data_(rows * cols, fill) {}

    Matrix(std::initializer_list<std::initializer_list<double>> init)
        : rows_(init.size()), cols_(init.begin()->size()) {
        data_.reserve(rows_ * cols_);
        for (const auto& row : init) {
            if (row.size() != cols_) throw std::invalid_argument("ragged initializer");
            data_.insert(data_.end(), row.begin(), row.end());
        }
    }

    static Matrix identity(std::size_t n) {
        Matrix m(n, n);
        for (std::size_t i = 0; i < n; ++i) m(i, i) = 1.0;
        return m;
    }

    double& operator()(std::size_t r, std::size_t c) { return data_[r * cols_ + c]; }
    double operator()(std::size_t r, std::size_t c) const { return data_[r * cols_ + c]; }

    [[nodiscard]] std::size_t rows() const noexcept { return rows_; }
    [[nodiscard]] std::size_t cols() const noexcept { return cols_; }

    Matrix operator*(const Matrix& other) const {
        if (cols_ != other.rows_) throw std::domain_error("shape mismatch");
        Matrix out(rows_, other.cols_);
        for (std::size_t i = 0; i < rows_; ++i)
            for (std::size_t k = 0; k < cols_; ++k) {
                const double a = (*this)(i, k);
                for (std::size_t j = 0; j < other.cols_; ++j) out(i, j) += a * other(k, j);
            }
        return out;
    }

    friend std::ostream& operator<<(std::ostream& os, const Matrix& m) {
        for (std::size_t i = 0; i < m.rows_; ++i) {
            for (std::size_t j = 0; j < m.cols_; ++j) os << std::setw(10) << m(i, j);
            os << '\n';
        }
        return os;
    }

private:
    std::size_t rows_, cols_;
    std::vector<double> data_;
};

// Solve A x = b with partial pivoting; throws on a singular matrix.
std::vector<double> solve(Matrix a, std::vector<double> b) {
    const std::size_t n = a.rows();
    if (a.cols() != n || b.size() != n) throw std::invalid_argument("need a square system");
    for (std::size_t col = 0; col < n; ++col) {
        std::size_t pivot = col;
        for (std::size_t r = col + 1; r < n; ++r)
            if (std::abs(a(r, col)) > std::abs(a(pivot, col))) pivot = r;
        if (std::abs(a(pivot, col)) < 1e-12) throw std::runtime_error("singular matrix");
        if (pivot != col) {
            for (std::size_t j = 0; j < n; ++j) std::swap(a(col, j), a(pivot, j));
            std::swap(b[col], b[pivot]);
        }
        for (std::size_t r = col + 1; r < n; ++r) {
            const double f = a(r, col) / a(col, col);
            for (std::size_t j = col; j < n; ++j) a(r, j) -= f * a(col, j);
            b[r] -= f * b[col];
        }
    }
    std::vector<double> x(n);
    for (std::size_t i = n; i-- > 0;) {
        double s = b[i];
        for (std::size_t j = i + 1; j < n; ++j) s -= a(i, j) * x[j];
        x[i] = s / a(i, i);
    }
    return x;
}

}  // namespace linalg

int main() {
    using linalg::Matrix;
    const Matrix a{{4, -2, 1}, {-2, 4, -2}, {1, -2, 4}};
    const auto x = linalg::solve(a, {11, -16, 17});
    std::cout << "A =\n" << a << "x = ";
    for (double v : x) std::cout << std::fixed << std::setprecision(3) << v << ' ';
    std::cout << '\n' << "A * I =\n" << a * Matrix::identity(3);
    return 0;
}
