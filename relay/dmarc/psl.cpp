// Public Suffix List; see psl.hpp.
#include "dmarc/psl.hpp"

#include <fstream>
#include <sstream>
#include <vector>

namespace splitmail::relay::dmarc {

namespace {

std::string normalise(std::string_view d) {
    std::string out(d);
    while (!out.empty() && out.back() == '.') out.pop_back();
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// Offsets where each label starts: "a.b.c" -> 0, 2, 4.
std::vector<std::size_t> label_starts(std::string_view d) {
    std::vector<std::size_t> out;
    if (d.empty()) return out;
    out.push_back(0);
    for (std::size_t i = 0; i < d.size(); ++i)
        if (d[i] == '.') out.push_back(i + 1);
    return out;
}

} // namespace

suffix_list suffix_list::parse(std::string_view text) {
    suffix_list l;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        std::string_view line = text.substr(pos, nl - pos);
        pos = nl + 1;
        const auto ws = line.find_first_of(" \t\r");
        line = line.substr(0, ws);
        if (line.empty() || line.starts_with("//")) continue;
        if (line.starts_with("!"))
            l.exceptions_.insert(normalise(line.substr(1)));
        else if (line.starts_with("*."))
            l.wildcards_.insert(normalise(line.substr(2)));
        else
            l.rules_.insert(normalise(line));
    }
    return l;
}

std::expected<suffix_list, std::string> suffix_list::load(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return std::unexpected(file.string() + ": cannot read the public suffix list");
    std::ostringstream s;
    s << in.rdbuf();
    auto l = parse(s.str());
    if (l.size() == 0)
        return std::unexpected(file.string() + ": no rule in the public suffix list");
    return l;
}

std::string suffix_list::public_suffix(std::string_view domain_in) const {
    const std::string d = normalise(domain_in);
    const auto starts = label_starts(d);
    if (starts.empty()) return "";
    // The first (longest) candidate that matches a rule wins; an exception matching a
    // candidate makes the suffix that candidate minus its first label, and exceptions beat
    // every other rule (the list's algorithm).
    for (std::size_t i = 0; i < starts.size(); ++i) {
        const std::string_view cand = std::string_view(d).substr(starts[i]);
        if (exceptions_.contains(std::string(cand)))
            return i + 1 < starts.size() ? std::string(d.substr(starts[i + 1])) : std::string(cand);
    }
    for (std::size_t i = 0; i < starts.size(); ++i) {
        const std::string cand(std::string_view(d).substr(starts[i]));
        if (rules_.contains(cand)) return cand;
        // "*.parent" matches cand when cand = one label + "." + parent.
        if (i + 1 < starts.size() && wildcards_.contains(d.substr(starts[i + 1]))) return cand;
    }
    return std::string(std::string_view(d).substr(starts.back())); // the implied "*" rule
}

std::string suffix_list::organizational_domain(std::string_view domain_in) const {
    const std::string d = normalise(domain_in);
    const std::string suffix = public_suffix(d);
    if (suffix.size() >= d.size()) return d; // the name is a public suffix itself
    // One more label to the left of the suffix (RFC 7489 3.2 step 3).
    const std::string_view rest = std::string_view(d).substr(0, d.size() - suffix.size() - 1);
    const auto dot = rest.rfind('.');
    return std::string(dot == std::string_view::npos ? std::string_view(d)
                                                     : std::string_view(d).substr(dot + 1));
}

} // namespace splitmail::relay::dmarc
