// DMARC aggregate report documents (RFC 7489 Appendix C); see aggregate_parse.hpp.
#include "splitmail/dmarc/aggregate_parse.hpp"

#include "splitmail/address/ip.hpp"
#include "splitmail/dmarc/aggregate_parse_xml.hpp"
#include "splitmail/text/trim.hpp"

namespace splitmail::dmarc::report_in {
namespace {

// Element names longer than this can be no name we read; keeping only a marker bounds the
// length of an element's path by max_depth x this.
constexpr std::size_t max_name = 40;

std::string clean(std::string_view v) {
    std::string out(text::trim(v));
    if (out.size() > max_value) out.resize(max_value);
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    return out;
}

std::string keyword(std::string_view v) {
    std::string out = clean(v);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// Decimal digits only (no sign, no blanks inside), at most `max`; nullopt otherwise.
std::optional<std::uint64_t> number(std::string_view v, std::uint64_t max) {
    v = text::trim(v);
    if (v.empty() || v.size() > 19) return std::nullopt;
    std::uint64_t n = 0;
    for (char c : v) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + static_cast<std::uint64_t>(c - '0'); // 19 digits cannot overflow 2^64
    }
    if (n > max) return std::nullopt;
    return n;
}

std::string quoted(std::string_view v) { return "\"" + clean(v) + "\""; }

class builder final : public xml_handler {
public:
    std::optional<std::string> start(std::string_view name) override {
        if (lengths_.empty() && name != "feedback")
            return "report: the root element is <" + clean(name.substr(0, max_name)) +
                   ">, not <feedback>";
        // The path below <feedback> ("record/row/source_ip") grows and shrinks in place.
        lengths_.push_back(key_.size());
        if (lengths_.size() > 2) key_ += '/';
        if (lengths_.size() > 1) key_ += name.size() > max_name ? std::string_view("#long") : name;
        text_.clear();
        const std::string& k = key_;
        if (k == "record") {
            if (r_.records.size() >= max_records)
                return "report: more than " + std::to_string(max_records) + " records";
            r_.records.emplace_back();
        } else if (k == "record/auth_results/dkim") {
            auto& v = rec().auth_dkim;
            if (v.size() >= max_auth_results)
                return at() + "more than " + std::to_string(max_auth_results) + " DKIM results";
            v.emplace_back();
        } else if (k == "record/auth_results/spf") {
            auto& v = rec().auth_spf;
            if (v.size() >= max_auth_results)
                return at() + "more than " + std::to_string(max_auth_results) + " SPF results";
            v.emplace_back();
        }
        return std::nullopt;
    }

    std::optional<std::string> text(std::string_view t) override {
        // Values we keep are short; the rest of a long text is never looked at.
        if (text_.size() <= max_value) text_.append(t.substr(0, max_value + 1 - text_.size()));
        return std::nullopt;
    }

    std::optional<std::string> end(std::string_view) override {
        auto e = assign(key_, text_);
        key_.resize(lengths_.back());
        lengths_.pop_back();
        text_.clear();
        return e;
    }

    std::expected<aggregate_report, std::string> finish() {
        if (r_.org_name.empty()) return std::unexpected(std::string("report: no org_name"));
        if (r_.report_id.empty()) return std::unexpected(std::string("report: no report_id"));
        if (r_.policy.domain.empty())
            return std::unexpected(std::string("report: no policy_published/domain"));
        if (!have_begin_ || !have_end_)
            return std::unexpected(std::string("report: no date_range begin/end"));
        if (r_.begin > r_.end)
            return std::unexpected(std::string("report: date_range begin is after end"));
        for (std::size_t i = 0; i < r_.records.size(); ++i) {
            const auto& rec = r_.records[i];
            std::string where = "report: record " + std::to_string(i + 1) + ": ";
            if (rec.source_ip.empty()) return std::unexpected(where + "no source_ip");
            if (i >= seen_count_.size() || !seen_count_[i])
                return std::unexpected(where + "no count");
        }
        return std::move(r_);
    }

private:
    report_record& rec() { return r_.records.back(); }
    std::string at() const { return "report: record " + std::to_string(r_.records.size()) + ": "; }

