// Check context, relay.toml / home.toml through the programs' tables; see context.hpp.
#include "check/context.hpp"

namespace splitmail::provision::check {

namespace fs = std::filesystem;

namespace {

// The settings a program's loader built, with the file they came from.
template <class Facts, class Settings>
std::expected<Facts, std::string> facts_of(std::expected<Settings, std::string> s,
                                           const fs::path& file) {
    if (!s) return std::unexpected(s.error());
    Facts f;
    static_cast<Settings&>(f) = std::move(*s);
    f.file = file;
    return f;
}

} // namespace

std::expected<relay_facts, std::string> read_relay_facts(const fs::path& file) {
    return facts_of<relay_facts>(relay::load_settings(file, config::referenced_files::names_only),
                                 file);
}

std::expected<home_facts, std::string> read_home_facts(const fs::path& file) {
    return facts_of<home_facts>(home::load_settings(file, config::referenced_files::names_only),
                                file);
}

fs::path ddns_config_of(const fs::path& home_config) {
    return home_config.parent_path() / "ddns.toml";
}

std::expected<ddns_facts, std::string> read_ddns_facts(const fs::path& file) {
    // The token file is not read: ddns::settings only names it.
    return facts_of<ddns_facts>(ddns::load_settings(file), file);
}

std::expected<dns_query*, std::string> context::dns() {
    if (dns_) return dns_.get();
    if (!dns_error_.empty()) return std::unexpected(dns_error_);
    auto q = dns_query::create(resolver);
    if (!q) {
        dns_error_ = "resolver: " + q.error();
        return std::unexpected(dns_error_);
    }
    dns_ = std::move(*q);
    return dns_.get();
}

std::string zone_of(const site& s, const std::string& name) { return zone_of(s.domains, name); }

std::string zone_of(const std::vector<std::string>& domains, const std::string& name) {
    std::string best;
    for (const auto& d : domains)
        if ((name == d || (name.size() > d.size() && name.ends_with("." + d))) &&
            d.size() > best.size())
            best = d;
    return best;
}

std::string dns_apply_fix(const context& c, const std::string& domain) {
    std::string cmd = "splitmail dns apply --domain " + domain;
    if (c.site_file != "/etc/splitmail/site.toml") cmd += " --site " + c.site_file.string();
    return cmd;
}

std::string resolver_fix(const context& c) {
    return "make sure the resolver answers (" +
           std::string(c.resolver.empty() ? "/etc/resolv.conf" : c.resolver) +
           "; choose another with --resolver ip:port or check.resolver in " + c.site_file.string() +
           ")";
}

std::string age_text(long long s) {
    if (s < 0) s = 0;
    if (s < 120) return std::to_string(s) + " s";
    if (s < 2 * 3600) return std::to_string(s / 60) + " min";
    if (s < 2 * 86400) return std::to_string(s / 3600) + " h";
    return std::to_string(s / 86400) + " days";
}

std::string utc_text(std::time_t t) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
    return buf;
}

} // namespace splitmail::provision::check
