// MX resolution with libunbound; see resolver.hpp.
#include "dns/resolver.hpp"

#include "dns/mx.hpp"

#include "splitmail/net/bridge.hpp"

#include <boost/asio/post.hpp>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <poll.h>
#include <random>
#include <thread>
#include <unbound.h>
#include <unistd.h>

namespace splitmail::relay::dns {

namespace asio = boost::asio;

namespace {
constexpr int type_a = 1, type_mx = 15, type_aaaa = 28, class_in = 1;
constexpr std::size_t max_mx_hosts = 10; // plenty; bounds the work for a hostile zone

using answer = splitmail::dns::result;
using splitmail::dns::status;

answer to_answer(int err, ub_result* r) { return splitmail::dns::take_result(err, r, "resolver"); }

// One caller's query in flight; on_answer() fills it under the state's mutex.
struct waiter {
    unbound_resolver::async_state* st = nullptr;
    bool done = false;
    int err = 0;
    ub_result* result = nullptr;
};

void on_answer(void* data, int err, ub_result* result); // libunbound's callback, below

std::string type_name(int t) { return t == type_a ? "A" : t == type_aaaa ? "AAAA" : "MX"; }
} // namespace

struct unbound_resolver::async_state {
    ub_ctx* ctx = nullptr;
    std::mutex m;
    std::condition_variable cv;
    bool stopping = false;
    int wake[2] = {-1, -1}; // a byte written here ends the poller
    std::thread poller;

    // The poller: libunbound's answers arrive on ub_fd(); ub_process() runs on_answer() for
    // each, here. Ends when `wake` becomes readable.
    void poll_loop() {
        for (;;) {
            pollfd fds[2] = {{ub_fd(ctx), POLLIN, 0}, {wake[0], POLLIN, 0}};
            if (::poll(fds, 2, -1) < 0) {
                if (errno == EINTR) continue;
                return;
            }
            if (fds[1].revents != 0) return;
            if (fds[0].revents != 0) ub_process(ctx);
        }
    }

    // Blocks until the answer is in, or the resolver stops (then the query is cancelled).
    answer query(const std::string& name, int type) {
        waiter w;
        w.st = this;
        int id = 0;
        {
            std::lock_guard lk(m);
            if (stopping) return stopped();
        }
        if (int err = ub_resolve_async(ctx, name.c_str(), type, class_in, &w, &on_answer, &id);
            err != 0)
            return to_answer(err, nullptr);
        std::unique_lock lk(m);
        cv.wait(lk, [&] { return w.done || stopping; });
        if (!w.done) {
            lk.unlock();
            // Cancelled: on_answer() will not run for it. If it cannot be cancelled, its
            // answer is being delivered right now: wait for that (the poller still runs).
            if (ub_cancel(ctx, id) == 0) return stopped();
            lk.lock();
            cv.wait(lk, [&] { return w.done; });
        }
        lk.unlock();
        return to_answer(w.err, w.result);
    }

