// SASL credential decoding; see plain.hpp.
#include "splitmail/sasl/plain.hpp"

#include "splitmail/smtp/base64.hpp"

#include <string.h>

namespace splitmail::sasl {

namespace {

bool iequal_ascii(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
        if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x + 32);
        if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y + 32);
        if (x != y) return false;
    }
    return true;
}

// Decodes base64 into a buffer that is wiped when this guard goes.
struct decoded {
    std::optional<std::string> bytes;
    explicit decoded(std::string_view b64) : bytes(smtp::decode_base64(b64)) {}
    ~decoded() {
        if (bytes) wipe(*bytes);
    }
};

} // namespace

void wipe(std::string& s) noexcept {
    if (!s.empty()) ::explicit_bzero(s.data(), s.size());
    s.clear();
}

std::expected<credentials, error> parse_plain(std::string_view m) {
    auto n1 = m.find('\0');
    if (n1 == std::string_view::npos) return std::unexpected(error::malformed);
    auto n2 = m.find('\0', n1 + 1);
    if (n2 == std::string_view::npos) return std::unexpected(error::malformed);
    auto authz = m.substr(0, n1);
    auto authc = m.substr(n1 + 1, n2 - n1 - 1);
    auto pass = m.substr(n2 + 1);
    if (authc.empty() || pass.empty() || pass.find('\0') != std::string_view::npos)
        return std::unexpected(error::malformed);
    if (authz.size() > max_user || authc.size() > max_user || pass.size() > max_password)
        return std::unexpected(error::too_long);
    credentials c;
    c.authzid = authz;
    c.authcid = authc;
    c.password = secret(std::string(pass));
    return c;
}

std::expected<credentials, error> decode_plain(std::string_view base64) {
    if (base64 == "=") return std::unexpected(error::malformed); // empty response
    decoded d(base64);
    if (!d.bytes) return std::unexpected(error::bad_base64);
    return parse_plain(*d.bytes);
}

std::expected<credentials, error> decode_user_password(std::string_view base64) {
    decoded d(base64);
    if (!d.bytes) return std::unexpected(error::bad_base64);
    std::string_view m(*d.bytes);
    auto n = m.find('\0');
    if (n == std::string_view::npos) return std::unexpected(error::malformed);
    auto user = m.substr(0, n), pass = m.substr(n + 1);
    if (user.empty() || pass.empty() || pass.find('\0') != std::string_view::npos)
        return std::unexpected(error::malformed);
    if (user.size() > max_user || pass.size() > max_password)
        return std::unexpected(error::too_long);
    credentials c;
    c.authcid = user;
    c.password = secret(std::string(pass));
    return c;
}

std::expected<secret, error> decode_login_step(std::string_view base64) {
    if (base64 == "=") return secret();
    decoded d(base64);
    if (!d.bytes) return std::unexpected(error::bad_base64);
    if (d.bytes->find('\0') != std::string::npos) return std::unexpected(error::malformed);
    if (d.bytes->size() > max_password) return std::unexpected(error::too_long);
    return secret(std::string(*d.bytes));
}

bool authzid_acceptable(std::string_view authzid, std::string_view authcid,
                        std::string_view canonical_user) {
    if (authzid.empty() || iequal_ascii(authzid, authcid)) return true;
    return !canonical_user.empty() && iequal_ascii(authzid, canonical_user);
}

} // namespace splitmail::sasl
