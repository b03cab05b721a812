// `splitmail dns`: see dns.hpp.
#include "commands/dns.hpp"

#include <unistd.h>

#include <ctime>
#include <iostream>
#include <optional>
#include <vector>

#include "check/context.hpp"
#include "dns/apply.hpp"
#include "dns/plan.hpp"
#include "dns/zone.hpp"
#include "setup/rollover.hpp"
#include "site/site.hpp"
#include "splitmail/desec/client.hpp"
#include "splitmail/desec/token.hpp"

namespace splitmail::provision {

namespace {

constexpr const char* usage =
    "usage: splitmail dns plan   [--site FILE] [--domain D]...\n"
    "       splitmail dns export [--site FILE] [--domain D]...\n"
    "       splitmail dns apply  [--site FILE] [--domain D]... [--prune] [--yes]\n"
    "plan prints the records splitmail needs, export prints them as a zone-file fragment,\n"
    "apply publishes them at deSEC (one atomic request per domain; --prune also removes\n"
    "RRsets splitmail does not plan, never the apex NS nor the A/AAAA splitmail-ddns keeps:\n"
    "site.imap_host and home.<primary domain>). --site defaults to\n"
    "/etc/splitmail/site.toml; without --domain every domain of the site is used.\n";

struct options {
    std::string sub;
    std::string site_file = "/etc/splitmail/site.toml";
    std::vector<std::string> domains;
    bool prune = false;
    bool yes = false;
};

std::optional<std::string> parse(std::span<const std::string> args, options& o) {
    const bool apply = o.sub == "apply";
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (apply && a == "--prune") {
            o.prune = true;
            continue;
        }
        if (apply && (a == "--yes" || a == "-y")) {
            o.yes = true;
            continue;
        }
        if (a != "--site" && a != "--domain") return "unknown option \"" + a + "\"";
        if (i + 1 >= args.size()) return a + " needs a value";
        std::string v = args[++i];
        if (a == "--site") o.site_file = v;
        if (a == "--domain") {
            for (auto& c : v) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
            if (!v.empty() && v.back() == '.') v.pop_back();
            o.domains.push_back(v);
        }
    }
    return std::nullopt;
}

bool ask_on_terminal(const std::string& question) {
    std::cout << question << std::flush;
    std::string answer;
    if (!std::getline(std::cin, answer)) return false;
    return answer == "y" || answer == "Y" || answer == "yes" || answer == "YES" || answer == "Yes";
}

} // namespace

int run_dns(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
    for (const auto& a : args)
        if (a == "--help" || a == "-h") {
            out << usage;
            return 0;
        }
    if (args.empty()) {
        err << usage;
        return 2;
    }
    options o;
    o.sub = args[0];
    if (o.sub != "plan" && o.sub != "apply" && o.sub != "export") {
        err << "splitmail dns: unknown subcommand \"" << o.sub << "\"\n" << usage;
        return 2;
    }
    if (auto e = parse(args.subspan(1), o)) {
        err << "splitmail dns " << o.sub << ": " << *e << "\n" << usage;
        return 2;
    }
    const std::string me = "splitmail dns " + o.sub + ": ";
    auto s = load_site(o.site_file);
    if (!s) {
        err << me << s.error() << '\n';
        return 1;
    }
    for (const auto& w : s->warnings) err << me << "warning: " << w << '\n';
    if (o.domains.empty()) o.domains = s->domains;
    std::vector<dns::plan> plans;
    for (const auto& d : o.domains) {
        auto p = dns::make_plan(*s, d);
        if (!p) {
            err << me << p.error() << '\n';
            return 1;
        }
        plans.push_back(std::move(*p));
    }

    if (o.sub == "plan") {
        for (std::size_t i = 0; i < plans.size(); ++i)
            out << (i ? "\n" : "") << dns::plan_table(plans[i]);
        return 0;
    }
    if (o.sub == "export") {
        for (std::size_t i = 0; i < plans.size(); ++i)
            out << (i ? "\n" : "") << dns::zone_fragment(plans[i]);
        return 0;
    }

    auto token = desec::read_token_file(s->desec_token_file);
    if (!token) {
        err << me << token.error() << " (desec.token_file in " << o.site_file << ")\n";
        return 1;
    }
    desec::client_options co;
    co.base_url = s->desec_api;
    co.token = *token;
    co.ca_file = s->desec_ca_file;
    co.user_agent = "splitmail dns";
    desec::client api(co);

    dns::apply_options ao;
    ao.prune = o.prune;
    ao.yes = o.yes;
    if (::isatty(STDIN_FILENO) == 1) ao.confirm = ask_on_terminal;
    ao.keep = [&](const std::string& domain) { return dns::ddns_rrsets(*s, domain); };
    ao.token_file = s->desec_token_file.string();
    bool rollover_error = false;
    ao.up_to_date = [&](const dns::plan& p, std::uint32_t ttl) {
        if (p.rollover_key.empty()) return;
        const auto now = static_cast<std::int64_t>(std::time(nullptr));
        auto marked = setup::mark_next_published(p.rollover_key, ttl, now);
        if (!marked) {
            err << me << "key rollover: " << marked.error() << '\n';
            rollover_error = true;
            return;
        }
        auto next = setup::read_next_key(p.rollover_key);
        if (!next || !*next) return;
        const auto st = setup::rollover_of(*next, now);
        out << "key rollover: deSEC holds the TLSA record of the next key "
            << setup::next_key_file(p.rollover_key).string() << " (TTL " << (*next)->ttl
            << " s); run `splitmail cert rollover` from "
            << check::utc_text(static_cast<std::time_t>(st.switch_from))
            << " (twice the TTL after it was published)\n";
    };
    const int rc = dns::apply_plans(api, plans, ao, out, err);
    return rc == 0 && rollover_error ? 1 : rc;
}

int run_dns(std::span<const std::string> args) { return run_dns(args, std::cout, std::cerr); }

} // namespace splitmail::provision
