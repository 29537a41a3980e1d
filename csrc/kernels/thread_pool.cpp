#include "kernels/thread_pool.hpp"

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#define TOKPROBE_HAVE_GETPID 1
#endif

namespace tokprobe {

using Fn = std::function<void(size_t, size_t)>;

namespace {

thread_local bool t_in_loop = false;  // set while this thread runs a loop's chunk

struct LoopScope {
    LoopScope() { t_in_loop = true; }
    ~LoopScope() { t_in_loop = false; }
};

// Workers sleep between loops. Chunks are claimed under the mutex: a chunk is at least a row of
// logits, so the lock costs nothing next to the work, and a worker that wakes late can never touch
// a loop that already finished.
class Pool {
public:
    explicit Pool(int n) : size_(n) {
        try {
            for (int i = 1; i < n; ++i) workers_.emplace_back([this] { worker_main(); });
        } catch (...) {  // e.g. no more threads: stop the ones started, then report
            stop();
            throw;
        }
    }

    ~Pool() { stop(); }

    int size() const { return size_; }

    void run(size_t n, size_t grain, const Fn& fn) {
        uint64_t gen;
        {
            std::lock_guard<std::mutex> lk(mu_);
            fn_ = &fn;
            n_items_ = n;
            grain_ = grain;
            next_ = 0;
            done_ = 0;
            error_ = nullptr;
            gen = ++gen_;
        }
        start_cv_.notify_all();
        work(gen);
        std::unique_lock<std::mutex> lk(mu_);
        done_cv_.wait(lk, [&] { return done_ == n_items_; });
        fn_ = nullptr;
        if (error_) std::rethrow_exception(error_);
    }

private:
    void stop() {
        {
            std::lock_guard<std::mutex> lk(mu_);
            stop_ = true;
        }
        start_cv_.notify_all();
        for (auto& t : workers_) t.join();
        workers_.clear();
    }

    void worker_main() {
        uint64_t seen = 0;
        while (true) {
            {
                std::unique_lock<std::mutex> lk(mu_);
                start_cv_.wait(lk, [&] { return stop_ || gen_ != seen; });
                if (stop_) return;
                seen = gen_;
            }
            work(seen);
        }
    }

    void work(uint64_t gen) {
        LoopScope scope;
        std::unique_lock<std::mutex> lk(mu_);
        while (gen_ == gen && next_ < n_items_) {
            const size_t begin = next_;
            const size_t end = begin + grain_ < n_items_ ? begin + grain_ : n_items_;
            next_ = end;
            const Fn* fn = fn_;
            lk.unlock();
            std::exception_ptr err;
            try {
                (*fn)(begin, end);
            } catch (...) {
                err = std::current_exception();
            }
            lk.lock();
            if (err && !error_) error_ = err;
            done_ += end - begin;
            if (done_ == n_items_) done_cv_.notify_all();
        }
    }

    const int size_;
    std::vector<std::thread> workers_;
    std::mutex mu_;
    std::condition_variable start_cv_, done_cv_;
    uint64_t gen_ = 0;
    bool stop_ = false;
    const Fn* fn_ = nullptr;
    size_t n_items_ = 0, grain_ = 1, next_ = 0, done_ = 0;
    std::exception_ptr error_;
};

// Global state lives on the heap and is never freed: after fork() the child gets fresh state (the
// parent's workers do not exist there and its mutexes may be held), and at interpreter exit nothing
// has to join threads.
struct State {
    std::mutex run_mu;  // one loop at a time
    Pool* pool = nullptr;
    int threads = 0;  // 0: not chosen yet
};

State* g_state = nullptr;
#ifdef TOKPROBE_HAVE_GETPID
pid_t g_pid = 0;
#endif
std::mutex g_state_mu;

State& state() {
    std::lock_guard<std::mutex> lk(g_state_mu);
#ifdef TOKPROBE_HAVE_GETPID
    if (g_state && g_pid != getpid()) g_state = nullptr;  // forked child: abandon the parent's pool
    g_pid = getpid();
#endif
    if (!g_state) g_state = new State();
    return *g_state;
}

}  // namespace

int available_cores() {
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
#endif
    unsigned n = std::thread::hardware_concurrency();
    return n > 0 ? (int)n : 1;
}

int get_threads() {
    State& s = state();
    std::lock_guard<std::mutex> lk(s.run_mu);
    if (s.threads <= 0) s.threads = available_cores();
    return s.threads;
}

void set_threads(int n) {
    State& s = state();
    std::lock_guard<std::mutex> lk(s.run_mu);
    const int want = n > 0 ? n : available_cores();
    if (s.pool && s.pool->size() != want) {
        delete s.pool;  // joins its idle workers
        s.pool = nullptr;
    }
    s.threads = want;
}

void parallel_for(size_t n, size_t grain, const Fn& fn) {
    if (n == 0) return;
    if (grain == 0) grain = 1;
    if (t_in_loop) {  // nested: no second pool loop, run here
        fn(0, n);
        return;
    }
    State& s = state();
    std::lock_guard<std::mutex> lk(s.run_mu);
    if (s.threads <= 0) s.threads = available_cores();
    if (s.threads == 1 || n <= grain) {
        LoopScope scope;
        fn(0, n);
        return;
    }
    if (!s.pool) s.pool = new Pool(s.threads);
    s.pool->run(n, grain, fn);
}

}  // namespace tokprobe
