#pragma once
// Greylisting (issue 18): the store of (client network, sender, recipient) triplets that
// decides whether a recipient of an inbound message is deferred with 451 4.7.1 or accepted,
// the way postgrey does it for Postfix.
//
// A triplet seen for the first time is recorded and deferred; a retry before `delay` is
// deferred again; the first retry after it passes, and a passed triplet is accepted at once
// for `max_age` after its last use (each use refreshes it). An unpassed triplet whose sender
// does not come back within `retry_window` is forgotten. A client network with `auto_allow`
// passed deliveries (count_delivery) skips greylisting until it is unused for `max_age`.
// The network is the client's /24 (IPv4, IPv4-mapped IPv6) or /64 (IPv6); sender and
// recipient are compared lower-cased (ASCII); the null sender is the empty sender.
//
// Guarantees:
//  - memory is bounded: at most `max_entries` entries of fixed size, whatever the addresses
//    (a key is the SHA-256 of a per-file random salt and the triplet, truncated to 128 bits:
//    long addresses cost nothing and nobody can aim keys at one hash bucket). When full,
//    expired entries go first, then the oldest eighth of the unpassed triplets (so a flood of
//    new triplets never pushes out passed ones while unpassed ones remain), then the least
//    recently used eighth of the rest. O(1) amortised per call (one O(n) sweep per n/8 inserts).
//  - the state file (serialize / load) is fixed-size records with a SHA-256 trailer: at most
//    68 + 40 * max_entries octets; load() checks every byte and refuses anything else with a
//    clear error, never a crash (tests/fuzz/greylist_state_fuzz.cpp).
//  - pure: the time is a parameter (wall-clock seconds, since the state outlives restarts), no
//    I/O, no logging. Not thread-safe (the relay's SMTP sessions share one io thread).
// Does not do: decide who is greylisted (the SMTP driver skips trusted and authenticated
// clients), persist itself (greylist_file.hpp), or evaluate SPF.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace splitmail::relay::filter {

using wall_seconds = std::chrono::sys_seconds;

struct greylist_policy {
    std::chrono::seconds delay{300};
    std::chrono::seconds max_age{35 * 86400};
    std::chrono::seconds retry_window{2 * 86400};
    std::size_t auto_allow = 5; // 0: never
    std::size_t max_entries = 100000;
};

// The normalised triplet: network "a.b.c.0/24" / "x:x:x:x::/64", lower-cased addresses.
struct grey_triplet {
    std::string network;
    std::string sender; // "" for the null sender
    std::string recipient;
};
// nullopt when client_ip is not an IP address.
std::optional<grey_triplet> make_triplet(std::string_view client_ip, std::string_view sender,
                                         std::string_view recipient);

enum class grey_result {
    first_seen,      // deferred: recorded now
    too_early,       // deferred: seen before, delay not over
    passed_now,      // accepted: the first retry after the delay
    passed,          // accepted: a triplet that passed before
    network_allowed, // accepted: the network has auto_allow passed deliveries
};

struct grey_answer {
    grey_result result = grey_result::first_seen;
    std::chrono::seconds retry_after{0}; // deferred: time left until a retry passes
    bool accepted() const {
        return result != grey_result::first_seen && result != grey_result::too_early;
    }
};

class greylist {
public:
    static constexpr std::size_t record_size = 40;
    static constexpr std::size_t header_size = 36; // magic 8, salt 16, version 4, count 8
    static constexpr std::size_t trailer_size = 32;

    explicit greylist(greylist_policy p); // a fresh random salt
    greylist(greylist_policy p, const std::array<std::uint8_t, 16>& salt);

    // Decide for one recipient and record the attempt. `honour_network`: an auto-allowed
    // network is accepted without looking at the triplet (false for rspamd's greylist action,
    // which judged the message itself).
    grey_answer check(const grey_triplet& t, wall_seconds now, bool honour_network = true);
    // Whether the network is auto-allowed now (no recording).
    bool network_allowed(std::string_view network, wall_seconds now) const;
    // One message accepted through a passed triplet from `network` (counts toward auto_allow).
    void count_delivery(std::string_view network, wall_seconds now);

    std::size_t size() const { return map_.size(); }
    std::uint64_t changes() const { return changes_; } // grows with every change (for saving)
    const greylist_policy& policy() const { return p_; }

    // The state file's content: every unexpired entry, in no particular order.
    std::string serialize(wall_seconds now) const;
    // Replaces the content with a state file's (entries expired at `now` are dropped, and if
    // the file holds more than max_entries the eviction rule trims it). On error the content
    // is empty (with a new salt) and the error says what is wrong.
    std::expected<void, std::string> load(std::string_view bytes, wall_seconds now);

private:
    using key = std::array<std::uint8_t, 16>;
    struct key_hash {
        std::size_t operator()(const key& k) const noexcept;
    };
    enum kind : std::uint8_t { triplet_kind = 1, network_kind = 2 };
    struct entry {
        std::int64_t first = 0;  // triplet: first attempt; network: first passed delivery
        std::int64_t last = 0;   // last attempt / last pass / last delivery
        std::uint32_t count = 0; // passes (triplet) or passed deliveries (network)
        std::uint8_t type = triplet_kind;
        bool passed = false; // triplet only
    };

    key make_key(std::uint8_t type, std::string_view a, std::string_view b = {},
                 std::string_view c = {}) const;
    bool expired(const entry& e, std::int64_t now) const;
    void make_room(std::int64_t now);            // before an insert into a full table
    entry* find(const key& k, std::int64_t now); // nullptr when absent or expired (erased)

    greylist_policy p_;
    key salt_{};
    std::unordered_map<key, entry, key_hash> map_;
    std::uint64_t changes_ = 0;
};

} // namespace splitmail::relay::filter
