// Applying DNS plans at deSEC: see apply.hpp.
#include "dns/apply.hpp"
#include "splitmail/desec/retry.hpp"

#include <algorithm>
#include <thread>

#include "dns/diff.hpp"

namespace splitmail::provision::dns {

namespace {

class runner {
public:
    runner(desec::client& api, const apply_options& o, std::ostream& err)
        : api_(api), o_(o), err_(err), budget_(o.max_wait) {}

    // Calls `f` until it succeeds, fails for good, or the retry bounds are reached
    // (desec/retry.hpp; the wait budget is shared by every request of the run).
    template <class F>
    auto call(const std::string& what, F f) -> decltype(f()) {
        desec::retry_policy p;
        p.max_attempts = o_.max_attempts;
        p.sleep = o_.sleep;
        p.on_retry = [&](const desec::error& e, std::chrono::seconds wait) {
            err_ << "deSEC: " << what << ": " << e.message << "; retrying in " << wait.count()
                 << " s\n";
        };
        return desec::call_with_retries(f, p, budget_);
    }

    desec::client& api() { return api_; }

private:
    desec::client& api_;
    const apply_options& o_;
    std::ostream& err_;
    std::chrono::seconds budget_;
};

// What to fix, by error kind.
std::string explain(const desec::error& e, const std::string& domain, const apply_options& o) {
    using k = desec::error_kind;
    switch (e.kind) {
    case k::unauthorized:
        return "deSEC refused the token (" + e.message + "): check desec.token_file" +
               (o.token_file.empty() ? std::string{} : " (" + o.token_file + ")");
    case k::forbidden:
        return "the token may not write these RRsets of " + domain + " (" + e.message +
               "): give it a scoping policy with write access to them, or use another token";
    case k::not_found:
        return domain + " is not a domain of this deSEC account (" + e.message +
               "): create it at deSEC first, or check site.domains";
    case k::throttled:
        return "deSEC keeps throttling (" + e.message + "): run `splitmail dns apply` again " +
               (e.retry_after ? "in " + std::to_string(e.retry_after->count()) + " s"
                              : std::string("later"));
    case k::tls:
        return "TLS with deSEC failed (" + e.message + "): check desec.api_url and desec.ca_file";
    case k::network:
    case k::server:
        return "deSEC is not reachable (" + e.message + "): nothing was changed, try again later";
    default: return "deSEC: " + e.message;
    }
}

struct pending {
    const plan* p;
    std::vector<change> changes;
    std::uint32_t ttl = 0;
};

} // namespace

int apply_plans(desec::client& api, std::span<const plan> plans, const apply_options& o,
                std::ostream& out, std::ostream& err) {
    runner run(api, o, err);
    std::vector<pending> todo;
    for (const auto& p : plans) {
        auto info = run.call("reading " + p.domain, [&] { return api.get_domain(p.domain); });
        if (!info) {
            err << "splitmail dns apply: " << explain(info.error(), p.domain, o) << '\n';
            return 1;
        }
        auto current = run.call("reading the RRsets of " + p.domain,
                                [&] { return api.list_rrsets(p.domain); });
        if (!current) {
            err << "splitmail dns apply: " << explain(current.error(), p.domain, o) << '\n';
            return 1;
        }
        const std::uint32_t site_ttl = p.rrsets.empty() ? 3600 : p.rrsets.front().ttl;
        diff_options d;
        d.ttl = std::min(std::max(site_ttl, info->minimum_ttl), desec::max_ttl);
        d.prune = o.prune;
        if (o.keep) d.keep = o.keep(p.domain);
        if (d.ttl != site_ttl)
            out << p.domain << ": TTL " << site_ttl << " raised to deSEC's minimum_ttl " << d.ttl
                << '\n';
        auto changes = compute_diff(p, *current, d);
        if (changes.empty()) {
            out << p.domain << ": deSEC is up to date\n";
            if (o.up_to_date) o.up_to_date(p, d.ttl);
            continue;
        }
        out << p.domain << ": " << changes.size() << " RRset" << (changes.size() == 1 ? "" : "s")
            << " to change:\n"
            << render_diff(changes, p.domain);
        todo.push_back({&p, std::move(changes), d.ttl});
    }
    if (todo.empty()) return 0;

    if (!o.yes) {
        if (!o.confirm) {
            err << "splitmail dns apply: not changing deSEC without a confirmation, and stdin is "
                   "not a terminal to ask on: check the changes above and run again with --yes\n";
            return 1;
        }
        if (!o.confirm("Write these changes to deSEC? [y/N] ")) {
            err << "splitmail dns apply: nothing changed\n";
            return 1;
        }
    }

    for (const auto& t : todo) {
        const auto items = patch_items(t.changes);
        const std::string& domain = t.p->domain;
        auto written =
            run.call("writing " + domain, [&] { return api.patch_rrsets(domain, items); });
        if (!written) {
            const auto& e = written.error();
            err << "splitmail dns apply: " << domain << ": ";
            if (e.kind == desec::error_kind::bad_request && !e.item_errors.empty()) {
                err << "deSEC refused the change (nothing of " << domain << " was written):\n";
                for (std::size_t i = 0; i < e.item_errors.size() && i < items.size(); ++i)
                    if (!e.item_errors[i].empty())
                        err << "  " << absolute_name(items[i].subname, domain) << ' '
                            << items[i].type << ": " << e.item_errors[i] << '\n';
            } else {
                err << explain(e, domain, o) << '\n';
            }
            if (&t != &todo.front())
                err << "splitmail dns apply: the domains before " << domain
                    << " were written; run again to finish\n";
            return 1;
        }
        out << domain << ": " << items.size() << " RRset" << (items.size() == 1 ? "" : "s")
            << " written in one request\n";
        if (o.up_to_date) o.up_to_date(*t.p, t.ttl);
        // deSEC answers with the RRsets as stored. Stored differently from what was sent (it
        // normalised a record) means every later apply would rewrite it: say so.
        for (const auto& stored : *written) {
            for (const auto& sent : items) {
                if (sent.subname != stored.subname || sent.type != stored.type) continue;
                auto a = sent.records, b = stored.records;
                std::sort(a.begin(), a.end());
                std::sort(b.begin(), b.end());
                if (a != b)
                    err << "splitmail dns apply: warning: deSEC stored "
                        << absolute_name(stored.subname, domain) << ' ' << stored.type
                        << " in another form than sent; please report this as a bug\n";
            }
        }
    }
    return 0;
}

} // namespace splitmail::provision::dns
