// DNS block and allow lists at the relay; see dnsbl_check.hpp.
#include "filter/dnsbl_check.hpp"

#include "splitmail/log/log.hpp"

namespace splitmail::relay::filter {

namespace {
constexpr int type_a = 1;
constexpr auto warn_interval = std::chrono::minutes(10);
} // namespace

dnsbl_checker::dnsbl_checker(const dnsbl_settings& s, dns::unbound_resolver& resolver)
    : threshold_(s.threshold), allow_threshold_(s.allow_threshold), timeout_(s.timeout),
      resolver_(&resolver) {
    for (const auto& text : s.sites)
        if (auto site = net::parse_site(text)) sites_.push_back(std::move(*site));
}

std::optional<sender_auth::dns_lookups> dnsbl_checker::start(const std::string& ip) const {
    std::vector<sender_auth::dns_query> queries;
    for (const auto& site : sites_) {
        auto name = net::dnsbl_query_name(ip, site.zone);
        if (!name) return std::nullopt;
        queries.push_back({std::move(*name), type_a});
    }
    return std::make_optional<sender_auth::dns_lookups>(
        *resolver_, std::chrono::steady_clock::now() + timeout_, queries);
}

dnsbl_outcome dnsbl_checker::decide(
    const std::string& ip, const std::vector<std::optional<dkim::key_answer>>& answers,
    const std::function<void(const std::string&, const std::string&)>& warn) const {
    using st = dkim::key_answer::status;
    dnsbl_outcome o;
    std::string blockers;
    for (std::size_t i = 0; i < sites_.size(); ++i) {
        const auto& site = sites_[i];
        const auto& a = i < answers.size() ? answers[i] : std::nullopt;
        if (!a || a->st == st::temp_error) {
            warn(site.zone, "no usable answer (timeout or DNS error), counted as not listed");
            continue;
        }
        if (a->st != st::ok) continue; // NXDOMAIN / no data: not listed
        auto r = net::judge(site, a->txt);
        if (r.result == net::site_result::what::refused) {
            warn(site.zone, "the list answered with an error code (" + r.codes +
                                "): it refuses queries from this resolver (most lists refuse "
                                "public resolvers; use your own, see dnsbl.enabled)");
            continue;
        }
        if (r.result != net::site_result::what::listed) continue;
        o.score += site.weight;
        o.lists += (o.lists.empty() ? "" : " ") + site.zone + "(" + r.codes + ")";
        if (site.weight > 0) blockers += (blockers.empty() ? "" : ", ") + site.zone;
    }
    if (o.score >= threshold_)
        o.block = smtp::make_reply(
            554, "5.7.1", "Service unavailable; client [" + ip + "] blocked using " + blockers);
    else if (allow_threshold_ < 0 && o.score <= allow_threshold_)
        o.allowed = true;
    return o;
}

void dnsbl_checker::warn_once(const std::string& zone, const std::string& what,
                              const std::string& log_id) {
    const auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard lk(m_);
        auto [it, fresh] = warned_.try_emplace(zone, now);
        if (!fresh && now - it->second < warn_interval) return;
        it->second = now;
    }
    log::warn("dnsbl", log_id, "list unusable", {{"list", zone}, {"problem", what}});
}

boost::asio::awaitable<dnsbl_outcome> dnsbl_checker::finish(sender_auth::dns_lookups& lookups,
                                                            const std::string& ip,
                                                            const std::string& log_id) {
    auto answers = co_await lookups.wait();
    auto o = decide(ip, answers, [this, &log_id](const std::string& zone, const std::string& what) {
        warn_once(zone, what, log_id);
    });
    if (!o.lists.empty() || o.allowed)
        log::info("dnsbl", log_id,
                  o.block     ? "listed: refused"
                  : o.allowed ? "allow-listed"
                              : "listed",
                  {{"client", ip}, {"score", o.score}, {"lists", o.lists}});
    co_return o;
}

} // namespace splitmail::relay::filter
