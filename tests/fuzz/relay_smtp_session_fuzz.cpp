// Fuzz target: the relay's SMTP session state machine (relay/smtp_in/session.hpp) on port 25
// and on the submission ports, including AUTH PLAIN/LOGIN decoding (RFC 4954, RFC 4616),
// STARTTLS, pipelining and DATA. A driver stub carries out the actions at once (TLS succeeds,
// the credential "user@example.org"/"secret" is good, "temp" fails temporarily, spooling
// succeeds). Input: a flags byte (submission, implicit TLS, trusted network, strict
// pipelining, STARTTLS offered, chunk size), then the client bytes.
// Invariants (abort on violation):
// - every reply has a code 200..599 and no CR or LF inside its lines (RFC 5321 4.2);
// - nothing comes out after a close action (and the session says it is closed);
// - no open relay: without AUTH and outside trusted networks, a message is only handed over
//   for recipients the checker called local (route home, our domain);
// - submission: a message needs AUTH, its sender is one of the user's addresses, and AUTH is
//   only attempted over TLS with a user name of 1..320 octets;
// - a delivered message has 1..max_recipients recipients, at most max_message_size octets,
//   and only CRLF line ends (no smuggling: bare CR/LF is refused, RFC 5321 2.3.8);
// - while a delivery is outstanding, input produces no reply (the session waits);
// - the message sink sees begin, the header block once, body chunks, then delivery or abort;
//   a delivery's header is at most max_header_size and its size is what the sink received.
#include "smtp_in/session.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

using namespace splitmail;
using namespace splitmail::relay;

namespace {
class checker final : public recipient_checker {
public:
    rcpt_verdict check_recipient(const address::mailbox& r) override {
        if (r.domain == "example.org" || r.domain.empty())
            return r.local == "unknown" ? rcpt_verdict::unknown : rcpt_verdict::local_ok;
        if (r.domain == "tempfail.example") return rcpt_verdict::tempfail;
        return rcpt_verdict::not_local;
    }
};

class tracker final : public rcpt_error_tracker {
public:
    bool over_limit() override { return refused_ >= 30; }
    void refused() override { ++refused_; }

private:
    std::size_t refused_ = 0;
};

bool lower_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

struct driver {
    smtp_session& s;
    memory_sink& sink;
    const session_config& cfg;
    std::string_view pending; // input not fed yet (fed early while a delivery is outstanding)
    bool closed = false;
    bool authenticated = false;
    std::vector<std::string> addresses;

    void check_reply(const smtp::reply& r) {
        if (r.code < 200 || r.code > 599) std::abort();
        for (const auto& l : r.lines)
            if (l.find_first_of("\r\n") != std::string::npos) std::abort();
        auto f = r.format();
        if (f.size() < 2 || f.compare(f.size() - 2, 2, "\r\n") != 0) std::abort();
    }

    void check_delivery(const delivery& d) {
        const auto& env = d.envelope;
        if (env.recipients.empty() || env.recipients.size() > cfg.max_recipients) std::abort();
        // The sink got the message in order (header block once, then the body) and the
        // delivery names exactly its header block and size.
        const std::string& m = sink.message;
        if (sink.contract_broken || !sink.open) std::abort();
        if (m.size() > cfg.max_message_size || d.size != m.size()) std::abort();
        if (d.header.size() > cfg.max_header_size || !m.starts_with(d.header)) std::abort();
        if (sink.header_block != d.header) std::abort();
        for (std::size_t i = 0; i < m.size(); ++i) {
            if (m[i] == '\r' && (i + 1 == m.size() || m[i + 1] != '\n')) std::abort();
            if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r')) std::abort();
        }
        sink.delivered();
        bool may_relay = cfg.relay_allowed || authenticated;
        for (const auto& r : env.recipients) {
            if (may_relay) continue;
            auto at = r.address.rfind('@');
            auto domain = at == std::string::npos ? "" : r.address.substr(at + 1);
            if (r.route != queue::rcpt_route::home) std::abort();
            if (!domain.empty() && !lower_equal(domain, "example.org")) std::abort();
        }
        if (cfg.submission && !cfg.relay_allowed) {
            if (!authenticated || d.auth_user.empty()) std::abort();
            bool own = false;
            for (const auto& a : addresses) own = own || lower_equal(a, env.sender);
            if (!own) std::abort();
        }
    }

