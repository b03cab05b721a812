// libunbound context set-up and answers; see context.hpp.
#include "splitmail/dns/context.hpp"

#include "splitmail/address/ip.hpp"

#include <unbound.h>

namespace splitmail::dns {

namespace {
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

std::expected<std::string, std::string> to_unbound_address(const std::string& hp) {
    auto bad = [&] {
        return std::unexpected("\"" + hp + "\" is not ip:port (e.g. 127.0.0.1:53 or [::1]:53)");
    };
    auto colon = hp.rfind(':');
    if (colon == std::string::npos || colon + 1 == hp.size()) return bad();
    std::string host = hp.substr(0, colon), port = hp.substr(colon + 1);
    bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
    if (bracketed) host = host.substr(1, host.size() - 2);
    // An IPv6 address needs brackets, and only an IPv6 address has them.
    if (bracketed ? !address::is_ipv6_text(host) : !address::is_ipv4_text(host)) return bad();
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return bad();
    const int p = std::stoi(port);
    if (p == 0 || p > 65535) return bad();
    return host + "@" + std::to_string(p);
}

void context_deleter::operator()(ub_ctx* ctx) const noexcept { ub_ctx_delete(ctx); }

std::expected<context, std::string> make_context(const std::string& forwarder) {
    context ctx(ub_ctx_create());
    if (!ctx) return std::unexpected("cannot create a libunbound context");
    auto fail = [](const std::string& what, int err) {
        return std::unexpected(what + ": " + ub_strerror(err));
    };
    if (forwarder.empty()) {
        if (int e = ub_ctx_resolvconf(ctx.get(), nullptr); e != 0)
            return fail("/etc/resolv.conf", e);
    } else {
        auto addr = to_unbound_address(forwarder);
        if (!addr) return std::unexpected(addr.error());
        if (int e = ub_ctx_set_fwd(ctx.get(), addr->c_str()); e != 0) return fail(forwarder, e);
        for (const char* zone : local_defaults) {
            const std::string arg = std::string(zone) + " transparent";
            if (int e = ub_ctx_set_option(ctx.get(), "local-zone:", arg.c_str()); e != 0)
                return fail("local-zone " + arg, e);
        }
    }
    if (int e = ub_ctx_set_option(ctx.get(), "do-not-query-localhost:", "no"); e != 0)
        return fail("do-not-query-localhost", e);
    if (int e = ub_ctx_async(ctx.get(), 1); e != 0) return fail("libunbound async", e);
    return ctx;
}

result take_result(int err, ub_result* r, std::string_view who) {
    result a;
    if (err != 0 || !r) {
        a.error = std::string(who) + ": " + (err != 0 ? ub_strerror(err) : "no result");
        if (r) ub_resolve_free(r);
        return a;
    }
    if (r->nxdomain) {
        a.st = status::nxdomain;
    } else if (r->rcode != 0) {
        a.error = std::string(who) + " answered rcode " + std::to_string(r->rcode) +
                  (r->rcode == rcode_servfail ? " (SERVFAIL)" : "");
    } else if (r->bogus) {
        // Only reachable once a trust anchor is configured (DANE work).
        a.error = std::string("DNSSEC validation failed: ") + (r->why_bogus ? r->why_bogus : "");
    } else if (!r->havedata) {
        a.st = status::nodata;
    } else {
        a.st = status::answer;
        for (int i = 0; r->data[i]; ++i) {
            const auto* p = reinterpret_cast<const std::uint8_t*>(r->data[i]);
            a.data.emplace_back(p, p + r->len[i]);
        }
    }
    ub_resolve_free(r);
    return a;
}

} // namespace splitmail::dns
