// TOML settings loader checked against a program's settings table; see settings.hpp.
#include "splitmail/config/settings.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <toml++/toml.h>

namespace splitmail::config {
namespace {

std::string kind_name(kind k) {
    switch (k) {
    case kind::string: return "string";
    case kind::path: return "path";
    case kind::boolean: return "boolean";
    case kind::integer: return "integer";
    case kind::duration: return "duration";
    case kind::size: return "size";
    case kind::string_list: return "list of strings";
    }
    return "?";
}

std::string type_example(kind k) {
    switch (k) {
    case kind::string: return "\"text\"";
    case kind::path: return "\"/some/path\"";
    case kind::boolean: return "true or false";
    case kind::integer: return "a whole number";
    case kind::duration: return "\"30s\", \"5m\", \"4h\", \"14d\" or seconds";
    case kind::size: return "\"64k\", \"25M\", \"1G\" or bytes";
    case kind::string_list: return "[\"a\", \"b\"]";
    }
    return "?";
}

const setting_spec* find_spec(std::span<const setting_spec> table, std::string_view key) {
    for (const auto& s : table)
        if (s.key == key) return &s;
    return nullptr;
}

std::expected<std::uint64_t, std::string> parse_number_with_suffix(std::string_view text,
                                                                   std::string_view what) {
    auto trim = [](std::string_view v) {
        while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
        return v;
    };
    text = trim(text);
    std::uint64_t n = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || ptr == text.data())
        return std::unexpected("\"" + std::string(text) + "\" is not a " + std::string(what));
    std::string_view suffix(ptr, text.data() + text.size() - ptr);
    suffix = trim(suffix);
    (void)suffix;
    return n;
}

} // namespace

std::expected<std::chrono::seconds, std::string> parse_duration(std::string_view text) {
    auto n = parse_number_with_suffix(text, "duration (e.g. 30s, 5m, 4h, 14d)");
    if (!n) return std::unexpected(n.error());
    auto pos = text.find_first_not_of("0123456789 ");
    std::string_view unit = pos == std::string_view::npos ? "" : text.substr(pos);
    while (!unit.empty() && unit.back() == ' ') unit.remove_suffix(1);
    std::uint64_t mult = 0;
    if (unit.empty() || unit == "s")
        mult = 1;
    else if (unit == "m" || unit == "min")
        mult = 60;
    else if (unit == "h")
        mult = 3600;
    else if (unit == "d")
        mult = 86400;
    else if (unit == "w")
        mult = 7 * 86400;
    else
        return std::unexpected("\"" + std::string(text) + "\": unknown unit (use s, m, h, d or w)");
    if (*n > (std::uint64_t{1} << 40) / mult)
        return std::unexpected("\"" + std::string(text) + "\" is too large");
    return std::chrono::seconds(static_cast<std::int64_t>(*n * mult));
}

std::expected<std::uint64_t, std::string> parse_size(std::string_view text) {
    auto n = parse_number_with_suffix(text, "size (e.g. 512, 64k, 25M, 1G)");
    if (!n) return std::unexpected(n.error());
    auto pos = text.find_first_not_of("0123456789 ");
    std::string_view unit = pos == std::string_view::npos ? "" : text.substr(pos);
    while (!unit.empty() && unit.back() == ' ') unit.remove_suffix(1);
    std::uint64_t mult = 0;
    if (unit.empty() || unit == "B")
        mult = 1;
    else if (unit == "k" || unit == "K" || unit == "KB" || unit == "KiB")
        mult = 1024;
    else if (unit == "M" || unit == "MB" || unit == "MiB")
        mult = 1024 * 1024;
    else if (unit == "G" || unit == "GB" || unit == "GiB")
        mult = 1024ull * 1024 * 1024;
    else
        return std::unexpected("\"" + std::string(text) + "\": unknown unit (use k, M or G)");
    if (*n > (std::uint64_t{1} << 50) / mult)
        return std::unexpected("\"" + std::string(text) + "\" is too large");
    return *n * mult;
}