    void run(std::vector<action> acts) {
        for (auto& a : acts) {
            if (closed) std::abort(); // nothing after close
            switch (a.type) {
            case action::kind::send: check_reply(a.reply); break;
            case action::kind::close:
                closed = true;
                if (s.current() != state::closed) std::abort();
                break;
            case action::kind::delay: break;
            case action::kind::start_tls:
                if (s.tls_active()) std::abort();
                run(s.tls_started(tls_info{"TLSv1.3", "TLS_AES_256_GCM_SHA384"}));
                break;
            case action::kind::authenticate: {
                if (!cfg.submission || !s.tls_active()) std::abort();
                if (a.user.empty() || a.user.size() > 320) std::abort();
                auth_outcome o;
                if (a.user == "user@example.org" && a.password.view() == "secret") {
                    o.st = auth_outcome::status::ok;
                    o.user = a.user;
                    o.addresses = {"user@example.org", "alias@example.org"};
                } else if (a.password.view() == "temp") {
                    o.st = auth_outcome::status::temporary;
                }
                auto next = s.auth_result(o);
                if (!s.auth_user().empty()) {
                    authenticated = true;
                    addresses = o.addresses;
                }
                run(std::move(next));
                break;
            }
            case action::kind::deliver: {
                if (!a.msg) std::abort();
                check_delivery(*a.msg);
                // The session must wait for delivery_result before answering anything.
                auto early = pending.substr(0, std::min<std::size_t>(pending.size(), 64));
                pending.remove_prefix(early.size());
                if (!s.feed(early).empty()) std::abort();
                run(s.delivery_result(smtp::make_reply(250, "2.0.0", "queued")));
                break;
            }
            }
        }
    }
};
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::uint8_t flags = data[0];
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);

    session_config cfg;
    cfg.hostname = "mx.example.org";
    cfg.max_message_size = 2048;
    cfg.max_recipients = 4;
    cfg.max_line = 512;
    cfg.max_header_size = 300; // small, so the header cap is reached (552 5.3.4)
    cfg.submission = flags & 1;
    cfg.require_tls = cfg.submission;
    cfg.relay_allowed = flags & 4;
    cfg.forbid_improper_pipelining = flags & 8;
    cfg.tls_available = (flags & 16) || cfg.submission;
    cfg.max_junk_commands = 20;
    cfg.rcpt_errors_before_delay = 2;
    cfg.max_rcpt_errors = 6;
    cfg.clock = [] {
        return std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
    };
    tracker net;
    cfg.network = &net;
    checker chk;
    memory_sink sink;
    smtp_session s(cfg, chk, peer_info{"192.0.2.1", "client.example.net"}, sink);
    if (flags & 2) s.tls_on_connect(tls_info{"TLSv1.3", "TLS_AES_128_GCM_SHA256"});

    driver d{s, sink, cfg, in, false, false, {}};
    d.run(s.greet());
    std::size_t chunk = (flags >> 5) == 0 ? in.size() + 1 : (flags >> 5) * 3;
    while (!d.pending.empty() && !d.closed) {
        auto part = d.pending.substr(0, chunk);
        d.pending.remove_prefix(part.size());
        d.run(s.feed(part));
    }
    if (!d.closed) {
        d.run(s.timeout());
        if (!d.closed) std::abort();
    }
    // Every message was delivered or aborted, in order (issue 12: a closed session leaves
    // no message open in its sink).
    if (sink.contract_broken || sink.open) std::abort();
    return 0;
}
