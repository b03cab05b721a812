// Reports in one file; see extract.hpp.
#include "report_in/extract.hpp"

#include "report_in/mail_parts.hpp"
#include "report_in/unpack.hpp"

namespace splitmail::provision::report_in {
namespace {

enum class kind { xml, gzip, zip, message, unknown };

kind sniff(std::string_view b) {
    if (b.starts_with("\x1f\x8b")) return kind::gzip;
    if (b.starts_with("PK\x03\x04")) return kind::zip;
    std::string_view t = b;
    if (t.starts_with("\xEF\xBB\xBF")) t.remove_prefix(3);
    auto first = t.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && t[first] == '<') return kind::xml;
    if (looks_like_message(b)) return kind::message;
    return kind::unknown;
}

std::string prefixed(const std::string& where, const std::string& what) {
    return where.empty() ? what : where + ": " + what;
}

// A report container that is not a mail: XML, or gzip/ZIP holding XML.
void container(std::string_view b, const std::string& where, file_reports& out) {
    std::string inflated;
    bool unpacked = true;
    std::string inner = where;
    switch (sniff(b)) {
    case kind::xml: unpacked = false; break;
    case kind::gzip: {
        auto r = gunzip(b);
        if (!r) return out.problems.push_back(prefixed(where, r.error()));
        inflated = std::move(*r);
        break;
    }
    case kind::zip: {
        std::string name;
        auto r = unzip_report(b, name);
        if (!r) return out.problems.push_back(prefixed(where, r.error()));
        inflated = std::move(*r);
        inner = prefixed(where, "zip member \"" + name + "\"");
        break;
    }
    default: return out.problems.push_back(prefixed(where, "neither XML, gzip nor zip"));
    }
    std::string_view xml = unpacked ? std::string_view(inflated) : b;
    if (unpacked && sniff(xml) != kind::xml)
        return out.problems.push_back(prefixed(inner, "the decompressed content is not XML"));
    auto rep = dmarc::report_in::parse_aggregate_report(xml);
    if (!rep) return out.problems.push_back(prefixed(inner, rep.error()));
    out.reports.push_back({inner, std::move(*rep)});
}

} // namespace

file_reports extract_reports(std::string_view bytes) {
    file_reports out;
    kind k = sniff(bytes);
    if (k == kind::unknown) {
        out.problems.push_back("no DMARC report in it: neither a mail, XML, gzip nor zip");
        return out;
    }
    if (k != kind::message) {
        container(bytes, "", out);
        return out;
    }
    auto scan = report_parts(bytes);
    out.problems = std::move(scan.problems);
    for (const auto& p : scan.parts) {
        std::string where =
            "attachment " + p.content_type + (p.filename.empty() ? "" : " \"" + p.filename + "\"");
        container(p.data, where, out);
    }
    if (out.reports.empty() && out.problems.empty())
        out.problems.push_back("no DMARC report in it: a mail without an XML, gzip or zip "
                               "attachment");
    return out;
}

} // namespace splitmail::provision::report_in
