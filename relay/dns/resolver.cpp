// MX resolution with libunbound; see resolver.hpp.
#include "dns/resolver.hpp"

#include "dns/mx.hpp"

#include "splitmail/net/bridge.hpp"

#include <boost/asio/post.hpp>

#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <random>
#include <span>
#include <unbound.h>
#include <unistd.h>

namespace splitmail::relay::dns {

namespace asio = boost::asio;

namespace {
constexpr int type_a = 1, type_mx = 15, type_aaaa = 28, class_in = 1;
constexpr int rcode_servfail = 2;
constexpr std::size_t max_mx_hosts = 10; // plenty; bounds the work for a hostile zone

struct answer {
    bool ok = false; // a usable response (NOERROR or NXDOMAIN)
    bool nxdomain = false;
    std::vector<std::vector<std::uint8_t>> data;
    std::string error;
};

answer to_answer(int err, ub_result* r) {
    answer a;
    if (err != 0) {
        a.error = std::string("resolver: ") + ub_strerror(err);
        if (r) ub_resolve_free(r);
        return a;
    }
    if (r->nxdomain) {
        a.ok = true;
        a.nxdomain = true;
    } else if (r->rcode != 0) {
        a.error = "resolver answered rcode " + std::to_string(r->rcode) +
                  (r->rcode == rcode_servfail ? " (SERVFAIL)" : "");
    } else if (r->bogus) {
        // Only reachable once a trust anchor is configured (DANE work).
        a.error = std::string("DNSSEC validation failed: ") + (r->why_bogus ? r->why_bogus : "");
    } else {
        a.ok = true;
        if (r->havedata)
            for (int i = 0; r->data[i]; ++i)
                a.data.emplace_back(reinterpret_cast<const std::uint8_t*>(r->data[i]),
                                    reinterpret_cast<const std::uint8_t*>(r->data[i]) + r->len[i]);
    }
    ub_resolve_free(r);
    return a;
}

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

std::expected<std::string, std::string> to_unbound_address(const std::string& hp) {
    auto colon = hp.rfind(':');
    if (colon == std::string::npos || colon + 1 == hp.size())
        return std::unexpected("\"" + hp + "\" is not ip:port");
    std::string host = hp.substr(0, colon), port = hp.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    if (host.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
        port.size() > 5 || std::stoi(port) == 0 || std::stoi(port) > 65535)
        return std::unexpected("\"" + hp + "\" is not ip:port");
    return host + "@" + port;
}

std::expected<std::unique_ptr<unbound_resolver>, std::string>
unbound_resolver::create(const resolver_options& opt) {
    ub_ctx* ctx = ub_ctx_create();
    if (!ctx) return std::unexpected("cannot create a libunbound context");
    auto fail = [&](std::string what, int err) {
        ub_ctx_delete(ctx);
        return std::unexpected(what + ": " + ub_strerror(err));
    };
    if (opt.forwarder.empty()) {
        if (int e = ub_ctx_resolvconf(ctx, nullptr); e != 0) return fail("/etc/resolv.conf", e);
    } else {
        auto addr = to_unbound_address(opt.forwarder);
        if (!addr) {
            ub_ctx_delete(ctx);
            return std::unexpected(addr.error());
        }
        if (int e = ub_ctx_set_fwd(ctx, addr->c_str()); e != 0) return fail(opt.forwarder, e);
        // libunbound answers RFC 6761 names (.test among them) itself with NXDOMAIN. With an
        // explicit resolver, that resolver decides about .test (lab setups, the tests).
        if (int e = ub_ctx_set_option(ctx, "local-zone:", "test. transparent"); e != 0)
            return fail("local-zone test. transparent", e);
    }
    // A forwarder on loopback (a local unbound, the tests' server) must be allowed:
    // libunbound refuses to send queries to 127.0.0.0/8 and ::1 by default.
    if (int e = ub_ctx_set_option(ctx, "do-not-query-localhost:", "no"); e != 0)
        return fail("do-not-query-localhost", e);
    // Asynchronous queries in a thread of libunbound's (the default would fork a process).
    if (int e = ub_ctx_async(ctx, 1); e != 0) return fail("libunbound async", e);
    auto st = std::make_unique<async_state>();
    st->ctx = ctx;
    if (::pipe2(st->wake, O_CLOEXEC) != 0) {
        ub_ctx_delete(ctx);
        return std::unexpected(std::string("pipe: ") + std::strerror(errno));
    }
    st->poller = std::thread([p = st.get()] { p->poll_loop(); });
    return std::unique_ptr<unbound_resolver>(new unbound_resolver(ctx, std::move(st), opt.threads));
}

unbound_resolver::unbound_resolver(ub_ctx* ctx, std::unique_ptr<async_state> async,
                                   std::size_t threads)
    : ctx_(ctx), async_(std::move(async)), pool_(std::max<std::size_t>(threads, 1)) {}

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
    ub_ctx_delete(ctx_); // ends libunbound's thread; queries still in it are dropped
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
    if (!mx.ok) {
        out.status = mx_status::temp_error;
        out.error = "MX lookup for " + domain + ": " + mx.error;
        return out;
    }
    if (mx.nxdomain) {
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
            if (!a.ok) {
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
    out.st = !a.ok        ? raw_answer::status::error
             : a.nxdomain ? raw_answer::status::nxdomain
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
