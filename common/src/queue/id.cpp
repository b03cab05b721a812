// Queue id generation: see id.hpp.
#include "splitmail/queue/id.hpp"

#include <cstdint>
#include <mutex>
#include <random>

namespace splitmail::queue {

namespace {

// Crockford base32: no I L O U, so ids read aloud and typed by hand are unambiguous.
constexpr std::string_view alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void put_base32(std::string& out, std::uint64_t v, int digits) {
    for (int i = digits - 1; i >= 0; --i) out.push_back(alphabet[(v >> (5 * i)) & 31]);
}

struct generator {
    std::mutex m;
    std::int64_t last_ms = -1;
    std::uint32_t counter = 0;
    std::mt19937_64 rng{std::random_device{}()};
};

generator& gen() {
    static generator g;
    return g;
}

} // namespace

std::string make_id(std::chrono::system_clock::time_point now) {
    auto& g = gen();
    std::int64_t ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    std::uint32_t count;
    std::uint64_t rnd;
    {
        std::lock_guard lk(g.m);
        // Monotonic even if the clock steps back: keep the larger time, bump the counter.
        if (ms > g.last_ms) {
            g.last_ms = ms;
            g.counter = 0;
        } else {
            ms = g.last_ms;
            if (++g.counter >= (1u << 20)) { // 2^20 ids in one millisecond: borrow the next
                g.last_ms = ++ms;
                g.counter = 0;
            }
        }
        count = g.counter;
        rnd = g.rng();
    }
    std::string id;
    id.reserve(id_length);
    put_base32(id, static_cast<std::uint64_t>(ms), 10); // 50 bits: until the year 37000
    put_base32(id, count, 4);
    put_base32(id, rnd, 4);
    return id;
}

std::string make_id() { return make_id(std::chrono::system_clock::now()); }

bool is_valid_id(std::string_view s) {
    if (s.size() != id_length) return false;
    for (char c : s)
        if (alphabet.find(c) == std::string_view::npos) return false;
    return true;
}

} // namespace splitmail::queue
