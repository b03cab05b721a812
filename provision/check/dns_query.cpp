// libunbound queries for `splitmail check`; see dns_query.hpp.
#include "check/dns_query.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <unbound.h>

#include <algorithm>
#include <cerrno>

namespace splitmail::provision::check {

namespace {
constexpr int class_in = 1;
constexpr int rcode_servfail = 2;

// Zones libunbound answers itself by default (RFC 6761, RFC 6303 and the documentation
// ranges of RFC 5737 / RFC 3849). With an explicit forwarder that resolver decides.
constexpr const char* local_defaults[] = {
    "test.",
    "2.0.192.in-addr.arpa.",
    "100.51.198.in-addr.arpa.",
    "113.0.203.in-addr.arpa.",
    "8.b.d.0.1.0.0.2.ip6.arpa.",
    "10.in-addr.arpa.",
    "168.192.in-addr.arpa.",
    "127.in-addr.arpa.",
};
} // namespace

std::expected<std::string, std::string> unbound_forwarder(const std::string& hp) {
    auto bad = [&] {
        return std::unexpected("\"" + hp + "\" is not ip:port (e.g. 127.0.0.1:53 or [::1]:53)");
    };
    auto colon = hp.rfind(':');
    if (colon == std::string::npos || colon + 1 == hp.size()) return bad();
    std::string host = hp.substr(0, colon), port = hp.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    else if (host.find(':') != std::string::npos)
        return bad(); // an IPv6 address needs brackets
    if (!canonical_address(host) || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos)
        return bad();
    const int p = std::stoi(port);
    if (p == 0 || p > 65535) return bad();
    return host + "@" + std::to_string(p);
}

std::expected<std::unique_ptr<dns_query>, std::string> dns_query::create(const std::string& fwd,
                                                                         dns_limits limits) {
    ub_ctx* ctx = ub_ctx_create();
    if (!ctx) return std::unexpected("cannot create a libunbound context");
    auto fail = [&](const std::string& what, int err) {
        ub_ctx_delete(ctx);
        return std::unexpected(what + ": " + ub_strerror(err));
    };
    std::string shown;
    if (fwd.empty()) {
        if (int e = ub_ctx_resolvconf(ctx, nullptr); e != 0) return fail("/etc/resolv.conf", e);
        shown = "the resolvers of /etc/resolv.conf";
    } else {
        auto addr = unbound_forwarder(fwd);
        if (!addr) {
            ub_ctx_delete(ctx);
            return std::unexpected(addr.error());
        }
        if (int e = ub_ctx_set_fwd(ctx, addr->c_str()); e != 0) return fail(fwd, e);
        for (const char* zone : local_defaults) {
            const std::string arg = std::string(zone) + " transparent";
            if (int e = ub_ctx_set_option(ctx, "local-zone:", arg.c_str()); e != 0)
                return fail("local-zone " + arg, e);
        }
        shown = "resolver " + fwd;
    }
    if (int e = ub_ctx_set_option(ctx, "do-not-query-localhost:", "no"); e != 0)
        return fail("do-not-query-localhost", e);
    // Asynchronous lookups in a thread, so query() can stop waiting (ub_resolve blocks for as
    // long as libunbound keeps retrying: minutes with a dead resolver).
    if (int e = ub_ctx_async(ctx, 1); e != 0) return fail("async", e);
    return std::unique_ptr<dns_query>(new dns_query(ctx, shown, limits));
}

dns_query::~dns_query() { ub_ctx_delete(ctx_); }

namespace {
struct pending {
    bool done = false;
    int err = 0;
    ub_result* result = nullptr;
};
void on_result(void* data, int err, ub_result* result) {
    auto* p = static_cast<pending*>(data);
    p->done = true;
    p->err = err;
    p->result = result;
}
} // namespace

dns_answer dns_query::query(const std::string& name, rr_type type) {
    using clock = std::chrono::steady_clock;
    dns_answer a;
    if (!unreachable_.empty()) {
        a.error = "not asked: " + unreachable_;
        return a;
    }
    if (spent_ >= limits_.overall) {
        unreachable_ =
            "DNS lookups took " +
            std::to_string(
                std::chrono::duration_cast<std::chrono::seconds>(limits_.overall).count()) +
            " s in all (" + resolver_ + " too slow)";
        a.error = "not asked: " + unreachable_;
        return a;
    }
    const auto start = clock::now();
    const auto left_overall = limits_.overall - spent_;
    const auto limit = std::min<clock::duration>(limits_.per_query, left_overall);
    const auto deadline = start + limit;
    pending p;
    int id = 0;
    int err =
        ub_resolve_async(ctx_, name.c_str(), static_cast<int>(type), class_in, &p, on_result, &id);
    while (err == 0 && !p.done) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
        if (left.count() <= 0) break;
        pollfd pfd{ub_fd(ctx_), POLLIN, 0};
        const int n = ::poll(&pfd, 1, static_cast<int>(left.count()) + 1);
        if (n < 0 && errno != EINTR) break;
        if (n > 0) err = ub_process(ctx_);
    }
    spent_ += clock::now() - start;
    if (err == 0 && !p.done) {
        ub_cancel(ctx_, id);
        const auto secs = std::chrono::duration_cast<std::chrono::milliseconds>(limit).count();
        a.error =
            resolver_ + " did not answer within " + std::to_string((secs + 999) / 1000) + " s";
        if (++timeouts_in_a_row_ >= limits_.give_up_after)
            unreachable_ = resolver_ + " did not answer " + std::to_string(timeouts_in_a_row_) +
                           " lookups in a row";
        else if (spent_ >= limits_.overall)
            unreachable_ =
                "DNS lookups took " +
                std::to_string(
                    std::chrono::duration_cast<std::chrono::seconds>(limits_.overall).count()) +
                " s in all (" + resolver_ + " too slow)";
        return a;
    }
    timeouts_in_a_row_ = 0;
    if (err == 0) err = p.err;
    if (err != 0) {
        if (p.result) ub_resolve_free(p.result);
        a.error = resolver_ + ": " + ub_strerror(err);
        return a;
    }
    ub_result* r = p.result;
    if (!r) {
        a.error = resolver_ + ": no result";
        return a;
    }
    if (r->nxdomain) {
        a.status = dns_status::nxdomain;
    } else if (r->rcode != 0) {
        a.error = resolver_ + " answered rcode " + std::to_string(r->rcode) +
                  (r->rcode == rcode_servfail ? " (SERVFAIL)" : "");
    } else if (r->bogus) {
        a.error = std::string("DNSSEC validation failed: ") + (r->why_bogus ? r->why_bogus : "");
    } else if (!r->havedata) {
        a.status = dns_status::nodata;
    } else {
        a.status = dns_status::answer;
        for (int i = 0; r->data[i]; ++i) {
            std::span<const std::uint8_t> rd(reinterpret_cast<const std::uint8_t*>(r->data[i]),
                                             static_cast<std::size_t>(r->len[i]));
            if (auto t = rdata_to_text(type, rd)) {
                a.records.push_back(std::move(*t));
            } else {
                a.error =
                    "a " + std::string(to_string(type)) + " record of " + name + " is malformed";
            }
        }
        if (!a.error.empty()) a.status = dns_status::error;
    }
    ub_resolve_free(r);
    return a;
}

} // namespace splitmail::provision::check
