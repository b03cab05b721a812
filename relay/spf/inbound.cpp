// The SPF step of inbound mail; see inbound.hpp.
#include "spf/inbound.hpp"

#include "splitmail/log/log.hpp"
#include "splitmail/spf/received_spf.hpp"

namespace splitmail::relay {

boost::asio::awaitable<std::optional<inbound_spf>>
inbound_spf_check(spf_checker* checker, const delivery& d, std::string log_id) {
    if (!checker || d.outgoing) co_return std::nullopt;
    const auto& env = d.envelope;
    auto ev = co_await checker->check(env.client_ip, env.sender, env.client_helo);
    log::info("spf", log_id, "checked",
              {{"result", std::string(spf::to_string(ev.code))},
               {"identity", env.sender.empty() ? "helo" : "mailfrom"},
               {"domain", ev.domain},
               {"client", env.client_ip},
               {"mechanism", ev.mechanism},
               {"problem", ev.problem}});
    spf::received_spf_input in;
    in.receiver = checker->receiver();
    in.client_ip = env.client_ip;
    in.envelope_from = env.sender;
    in.helo = env.client_helo;
    in.helo_identity = env.sender.empty();
    inbound_spf out;
    out.field = spf::received_spf_header(ev, in);
    out.helo_identity = in.helo_identity;
    out.ev = std::move(ev);
    co_return out;
}

boost::asio::awaitable<std::string> inbound_spf_field(spf_checker* checker, const delivery& d,
                                                      std::string log_id) {
    auto r = co_await inbound_spf_check(checker, d, std::move(log_id));
    co_return r ? std::move(r->field) : std::string();
}

} // namespace splitmail::relay
