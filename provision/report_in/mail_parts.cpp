// Report attachments of a mail; see mail_parts.hpp.
#include "report_in/mail_parts.hpp"

#include "splitmail/smtp/base64.hpp"
#include "splitmail/address/address.hpp"
#include "splitmail/text/trim.hpp"

#include <optional>
#include <utility>

namespace splitmail::provision::report_in {
namespace {

using address::iequals_ascii;
using address::lower_ascii;

// One line of `s` starting at `pos`: [pos, end-of-line) and the offset of the next line.
struct line_at {
    std::string_view text; // without CR LF
    std::size_t next;
};
line_at next_line(std::string_view s, std::size_t pos) {
    auto lf = s.find('\n', pos);
    std::size_t e = lf == std::string_view::npos ? s.size() : lf;
    std::string_view t = s.substr(pos, e - pos);
    if (!t.empty() && t.back() == '\r') t.remove_suffix(1);
    return {t, lf == std::string_view::npos ? s.size() : lf + 1};
}

struct part_header {
    std::string type = "text/plain"; // RFC 2045 5.2 default
    std::string encoding = "7bit";
    std::string filename;
    std::string boundary;
};

// "a=b; c=\"d;e\"" parameters after the first ';' of a Content-Type or Content-Disposition.
std::vector<std::pair<std::string, std::string>> parameters(std::string_view v, std::string& main) {
    std::vector<std::string> items(1);
    bool quoted = false;
    for (std::size_t i = 0; i < v.size(); ++i) {
        char c = v[i];
        if (quoted && c == '\\' && i + 1 < v.size()) {
            items.back().push_back(v[++i]);
            continue;
        }
        if (c == '"') quoted = !quoted;
        if (c == ';' && !quoted) {
            items.emplace_back();
            continue;
        }
        items.back().push_back(c);
    }
    main = lower_ascii(text::trim(items[0]));
    std::vector<std::pair<std::string, std::string>> out;
    for (std::size_t i = 1; i < items.size(); ++i) {
        auto eq = items[i].find('=');
        if (eq == std::string::npos) continue;
        std::string name = lower_ascii(text::trim(std::string_view(items[i]).substr(0, eq)));
        std::string value(text::trim(std::string_view(items[i]).substr(eq + 1)));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
            value = value.substr(1, value.size() - 2);
        if (name.ends_with('*')) {
            // RFC 2231 4: charset'language'value; the (percent-encoded) value is kept.
            name.pop_back();
            auto q = value.find('\'');
            auto q2 = q == std::string::npos ? q : value.find('\'', q + 1);
            if (q2 != std::string::npos) value = value.substr(q2 + 1);
        }
        out.emplace_back(std::move(name), std::move(value));
    }
    return out;
}

// Reads the fields this walker needs from a header block (RFC 5322 2.2: unfolded).
part_header read_header(std::string_view h) {
    part_header ph;
    std::string name, value;
    auto take = [&]() {
        if (name.empty()) return;
        std::string main;
        if (iequals_ascii(name, "Content-Type")) {
            auto ps = parameters(value, main);
            if (main.find('/') != std::string::npos) ph.type = main;
            for (auto& [k, v] : ps) {
                if (k == "boundary") ph.boundary = v;
                if (k == "name" && ph.filename.empty()) ph.filename = v;
            }
        } else if (iequals_ascii(name, "Content-Transfer-Encoding")) {
            ph.encoding = lower_ascii(text::trim(value));
        } else if (iequals_ascii(name, "Content-Disposition")) {
            for (auto& [k, v] : parameters(value, main))
                if (k == "filename") ph.filename = v; // wins over Content-Type name=
        }
        name.clear();
    };
    std::size_t pos = 0;
    while (pos < h.size()) {
        auto [line, next] = next_line(h, pos);
        pos = next;
        if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
            if (!name.empty()) value.append(line); // a continuation line
            continue;
        }
        take();
        auto colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        name.assign(text::trim(line.substr(0, colon)));
        value.assign(line.substr(colon + 1));
    }
    take();
    return ph;
}

bool report_type(const part_header& h) {
    const std::string& t = h.type;
    if (t == "application/gzip" || t == "application/x-gzip" || t == "application/zip" ||
        t == "application/x-zip-compressed" || t == "text/xml" || t == "application/xml")
        return true;
    // Some receivers label the report application/octet-stream; its name tells.
    std::string f = lower_ascii(h.filename);
    return t == "application/octet-stream" &&
           (f.ends_with(".xml") || f.ends_with(".gz") || f.ends_with(".zip"));
}

// RFC 2045 6.8 base64 with line breaks: characters outside the alphabet are dropped, missing
// padding is added, then common's strict decoder does the rest.
std::optional<std::string> decode_base64_body(std::string_view body) {
    std::string b;
    b.reserve(body.size());
    for (char c : body)
        if (c == '=' || smtp::base64_digit(c) >= 0) b.push_back(c);
    if (b.size() % 4 == 1) return std::nullopt;
    while (b.size() % 4 != 0) b.push_back('=');
    return smtp::decode_base64(b);
}

class walker {
public:
    mail_scan scan;

