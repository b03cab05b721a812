// DKIM signer; see signer.hpp.
#include "dkim/signer.hpp"
#include "splitmail/net/openssl_error.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <memory>

namespace splitmail::relay::dkim {

namespace {
// RFC 5322 2.1.1: lines SHOULD be at most 78 characters; we stay below with room to spare.
constexpr std::size_t max_line = 76;

using splitmail::net::openssl_error;

// Builds a folded field: pieces go on the current line while they fit, else on a new
// continuation line (CRLF SP: FWS, which relaxed canonicalization and the tag-list grammar of
// RFC 6376 3.2 both allow between tags and around ':' in h=).
class folder {
public:
    explicit folder(std::string start) : out_(std::move(start)), col_(out_.size()) {}
    // `spaced`: a SP separates the piece from the previous one when they share a line.
    void add(std::string_view piece, bool spaced) {
        const std::size_t need = piece.size() + (spaced ? 1 : 0);
        if (col_ + need > max_line && col_ > 1) {
            out_ += "\r\n ";
            col_ = 1;
        } else if (spaced) {
            out_ += ' ';
            ++col_;
        }
        out_ += piece;
        col_ += piece.size();
    }
    void new_line() {
        out_ += "\r\n ";
        col_ = 1;
    }
    std::size_t column() const { return col_; }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
    std::size_t col_;
};
} // namespace

std::string base64(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()),
                                  static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::string signature_field_without_b(const signature_tags& t) {
    folder f("DKIM-Signature:");
    f.add("v=1;", true);
    f.add("a=" + std::string(algorithm_name(t.alg)) + ";", true);
    f.add("c=relaxed/relaxed;", true);
    f.add("d=" + t.domain + ";", true);
    f.add("s=" + t.selector + ";", true);
    f.add("t=" + std::to_string(t.timestamp) + ";", true);
    for (std::size_t i = 0; i < t.signed_headers.size(); ++i) {
        std::string piece = (i == 0 ? "h=" : "") + t.signed_headers[i];
        piece += i + 1 == t.signed_headers.size() ? ";" : ":";
        f.add(piece, i == 0);
    }
    const std::string_view bh(reinterpret_cast<const char*>(t.body_hash.data()),
                              t.body_hash.size());
    f.add("bh=" + base64(bh) + ";", true);
    // b= starts a line of its own so its value can be folded freely after it.
    f.new_line();
    f.add("b=", false);
    return f.take();
}

std::string complete_signature_field(std::string field_without_b, std::string_view b64) {
    // Column of "b=" end: the last line of field_without_b is " b=".
    const auto last_nl = field_without_b.rfind('\n');
    std::size_t col = field_without_b.size() - (last_nl == std::string::npos ? 0 : last_nl + 1);
    std::string out = std::move(field_without_b);
    std::size_t at = 0;
    while (at < b64.size()) {
        if (col >= max_line) {
            out += "\r\n "; // RFC 6376 3.5: FWS is allowed inside the base64 of b=
            col = 1;
        }
        const std::size_t n = std::min(max_line - col, b64.size() - at);
        out.append(b64.substr(at, n));
        at += n;
        col += n;
    }
    out += "\r\n";
    return out;
}

std::expected<std::string, std::string> sign_data(const signing_key& key, std::string_view data) {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    if (!ctx || !key.pkey) return std::unexpected("DKIM: no signing context or key");
    std::string input;
    const EVP_MD* md = nullptr;
    if (key.alg == algorithm::rsa_sha256) {
        md = EVP_sha256(); // RFC 6376 3.3.1: RSASSA-PKCS1-v1_5 (the default padding) + SHA-256
        input = std::string(data);
    } else {
        // RFC 8463 3: Ed25519 (PureEdDSA, no pre-hash mode of its own) signs the SHA-256 hash.
        unsigned char h[32];
        unsigned int len = 0;
        if (EVP_Digest(data.data(), data.size(), h, &len, EVP_sha256(), nullptr) != 1)
            return std::unexpected("DKIM: SHA-256 failed: " + openssl_error());
        input.assign(reinterpret_cast<const char*>(h), len);
    }
    if (EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key.pkey.get()) != 1)
        return std::unexpected("DKIM: cannot sign with " + key.file.string() + ": " +
                               openssl_error());
    const auto* in = reinterpret_cast<const unsigned char*>(input.data());
    std::size_t len = 0;
    if (EVP_DigestSign(ctx.get(), nullptr, &len, in, input.size()) != 1)
        return std::unexpected("DKIM: signing failed: " + openssl_error());
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in,
                       input.size()) != 1)
        return std::unexpected("DKIM: signing failed: " + openssl_error());
    sig.resize(len);
    return sig;
}

signer::signer(std::vector<signing_key> keys) : keys_(std::move(keys)) {
    std::stable_partition(keys_.begin(), keys_.end(),
                          [](const signing_key& k) { return k.alg == algorithm::rsa_sha256; });
}

std::expected<std::string, std::string> signer::sign(std::string_view message,
                                                     std::int64_t timestamp) const {
    const message_view m = split_message(message);
    return sign_header(m.header, body_hash(m.body), timestamp);
}

std::expected<std::string, std::string> signer::sign_header(std::string_view header_section,
                                                            const sha256_digest& bh,
                                                            std::int64_t timestamp) const {
    if (keys_.empty()) return std::unexpected("DKIM: no signing key");
    const std::vector<header_field> fields = parse_header(header_section);
    auto h = headers_to_sign(fields);
    if (!h) return std::unexpected("DKIM: message has no From: header field");
    std::string out;
    for (const auto& key : keys_) {
        signature_tags tags{key.alg, key.domain, key.selector, timestamp, *h, bh};
        std::string field = signature_field_without_b(tags);
        auto sig = sign_data(key, header_hash_input(fields, *h, field));
        if (!sig) return std::unexpected(sig.error());
        out += complete_signature_field(std::move(field), base64(*sig));
    }
    return out;
}

} // namespace splitmail::relay::dkim
