// ENVELOPE/BODYSTRUCTURE/BODY strings per message (structure_cache.hpp).
#include "imap/structure_cache.hpp"

#include <utility>

namespace splitmail::home::imap {

void structure_cache::check(std::uint32_t uidvalidity) {
    if (uidvalidity == uidvalidity_) return;
    by_key_.clear();
    order_.clear();
    bytes_ = 0;
    uidvalidity_ = uidvalidity;
}

const std::string* structure_cache::find(std::uint32_t uidvalidity, std::uint32_t uid, item what) {
    check(uidvalidity);
    auto it = by_key_.find(key(uid, what));
    return it == by_key_.end() ? nullptr : &it->second;
}

void structure_cache::put(std::uint32_t uidvalidity, std::uint32_t uid, item what,
                          std::string value) {
    check(uidvalidity);
    const std::size_t cost = value.size() + entry_overhead;
    if (cost > max_bytes / 16) return;
    auto [it, fresh] = by_key_.try_emplace(key(uid, what));
    if (!fresh) return; // the same message gives the same string
    it->second = std::move(value);
    order_.push_back(it->first);
    bytes_ += cost;
    while (bytes_ > max_bytes && !order_.empty()) {
        auto old = by_key_.find(order_.front());
        order_.pop_front();
        if (old == by_key_.end()) continue;
        bytes_ -= old->second.size() + entry_overhead;
        by_key_.erase(old);
    }
}

} // namespace splitmail::home::imap
