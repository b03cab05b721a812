// Fuzz target: everything splitmail parses from an ACME server (RFC 8555): the directory,
// orders, authorizations, challenges, accounts, problem documents (with their one-line
// description), error responses, Retry-After, RFC 9773 renewal information and certificate ids;
// plus the http-01 request parser, as the CLI's responder and the relay's port 80 use it.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "splitmail/acme/crypto.hpp"
#include "splitmail/acme/http01.hpp"
#include "splitmail/acme/parse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace splitmail;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    (void)acme::parse_directory(text);
    if (auto o = acme::parse_order(text); o && o->error) (void)o->error->describe();
    (void)acme::parse_authorization(text);
    (void)acme::parse_challenge(text);
    (void)acme::parse_account_status(text);
    if (auto p = acme::parse_problem(text)) (void)p->describe();
    for (int status : {400, 429, 503})
        (void)acme::error_from_response("fuzz", status, text, std::nullopt).text();
    (void)acme::parse_retry_after(text, std::chrono::system_clock::time_point{});
    // RFC 9773 renewal information: the window must come back ordered.
    if (auto r = acme::parse_renewal_info(text); r && !(r->start < r->end)) __builtin_trap();
    (void)acme::parse_rfc3339(text);
    (void)acme::ari_cert_id(text);
    static const std::map<std::string, std::string> tokens{{"tok", "tok.thumb"}};
    (void)acme::http01_answer(text, tokens);
    // The relay's port 80 (lookup into http.challenge_dir): only a base64url token is ever
    // looked up, the answer is always an HTTP/1.1 status line, and 200 only for a token found.
    bool asked = false;
    auto answer =
        acme::http01_answer(text, [&asked](std::string_view t) -> std::optional<std::string> {
            if (!acme::valid_token(t)) __builtin_trap();
            asked = true;
            if (t != "tok") return std::nullopt;
            return std::string("tok.thumb");
        });
    if (!answer.starts_with("HTTP/1.1 ")) __builtin_trap();
    if (answer.starts_with("HTTP/1.1 200") && (!asked || !answer.ends_with("tok.thumb")) &&
        !text.starts_with("HEAD "))
        __builtin_trap();
    return 0;
}
