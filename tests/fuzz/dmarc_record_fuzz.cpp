// Fuzz target: the DMARC record parser and record selection (relay/dmarc/policy.hpp), the
// Public Suffix List reader and Organizational Domains (psl.hpp), and From: domain extraction.
// Invariants (abort on violation): a parsed record has pct in 0..100 and came from a valid
// tag-list starting with v=DMARC1; the Organizational Domain of a name is a suffix of the
// (lower-cased, dot-stripped) name and is its own Organizational Domain; evaluate() never
// applies a policy to a pass.
#include "dmarc/policy.hpp"

#include "splitmail/dkim/tag_list.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace splitmail::relay::dmarc;

namespace {
void require(bool ok) {
    if (!ok) std::abort();
}
const suffix_list& psl() {
    static const suffix_list l = suffix_list::parse("com\nco.uk\nuk\n*.ck\n!www.ck\ntest\n");
    return l;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    if (auto r = parse_record(in)) {
        require(r->pct >= 0 && r->pct <= 100);
        require(in.starts_with("v") || in.starts_with(" ") || in.starts_with("\t") ||
                in.starts_with("\r") || in.starts_with("\n"));
        require(splitmail::dkim::parse_tags(in).has_value());
    }
    std::string why;
    (void)select_record({lookup::status::found, {std::string(in)}}, why);

    const suffix_list own = suffix_list::parse(in); // the input as a list, too
    (void)own.organizational_domain("a.b.example.com");
    if (in.size() < 256 && in.find('\0') == std::string_view::npos) {
        const std::string org = psl().organizational_domain(in);
        require(psl().organizational_domain(org) == org);
        require(org.size() <= in.size());
        const auto o = evaluate(in, {lookup::status::found, {"v=DMARC1; p=reject"}}, {},
                                {true, std::string(in), {}}, psl(), 50);
        if (o.code == result::pass) require(o.applied == policy::none);
    }
    (void)from_domains(in);
    return 0;
}
