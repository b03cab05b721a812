// The "scanners" check (relay machine, issue 18): rspamd answers GET /ping on its normal
// worker (rspamd's protocol: "pong"), clamd answers VERSION and its signature database is
// recent. Only the scanners relay.toml enables are probed.
// Guarantees: each probe takes at most scanner_probe_limit, reads at most a few KiB, and sends
// no mail content (no GTUBE/EICAR: test patterns may be off in production rspamd).
#include "check/checks.hpp"
#include "check/scanner_probe.hpp"
#include "check/scanners.hpp"

#include "splitmail/net/connection.hpp"
#include "splitmail/net/http.hpp"

namespace splitmail::provision::check {
namespace {

// A local scanner answers ping/VERSION in milliseconds; 5 s allows for a loaded machine
// without letting a hung one hold `check` up.
constexpr std::chrono::milliseconds scanner_probe_limit{5000};
constexpr std::size_t max_rspamd_ping_answer = 16 * 1024;
constexpr std::size_t max_clamd_version_answer = 1024;

rspamd_probe probe_rspamd(const std::string& address) {
    std::string host = address;
    try {
        host = net::split_host_port(address).first;
    } catch (const std::exception&) {}
    // RFC 9110 7.2: an IPv6 literal in Host keeps its brackets.
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    const std::string request = "GET /ping HTTP/1.1\r\nHost: " + net::http_header_value(host) +
                                "\r\nConnection: close\r\n\r\n";
    auto whole = [](std::string_view in) {
        auto r = net::parse_http_response(in, false);
        return !r || r->has_value();
    };
    auto answer =
        scanner_exchange(address, request, scanner_probe_limit, max_rspamd_ping_answer, whole);
    if (!answer) return {answer.error(), ""};
    auto r = net::parse_http_response(*answer, true);
    if (!r) return {"not an HTTP answer: " + r.error(), ""};
    if (!*r) return {"incomplete HTTP answer", ""};
    if ((*r)->status != 200)
        return {"HTTP status " + std::to_string((*r)->status) + " to GET /ping (is " + address +
                    " the normal worker, not the controller?)",
                ""};
    std::string_view body = (*r)->body;
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.remove_suffix(1);
    if (body != "pong") return {"GET /ping did not answer pong (not rspamd?)", ""};
    return {"", rspamd_server_version(*answer)};
}

clamd_probe probe_clamd(const std::string& address) {
    // clamd(8): commands prefixed with 'z' are NUL-terminated, and so is the answer.
    static constexpr std::string_view version_command{"zVERSION\0", 9};
    auto answer = scanner_exchange(
        address, version_command, scanner_probe_limit, max_clamd_version_answer,
        [](std::string_view in) { return in.find('\0') != std::string_view::npos; });
    if (!answer) return {answer.error(), std::nullopt};
    auto v = parse_clamd_version(std::string_view(*answer).substr(0, answer->find('\0')));
    if (!v) return {"VERSION: " + v.error(), std::nullopt};
    return {"", *v};
}

} // namespace

findings check_scanners(context& c) {
    if (!c.relay) return {};
    const auto& r = *c.relay;
    findings out;
    if (!r.rspamd.enabled && !r.clamav.enabled) {
        out.push_back(ok("scanners", "rspamd and clamav are not enabled in " + r.file.string() +
                                         ": no scanner to probe"));
        return out;
    }
    if (r.rspamd.enabled)
        out.push_back(
            rspamd_finding({r.rspamd.address, r.rspamd.tempfail_on_failure, r.file.string()},
                           probe_rspamd(r.rspamd.address)));
    if (r.clamav.enabled) {
        auto f = clamd_findings({r.clamav.address, r.clamav.tempfail_on_failure, r.file.string()},
                                probe_clamd(r.clamav.address), c.now);
        out.insert(out.end(), f.begin(), f.end());
    }
    return out;
}

} // namespace splitmail::provision::check
