// The login brake's settings; see settings.hpp.
#include "splitmail/auth/settings.hpp"

#include <array>
#include <fstream>

namespace splitmail::auth {

namespace {
using config::kind;

constexpr std::array table{
    config::setting_spec{"auth.max_user_failures", kind::integer, "5",
                         "Failed logins of one user name (all spellings, all protocols, all "
                         "networks except the user's known ones; attempts in flight count) "
                         "before that user is locked for `auth.lockout`."},
    config::setting_spec{"auth.max_network_failures", kind::integer, "20",
                         "Failed logins from one client network (IPv4 /24, IPv6 /64), any "
                         "users, before the network is locked for `auth.lockout`."},
    config::setting_spec{"auth.failure_window", kind::duration, "\"15m\"",
                         "Failures older than this (counted from the first) are forgotten."},
    config::setting_spec{"auth.lockout", kind::duration, "\"15m\"",
                         "How long a locked user or network is refused (without checking "
                         "the password)."},
    config::setting_spec{"auth.failure_delay", kind::duration, "\"1s\"",
                         "Wait before the reply to the first failure; it doubles with each "
                         "further failure of the user or network, up to "
                         "`auth.max_failure_delay`. 0 disables the delay."},
    config::setting_spec{"auth.max_failure_delay", kind::duration, "\"16s\"",
                         "Longest wait before a failure reply (and before a refusal)."},
    config::setting_spec{"auth.known_network_ttl", kind::duration, "\"30d\"",
                         "A network a user logged in from successfully is exempt from that "
                         "user's lockout for this long (its own failures are still braked)."},
};
} // namespace

std::span<const config::setting_spec> brake_settings_table() { return table; }

std::expected<std::string, std::string> read_secret_file(const std::filesystem::path& file,
                                                         std::size_t min_length) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return std::unexpected(file.string() + ": cannot read");
    std::string text(4096, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    auto r = read_secret_text(text, min_length);
    if (!r) return std::unexpected(file.string() + ": " + r.error());
    return r;
}

std::expected<std::string, std::string> read_secret_text(std::string_view in,
                                                         std::size_t min_length) {
    std::string text(in);
    auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!text.empty() && ws(text.back())) text.pop_back();
    std::size_t b = 0;
    while (b < text.size() && ws(text[b])) ++b;
    text.erase(0, b);
    if (text.size() < min_length || text.size() > 200)
        return std::unexpected("the secret must be " + std::to_string(min_length) +
                               " to 200 characters");
    for (char c : text)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
            return std::unexpected(
                std::string("the secret must be printable, without white space"));
    return text;
}

std::vector<config::setting_spec> with_brake_settings(std::span<const config::setting_spec> own) {
    std::vector<config::setting_spec> all(own.begin(), own.end());
    all.insert(all.end(), table.begin(), table.end());
    return all;
}

std::expected<brake_policy, std::string> brake_policy_from(const config::values& v,
                                                           std::string_view name) {
    auto bad = [&](std::string_view key, std::string_view why) {
        return std::unexpected(std::string(name) + ": " + std::string(key) + ": " +
                               std::string(why));
    };
    brake_policy p;
    auto mu = v.get_int("auth.max_user_failures");
    if (mu < 1 || mu > 1000) return bad("auth.max_user_failures", "must be between 1 and 1000");
    p.max_user_failures = static_cast<std::size_t>(mu);
    auto mn = v.get_int("auth.max_network_failures");
    if (mn < 1 || mn > 100000)
        return bad("auth.max_network_failures", "must be between 1 and 100000");
    p.max_network_failures = static_cast<std::size_t>(mn);
    p.window = v.get_duration("auth.failure_window");
    if (p.window.count() < 1) return bad("auth.failure_window", "must be at least 1s");
    p.lockout = v.get_duration("auth.lockout");
    p.base_delay = v.get_duration("auth.failure_delay");
    p.max_delay = v.get_duration("auth.max_failure_delay");
    if (p.max_delay < p.base_delay)
        return bad("auth.max_failure_delay", "must be at least auth.failure_delay");
    if (p.max_delay > std::chrono::minutes(5))
        return bad("auth.max_failure_delay", "must be at most 5m (clients time out)");
    p.known_for = v.get_duration("auth.known_network_ttl");
    return p;
}

} // namespace splitmail::auth
