// Fuzz target: the TOML settings loader (common config/settings.hpp) with the tables of the
// relay, the home server and the ddns agent, their typed settings builders, and the duration
// and size parsers. Input: a selector byte, then the text.
// Invariants (abort on violation):
// - parse_duration / parse_size results are within their documented caps (2^40 s, 2^50 B) and
//   read back to the same value from their plain number form;
// - a file the loader accepts holds only keys of the table, each with the table's kind, and
//   is a fixed point: the values written back as TOML load to exactly the same values;
// - the program's settings builder either builds settings or names a reason (no crash).
#include "splitmail/config/settings.hpp"
#include "tomlpp_workaround.hpp"

#include "splitmail/config/ddns.hpp"
#include "splitmail/config/home.hpp"
#include "splitmail/config/relay.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace splitmail;

namespace {
// A TOML basic string (TOML 1.0 "Basic strings": escapes for '"', '\\' and control chars).
std::string quote(std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

std::string quote_key(std::string_view dotted) {
    std::string out;
    std::size_t start = 0;
    while (true) {
        auto dot = dotted.find('.', start);
        out += quote(dotted.substr(start, dot == std::string_view::npos ? dot : dot - start));
        if (dot == std::string_view::npos) break;
        out += '.';
        start = dot + 1;
    }
    return out;
}

std::string write_back(const config::values& v) {
    std::string out;
    for (const auto& [key, text] : v.scalar_) {
        auto k = v.kinds_.find(key);
        if (k == v.kinds_.end()) std::abort();
        bool raw = k->second == config::kind::boolean || k->second == config::kind::integer ||
                   k->second == config::kind::duration || k->second == config::kind::size;
        out += quote_key(key) + " = " + (raw ? text : quote(text)) + "\n";
    }
    for (const auto& [key, items] : v.list_) {
        out += quote_key(key) + " = [";
        for (const auto& i : items) out += quote(i) + ", ";
        out += "]\n";
    }
    return out;
}

template <class Builder>
void check_file(std::string_view text, std::span<const config::setting_spec> table, Builder build) {
    if (hits_tomlpp_unreachable(text)) return;
    auto v = config::load_string(text, "fuzz.toml", table);
    if (!v) {
        if (v.error().empty()) std::abort();
        return;
    }
    for (const auto& [key, k] : v->kinds_) {
        bool known = false;
        for (const auto& s : table) known = known || (s.key == key && s.type == k);
        if (!known) std::abort();
    }
    auto again = config::load_string(write_back(*v), "again.toml", table);
    if (!again || again->scalar_ != v->scalar_ || again->list_ != v->list_) std::abort();
    auto s = build(*v);
    if (!s && s.error().empty()) std::abort();
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 4) {
    case 0: {
        if (auto d = config::parse_duration(text)) {
            if (d->count() < 0 || d->count() > (std::int64_t{1} << 40)) std::abort();
            auto back = config::parse_duration(std::to_string(d->count()));
            if (!back || *back != *d) std::abort();
        }
        if (auto n = config::parse_size(text)) {
            if (*n > (std::uint64_t{1} << 50)) std::abort();
            auto back = config::parse_size(std::to_string(*n));
            if (!back || *back != *n) std::abort();
        }
        break;
    }
    case 1:
        check_file(text, relay::settings_table(),
                   [](const config::values& v) { return relay::settings_from(v, "fuzz.toml"); });
        break;
    case 2:
        check_file(text, home::settings_table(),
                   [](const config::values& v) { return home::settings_from(v, "fuzz.toml"); });
        break;
    case 3:
        check_file(text, ddns::settings_table(),
                   [](const config::values& v) { return ddns::settings_from(v, "fuzz.toml"); });
        break;
    }
    return 0;
}
