// Greylisting store; see greylist.hpp.
#include "filter/greylist.hpp"

#include "splitmail/address/address.hpp"
#include "splitmail/net/network.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace splitmail::relay::filter {
namespace {

constexpr std::string_view magic = "SMGREY\r\n"; // CRLF: a text-mode copy breaks it visibly
constexpr std::uint32_t format_version = 1;
// Times outside this range are no time the relay ever wrote (1970 .. year 36812).
constexpr std::int64_t max_time = std::int64_t{1} << 40;

std::int64_t secs(wall_seconds t) { return t.time_since_epoch().count(); }

void put_le(std::string& out, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

std::uint64_t get_le(std::string_view in, std::size_t at, int bytes) {
    std::uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i)
        v = (v << 8) | static_cast<unsigned char>(in[at + static_cast<std::size_t>(i)]);
    return v;
}

std::array<std::uint8_t, 32> sha256(std::string_view data) {
    std::array<std::uint8_t, 32> out{};
    unsigned int n = 0;
    if (EVP_Digest(data.data(), data.size(), out.data(), &n, EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("SHA-256 failed");
    return out;
}

} // namespace

std::optional<grey_triplet> make_triplet(std::string_view client_ip, std::string_view sender,
                                         std::string_view recipient) {
    auto net = net::parse_client_network(client_ip);
    if (!net) return std::nullopt;
    return grey_triplet{std::move(*net), address::lower_ascii(sender),
                        address::lower_ascii(recipient)};
}

std::size_t greylist::key_hash::operator()(const key& k) const noexcept {
    std::size_t h = 0;
    std::memcpy(&h, k.data(), sizeof h); // the key is already a (salted) SHA-256
    return h;
}

greylist::greylist(greylist_policy p) : p_(p) {
    if (RAND_bytes(salt_.data(), static_cast<int>(salt_.size())) != 1)
        throw std::runtime_error("no random bytes for the greylist salt");
}

greylist::greylist(greylist_policy p, const key& salt) : p_(p), salt_(salt) {}

greylist::key greylist::make_key(std::uint8_t type, std::string_view a, std::string_view b,
                                 std::string_view c) const {
    // salt, type, then each part with its length: no two different triplets share an input.
    std::string in(reinterpret_cast<const char*>(salt_.data()), salt_.size());
    in += static_cast<char>(type);
    for (auto part : {a, b, c}) {
        put_le(in, part.size(), 4);
        in += part;
    }
    auto d = sha256(in);
    key k{};
    std::copy_n(d.begin(), k.size(), k.begin());
    return k;
}

bool greylist::expired(const entry& e, std::int64_t now) const {
    if (e.type == triplet_kind && !e.passed) return now - e.first > p_.retry_window.count();
    return now - e.last > p_.max_age.count();
}

greylist::entry* greylist::find(const key& k, std::int64_t now) {
    auto it = map_.find(k);
    if (it == map_.end()) return nullptr;
    if (expired(it->second, now)) {
        map_.erase(it);
        ++changes_;
        return nullptr;
    }
    return &it->second;
}

void greylist::make_room(std::int64_t now) {
    std::erase_if(map_, [&](const auto& kv) { return expired(kv.second, now); });
    ++changes_;
    if (map_.empty() || map_.size() < p_.max_entries) return;
    // An eighth goes at once, so the O(n) pass runs once per n/8 inserts. Unpassed triplets
    // first, oldest first attempt first; only when there are not enough of them, the rest by
    // least recent use.
    struct item {
        bool keep_longer; // passed triplet or network
        std::int64_t when;
        const key* k;
    };
    std::vector<item> all;
    all.reserve(map_.size());
    for (const auto& [k, e] : map_) {
        const bool unpassed = e.type == triplet_kind && !e.passed;
        all.push_back({!unpassed, unpassed ? e.first : e.last, &k});
    }
    const std::size_t drop = std::clamp<std::size_t>(p_.max_entries / 8, 1, map_.size());
    auto before = [](const item& a, const item& b) {
        return std::tie(a.keep_longer, a.when) < std::tie(b.keep_longer, b.when);
    };
    std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(drop - 1), all.end(),
                     before);
    std::vector<key> victims;
    victims.reserve(drop);
    for (std::size_t i = 0; i < drop; ++i) victims.push_back(*all[i].k);
    for (const auto& v : victims) map_.erase(v);
}

bool greylist::network_allowed(std::string_view network, wall_seconds now) const {
    if (p_.auto_allow == 0) return false;
    auto it = map_.find(make_key(network_kind, network));
    if (it == map_.end() || expired(it->second, secs(now))) return false;
    return it->second.count >= p_.auto_allow;
}

grey_answer greylist::check(const grey_triplet& t, wall_seconds now_tp, bool honour_network) {
    const std::int64_t now = secs(now_tp);
    grey_answer a;
    if (honour_network && network_allowed(t.network, now_tp)) {
        a.result = grey_result::network_allowed;
        return a;
    }
    const key k = make_key(triplet_kind, t.network, t.sender, t.recipient);
    entry* e = find(k, now);
    ++changes_;
    if (!e) {
        if (p_.max_entries == 0) { // nothing can be remembered: never defer for ever
            a.result = grey_result::passed;
            return a;
        }
        if (map_.size() >= p_.max_entries) make_room(now);
        map_.emplace(k, entry{now, now, 0, triplet_kind, false});
        a.result = grey_result::first_seen;
        a.retry_after = p_.delay;
        return a;
    }
    if (e->passed) {
        e->last = now;
        if (e->count < UINT32_MAX) ++e->count;
        a.result = grey_result::passed;
        return a;
    }
    const std::int64_t waited = now - e->first;
    if (waited >= p_.delay.count()) {
        e->passed = true;
        e->last = now;
        e->count = 1;
        a.result = grey_result::passed_now;
        return a;
    }
    e->last = now;
    a.result = grey_result::too_early;
    a.retry_after = std::chrono::seconds(p_.delay.count() - std::max<std::int64_t>(0, waited));
    return a;
}

void greylist::count_delivery(std::string_view network, wall_seconds now_tp) {
    if (p_.auto_allow == 0 || p_.max_entries == 0) return;
    const std::int64_t now = secs(now_tp);
    const key k = make_key(network_kind, network);
    ++changes_;
    if (entry* e = find(k, now)) {
        e->last = now;
        if (e->count < UINT32_MAX) ++e->count;
        return;
    }
    if (map_.size() >= p_.max_entries) make_room(now);
    map_.emplace(k, entry{now, now, 1, network_kind, false});
}

// File layout (little-endian):
//   magic "SMGREY\r\n" | salt[16] | version u32 | count u64 |
//   count x { key[16] | first i64 | last i64 | count u32 | type u8 | flags u8 | zero[2] } |
//   SHA-256 of everything before.
std::string greylist::serialize(wall_seconds now_tp) const {
    const std::int64_t now = secs(now_tp);
    std::string out;
    out.reserve(header_size + map_.size() * record_size + trailer_size);
    out += magic;
    out.append(reinterpret_cast<const char*>(salt_.data()), salt_.size());
    put_le(out, format_version, 4);
    const std::size_t count_at = out.size();
    put_le(out, 0, 8);
    std::uint64_t n = 0;
    for (const auto& [k, e] : map_) {
        if (expired(e, now)) continue;
        out.append(reinterpret_cast<const char*>(k.data()), k.size());
        put_le(out, static_cast<std::uint64_t>(e.first), 8);
        put_le(out, static_cast<std::uint64_t>(e.last), 8);
        put_le(out, e.count, 4);
        out += static_cast<char>(e.type);
        out += static_cast<char>(e.passed ? 1 : 0);
        out.append(2, '\0');
        ++n;
    }
    for (std::size_t i = 0; i < 8; ++i)
        out[count_at + i] = static_cast<char>((n >> (8 * i)) & 0xff);
    auto d = sha256(out);
    out.append(reinterpret_cast<const char*>(d.data()), d.size());
    return out;
}

std::expected<void, std::string> greylist::load(std::string_view in, wall_seconds now_tp) {
    const std::int64_t now = secs(now_tp);
    map_.clear();
    ++changes_;
    auto fail = [&](std::string why) -> std::expected<void, std::string> {
        map_.clear();
        if (RAND_bytes(salt_.data(), static_cast<int>(salt_.size())) != 1)
            throw std::runtime_error("no random bytes for the greylist salt");
        return std::unexpected(std::move(why));
    };
    if (in.size() < header_size + trailer_size)
        return fail("too short to be a greylist state file");
    if (in.substr(0, magic.size()) != magic) return fail("not a greylist state file (bad magic)");
    const auto version = get_le(in, 24, 4);
    if (version != format_version) return fail("unknown format version " + std::to_string(version));
    const std::uint64_t count = get_le(in, 28, 8);
    const std::size_t body = in.size() - header_size - trailer_size;
    if (body % record_size != 0 || count != body / record_size)
        return fail("truncated or padded: size does not match " + std::to_string(count) +
                    " records");
    const auto want = sha256(in.substr(0, in.size() - trailer_size));
    if (std::memcmp(want.data(), in.data() + in.size() - trailer_size, trailer_size) != 0)
        return fail("checksum mismatch (damaged file)");
    std::copy_n(reinterpret_cast<const std::uint8_t*>(in.data()) + magic.size(), salt_.size(),
                salt_.begin());
    for (std::uint64_t i = 0; i < count; ++i) {
        const std::size_t at = header_size + static_cast<std::size_t>(i) * record_size;
        key k{};
        std::copy_n(reinterpret_cast<const std::uint8_t*>(in.data()) + at, k.size(), k.begin());
        entry e;
        e.first = static_cast<std::int64_t>(get_le(in, at + 16, 8));
        e.last = static_cast<std::int64_t>(get_le(in, at + 24, 8));
        e.count = static_cast<std::uint32_t>(get_le(in, at + 32, 4));
        const auto type = static_cast<std::uint8_t>(in[at + 36]);
        const auto flags = static_cast<std::uint8_t>(in[at + 37]);
        const std::string where = "record " + std::to_string(i) + ": ";
        if (type != triplet_kind && type != network_kind)
            return fail(where + "unknown type " + std::to_string(type));
        if (flags > 1 || (type == network_kind && flags != 0) || in[at + 38] != 0 ||
            in[at + 39] != 0)
            return fail(where + "bad flags");
        if (e.first < 0 || e.first > max_time || e.last < e.first || e.last > max_time)
            return fail(where + "bad times");
        e.type = type;
        e.passed = flags == 1;
        if (expired(e, now)) continue;
        if (map_.contains(k)) return fail(where + "duplicate key");
        if (map_.size() >= p_.max_entries) make_room(now);
        if (p_.max_entries > 0) map_.emplace(k, e);
    }
    return {};
}

} // namespace splitmail::relay::filter
