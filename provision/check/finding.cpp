// Findings output; see finding.hpp.
#include "check/finding.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace splitmail::provision::check {

std::string_view to_string(status s) noexcept {
    switch (s) {
    case status::ok: return "ok";
    case status::warn: return "warn";
    case status::fail: return "fail";
    }
    return "fail";
}

status worst(const findings& f) noexcept {
    status w = status::ok;
    for (const auto& x : f)
        if (static_cast<int>(x.state) > static_cast<int>(w)) w = x.state;
    return w;
}

int exit_status(const findings& f) noexcept { return worst(f) == status::fail ? 1 : 0; }

void print_text_line(const finding& x, std::ostream& out, std::size_t width) {
    const char* mark = x.state == status::ok ? "\u2713" : x.state == status::warn ? "!" : "\u2717";
    width = std::max(width, x.check.size());
    out << mark << " " << x.check << std::string(width - x.check.size() + 2, ' ') << x.detail
        << "\n";
    if (x.state != status::ok && !x.fix.empty())
        out << std::string(width + 4, ' ') << "fix: " << x.fix << "\n";
}

void print_text_summary(const findings& f, std::ostream& out) {
    const auto fails =
        std::count_if(f.begin(), f.end(), [](auto& x) { return x.state == status::fail; });
    const auto warns =
        std::count_if(f.begin(), f.end(), [](auto& x) { return x.state == status::warn; });
    out << (fails ? "problems found: " : "all good: ") << f.size() << " checks, " << fails
        << " failed, " << warns << " warnings\n";
}

void print_text(const findings& f, std::ostream& out) {
    std::size_t width = 0;
    for (const auto& x : f) width = std::max(width, x.check.size());
    for (const auto& x : f) print_text_line(x, out, width);
    print_text_summary(f, out);
}

void print_json(const findings& f, std::ostream& out) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& x : f)
        list.push_back({{"check", x.check},
                        {"status", std::string(to_string(x.state))},
                        {"detail", x.detail},
                        {"fix", x.fix}});
    nlohmann::json doc = {{"status", std::string(to_string(worst(f)))}, {"findings", list}};
    out << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

} // namespace splitmail::provision::check
