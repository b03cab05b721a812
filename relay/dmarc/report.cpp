// DMARC aggregate reports; see report.hpp.
#include "dmarc/report.hpp"

#include "dkim/signer.hpp"

#include "splitmail/spf/record.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <tuple>

namespace splitmail::relay::dmarc {

namespace {

// What makes two observations one row (RFC 7489 Appendix C RecordType).
struct row_key {
    std::string ip;
    policy disposition;
    override_reason reason;
    bool dkim_aligned, spf_aligned;
    std::string header_from, envelope_from;
    std::string spf_domain;
    bool spf_helo;
    std::string spf_result;
    std::vector<dkim_auth> dkim;
    auto tie() const {
        return std::tie(ip, disposition, reason, dkim_aligned, spf_aligned, header_from,
                        envelope_from, spf_domain, spf_helo, spf_result);
    }
    bool operator<(const row_key& o) const {
        if (tie() != o.tie()) return tie() < o.tie();
        return std::lexicographical_compare(dkim.begin(), dkim.end(), o.dkim.begin(), o.dkim.end(),
                                            [](const dkim_auth& a, const dkim_auth& b) {
                                                return std::tie(a.domain, a.selector, a.result) <
                                                       std::tie(b.domain, b.selector, b.result);
                                            });
    }
};

void element(std::string& out, std::string_view indent, std::string_view name,
             std::string_view text) {
    out += indent;
    out += '<';
    out += name;
    out += '>';
    out += xml_escape(text);
    out += "</";
    out += name;
    out += ">\n";
}

std::string pass_fail(bool ok) { return ok ? "pass" : "fail"; }

std::string rfc5322_date(std::int64_t t) {
    const std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7],
                  tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                  tm.tm_sec);
    return buf;
}

// "Name: value" folded at spaces so no line passes 78 columns where a space allows it
// (RFC 5322 2.1.1, 2.2.3), ending in CRLF.
std::string folded(std::string_view name, std::string_view value) {
    std::string out(name);
    out += ':';
    std::size_t col = out.size();
    while (!value.empty()) {
        const auto sp = value.find(' ');
        const std::string_view word = value.substr(0, sp);
        if (col + 1 + word.size() > 78 && col > name.size() + 1) {
            out += "\r\n";
            col = 0;
        }
        out += ' ';
        out += word;
        col += 1 + word.size();
        if (sp == std::string_view::npos) break;
        value.remove_prefix(sp + 1);
    }
    return out + "\r\n";
}

} // namespace

namespace {
// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629 4: no overlongs, no surrogates,
// nothing above U+10FFFF); 0 when the octets there are not one.
std::size_t utf8_length(std::string_view s, std::size_t i) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const unsigned char c = b(0);
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    if (i + n > s.size() || b(1) < lo || b(1) > hi) return 0;
    for (std::size_t k = 2; k < n; ++k)
        if (b(k) < 0x80 || b(k) > 0xbf) return 0;
    return n;
}
} // namespace

std::string xml_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (static_cast<unsigned char>(c) >= 0x80) {
            // The document says UTF-8: a byte that is not part of a well-formed sequence
            // (a domain name in some other charset) would make it unparsable.
            const auto n = utf8_length(s, i);
            if (n == 0) {
                out += '?';
            } else {
                out.append(s.substr(i, n));
                i += n - 1;
            }
            continue;
        }
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&apos;"; break;
        default:
            // XML 1.0 2.2: controls other than TAB/LF/CR are not characters at all.
            if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r')
                out += '?';
            else
                out += c;
        }
    }
    return out;
}

std::string schema_ip(std::string_view text) {
    const auto ip = splitmail::spf::parse_ip(text);
    if (!ip) return "";
    char buf[64];
    const auto& o = ip->octets;
    if (!ip->v6) {
        std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", o[0], o[1], o[2], o[3]);
        return buf;
    }
    std::string out;
    for (int g = 0; g < 8; ++g) {
        std::snprintf(buf, sizeof buf, "%s%x", g ? ":" : "", (o[2 * g] << 8) | o[2 * g + 1]);
        out += buf;
    }
    return out;
}

