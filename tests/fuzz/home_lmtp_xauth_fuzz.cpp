// Fuzz target: the private LMTP XAUTH command of the home server (homeserver/lmtp/session.hpp,
// docs/internal/contracts.md): base64(user NUL password) from the relay, checked by a hook at
// once or handed to the driver (defer_auth). Input: a flags byte (bit 0: defer_auth, bit 1:
// say LHLO first), then the client bytes.
// Invariants (abort on violation):
// - a credential reaches the check only as the canonical decoding of an XAUTH argument the
//   client sent: base64(user NUL password) re-encodes to text present in the input, and the
//   user holds no NUL (RFC 4648 4; the first NUL separates user and password);
// - the hook's reply goes out exactly as the hook made it (235 with the address lines);
// - while a deferred check is outstanding the session says nothing, then says its reply;
// - every output line is "ddd" + ' ' or '-' + text + CRLF (RFC 5321 4.2).
#include "lmtp/session.hpp"
#include "splitmail/smtp/base64.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace splitmail;
using namespace splitmail::home::lmtp;

namespace {
std::string_view input;

smtp::reply check_credential(std::string_view user, std::string_view password) {
    if (user.find('\0') != std::string_view::npos) std::abort();
    std::string joined = std::string(user) + '\0' + std::string(password);
    if (input.find(smtp::encode_base64(joined)) == std::string_view::npos) std::abort();
    if (user == "user@example.org" && password == "secret") {
        smtp::reply r = smtp::make_reply(235, "2.7.0", "ok");
        r.lines.push_back("user@example.org");
        r.lines.push_back("alias@example.org");
        return r;
    }
    if (password == "temp") return smtp::make_reply(454, "4.7.0", "try later");
    return smtp::make_reply(535, "5.7.8", "bad credential");
}

void check_output(std::string_view out) {
    while (!out.empty()) {
        auto eol = out.find("\r\n");
        if (eol == std::string_view::npos || eol < 3) std::abort();
        auto line = out.substr(0, eol);
        for (int i = 0; i < 3; ++i)
            if (line[i] < '0' || line[i] > '9') std::abort();
        if (line.size() > 3 && line[3] != ' ' && line[3] != '-') std::abort();
        if (line.find_first_of("\r\n") != std::string_view::npos) std::abort();
        out.remove_prefix(eol + 2);
    }
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    input = in;
    session_options opt;
    opt.max_message_size = 1024;
    opt.max_recipients = 3;
    opt.defer_auth = data[0] & 1;
    session_hooks hooks;
    hooks.resolve = [](const smtp::rcpt_to& r) {
        rcpt_verdict v;
        v.users = {r.recipient.canonical()};
        return v;
    };
    hooks.directory = [] { return std::vector<std::string>{"version 1", "end"}; };
    std::string expected_reply; // the last reply the immediate hook made
    if (!opt.defer_auth)
        hooks.authenticate = [&](std::string_view u, std::string_view p) {
            auto r = check_credential(u, p);
            expected_reply = r.format();
            return r;
        };
    session s(opt, hooks);
    std::string out = s.greeting();
    if (data[0] & 2) s.feed("LHLO relay.example.org\r\n");
    s.feed(in);
    auto adv = [&] {
        expected_reply.clear();
        auto st = s.advance();
        if (!expected_reply.empty() && st.output.find(expected_reply) == std::string::npos)
            std::abort();
        return st;
    };
    auto st = adv();
    for (int i = 0; i < 256; ++i) {
        out += st.output;
        if (st.job) {
            std::vector<smtp::reply> r(st.job->rcpts.size(), smtp::make_reply(250, "2.0.0", "ok"));
            s.delivered(r);
            st = adv();
            continue;
        }
        if (st.auth) {
            if (!opt.defer_auth) std::abort();
            auto r = check_credential(st.auth->user, st.auth->password);
            auto quiet = s.advance(); // the check is outstanding: nothing may be said
            if (!quiet.output.empty() || quiet.job || quiet.auth || quiet.close) std::abort();
            s.authenticated(r);
            st = adv();
            if (!st.output.starts_with(r.format())) std::abort();
            continue;
        }
        if (st.begin || st.discard || !st.body.empty()) { // a streamed message: keep pumping
            st = adv();
            continue;
        }
        if (st.close || st.output.empty()) break;
        st = adv();
    }
    check_output(out);
    return 0;
}
