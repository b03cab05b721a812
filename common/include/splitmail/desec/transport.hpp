#pragma once
// The HTTPS transport under the deSEC client, as an interface so the client can be tested
// with scripted answers and the real one (libcurl) can be swapped.
//
// Guarantees (curl transport): TLS peer and host verification are always on and cannot be
// turned off; only https:// URLs are accepted; redirects are not followed (a redirect would
// carry the token elsewhere); every request has a total timeout. Not thread-safe: one
// transport per thread.
// Does not: retry, throttle or interpret statuses (the client and its callers do).
#include <chrono>
#include <expected>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "splitmail/desec/types.hpp"

namespace splitmail::desec {

struct http_request {
    std::string method = "GET";
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    int ip_version = 0; // 0 any, 4 or 6: resolve the host to that family only (checkip)
};

struct http_response {
    int status = 0;
    std::map<std::string, std::string> headers; // names in lower case; last value wins
    std::string body;

    std::string_view header(std::string_view lower_name) const;
};

class transport {
public:
    virtual ~transport() = default;
    // An HTTP answer of any status, or an error of kind network or tls.
    virtual std::expected<http_response, error> perform(const http_request& request) = 0;
};

struct curl_options {
    std::filesystem::path ca_file; // empty: the system trust store
    std::chrono::milliseconds timeout{30000};
    std::string user_agent = "splitmail";
    std::size_t max_body = 16 * 1024 * 1024; // larger answers are a network error
};

std::unique_ptr<transport> make_curl_transport(const curl_options& options);

} // namespace splitmail::desec