namespace {

// Checks one TOML leaf against its spec and stores it in `out`. Returns an error reason.
std::string store_value(const toml::node& node, const setting_spec& spec, values& out) {
    std::string key(spec.key);
    switch (spec.type) {
    case kind::string:
    case kind::path:
        if (auto v = node.value<std::string>()) {
            out.scalar_[key] = *v;
            return {};
        }
        break;
    case kind::boolean:
        if (auto v = node.value<bool>()) {
            out.scalar_[key] = *v ? "true" : "false";
            return {};
        }
        break;
    case kind::integer:
        if (node.is_integer()) {
            out.scalar_[key] = std::to_string(*node.value<std::int64_t>());
            return {};
        }
        break;
    case kind::duration:
        if (node.is_integer()) {
            auto v = *node.value<std::int64_t>();
            if (v < 0) return "must not be negative";
            out.scalar_[key] = std::to_string(v);
            return {};
        }
        if (auto v = node.value<std::string>()) {
            auto d = parse_duration(*v);
            if (!d) return d.error();
            out.scalar_[key] = std::to_string(d->count());
            return {};
        }
        break;
    case kind::size:
        if (node.is_integer()) {
            auto v = *node.value<std::int64_t>();
            if (v < 0) return "must not be negative";
            out.scalar_[key] = std::to_string(v);
            return {};
        }
        if (auto v = node.value<std::string>()) {
            auto s = parse_size(*v);
            if (!s) return s.error();
            out.scalar_[key] = std::to_string(*s);
            return {};
        }
        break;
    case kind::string_list:
        if (auto arr = node.as_array()) {
            std::vector<std::string> items;
            for (const auto& item : *arr) {
                auto v = item.value<std::string>();
                if (!v || item.is_array() || item.is_table()) return "every item must be a string";
                items.push_back(*v);
            }
            out.list_[key] = std::move(items);
            return {};
        }
        break;
    }
    return "expected " + kind_name(spec.type) + " (" + type_example(spec.type) + ")";
}

std::string store_default(const setting_spec& spec, values& out) {
    if (spec.default_value.empty()) return {};
    // Defaults are written as TOML values, so the same checks apply to them.
    std::string doc = "v = " + std::string(spec.default_value);
    try {
        auto tbl = toml::parse(doc);
        if (auto node = tbl.get("v")) return store_value(*node, spec, out);
    } catch (const toml::parse_error& e) {
        return std::string("bad default in the settings table: ") + std::string(e.description());
    }
    return "bad default in the settings table";
}

// Levenshtein distance, for "did you mean": keys are short, so O(n*m) is nothing.
std::size_t distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
            diag = up;
        }
    }
    return row[b.size()];
}

// " (line N; did you mean K?)" for an unknown key, the closest known key if it is close.
std::string unknown_hint(const toml::node& node, const std::string& key,
                         std::span<const setting_spec> table, bool section) {
    std::string best;
    std::size_t best_d = 3; // at most two edits away
    const auto parts = static_cast<std::size_t>(std::count(key.begin(), key.end(), '.')) + 1;
    for (const auto& s : table) {
        std::string_view cand = s.key;
        if (section) { // compare with the known sections of the same depth
            std::size_t pos = 0;
            for (std::size_t k = 0; k < parts && pos != std::string_view::npos; ++k)
                pos = cand.find('.', k == 0 ? 0 : pos + 1);
            if (pos == std::string_view::npos) continue;
            cand = cand.substr(0, pos);
        }
        const auto d = distance(key, cand);
        // Close means at most two edits, and fewer than half of the name ("zz" is not "a").
        if (d < best_d && d < key.size() / 2 + 1) {
            best_d = d;
            best = std::string(cand);
        }
    }
    std::string out = " (line " + std::to_string(node.source().begin.line);
    if (!best.empty()) out += "; did you mean " + best + "?";
    return out + ")";
}

