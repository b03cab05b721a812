#pragma once
// deSEC REST API client: domains and RRsets (read, bulk POST/PATCH/PUT), shared by
// splitmail-ddns and the admin CLI (`dns plan/apply`).
//
// Guarantees: one call is one logical operation; list calls follow cursor pagination
// (always sending `cursor=` so a growing zone never turns a read into "400 Pagination
// required") and only follow Link URLs under the configured base URL, so the token never
// leaves for another host. Failures are values: a 429 comes back as error_kind::throttled with
// retry_after set, 401/403/404 as their own kinds, a bulk 400 with the per-item error list.
// The token is sent only in the Authorization header and never appears in error messages.
// Does not: retry, sleep or rate-limit (callers decide; see ddns/rate_limiter.hpp).
// Not thread-safe: one client per thread.
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "splitmail/desec/transport.hpp"
#include "splitmail/desec/types.hpp"

namespace splitmail::desec {

inline constexpr std::string_view default_base_url = "https://desec.io/api/v1/";
inline constexpr std::uint32_t max_ttl = 86400; // deSEC's upper TTL bound

struct client_options {
    std::string base_url{default_base_url}; // a trailing '/' is added if missing
    std::string token;                      // secret
    std::filesystem::path ca_file;          // empty: system trust store
    std::chrono::milliseconds timeout{30000};
    std::string user_agent = "splitmail";
};

struct rrset_filter {
    std::optional<std::string> subname; // "" selects the apex
    std::optional<std::string> type;
};

class client {
public:
    explicit client(client_options options); // libcurl transport
    client(client_options options, std::shared_ptr<transport> transport);

    result<std::vector<domain_info>> list_domains();
    result<domain_info> get_domain(std::string_view domain);
    result<std::vector<rrset>> list_rrsets(std::string_view domain,
                                           const rrset_filter& filter = {});
    // Single RRset (subname "" is sent as "@"); not_found when it does not exist.
    result<rrset> get_rrset(std::string_view domain, std::string_view subname,
                            std::string_view type);

    // Bulk writes, atomic on the server. Answer: the RRsets as stored (deleted ones omitted).
    result<std::vector<rrset>> patch_rrsets(std::string_view domain, std::span<const rrset> items);
    result<std::vector<rrset>> put_rrsets(std::string_view domain, std::span<const rrset> items);
    result<std::vector<rrset>> post_rrsets(std::string_view domain, std::span<const rrset> items);

    const std::string& base_url() const noexcept { return options_.base_url; }
    std::size_t requests_made() const noexcept { return requests_; }

private:
    result<http_response> call(std::string_view method, const std::string& url,
                               std::string body = {});
    result<std::vector<rrset>> bulk(std::string_view method, std::string_view domain,
                                    std::span<const rrset> items);
    std::string domain_url(std::string_view domain) const;

    client_options options_;
    std::shared_ptr<transport> transport_;
    std::size_t requests_ = 0;
};

// Percent-encode a URL path segment or query value (RFC 3986 2.3: unreserved kept).
std::string url_encode(std::string_view text);

} // namespace splitmail::desec
