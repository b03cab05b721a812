// libunbound queries for `splitmail check`; see dns_query.hpp.
#include "check/dns_query.hpp"

#include <poll.h>
#include <unbound.h>

#include <algorithm>
#include <cerrno>

namespace splitmail::provision::check {

namespace {
constexpr int class_in = 1;
} // namespace

std::expected<std::unique_ptr<dns_query>, std::string> dns_query::create(const std::string& fwd,
                                                                         dns_limits limits) {
    // Asynchronous lookups (common/dns), so query() can stop waiting: ub_resolve blocks for as
    // long as libunbound keeps retrying, minutes with a dead resolver.
    auto ctx = splitmail::dns::make_context(fwd);
    if (!ctx) return std::unexpected(ctx.error());
    std::string shown = fwd.empty() ? "the resolvers of /etc/resolv.conf" : "resolver " + fwd;
    return std::unique_ptr<dns_query>(new dns_query(std::move(*ctx), shown, limits));
}

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
    int err = ub_resolve_async(ctx_.get(), name.c_str(), static_cast<int>(type), class_in, &p,
                               on_result, &id);
    while (err == 0 && !p.done) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
        if (left.count() <= 0) break;
        pollfd pfd{ub_fd(ctx_.get()), POLLIN, 0};
        const int n = ::poll(&pfd, 1, static_cast<int>(left.count()) + 1);
        if (n < 0 && errno != EINTR) break;
        if (n > 0) err = ub_process(ctx_.get());
    }
    spent_ += clock::now() - start;
    if (err == 0 && !p.done) {
        ub_cancel(ctx_.get(), id);
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
    auto r = splitmail::dns::take_result(err != 0 ? err : p.err, p.result, resolver_);
    using splitmail::dns::status;
    a.error = std::move(r.error);
    a.status = r.st == status::answer     ? dns_status::answer
               : r.st == status::nodata   ? dns_status::nodata
               : r.st == status::nxdomain ? dns_status::nxdomain
                                          : dns_status::error;
    for (const auto& rd : r.data) {
        if (auto t = rdata_to_text(type, rd)) {
            a.records.push_back(std::move(*t));
        } else {
            a.error = "a " + std::string(to_string(type)) + " record of " + name + " is malformed";
            a.status = dns_status::error;
        }
    }
    return a;
}

} // namespace splitmail::provision::check
