// Fuzz target: the XML reader and the DMARC aggregate report parser of `splitmail dmarc report`
// (common/dmarc/aggregate_parse_xml.hpp, aggregate_parse.hpp).
// Invariants checked: no crash; a document the reader accepts has as many end events as start
// events and never more than max_depth open at once; a parsed report keeps the header's
// promises (caps, valid IPs, begin <= end, no control characters in any string).
#include "splitmail/address/ip.hpp"
#include "splitmail/dmarc/aggregate_parse.hpp"
#include "splitmail/dmarc/aggregate_parse_xml.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

using namespace splitmail::dmarc::report_in;

struct balance final : xml_handler {
    std::size_t open = 0, starts = 0, ends = 0;
    std::optional<std::string> start(std::string_view) override {
        ++starts;
        if (++open > max_depth) std::abort();
        return std::nullopt;
    }
    std::optional<std::string> text(std::string_view) override {
        if (open == 0) std::abort();
        return std::nullopt;
    }
    std::optional<std::string> end(std::string_view) override {
        if (open == 0) std::abort();
        --open;
        ++ends;
        return std::nullopt;
    }
};

void clean_or_abort(const std::string& s) {
    if (s.size() > max_value) std::abort();
    for (char c : s)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view doc(reinterpret_cast<const char*>(data), size);
    balance b;
    if (read_xml(doc, b) && (b.open != 0 || b.starts != b.ends || b.starts == 0)) std::abort();

    auto r = parse_aggregate_report(doc);
    if (!r) return 0;
    if (r->begin > r->end || r->records.size() > max_records) std::abort();
    for (const auto* s : {&r->org_name, &r->email, &r->report_id, &r->policy.domain, &r->policy.p,
                          &r->policy.sp, &r->policy.adkim, &r->policy.aspf})
        clean_or_abort(*s);
    if (r->org_name.empty() || r->report_id.empty() || r->policy.domain.empty()) std::abort();
    if (r->policy.pct && *r->policy.pct > 100) std::abort();
    for (const auto& rec : r->records) {
        if (rec.count > max_count) std::abort();
        if (!splitmail::address::is_ipv4_text(rec.source_ip) &&
            !splitmail::address::is_ipv6_text(rec.source_ip))
            std::abort();
        if (rec.auth_dkim.size() > max_auth_results || rec.auth_spf.size() > max_auth_results)
            std::abort();
        for (const auto* s :
             {&rec.disposition, &rec.dkim, &rec.spf, &rec.header_from, &rec.envelope_from})
            clean_or_abort(*s);
        for (const auto& d : rec.auth_dkim) {
            clean_or_abort(d.domain);
            clean_or_abort(d.selector);
            clean_or_abort(d.result);
        }
        for (const auto& s : rec.auth_spf) {
            clean_or_abort(s.domain);
            clean_or_abort(s.result);
        }
    }
    return 0;
}
