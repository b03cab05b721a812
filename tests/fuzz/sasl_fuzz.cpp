// Fuzz target: common/sasl, the one decoder of PLAIN, LOGIN steps and XAUTH credentials for
// every login path (relay AUTH, IMAP AUTHENTICATE, LMTP XAUTH). Invariants (abort on
// violation):
// - a PLAIN message that parses rebuilds to exactly the input (authzid NUL authcid NUL
//   password), with no NUL inside a field, authcid and password not empty, all within caps;
// - decode_plain / decode_user_password agree with the raw parsers on the decoded bytes;
// - the authzid rule is reflexive (a user may name itself, in any ASCII case) and never lets
//   one name act as a different one.
#include "splitmail/sasl/plain.hpp"
#include "splitmail/smtp/base64.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace splitmail::sasl;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);

    if (auto c = parse_plain(in)) {
        std::string rebuilt = c->authzid + '\0' + c->authcid + '\0' + c->password.str();
        if (rebuilt != in) std::abort();
        if (c->authcid.empty() || c->password.empty()) std::abort();
        if (c->authzid.find('\0') != std::string::npos ||
            c->authcid.find('\0') != std::string::npos ||
            c->password.view().find('\0') != std::string_view::npos)
            std::abort();
        if (c->authcid.size() > max_user || c->authzid.size() > max_user ||
            c->password.size() > max_password)
            std::abort();
        if (!authzid_acceptable(c->authcid, c->authcid)) std::abort();
        if (!c->authzid.empty() && authzid_acceptable(c->authzid, c->authcid)) {
            // Accepted only when the two are the same name up to ASCII case.
            if (c->authzid.size() != c->authcid.size()) std::abort();
        }
    }

    // The input as a client's base64 line.
    auto decoded = splitmail::smtp::decode_base64(in);
    auto p = decode_plain(in);
    if (!decoded) {
        if (in != "=" && (p || p.error() != error::bad_base64)) std::abort();
    } else if (in != "=") {
        auto direct = parse_plain(*decoded);
        if (p.has_value() != direct.has_value()) std::abort();
        if (p && (p->authcid != direct->authcid || p->password.view() != direct->password.view()))
            std::abort();
    }
    if (auto x = decode_user_password(in)) {
        if (!decoded) std::abort();
        if (*decoded != x->authcid + '\0' + x->password.str()) std::abort();
    }
    if (auto l = decode_login_step(in)) {
        if (in != "=" && (!decoded || *decoded != l->str())) std::abort();
        if (l->view().find('\0') != std::string_view::npos) std::abort();
    }
    return 0;
}
