// Fuzz target: the DKIM-Signature parser (relay/dkim/signature.hpp) and the verifier over a
// whole hostile message (verifier.hpp). Invariants (abort on violation):
//  - parse_tag_list: every tag's name and value are views inside the input, value offsets are
//    ordered and in range, names are unique, at most max_tags;
//  - parse_signature: a parsed signature has the required tags' meaning (v=1, a known a=, a
//    32/20-octet bh, non-empty b, h= containing "from", i= inside d=); without_b_value() keeps
//    the field but the b= value, and parsing the result again finds an empty b= (rejected);
//  - decode_base64 output is 3/4 of the FWS-free input at most;
//  - message_verifier never checks more than max_signatures and every result is decided after
//    give_up().
#include "dkim/message.hpp"
#include "dkim/signature.hpp"
#include "dkim/verifier.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

using namespace splitmail::relay::dkim;

namespace {
void require(bool ok) {
    if (!ok) std::abort();
}

void check_tags(std::string_view in) {
    auto tags = parse_tags(in);
    if (!tags) return;
    require(tags->size() <= max_tags);
    std::set<std::string_view> names;
    std::size_t last = 0;
    for (const auto& t : *tags) {
        require(t.name.data() >= in.data() &&
                t.name.data() + t.name.size() <= in.data() + in.size());
        require(!t.name.empty() && names.insert(t.name).second);
        require(t.value_begin >= last && t.value_begin <= t.value_end && t.value_end <= in.size());
        require(t.value.find(';') == std::string_view::npos);
        last = t.value_end;
    }
}

void check_signature(std::string_view in) {
    auto s = parse_signature(in);
    if (!s) {
        require(!s.error().reason.empty());
        return;
    }
    require(!s->b.empty());
    require(s->bh.size() == (s->alg == sig_algorithm::rsa_sha1 ? 20u : 32u));
    bool from = false;
    for (const auto& h : s->signed_headers) from = from || h == "from";
    require(from);
    require(s->auid.find('@') != std::string::npos);
    const std::string field = "DKIM-Signature:" + std::string(in);
    const std::string stripped = without_b_value(field, 15, *s);
    require(stripped.size() <= field.size());
    require(!parse_signature(std::string_view(stripped).substr(15))); // empty b= never parses
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    check_tags(in);
    check_signature(in);
    if (auto b = decode_base64(in)) require(b->size() <= in.size() / 4 * 3 + 3);

    // The input as a whole message: header block, then body.
    verify_options opt;
    opt.max_signatures = 3;
    const auto at = find_body_offset(in);
    message_verifier v(at ? in.substr(0, *at) : in, opt);
    require(v.size() <= 3);
    if (at) v.body(in.substr(*at));
    v.finish_body();
    for (const auto& q : v.key_queries()) {
        key_answer a;
        a.st = key_answer::status::ok;
        a.txt.emplace_back(in.substr(0, std::min<std::size_t>(in.size(), 300)));
        v.key(q.index, a);
    }
    v.give_up("fuzz");
    require(v.key_queries().empty());
    for (const auto& r : v.results()) require(!r.reason.empty() || r.code == result::pass);
    return 0;
}
