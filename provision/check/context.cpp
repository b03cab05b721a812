// Check context and the few relay.toml / home.toml keys `check` reads; see context.hpp.
#include "check/context.hpp"

#include <toml++/toml.h>

namespace splitmail::provision::check {

namespace fs = std::filesystem;

namespace {

// Reads a string (or path) key if present; a value of another type is an error.
std::string get_string(const toml::table& t, std::string_view key, const fs::path& file,
                       std::string& err, std::string fallback = {}) {
    auto node = t.at_path(key);
    if (!node) return fallback;
    if (auto v = node.value<std::string>()) return *v;
    if (err.empty()) err = file.string() + ": " + std::string(key) + ": must be a string";
    return fallback;
}

std::vector<std::string> get_list(const toml::table& t, std::string_view key, const fs::path& file,
                                  std::string& err, std::vector<std::string> fallback) {
    auto node = t.at_path(key);
    if (!node) return fallback;
    const toml::array* arr = node.as_array();
    std::vector<std::string> out;
    bool ok = arr != nullptr;
    if (arr)
        for (const auto& item : *arr) {
            if (auto v = item.value<std::string>()) out.push_back(*v);
            else ok = false;
        }
    if (!ok && err.empty())
        err = file.string() + ": " + std::string(key) + ": must be a list of strings";
    return ok ? out : fallback;
}

std::expected<toml::table, std::string> parse(const fs::path& file) {
    try {
        return toml::parse_file(file.string());
    } catch (const toml::parse_error& e) {
        std::string where;
        if (e.source().begin) where = ":" + std::to_string(e.source().begin.line);
        return std::unexpected(file.string() + where + ": " + std::string(e.description()));
    }
}

} // namespace

std::expected<relay_facts, std::string> read_relay_facts(const fs::path& file) {
    auto t = parse(file);
    if (!t) return std::unexpected(t.error());
    relay_facts r;
    r.file = file;
    std::string err;
    r.smtp_listen = get_list(*t, "smtp.listen", file, err, r.smtp_listen);
    r.submission_listen = get_list(*t, "submission.listen", file, err, {});
    r.submissions_listen = get_list(*t, "submissions.listen", file, err, {});
    r.tls_cert = get_string(*t, "tls.cert", file, err);
    r.tls_key = get_string(*t, "tls.key", file, err);
    r.dkim_dir = get_string(*t, "dkim.dir", file, err);
    r.spool_dir = get_string(*t, "spool.dir", file, err, r.spool_dir.string());
    r.home_transport = get_string(*t, "home.transport", file, err, r.home_transport);
    if (!err.empty()) return std::unexpected(err);
    return r;
}

std::expected<home_facts, std::string> read_home_facts(const fs::path& file) {
    auto t = parse(file);
    if (!t) return std::unexpected(t.error());
    home_facts h;
    h.file = file;
    std::string err;
    h.hostname = get_string(*t, "home.hostname", file, err);
    h.lmtp_listen = get_list(*t, "lmtp.listen", file, err, h.lmtp_listen);
    h.imap_listen = get_list(*t, "imap.listen", file, err, {});
    h.imaps_listen = get_list(*t, "imaps.listen", file, err, {});
    h.imap_cert = get_string(*t, "imap.tls_cert", file, err);
    h.imap_key = get_string(*t, "imap.tls_key", file, err);
    h.lmtp_transport = get_string(*t, "lmtp.transport", file, err, h.lmtp_transport);
    if (!err.empty()) return std::unexpected(err);
    return h;
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

std::string zone_of(const site& s, const std::string& name) {
    std::string best;
    for (const auto& d : s.domains)
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
