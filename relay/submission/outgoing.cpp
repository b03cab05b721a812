// Prefix headers of outgoing mail (Date, Message-ID, DKIM-Signature); see outgoing.hpp.
#include "submission/outgoing.hpp"

#include "dkim/key.hpp"
#include "dkim/message.hpp"
#include "splitmail/smtp/date.hpp"

#include <openssl/rand.h>

#include <cctype>
#include <cstdio>
#include <ctime>

namespace splitmail::relay {

std::string missing_headers(std::string_view message, std::string_view hostname,
                            std::chrono::system_clock::time_point now, std::string_view author) {
    auto view = dkim::split_message(message);
    bool has_date = false, has_id = false, has_from = false;
    for (const auto& f : dkim::parse_header(view.header)) {
        has_date = has_date || dkim::iequals(f.name, "Date");
        has_id = has_id || dkim::iequals(f.name, "Message-ID");
        has_from = has_from || dkim::iequals(f.name, "From");
    }
    std::string out;
    if (!has_from && !author.empty()) out += "From: <" + std::string(author) + ">\r\n";
    if (!has_date) out += "Date: " + smtp::rfc5322_date(now) + "\r\n";
    if (!has_id) {
        unsigned char rnd[12];
        if (RAND_bytes(rnd, sizeof rnd) != 1) throw std::runtime_error("RAND_bytes failed");
        std::string id;
        char hex[3];
        for (unsigned char c : rnd) {
            std::snprintf(hex, sizeof hex, "%02x", c);
            id += hex;
        }
        auto secs = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch());
        out += "Message-ID: <" + std::to_string(secs.count()) + "." + id + "@" +
               std::string(hostname) + ">\r\n";
    }
    return out;
}

std::optional<std::string> from_domain(std::string_view message) {
    auto view = dkim::split_message(message);
    for (const auto& f : dkim::parse_header(view.header)) {
        if (!dkim::iequals(f.name, "From")) continue;
        std::string_view v = f.raw.substr(f.raw.find(':') + 1);
        // The address is in angle brackets when a display name is present; otherwise the
        // field is the bare addr-spec (RFC 5322 3.4).
        auto lt = v.find('<');
        if (lt != std::string_view::npos) {
            auto gt = v.find('>', lt);
            v = v.substr(lt + 1, gt == std::string_view::npos ? gt : gt - lt - 1);
        }
        auto at = v.rfind('@');
        if (at == std::string_view::npos) return std::nullopt;
        std::string d;
        for (char c : v.substr(at + 1)) {
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' || c == ';' ||
                c == '>' || c == '(')
                break;
            d += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        if (d.empty()) return std::nullopt;
        return d;
    }
    return std::nullopt;
}

std::expected<dkim_keyring, std::string>
dkim_keyring::load(const std::filesystem::path& dir,
                   const std::vector<std::string>& explicit_domains,
                   const std::vector<std::string>& relay_domains,
                   std::vector<std::string>* problems) {
    dkim_keyring k;
    if (dir.empty()) return k;
    const auto& domains = explicit_domains.empty() ? relay_domains : explicit_domains;
    for (const auto& d : domains) {
        auto keys = dkim::load_domain_keys(dir, d);
        if (!keys) {
            if (!explicit_domains.empty())
                return std::unexpected("dkim: " + d + ": " + keys.error());
            if (problems) problems->push_back(d + ": " + keys.error());
            continue;
        }
        k.signers_.emplace(d, std::make_shared<dkim::signer>(std::move(*keys)));
    }
    return k;
}

const dkim::signer* dkim_keyring::for_domain(std::string_view domain) const {
    auto it = signers_.find(domain);
    return it == signers_.end() ? nullptr : it->second.get();
}

std::vector<std::string> dkim_keyring::domains() const {
    std::vector<std::string> out;
    for (const auto& [d, s] : signers_) out.push_back(d);
    return out;
}

} // namespace splitmail::relay
