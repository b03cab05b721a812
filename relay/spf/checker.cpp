// SPF with libunbound and a deadline; see checker.hpp.
#include "spf/checker.hpp"

#include "dns/mx.hpp"

#include "splitmail/dns/rdata.hpp"

#include "splitmail/net/bridge.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <ctime>
#include <mutex>

namespace splitmail::relay {

namespace asio = boost::asio;

spf::dns_answer unbound_spf_dns::query(std::string_view name_in, spf::rr_type type) {
    using spf::dns_status;
    if (std::chrono::steady_clock::now() >= deadline_) return {dns_status::temp_error, {}};
    std::string name(name_in);
    while (!name.empty() && name.back() == '.') name.pop_back();
    // A name DNS cannot carry (RFC 1035 2.3.4) cannot exist.
    if (name.empty() || name.size() > 253) return {dns_status::nxdomain, {}};
    for (std::size_t start = 0;;) {
        auto dot = name.find('.', start);
        std::size_t len = (dot == std::string::npos ? name.size() : dot) - start;
        if (len == 0 || len > 63) return {dns_status::nxdomain, {}};
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    constexpr int t_a = 1, t_ptr = 12, t_mx = 15, t_txt = 16, t_aaaa = 28;
    int t = type == spf::rr_type::a      ? t_a
            : type == spf::rr_type::aaaa ? t_aaaa
            : type == spf::rr_type::mx   ? t_mx
            : type == spf::rr_type::txt  ? t_txt
                                         : t_ptr;
    auto raw = resolver_.query_raw(name, t);
    using st = dns::unbound_resolver::raw_answer::status;
    if (raw.st == st::error) return {dns_status::temp_error, {}};
    if (raw.st == st::nxdomain) return {dns_status::nxdomain, {}};
    spf::dns_answer out{dns_status::ok, {}};
    for (const auto& d : raw.data) {
        std::optional<std::string> v;
        switch (type) {
        case spf::rr_type::a: v = dns::parse_a_rdata(d); break;
        case spf::rr_type::aaaa: v = dns::parse_aaaa_rdata(d); break;
        case spf::rr_type::mx:
            if (auto mx = dns::parse_mx_rdata(d)) v = mx->exchange;
            break;
        case spf::rr_type::txt: v = splitmail::dns::txt_joined(d); break;
        case spf::rr_type::ptr: v = dns::parse_wire_name(d); break;
        }
        if (v) out.records.push_back(std::move(*v));
    }
    if (out.records.empty()) out.status = dns_status::no_data;
    return out;
}

asio::awaitable<spf::evaluation> spf_checker::check(std::string client_ip, std::string mail_from,
                                                    std::string helo) {
    auto ip = spf::parse_ip(client_ip);
    if (!ip) {
        spf::evaluation e;
        e.code = spf::result::permerror;
        e.problem = "client address \"" + client_ip + "\" is not an IP address";
        co_return e;
    }
    // Shared with the pool job and the timer: whichever finishes first completes the wait.
    struct state {
        std::mutex m;
        bool done = false;
        spf::evaluation result;
        std::function<void(std::error_code)> cb;
    };
    auto st = std::make_shared<state>();
    auto finish = [st](spf::evaluation ev) {
        std::function<void(std::error_code)> cb;
        {
            std::lock_guard lock(st->m);
            if (st->done) return;
            st->done = true;
            st->result = std::move(ev);
            cb = std::move(st->cb);
        }
        cb({});
    };
    auto deadline = std::chrono::steady_clock::now() + timeout_;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_at(deadline);
    spf::options opt;
    opt.receiver = receiver_;
    opt.now = static_cast<std::uint64_t>(std::time(nullptr));
    auto start = [&](std::function<void(std::error_code)> cb) {
        st->cb = std::move(cb);
        // The job owns copies of everything it reads: it may outlive this frame.
        asio::post(resolver_.pool(),
                   [finish, &resolver = resolver_, deadline, ip = *ip, mail_from, helo, opt]() {
                       unbound_spf_dns dns(resolver, deadline);
                       finish(spf::check_mail_from(dns, ip, mail_from, helo, opt));
                   });
        timer.async_wait([finish, mail_from, helo](std::error_code ec) {
            if (ec) return; // cancelled: the evaluation finished first
            spf::evaluation e;
            e.code = spf::result::temperror;
            e.problem = "SPF evaluation timed out";
            e.domain = mail_from.empty() ? helo : mail_from.substr(mail_from.rfind('@') + 1);
            finish(std::move(e));
        });
    };
    co_await net::await_callback(start);
    timer.cancel();
    std::lock_guard lock(st->m);
    co_return st->result;
}

} // namespace splitmail::relay