    static answer stopped() {
        answer a;
        a.error = "resolver: stopped";
        return a;
    }
};

namespace {
void on_answer(void* data, int err, ub_result* result) {
    auto* w = static_cast<waiter*>(data);
    // `w` lives on the asking thread's stack: once `done` is set and the lock released, that
    // thread may wake (the condition variable is shared by every query, so any notify or a
    // spurious wake-up will do), return and end `w`. Nothing of `w` may be read after the
    // unlock: the state it points to outlives every query.
    auto* st = w->st;
    {
        std::lock_guard lk(st->m);
        w->done = true;
        w->err = err;
        w->result = result;
    }
    st->cv.notify_all();
}
} // namespace

std::expected<std::unique_ptr<unbound_resolver>, std::string>
unbound_resolver::create(const resolver_options& opt) {
    auto ctx = splitmail::dns::make_context(opt.forwarder);
    if (!ctx) return std::unexpected(ctx.error());
    auto st = std::make_unique<async_state>();
    st->ctx = ctx->get();
    if (::pipe2(st->wake, O_CLOEXEC) != 0)
        return std::unexpected(std::string("pipe: ") + std::strerror(errno));
    st->poller = std::thread([p = st.get()] { p->poll_loop(); });
    return std::unique_ptr<unbound_resolver>(
        new unbound_resolver(std::move(*ctx), std::move(st), opt.threads));
}

unbound_resolver::unbound_resolver(splitmail::dns::context ctx, std::unique_ptr<async_state> async,
                                   std::size_t threads)
    : ctx_(std::move(ctx)), async_(std::move(async)), pool_(std::max<std::size_t>(threads, 1)) {}

unbound_resolver::~unbound_resolver() {
    {
        std::lock_guard lk(async_->m);
        async_->stopping = true;
    }
    async_->cv.notify_all();
    pool_.join(); // callers waiting on a silent server return at once ("resolver stopped")
    char b = 1;
    while (::write(async_->wake[1], &b, 1) < 0 && errno == EINTR) {}
    async_->poller.join();
    ::close(async_->wake[0]);
    ::close(async_->wake[1]);
    ctx_.reset(); // ends libunbound's thread; queries still in it are dropped
}

mx_answer unbound_resolver::lookup(const std::string& domain_in) {
    mx_answer out;
    std::string domain = domain_in;
    while (!domain.empty() && domain.back() == '.') domain.pop_back();
    if (domain.empty()) {
        out.status = mx_status::no_domain;
        out.error = "empty domain";
        return out;
    }
    auto mx = async_->query(domain, type_mx);
    if (mx.st == status::error) {
        out.status = mx_status::temp_error;
        out.error = "MX lookup for " + domain + ": " + mx.error;
        return out;
    }
    if (mx.st == status::nxdomain) {
        out.status = mx_status::no_domain;
        out.error = "domain " + domain + " does not exist (NXDOMAIN)";
        return out;
    }
    std::vector<mx_record> records;
    for (const auto& d : mx.data)
        if (auto r = parse_mx_rdata(d)) records.push_back(std::move(*r));
    if (is_null_mx(records)) {
        out.status = mx_status::null_mx;
        out.error = "domain " + domain + " accepts no mail (null MX, RFC 7505)";
        return out;
    }
    if (records.empty() && !mx.data.empty()) {
        out.status = mx_status::temp_error;
        out.error = "MX records of " + domain + " are malformed";
        return out;
    }
    if (records.empty()) {
        // RFC 5321 5.1: no MX -> the domain itself, preference 0.
        out.implicit = true;
        records.push_back({0, domain});
    } else {
        thread_local std::mt19937_64 rng(std::random_device{}());
        records = order_mx(std::move(records), rng);
        if (records.empty()) {
            out.status = mx_status::no_address;
            out.error = "MX records of " + domain + " name no host";
            return out;
        }
    }
    if (records.size() > max_mx_hosts) records.resize(max_mx_hosts);
    bool any_temp = false;
    std::string last_error;
    for (const auto& r : records) {
        mx_host h{r.exchange, r.preference, {}};
        for (int t : {type_aaaa, type_a}) {
            auto a = async_->query(r.exchange, t);
            if (a.st == status::error) {
                any_temp = true;
                last_error = type_name(t) + " lookup for " + r.exchange + ": " + a.error;
                continue;
            }
            for (const auto& d : a.data) {
                auto text = t == type_a ? parse_a_rdata(d) : parse_aaaa_rdata(d);
                if (text) h.addresses.push_back(std::move(*text));
            }
        }
        if (h.addresses.empty()) {
            if (last_error.empty()) last_error = "host " + r.exchange + " has no address";
            continue;
        }
        out.hosts.push_back(std::move(h));
    }
    if (!out.hosts.empty()) {
        out.status = mx_status::ok;
        return out;
    }
    out.status = any_temp ? mx_status::temp_error : mx_status::no_address;
    out.error = (out.implicit ? "no MX and no address for " + domain + ": "
                              : "no MX host of " + domain + " has an address: ") +
                last_error;
    return out;
}

unbound_resolver::raw_answer unbound_resolver::query_raw(const std::string& name, int rr_type) {
    auto a = async_->query(name, rr_type);
    raw_answer out;
    out.st = a.st == status::error      ? raw_answer::status::error
             : a.st == status::nxdomain ? raw_answer::status::nxdomain
                                        : raw_answer::status::ok;
    out.data = std::move(a.data);
    out.error = std::move(a.error);
    return out;
}

asio::awaitable<mx_answer> unbound_resolver::resolve_mx(std::string domain) {
    mx_answer out;
    // The frame stays suspended until the callback: capturing locals by reference is safe.
    auto start = [this, &out, &domain](std::function<void(std::error_code)> cb) {
        asio::post(pool_, [this, &out, &domain, cb = std::move(cb)]() {
            out = lookup(domain);
            cb({});
        });
    };
    co_await net::await_callback(start);
    co_return out;
}

} // namespace splitmail::relay::dns