    std::optional<std::string> assign(const std::string& k, std::string_view v) {
        auto& m = r_;
        auto& pol = r_.policy;
        if (k == "report_metadata/org_name")
            m.org_name = clean(v);
        else if (k == "report_metadata/email")
            m.email = clean(v);
        else if (k == "report_metadata/report_id")
            m.report_id = clean(v);
        else if (k == "report_metadata/date_range/begin" || k == "report_metadata/date_range/end") {
            // Unix times; 10^15 s is far past any real date and keeps int64 arithmetic safe.
            auto n = number(v, 1'000'000'000'000'000ULL);
            bool begin = k.ends_with("begin");
            if (!n)
                return "report: date_range " + std::string(begin ? "begin" : "end") + " " +
                       quoted(v) + " is not a Unix time";
            (begin ? m.begin : m.end) = static_cast<std::int64_t>(*n);
            (begin ? have_begin_ : have_end_) = true;
        } else if (k == "policy_published/domain")
            pol.domain = keyword(v);
        else if (k == "policy_published/p")
            pol.p = keyword(v);
        else if (k == "policy_published/sp")
            pol.sp = keyword(v);
        else if (k == "policy_published/adkim")
            pol.adkim = keyword(v);
        else if (k == "policy_published/aspf")
            pol.aspf = keyword(v);
        else if (k == "policy_published/pct") {
            if (auto n = number(v, 100)) pol.pct = static_cast<unsigned>(*n);
        } else if (k.starts_with("record/")) {
            return assign_record(k.substr(7), v);
        }
        return std::nullopt;
    }

    std::optional<std::string> assign_record(std::string_view k, std::string_view v) {
        auto& r = rec();
        if (k == "row/source_ip") {
            r.source_ip = clean(v);
            if (!address::is_ipv4_text(r.source_ip) && !address::is_ipv6_text(r.source_ip))
                return at() + "source_ip " + quoted(v) + " is not an IP address";
        } else if (k == "row/count") {
            auto n = number(v, max_count);
            if (!n)
                return at() + "count " + quoted(v) + " is not a number up to " +
                       std::to_string(max_count);
            r.count = *n;
            seen_count_.resize(r_.records.size());
            seen_count_.back() = true;
        } else if (k == "row/policy_evaluated/disposition")
            r.disposition = keyword(v);
        else if (k == "row/policy_evaluated/dkim")
            r.dkim = keyword(v);
        else if (k == "row/policy_evaluated/spf")
            r.spf = keyword(v);
        else if (k == "identifiers/header_from")
            r.header_from = keyword(v);
        else if (k == "identifiers/envelope_from")
            r.envelope_from = keyword(v);
        else if (k == "auth_results/dkim/domain")
            r.auth_dkim.back().domain = keyword(v);
        else if (k == "auth_results/dkim/selector")
            r.auth_dkim.back().selector = clean(v);
        else if (k == "auth_results/dkim/result")
            r.auth_dkim.back().result = keyword(v);
        else if (k == "auth_results/spf/domain")
            r.auth_spf.back().domain = keyword(v);
        else if (k == "auth_results/spf/result")
            r.auth_spf.back().result = keyword(v);
        return std::nullopt;
    }

    std::string key_;                  // path of the open element below <feedback>
    std::vector<std::size_t> lengths_; // key_'s length before each open element
    std::string text_;
    aggregate_report r_;
    std::vector<bool> seen_count_;
    bool have_begin_ = false, have_end_ = false;
};

} // namespace

std::expected<aggregate_report, std::string> parse_aggregate_report(std::string_view xml) {
    builder b;
    if (auto r = read_xml(xml, b); !r) return std::unexpected(r.error());
    return b.finish();
}

} // namespace splitmail::dmarc::report_in
