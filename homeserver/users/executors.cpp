// Per-user strands over one thread pool; see executors.hpp.
#include "users/executors.hpp"

#include <algorithm>

namespace splitmail::home {

user_executors::user_executors(std::size_t threads) : pool_(std::max<std::size_t>(threads, 1)) {}

user_executors::~user_executors() { pool_.join(); }

user_executors::strand_type user_executors::acquire(const std::string& user) {
    std::lock_guard lk(mu_);
    auto it = strands_.find(user);
    if (it == strands_.end())
        it = strands_.emplace(user, entry{boost::asio::make_strand(pool_.get_executor())}).first;
    ++it->second.pending;
    return it->second.strand;
}

void user_executors::release(const std::string& user) {
    std::lock_guard lk(mu_);
    auto it = strands_.find(user);
    // The last piece of work for this user has run: a later one may get a fresh strand, the
    // order still holds (nothing of this user is queued or running any more).
    if (it != strands_.end() && --it->second.pending == 0) strands_.erase(it);
}

std::size_t user_executors::active_users() {
    std::lock_guard lk(mu_);
    return strands_.size();
}

} // namespace splitmail::home
