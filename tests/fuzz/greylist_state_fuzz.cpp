// Fuzz target: the greylist state file parser (relay/filter/greylist.hpp, greylist::load).
// Invariants (abort on violation): load never throws on any input; after a failed load the
// store is empty and usable; after a successful one it holds at most max_entries entries and
// serialize() round-trips through load() to the same number of entries.
#include "filter/greylist.hpp"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace splitmail::relay::filter;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    greylist_policy p;
    p.max_entries = 64;
    const wall_seconds now{std::chrono::seconds(1'700'000'000)};
    greylist g(p, {});
    auto r = g.load(in, now);
    if (!r) {
        if (g.size() != 0 || r.error().empty()) std::abort();
        auto t = make_triplet("192.0.2.1", "a@b", "c@d");
        if (!t || g.check(*t, now).result != grey_result::first_seen) std::abort();
        return 0;
    }
    if (g.size() > p.max_entries) std::abort();
    const auto again = g.serialize(now);
    greylist h(p, {});
    if (!h.load(again, now) || h.size() != g.size()) std::abort();
    return 0;
}
