// Fuzz target: the LMTP session state machine fed arbitrary client bytes, split at a point
// chosen by the first input byte. Invariants: no crash; each job has at least one recipient
// and the session asks for delivered() before it reads further; after delivered() the session
// is no longer waiting; with a pairing secret set, no job without the right XSECRET.
#include "lmtp/session.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace splitmail::home::lmtp;
    if (size == 0) return 0;
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    std::size_t split = data[0] % (in.size() + 1);
    session_options opt;
    opt.max_message_size = 4096;
    opt.max_recipients = 5;
    // Odd first byte: the pairing secret is required (XSECRET gates MAIL, XAUTH, XDIRECTORY);
    // no job may come out unless the input holds the right secret.
    const bool gated = data[0] & 1;
    if (gated) opt.relay_secret = "0123456789abcdef0123456789abcdef";
    // Command verbs are case-insensitive (RFC 5321 2.4): "xsecret" opens the gate as well
    // (the first long run found exactly that in an earlier, case-sensitive version of this
    // check: regression_xsecret_lowercase_verb). Searching a lower-cased copy can only say
    // "has the secret" too often, which weakens no check below.
    std::string lower(in);
    for (char& c : lower)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    const bool has_secret =
        lower.find("xsecret 0123456789abcdef0123456789abcdef") != std::string::npos;
    session_hooks hooks;
    hooks.resolve = [](const splitmail::smtp::rcpt_to& r) {
        rcpt_verdict v;
        if (r.recipient.local.size() % 2)
            v.users = {r.recipient.canonical()};
        else
            v.refusal = splitmail::smtp::make_reply(550, "5.1.1", "unknown");
        return v;
    };
    hooks.directory = [] { return std::vector<std::string>{"version 1", "end"}; };
    session s(opt, hooks);
    auto pump = [&] {
        auto st = s.advance();
        while (st.job || st.begin || st.discard || !st.body.empty()) {
            // A message starts only for an accepted envelope, and only past the pairing gate.
            if (st.begin && (st.begin->rcpts.empty() || (gated && !has_secret))) std::abort();
            if (st.begin && (st.job || st.discard)) std::abort(); // a step with begin ends there
            if (st.job && st.discard) std::abort();
            if (!st.job) {
                st = s.advance();
                continue;
            }
            if (st.job->rcpts.empty() || !s.awaiting_delivery()) std::abort();
            if (gated && !has_secret) std::abort();
            std::vector<splitmail::smtp::reply> r(st.job->rcpts.size(),
                                                  splitmail::smtp::make_reply(250, "2.0.0", "ok"));
            s.delivered(r);
            if (s.awaiting_delivery()) std::abort();
            st = s.advance();
        }
    };
    s.feed(in.substr(0, split));
    pump();
    s.feed(in.substr(split));
    pump();
    return 0;
}