std::string walk(const toml::table& tbl, const std::string& prefix,
                 std::span<const setting_spec> table, values& out, std::string_view name) {
    for (const auto& [k, node] : tbl) {
        std::string key =
            prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
        const setting_spec* spec = find_spec(table, key);
        if (!spec && node.is_table()) {
            // A section: it must be the prefix of at least one known key.
            bool known_section = false;
            for (const auto& s : table)
                if (s.key.starts_with(key + ".")) known_section = true;
            if (!known_section)
                return std::string(name) + ": " + key + ": unknown section" +
                       unknown_hint(node, key, table, true);
            auto err = walk(*node.as_table(), key, table, out, name);
            if (!err.empty()) return err;
            continue;
        }
        if (!spec)
            return std::string(name) + ": " + key + ": unknown setting" +
                   unknown_hint(node, key, table, false);
        auto err = store_value(node, *spec, out);
        const int line = static_cast<int>(node.source().begin.line);
        if (!err.empty())
            return std::string(name) + ": " + key + ": " + err + " (line " + std::to_string(line) +
                   ")";
        out.lines_[key] = line;
    }
    return {};
}

} // namespace

std::expected<values, std::string> load_string(std::string_view toml_text, std::string_view name,
                                               std::span<const setting_spec> table) {
    values out;
    for (const auto& spec : table) {
        out.kinds_[std::string(spec.key)] = spec.type;
        auto err = store_default(spec, out);
        if (!err.empty())
            return std::unexpected(std::string(name) + ": " + std::string(spec.key) + ": " + err);
    }
    toml::table tbl;
    try {
        tbl = toml::parse(toml_text, name);
    } catch (const toml::parse_error& e) {
        std::ostringstream msg;
        msg << name << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
            << e.description();
        return std::unexpected(msg.str());
    }
    auto err = walk(tbl, "", table, out, name);
    if (!err.empty()) return std::unexpected(err);
    for (const auto& spec : table)
        if (spec.required && !out.has(spec.key))
            return std::unexpected(std::string(name) + ": " + std::string(spec.key) +
                                   ": required setting is missing");
    return out;
}

std::expected<values, std::string> load(const std::filesystem::path& file,
                                        std::span<const setting_spec> table) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec))
        return std::unexpected(file.string() + ": cannot read: no such file");
    std::ifstream in(file, std::ios::binary);
    if (!in) return std::unexpected(file.string() + ": cannot read");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return load_string(text, file.string(), table);
}

int values::line_of(std::string_view key) const {
    auto it = lines_.find(key);
    return it == lines_.end() ? 0 : it->second;
}

std::string values::where(std::string_view key) const {
    const int line = line_of(key);
    return line > 0 ? " (line " + std::to_string(line) + ")" : std::string();
}

bool values::has(std::string_view key) const {
    auto it = scalar_.find(key);
    if (it != scalar_.end()) return true;
    return list_.find(key) != list_.end();
}

namespace {
[[noreturn]] void missing(std::string_view key) {
    throw std::logic_error("setting not in the table or without value: " + std::string(key));
}
} // namespace

std::string values::get_string(std::string_view key) const {
    auto it = scalar_.find(key);
    if (it == scalar_.end()) {
        if (kinds_.count(std::string(key))) return {};
        missing(key);
    }
    return it->second;
}
std::filesystem::path values::get_path(std::string_view key) const { return get_string(key); }
bool values::get_bool(std::string_view key) const { return get_string(key) == "true"; }
std::int64_t values::get_int(std::string_view key) const {
    auto s = get_string(key);
    return s.empty() ? 0 : std::stoll(s);
}
std::chrono::seconds values::get_duration(std::string_view key) const {
    return std::chrono::seconds(get_int(key));
}
std::uint64_t values::get_size(std::string_view key) const {
    auto s = get_string(key);
    return s.empty() ? 0 : std::stoull(s);
}
std::vector<std::string> values::get_list(std::string_view key) const {
    auto it = list_.find(key);
    if (it == list_.end()) {
        if (kinds_.count(std::string(key))) return {};
        missing(key);
    }
    return it->second;
}

std::string render_markdown(std::string_view program, std::string_view file_hint,
                            std::span<const setting_spec> table) {
    std::ostringstream md;
    md << "## " << program << " (`" << file_hint << "`)\n\n";
    md << "| key | type | default | meaning |\n|---|---|---|---|\n";
    for (const auto& s : table) {
        std::string def = s.default_value.empty() ? (s.required ? "*required*" : "—")
                                                  : "`" + std::string(s.default_value) + "`";
        md << "| `" << s.key << "` | " << kind_name(s.type) << " | " << def << " | " << s.doc
           << " |\n";
    }
    md << "\n";
    return md.str();
}

} // namespace splitmail::config
