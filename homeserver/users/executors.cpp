// Per-user strands over two thread pools (normal and background); see executors.hpp.
#include "users/executors.hpp"

#include "splitmail/log/log.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <latch>
#include <memory>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

namespace splitmail::home {

namespace {

// Every thread of `pool` (exactly `n` of them) takes the name `name` (ps -L, top -H, perf)
// and lowers its own priority by `steps` nice levels (at most to 19): each takes one task and
// waits until all have, so no thread takes two.
void init_pool_threads(boost::asio::thread_pool& pool, std::size_t n, const char* name, int steps) {
    struct latches {
        explicit latches(std::ptrdiff_t n) : all(n), done(n) {}
        std::latch all, done;
    };
    // Shared: the last count_down() may still run while the constructor returns.
    auto l = std::make_shared<latches>(static_cast<std::ptrdiff_t>(n));
    for (std::size_t i = 0; i < n; ++i)
        boost::asio::post(pool, [l, name, steps] {
            ::prctl(PR_SET_NAME, name, 0, 0, 0);
            // On Linux {get,set}priority(PRIO_PROCESS, tid) read and set one thread's nice
            // value (a new thread starts with its creator's).
            auto tid = static_cast<id_t>(::gettid());
            errno = 0;
            int now = steps != 0 ? ::getpriority(PRIO_PROCESS, tid) : 0;
            if (steps != 0 && errno == 0 &&
                ::setpriority(PRIO_PROCESS, tid, std::min(19, now + steps)) != 0)
                log::warn("home", "",
                          std::string("background mailbox threads: setpriority: ") +
                              std::strerror(errno) + " (heavy users keep full priority)");
            l->all.arrive_and_wait();
            l->done.count_down();
        });
    l->done.wait();
}

} // namespace

user_executors::user_executors(std::size_t threads) : user_executors(options{.threads = threads}) {}

user_executors::user_executors(const options& opt)
    : opt_(opt), pool_(std::max<std::size_t>(opt.threads, 1)),
      background_(std::max<std::size_t>(opt.threads, 1)) {
    const auto n = std::max<std::size_t>(opt.threads, 1);
    init_pool_threads(pool_, n, "home-mailbox", 0);
    init_pool_threads(background_, n, "home-heavy", opt.background_nice);
}

user_executors::~user_executors() { join(); }

std::chrono::nanoseconds user_executors::thread_cpu() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

bool user_executors::heavy_locked(const std::string& user,
                                  std::chrono::steady_clock::time_point now) {
    if (heavy_until_.empty()) return false;
    auto it = heavy_until_.find(user);
    if (it == heavy_until_.end()) return false;
    if (it->second > now) return true;
    heavy_until_.erase(it);
    return false;
}

user_executors::strand_type user_executors::acquire(const std::string& user) {
    std::lock_guard lk(mu_);
    auto it = strands_.find(user);
    if (it == strands_.end()) {
        // Nothing of this user is queued or running: it may change threads here without
        // reordering its work.
        auto& pool = heavy_locked(user, std::chrono::steady_clock::now()) ? background_ : pool_;
        it = strands_.emplace(user, entry{boost::asio::make_strand(pool.get_executor())}).first;
    }
    ++it->second.pending;
    return it->second.strand;
}

void user_executors::release(const std::string& user, std::chrono::nanoseconds cpu) {
    std::lock_guard lk(mu_);
    if (cpu >= opt_.heavy_cpu) {
        auto now = std::chrono::steady_clock::now();
        // The marks stay few (users that were heavy within heavy_for): expired ones are
        // dropped when the map has grown, so it is bounded by the users active in that time.
        if (heavy_until_.size() >= 64)
            std::erase_if(heavy_until_, [now](const auto& kv) { return kv.second <= now; });
        heavy_until_[user] = now + opt_.heavy_for;
    }
    auto it = strands_.find(user);
    // The last piece of work for this user has run: a later one may get a fresh strand (on
    // the background threads if the user is heavy now), the order still holds (nothing of
    // this user is queued or running any more).
    if (it != strands_.end() && --it->second.pending == 0) strands_.erase(it);
}

std::size_t user_executors::active_users() {
    std::lock_guard lk(mu_);
    return strands_.size();
}

bool user_executors::heavy(const std::string& user) {
    std::lock_guard lk(mu_);
    return heavy_locked(user, std::chrono::steady_clock::now());
}

} // namespace splitmail::home