std::vector<report> build_reports(std::span<const observation> all, const report_meta& meta) {
    // Per policy domain: the latest observation (its record) and the rows with their counts.
    struct domain_acc {
        const observation* latest = nullptr;
        std::map<row_key, std::uint64_t> rows;
    };
    std::map<std::string, domain_acc> domains;
    for (const auto& o : all) {
        auto& d = domains[o.policy_domain];
        if (!d.latest || o.time >= d.latest->time) d.latest = &o;
        row_key k{o.source_ip,   o.disposition, o.reason,        o.dkim_aligned,
                  o.spf_aligned, o.header_from, o.envelope_from, o.spf_domain,
                  o.spf_helo,    o.spf_result,  o.dkim};
        ++d.rows[k];
    }
    std::vector<report> out;
    for (const auto& [domain, d] : domains) {
        const observation& pol = *d.latest;
        report r;
        r.policy_domain = domain;
        r.rua = pol.rua;
        r.report_id = std::to_string(meta.begin) + "." + domain + "@" + meta.receiver;
        std::string& x = r.xml;
        x += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feedback>\n";
        element(x, "  ", "version", "1.0"); // RFC 7489 Appendix C: MUST be 1.0
        x += "  <report_metadata>\n";
        element(x, "    ", "org_name", meta.org_name);
        element(x, "    ", "email", meta.email);
        element(x, "    ", "report_id", r.report_id);
        x += "    <date_range>\n";
        element(x, "      ", "begin", std::to_string(meta.begin));
        element(x, "      ", "end", std::to_string(meta.end));
        x += "    </date_range>\n  </report_metadata>\n  <policy_published>\n";
        element(x, "    ", "domain", domain);
        element(x, "    ", "adkim", pol.adkim_strict ? "s" : "r");
        element(x, "    ", "aspf", pol.aspf_strict ? "s" : "r");
        element(x, "    ", "p", to_string(pol.p));
        element(x, "    ", "sp", to_string(pol.sp));
        element(x, "    ", "pct", std::to_string(pol.pct));
        element(x, "    ", "fo", pol.fo);
        x += "  </policy_published>\n";
        for (const auto& [k, count] : d.rows) {
            r.messages += count;
            x += "  <record>\n    <row>\n";
            element(x, "      ", "source_ip", schema_ip(k.ip));
            element(x, "      ", "count", std::to_string(count));
            x += "      <policy_evaluated>\n";
            element(x, "        ", "disposition", to_string(k.disposition));
            element(x, "        ", "dkim", pass_fail(k.dkim_aligned));
            element(x, "        ", "spf", pass_fail(k.spf_aligned));
            if (k.reason != override_reason::none) {
                x += "        <reason>\n";
                element(x, "          ", "type", to_string(k.reason));
                x += "        </reason>\n";
            }
            x += "      </policy_evaluated>\n    </row>\n    <identifiers>\n";
            element(x, "      ", "envelope_from", k.envelope_from);
            element(x, "      ", "header_from", k.header_from);
            x += "    </identifiers>\n    <auth_results>\n";
            for (const auto& dk : k.dkim) {
                x += "      <dkim>\n";
                element(x, "        ", "domain", dk.domain);
                if (!dk.selector.empty()) element(x, "        ", "selector", dk.selector);
                element(x, "        ", "result", dk.result);
                x += "      </dkim>\n";
            }
            // Appendix C: "There will always be at least one SPF result."
            x += "      <spf>\n";
            element(x, "        ", "domain", k.spf_domain);
            element(x, "        ", "scope", k.spf_helo ? "helo" : "mfrom");
            element(x, "        ", "result", k.spf_result.empty() ? "none" : k.spf_result);
            x += "      </spf>\n    </auth_results>\n  </record>\n";
        }
        x += "</feedback>\n";
        out.push_back(std::move(r));
    }
    return out;
}

std::string report_filename(std::string_view receiver, std::string_view policy_domain,
                            std::int64_t begin, std::int64_t end) {
    // RFC 7489 7.2.1.1: filename = receiver "!" policy-domain "!" begin-timestamp "!"
    // end-timestamp [ "!" unique-id ] "." extension, extension "xml.gz" when gzip'd.
    return std::string(receiver) + "!" + std::string(policy_domain) + "!" + std::to_string(begin) +
           "!" + std::to_string(end) + ".xml.gz";
}

std::expected<std::string, std::string> gzip(std::string_view data) {
    z_stream z{};
    // windowBits 15 + 16: a gzip header and trailer (RFC 1952) instead of zlib's.
    if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return std::unexpected("deflateInit2 failed");
    std::string out(deflateBound(&z, static_cast<uLong>(data.size())) + 32, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    const int rc = deflate(&z, Z_FINISH);
    const auto produced = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) return std::unexpected("deflate did not finish");
    out.resize(produced);
    return out;
}

std::string report_message(const report& r, const report_mail& m) {
    const std::string boundary = "=_splitmail_dmarc_" + std::to_string(m.date);
    std::string out;
    out += folded("From", "<" + m.from + ">");
    out += folded("To", "<" + m.to + ">");
    out += folded("Date", rfc5322_date(m.date));
    // RFC 7489 7.2.1.1: the Subject carries the policy domain, the submitter and the report id.
    out += folded("Subject", "Report Domain: " + r.policy_domain + " Submitter: " + m.receiver +
                                 " Report-ID: <" + r.report_id + ">");
    out += folded("Message-ID", "<" + m.message_id + ">");
    out += "MIME-Version: 1.0\r\n";
    out += "Content-Type: multipart/mixed;\r\n boundary=\"" + boundary + "\"\r\n";
    out += "\r\nThis is a multipart message in MIME format.\r\n\r\n";
    out += "--" + boundary + "\r\n";
    out += "Content-Type: text/plain; charset=\"us-ascii\"\r\n"
           "Content-Transfer-Encoding: 7bit\r\n\r\n";
    out += "This is a DMARC aggregate report (RFC 7489) from " + m.receiver + " for " +
           r.policy_domain + ",\r\ncovering " + std::to_string(r.messages) +
           " message(s). The report is attached as gzip'd XML.\r\n\r\n";
    out += "--" + boundary + "\r\n";
    out += "Content-Type: application/gzip\r\nContent-Transfer-Encoding: base64\r\n";
    out += "Content-Disposition: attachment;\r\n filename=\"" + m.filename + "\"\r\n\r\n";
    const std::string b64 = dkim::base64(m.gz);
    for (std::size_t at = 0; at < b64.size(); at += 76) out += b64.substr(at, 76) + "\r\n";
    out += "\r\n--" + boundary + "--\r\n";
    return out;
}

} // namespace splitmail::relay::dmarc
