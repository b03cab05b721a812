// The content-scanning step of every message; see scan.hpp.
#include "filter/scan.hpp"

#include "filter/clients.hpp"
#include "filter/verdict.hpp"

#include "splitmail/log/log.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

namespace splitmail::relay {
namespace {

using filter::scan_status;

std::string recipients_of(const delivery& d) {
    std::string out;
    for (const auto& r : d.envelope.recipients) out += (out.empty() ? "" : ",") + r.address;
    return out;
}

filter::rspamd_request rspamd_request_for(const delivery& d, std::string_view queue_id) {
    filter::rspamd_request r;
    r.from = d.envelope.sender;
    for (const auto& rc : d.envelope.recipients) r.rcpts.push_back(rc.address);
    r.ip = d.envelope.client_ip;
    r.helo = d.envelope.client_helo;
    r.hostname = d.client_host;
    r.user = d.auth_user;
    r.queue_id = std::string(queue_id);
    return r;
}

boost::asio::awaitable<filter::clamd_result> run_clamd(const scanner_settings& s,
                                                       std::string_view prefix,
                                                       filter::message_file file,
                                                       const std::string& log_id) {
    filter::clamd_result r;
    if (!s.enabled) co_return r;
    if (prefix.size() + file.size > s.max_size) {
        r.status = scan_status::skipped;
        log::info("clamd", log_id, "not scanned: over clamav.max_size",
                  {{"size", prefix.size() + file.size}});
        co_return r;
    }
    auto a = co_await filter::clamd_scan(s, prefix, file);
    if (!a) {
        r.status = scan_status::failed;
        log::warn("clamd", log_id, "scan failed",
                  {{"address", s.address},
                   {"error", a.error()},
                   {"on_failure", s.tempfail_on_failure ? "tempfail" : "accept"}});
        co_return r;
    }
    r.status = scan_status::done;
    r.reply = std::move(*a);
    using k = filter::clamd_reply::kind;
    if (r.reply.status == k::error)
        log::warn("clamd", log_id, "scan failed",
                  {{"address", s.address},
                   {"error", r.reply.detail},
                   {"on_failure", s.tempfail_on_failure ? "tempfail" : "accept"}});
    else
        log::info("clamd", log_id, "scanned",
                  {{"result", r.reply.status == k::clean ? "clean" : "virus"},
                   {"signature", r.reply.detail}});
    co_return r;
}

boost::asio::awaitable<filter::rspamd_result>
run_rspamd(const scanner_settings& s, const delivery& d, std::string_view prefix,
           filter::message_file file, std::string_view queue_id, const std::string& log_id) {
    filter::rspamd_result r;
    if (!s.enabled) co_return r;
    if (prefix.size() + file.size > s.max_size) {
        r.status = scan_status::skipped;
        log::info("rspamd", log_id, "not scanned: over rspamd.max_size",
                  {{"size", prefix.size() + file.size}});
        co_return r;
    }
    const auto req = rspamd_request_for(d, queue_id);
    auto a = co_await filter::rspamd_check(s, req, prefix, file);
    if (!a) {
        r.status = scan_status::failed;
        log::warn("rspamd", log_id, "scan failed",
                  {{"address", s.address},
                   {"error", a.error()},
                   {"on_failure", s.tempfail_on_failure ? "tempfail" : "accept"}});
        co_return r;
    }
    r.status = scan_status::done;
    r.answer = std::move(*a);
    log::info("rspamd", log_id, "scanned",
              {{"action", r.answer.action},
               {"score", r.answer.score},
               {"required", r.answer.required_score},
               {"message", r.answer.smtp_message}});
    co_return r;
}

// rspamd said greylist: record every recipient's triplet; true when all have passed the
// delay (greylist.hpp; auto-allowed networks are not exempt here).
bool greylist_passed(filter::greylist& g, const delivery& d, const std::string& log_id) {
    const auto now =
        std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
    bool all = true;
    std::chrono::seconds wait{0};
    for (const auto& r : d.envelope.recipients) {
        auto t = filter::make_triplet(d.envelope.client_ip, d.envelope.sender, r.address);
        if (!t) return false; // no client address: cannot remember, defer like before
        auto a = g.check(*t, now, false);
        if (!a.accepted()) {
            all = false;
            wait = std::max(wait, a.retry_after);
        }
    }
    if (all)
        log::info("greylist", log_id, "passed (rspamd greylist)",
                  {{"client", d.envelope.client_ip},
                   {"from", d.envelope.sender},
                   {"to", recipients_of(d)}});
    else
        log::info("greylist", log_id, "deferred (rspamd greylist)",
                  {{"client", d.envelope.client_ip},
                   {"from", d.envelope.sender},
                   {"to", recipients_of(d)},
                   {"retry_after", std::to_string(wait.count()) + "s"}});
    return all;
}

} // namespace

boost::asio::awaitable<scan_outcome>
scan_message(const settings& s, const delivery& d, std::string_view prefix,
             filter::message_file file, std::string_view queue_id, const std::string& log_id,
             filter::greylist* greylist) {
    scan_outcome out;
    if ((!s.rspamd.enabled && !s.clamav.enabled) || file.fd < 0) co_return out;
    // Both scanners at once (each reads the file with pread, at its own offset): the message
    // waits for the slower one, not for the sum.
    using namespace boost::asio::experimental::awaitable_operators;
    auto [clamd, rspamd] = co_await (run_clamd(s.clamav, prefix, file, log_id) &&
                                     run_rspamd(s.rspamd, d, prefix, file, queue_id, log_id));
    const bool virus =
        clamd.status == scan_status::done && clamd.reply.status == filter::clamd_reply::kind::found;
    filter::failure_policy policy{s.rspamd.tempfail_on_failure, s.clamav.tempfail_on_failure};
    // A virus decides alone (verdict.hpp): the greylist store is not asked.
    if (greylist && !virus && rspamd.status == scan_status::done &&
        rspamd.answer.action == "greylist")
        policy.greylist_passed = greylist_passed(*greylist, d, log_id);
    auto v = filter::decide(rspamd, clamd, policy);
    if (v.refusal) {
        log::warn("filter", log_id, "refused",
                  {{"client", d.envelope.client_ip},
                   {"from", d.envelope.sender},
                   {"to", recipients_of(d)},
                   {"user", d.auth_user},
                   {"reason", v.reason},
                   {"reply", v.refusal->text()}});
        out.refusal = std::move(v.refusal);
        co_return out;
    }
    out.headers = std::move(v.headers);
    out.edits = std::move(v.edits);
    co_return out;
}

} // namespace splitmail::relay