    void message(std::string_view m, std::size_t depth) {
        if (++visited_ > max_parts) {
            if (visited_ == max_parts + 1)
                scan.problems.push_back("more than " + std::to_string(max_parts) +
                                        " MIME parts; the rest are not read");
            return;
        }
        // The header ends at the first empty line (RFC 5322 2.1).
        std::size_t pos = 0, body = m.size();
        while (pos < m.size()) {
            auto [line, next] = next_line(m, pos);
            if (line.empty()) {
                body = next;
                break;
            }
            pos = next;
        }
        part_header h = read_header(m.substr(0, std::min(pos, m.size())));
        std::string_view content = m.substr(std::min(body, m.size()));
        if (h.type.starts_with("multipart/")) return multipart(h, content, depth);
        if (h.type == "message/rfc822") {
            if (depth >= max_nesting) return too_deep();
            return message(content, depth + 1);
        }
        if (!report_type(h)) return;
        mail_part p{h.type, h.filename, {}};
        std::string label = h.type + (h.filename.empty() ? "" : " \"" + h.filename + "\"");
        if (h.encoding == "base64") {
            auto d = decode_base64_body(content);
            if (!d) {
                scan.problems.push_back("part " + label + ": base64 that does not decode");
                return;
            }
            p.data = std::move(*d);
        } else if (h.encoding == "7bit" || h.encoding == "8bit" || h.encoding == "binary") {
            p.data.assign(content);
        } else {
            scan.problems.push_back("part " + label + ": Content-Transfer-Encoding " + h.encoding +
                                    " is not supported");
            return;
        }
        scan.parts.push_back(std::move(p));
    }

private:
    void too_deep() {
        scan.problems.push_back("MIME parts nested deeper than " + std::to_string(max_nesting) +
                                " are not read");
    }

    // RFC 2046 5.1.1: the body parts lie between lines "--boundary" (white space may follow),
    // the last one is followed by "--boundary--". The CRLF before a delimiter belongs to it.
    void multipart(const part_header& h, std::string_view body, std::size_t depth) {
        if (h.boundary.empty()) {
            scan.problems.push_back(h.type + " without a boundary parameter");
            return;
        }
        if (depth >= max_nesting) return too_deep();
        const std::string delim = "--" + h.boundary;
        std::size_t pos = 0;
        std::optional<std::size_t> part_begin;
        while (pos < body.size()) {
            auto [line, next] = next_line(body, pos);
            if (line.starts_with(delim)) {
                std::string_view rest = line.substr(delim.size());
                bool close = rest.starts_with("--");
                if (close || text::trim(rest).empty()) {
                    if (part_begin) {
                        std::size_t e = pos;
                        if (e > *part_begin && body[e - 1] == '\n') --e;
                        if (e > *part_begin && body[e - 1] == '\r') --e;
                        message(body.substr(*part_begin, e - *part_begin), depth + 1);
                    }
                    if (close) return;
                    part_begin = next;
                }
            }
            pos = next;
        }
        // No close delimiter (a truncated mail): the last part runs to the end.
        if (part_begin && *part_begin < body.size()) message(body.substr(*part_begin), depth + 1);
    }

    std::size_t visited_ = 0;
};

} // namespace

bool looks_like_message(std::string_view bytes) {
    // RFC 5322 3.6.8: field-name is printable ASCII except ":" and space, then ":".
    std::size_t i = 0;
    while (i < bytes.size() && i < 200) {
        unsigned char c = static_cast<unsigned char>(bytes[i]);
        if (c == ':') return i > 0;
        if (c <= 32 || c >= 127) return false;
        ++i;
    }
    return false;
}

mail_scan report_parts(std::string_view message) {
    walker w;
    w.message(message, 0);
    return std::move(w.scan);
}

} // namespace splitmail::provision::report_in
