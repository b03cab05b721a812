// dns-01 through deSEC (see desec_dns01.hpp).
#include "splitmail/acme/desec_dns01.hpp"
#include "splitmail/desec/retry.hpp"

#include <algorithm>
#include <map>
#include <thread>

namespace splitmail::acme {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// The subname of _acme-challenge.<domain> in `zone`, or nullopt when domain is not in it.
std::optional<std::string> subname_in(std::string_view zone, std::string_view domain) {
    std::string z = lower(zone), d = lower(domain);
    if (d == z) return std::string("_acme-challenge");
    if (d.size() > z.size() && d.ends_with("." + z))
        return "_acme-challenge." + d.substr(0, d.size() - z.size() - 1);
    return std::nullopt;
}

} // namespace

result<std::vector<desec::rrset>>
challenge_rrsets(std::string_view zone, std::span<const challenge_task> tasks, std::uint32_t ttl) {
    std::map<std::string, std::vector<std::string>> by_name;
    for (const auto& t : tasks) {
        if (t.type != "dns-01")
            return fail(error_kind::solver,
                        "dns-01 solver got a " + t.type + " task for " + t.domain);
        auto sub = subname_in(zone, t.domain);
        if (!sub)
            return fail(error_kind::solver,
                        t.domain + " is not in the deSEC domain " + std::string(zone));
        // RFC 8555 8.4: the value is base64url, so quoting needs no escaping.
        auto& values = by_name[*sub];
        std::string quoted = "\"" + t.txt_value + "\"";
        if (std::find(values.begin(), values.end(), quoted) == values.end())
            values.push_back(quoted);
    }
    std::vector<desec::rrset> out;
    for (auto& [sub, values] : by_name)
        out.push_back(desec::rrset{sub, "TXT", ttl, std::move(values)});
    return out;
}

desec_dns01_solver::desec_dns01_solver(desec::client& api, visibility_check visible, options o)
    : api_(api), visible_(std::move(visible)), options_(std::move(o)) {
    if (!options_.sleep)
        options_.sleep = [](std::chrono::seconds s) { std::this_thread::sleep_for(s); };
}

namespace {

// deSEC throttles per account and per domain (429 with Retry-After); an order writes twice
// and reads once, so a short wait is normal when orders follow each other. Each call waits
// out deSEC's answers (desec/retry.hpp) up to this long in all, then its error is the result.
constexpr std::chrono::seconds max_deSEC_wait{120};

template <class Call>
auto with_deSEC_retries(Call call, const std::function<void(std::chrono::seconds)>& sleep) {
    desec::retry_policy p;
    p.max_attempts = 10;
    p.sleep = sleep;
    auto budget = max_deSEC_wait;
    return desec::call_with_retries(call, p, budget);
}

} // namespace

result<> desec_dns01_solver::present(std::span<const challenge_task> tasks) {
    auto domain =
        with_deSEC_retries([&] { return api_.get_domain(options_.zone); }, options_.sleep);
    if (!domain)
        return fail(error_kind::solver, "deSEC: cannot read domain " + options_.zone + ": " +
                                            std::string(desec::to_string(domain.error().kind)) +
                                            ": " + domain.error().message);
    auto sets =
        challenge_rrsets(options_.zone, tasks, std::max<std::uint32_t>(domain->minimum_ttl, 1));
    if (!sets) return std::unexpected(sets.error());
    if (auto w = with_deSEC_retries([&] { return api_.patch_rrsets(options_.zone, *sets); },
                                    options_.sleep);
        !w)
        return fail(error_kind::solver, "deSEC: cannot write the _acme-challenge TXT records: " +
                                            std::string(desec::to_string(w.error().kind)) + ": " +
                                            w.error().message +
                                            (w.error().kind == desec::error_kind::forbidden
                                                 ? " (the token's policy must allow writing TXT at "
                                                   "_acme-challenge names)"
                                                 : ""));
    std::chrono::seconds waited{0};
    for (const auto& set : *sets) {
        std::string fqdn = set.subname + "." + options_.zone;
        std::vector<std::string> values;
        for (const auto& q : set.records) values.push_back(q.substr(1, q.size() - 2));
        for (;;) {
            auto seen = visible_(fqdn, values);
            if (!seen) return std::unexpected(seen.error());
            if (*seen) break;
            if (waited >= options_.propagation_timeout)
                return fail(error_kind::solver, "the authoritative servers still do not answer the "
                                                "TXT record at " +
                                                    fqdn + " after " +
                                                    std::to_string(waited.count()) + "s");
            options_.sleep(options_.check_interval);
            waited += options_.check_interval;
        }
    }
    return {};
}

void desec_dns01_solver::cleanup(std::span<const challenge_task> tasks) {
    cleanup_error_.clear();
    auto sets = challenge_rrsets(options_.zone, tasks, 0);
    if (!sets) {
        cleanup_error_ = sets.error().message;
        return;
    }
    for (auto& s : *sets) s.records.clear(); // deSEC: an empty record list deletes the RRset
    if (auto w = with_deSEC_retries([&] { return api_.patch_rrsets(options_.zone, *sets); },
                                    options_.sleep);
        !w)
        cleanup_error_ =
            "deSEC: cannot remove the _acme-challenge TXT records: " + w.error().message;
}

} // namespace splitmail::acme
