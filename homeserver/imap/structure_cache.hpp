#pragma once
// The computed ENVELOPE, BODYSTRUCTURE and BODY strings of a folder's messages, kept with the
// folder (issue 15: FETCH ENVELOPE re-read and re-parsed the message file every time; Dovecot
// answers it from dovecot.index.cache). Filled on first use, shared by every session that has
// the folder open (the folder object is shared, store.hpp): a second FETCH ENVELOPE of a
// message, in any session, opens no file.
//
// Guarantees: an entry is never stale - a message's content never changes under one UID, and
// a new UIDVALIDITY empties the cache. Memory: at most `max_bytes` octets of strings (plus a
// fixed overhead per entry counted in) per folder; when full, the oldest entries go first
// (insertion order). A string longer than max_bytes / 16 is not kept.
// Does not: persist (a restart computes again on first use), lock (used from the thread that
// runs the folder's sessions, like the folder), or drop entries of expunged UIDs before they
// age out.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>

namespace splitmail::home::imap {

class structure_cache {
public:
    enum class item : std::uint8_t { envelope, bodystructure, body };
    static constexpr std::size_t max_bytes = 4u << 20;
    static constexpr std::size_t entry_overhead = 64; // map node, queue slot: counted per entry

    // The cached string, or nullptr. `uidvalidity` different from the cached one empties it.
    const std::string* find(std::uint32_t uidvalidity, std::uint32_t uid, item what);
    void put(std::uint32_t uidvalidity, std::uint32_t uid, item what, std::string value);

    std::size_t bytes() const { return bytes_; }
    std::size_t size() const { return by_key_.size(); }

private:
    static std::uint64_t key(std::uint32_t uid, item what) {
        return (std::uint64_t{uid} << 8) | static_cast<std::uint8_t>(what);
    }
    void check(std::uint32_t uidvalidity);

    std::unordered_map<std::uint64_t, std::string> by_key_;
    std::deque<std::uint64_t> order_; // insertion order, oldest first
    std::size_t bytes_ = 0;
    std::uint32_t uidvalidity_ = 0;
};

} // namespace splitmail::home::imap
