// The streaming XML reader of DMARC aggregate reports; see aggregate_parse_xml.hpp.
#include "splitmail/dmarc/aggregate_parse_xml.hpp"
#include "splitmail/text/utf8.hpp"

#include <cstdint>
#include <vector>

namespace splitmail::dmarc::report_in {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// XML 1.0 section 2.3 NameStartChar / NameChar, ASCII part; any octet >= 0x80 is taken as
// part of a (UTF-8) name without checking which code point it encodes.
bool name_start(char c) {
    auto u = static_cast<unsigned char>(c);
    return (u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || u == '_' || u == ':' || u >= 0x80;
}
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.'; }

std::string_view local_name(std::string_view qname) {
    auto colon = qname.rfind(':');
    return colon == std::string_view::npos ? qname : qname.substr(colon + 1);
}

// A character or entity reference (XML 1.0 4.1) without its "&" and ";"; false if invalid.
bool decode_reference(std::string_view ref, std::string& out) {
    if (ref == "lt")
        out.push_back('<');
    else if (ref == "gt")
        out.push_back('>');
    else if (ref == "amp")
        out.push_back('&');
    else if (ref == "quot")
        out.push_back('"');
    else if (ref == "apos")
        out.push_back('\'');
    else if (ref.size() >= 2 && ref[0] == '#') {
        bool hex = ref[1] == 'x';
        std::string_view digits = ref.substr(hex ? 2 : 1);
        if (digits.empty() || digits.size() > 8) return false;
        std::uint32_t cp = 0;
        for (char c : digits) {
            int d = -1;
            if (c >= '0' && c <= '9')
                d = c - '0';
            else if (hex && c >= 'a' && c <= 'f')
                d = c - 'a' + 10;
            else if (hex && c >= 'A' && c <= 'F')
                d = c - 'A' + 10;
            if (d < 0) return false;
            cp = cp * (hex ? 16 : 10) + static_cast<std::uint32_t>(d);
            if (cp > 0x10FFFF) return false;
        }
        // XML 1.0 2.2 Char: no NUL, no surrogates.
        if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        text::put_utf8(out, cp);
    } else {
        return false; // entities of a DTD are not supported
    }
    return true;
}

class reader {
public:
    reader(std::string_view doc, xml_handler& h) : doc_(doc), h_(h) {}

    std::expected<void, std::string> run() {
        if (doc_.size() > max_input)
            return std::unexpected("XML: document larger than " + std::to_string(max_input) +
                                   " bytes");
        if (doc_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3; // UTF-8 byte order mark
        while (pos_ < doc_.size()) {
            bool ok = doc_[pos_] == '<' ? markup() : chars();
            if (!ok) return std::unexpected(std::move(error_));
        }
        if (!stack_.empty())
            return std::unexpected("XML: unclosed element <" + stack_.back() + "> at end of input");
        if (!seen_root_) return std::unexpected(std::string("XML: no root element"));
        return {};
    }

private:
    bool fail(std::string what) {
        error_ = "XML: offset " + std::to_string(pos_) + ": " + std::move(what);
        return false;
    }
    bool handler_said(std::optional<std::string> e) {
        if (!e) return true;
        error_ = std::move(*e);
        return false;
    }
    bool starts(std::string_view s) const { return doc_.substr(pos_, s.size()) == s; }
    // Moves past the next `term` at or after pos_ + `from`; false (pos_ unchanged) if none.
    bool skip_past(std::string_view term, std::size_t from) {
        auto e = doc_.find(term, pos_ + from);
        if (e == std::string_view::npos) return false;
        pos_ = e + term.size();
        return true;
    }
    void skip_space() {
        while (pos_ < doc_.size() && is_space(doc_[pos_])) ++pos_;
    }
    std::string_view name() {
        std::size_t b = pos_;
        if (pos_ >= doc_.size() || !name_start(doc_[pos_])) return {};
        while (pos_ < doc_.size() && name_char(doc_[pos_])) ++pos_;
        return doc_.substr(b, pos_ - b);
    }

    bool markup() {
        if (starts("<?")) {
            // XML declaration or processing instruction (XML 1.0 2.6): skipped.
            return skip_past("?>", 2) || fail("unterminated processing instruction");
        }
        if (starts("<!--")) return skip_past("-->", 4) || fail("unterminated comment");
        if (starts("<![CDATA[")) {
            if (stack_.empty()) return fail("CDATA section outside the root element");
            std::size_t b = pos_ + 9;
            auto e = doc_.find("]]>", b);
            if (e == std::string_view::npos) return fail("unterminated CDATA section");
            pos_ = e + 3;
            return handler_said(h_.text(doc_.substr(b, e - b)));
        }
        if (starts("<!DOCTYPE")) return doctype();
        if (starts("</")) return end_tag();
        return start_tag();
    }

    bool doctype() {
        if (seen_root_ || !stack_.empty()) return fail("DOCTYPE after the root element");
        // XML 1.0 2.8: a quoted system or public id may hold ">"; an internal subset ("[")
        // would declare entities, which this reader refuses rather than expand.
        char quote = 0;
        for (std::size_t i = pos_ + 9; i < doc_.size(); ++i) {
            char c = doc_[i];
            if (quote) {
                if (c == quote) quote = 0;
            } else if (c == '"' || c == '\'') {
                quote = c;
            } else if (c == '[') {
                return fail("DOCTYPE with an internal subset (entity declarations) is not "
                            "supported");
            } else if (c == '>') {
                pos_ = i + 1;
                return true;
            }
        }
        return fail("unterminated DOCTYPE");
    }

    bool start_tag() {
        ++pos_; // '<'
        std::string_view qname = name();
        if (qname.empty()) return fail("expected an element name after \"<\"");
        if (stack_.empty() && seen_root_)
            return fail("a second root element <" + std::string(qname) + ">");
        if (stack_.size() >= max_depth)
            return fail("elements nested deeper than " + std::to_string(max_depth));
        // Attributes (XML 1.0 3.1): name = "value" | 'value'; checked and skipped.
        while (true) {
            std::size_t before = pos_;
            skip_space();
            if (pos_ >= doc_.size()) return fail("unterminated start tag <" + std::string(qname));
            if (starts("/>")) {
                pos_ += 2;
                seen_root_ = true;
                return handler_said(h_.start(local_name(qname))) &&
                       handler_said(h_.end(local_name(qname)));
            }
            if (doc_[pos_] == '>') {
                ++pos_;
                seen_root_ = true;
                stack_.emplace_back(qname);
                return handler_said(h_.start(local_name(qname)));
            }
            if (pos_ == before) return fail("expected white space before an attribute");
            if (name().empty()) return fail("bad attribute in <" + std::string(qname) + ">");
            skip_space();
            if (pos_ >= doc_.size() || doc_[pos_] != '=') return fail("attribute without \"=\"");
            ++pos_;
            skip_space();
            if (pos_ >= doc_.size() || (doc_[pos_] != '"' && doc_[pos_] != '\''))
                return fail("attribute value not quoted");
            char quote = doc_[pos_++];
            auto e = doc_.find(quote, pos_);
            if (e == std::string_view::npos) return fail("unterminated attribute value");
            if (doc_.substr(pos_, e - pos_).find('<') != std::string_view::npos)
                return fail("\"<\" in an attribute value");
            pos_ = e + 1;
        }
    }

    bool end_tag() {
        pos_ += 2;
        std::string_view qname = name();
        if (qname.empty()) return fail("expected an element name after \"</\"");
        skip_space();
        if (pos_ >= doc_.size() || doc_[pos_] != '>') return fail("unterminated end tag");
        ++pos_;
        if (stack_.empty()) return fail("end tag </" + std::string(qname) + "> without a start");
        if (stack_.back() != qname)
            return fail("end tag </" + std::string(qname) + "> does not close <" + stack_.back() +
                        ">");
        stack_.pop_back();
        return handler_said(h_.end(local_name(qname)));
    }

    bool chars() {
        auto lt = doc_.find('<', pos_);
        std::size_t e = lt == std::string_view::npos ? doc_.size() : lt;
        std::string_view raw = doc_.substr(pos_, e - pos_);
        if (stack_.empty()) {
            for (char c : raw)
                if (!is_space(c)) return fail("text outside the root element");
            pos_ = e;
            return true;
        }
        text_.clear();
        for (std::size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] != '&') {
                text_.push_back(raw[i]);
                continue;
            }
            // The longest valid reference is "&#x10FFFF;" or "&#1114111;"; look no further.
            auto semi = raw.substr(i, 12).find(';');
            if (semi == std::string_view::npos) {
                pos_ += i;
                return fail("\"&\" not starting a reference (write &amp;)");
            }
            if (!decode_reference(raw.substr(i + 1, semi - 1), text_)) {
                pos_ += i;
                return fail("unknown or invalid reference \"" +
                            std::string(raw.substr(i, semi + 1)) + "\"");
            }
            i += semi;
        }
        pos_ = e;
        return handler_said(h_.text(text_));
    }

    std::string_view doc_;
    xml_handler& h_;
    std::size_t pos_ = 0;
    std::vector<std::string> stack_;
    bool seen_root_ = false;
    std::string text_;
    std::string error_;
};

} // namespace

std::expected<void, std::string> read_xml(std::string_view doc, xml_handler& h) {
    return reader(doc, h).run();
}

} // namespace splitmail::dmarc::report_in
