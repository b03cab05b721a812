#pragma once
// What every check of `splitmail check` reads: the site file, the parts of relay.toml and
// home.toml the checks need, the resolver, the clock.
//
// Guarantees: read_relay_facts()/read_home_facts()/read_ddns_facts() load the files through the
// programs' own settings tables (common/config/relay.*, home.*, ddns.*): the same keys, defaults
// and checks as the daemons, so `check` accepts exactly the files the daemons accept ("FILE: KEY: REASON"
// otherwise). Files the settings name (pairing secrets) are not read.
// Does not: run a check (checks.hpp).
#include <chrono>
#include <ctime>
#include <expected>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "splitmail/config/ddns.hpp"
#include "splitmail/config/home.hpp"
#include "splitmail/config/relay.hpp"

#include "check/dns_query.hpp"
#include "check/finding.hpp"
#include "site/site.hpp"

namespace splitmail::provision::check {

struct relay_facts : relay::settings {
    std::filesystem::path file;
};

struct home_facts : home::settings {
    std::filesystem::path file;
};

std::expected<relay_facts, std::string> read_relay_facts(const std::filesystem::path& file);
std::expected<home_facts, std::string> read_home_facts(const std::filesystem::path& file);

struct ddns_facts : ddns::settings {
    std::filesystem::path file;
};

// ddns.toml: on a home machine, next to home.toml.
std::filesystem::path ddns_config_of(const std::filesystem::path& home_config);
std::expected<ddns_facts, std::string> read_ddns_facts(const std::filesystem::path& file);

struct context {
    site s;
    std::filesystem::path site_file;
    std::optional<relay_facts> relay; // set on a relay machine
    std::optional<home_facts> home;   // set on a home machine
    std::optional<ddns_facts> ddns;   // set on a home machine with ddns.toml
    std::string resolver;             // "ip:port" or "" (/etc/resolv.conf)
    std::time_t now = 0;
    std::chrono::milliseconds connect_timeout{2000};

    // The resolver, made on first use; the error says why it could not be (then every DNS
    // check reports it).
    std::expected<dns_query*, std::string> dns();

private:
    std::unique_ptr<dns_query> dns_;
    std::string dns_error_;
};

// The zone among the site's domains that holds `name` (equal or a subdomain; the longest
// wins); "" when none does.
std::string zone_of(const site& s, const std::string& name);
std::string zone_of(const std::vector<std::string>& domains, const std::string& name);

// "splitmail dns apply --domain D" (with --site FILE unless it is the default).
std::string dns_apply_fix(const context& c, const std::string& domain);

// The fix line of every lookup that failed for resolver trouble: names the resolver asked and
// how to choose another (--resolver / check.resolver).
std::string resolver_fix(const context& c);

// Human durations: "45 s", "12 min", "5 h", "3 days".
std::string age_text(long long seconds);
// "2026-11-23 17:00 UTC"
std::string utc_text(std::time_t t);

} // namespace splitmail::provision::check
