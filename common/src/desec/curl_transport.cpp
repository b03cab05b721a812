// libcurl implementation of desec::transport. One easy handle per transport, reused so the
// TLS connection to the API is kept alive between requests.
#include <cctype>
#include <mutex>

#include <curl/curl.h>

#include "splitmail/desec/transport.hpp"

namespace splitmail::desec {

std::string_view http_response::header(std::string_view lower_name) const {
    auto it = headers.find(std::string(lower_name));
    return it == headers.end() ? std::string_view{} : std::string_view(it->second);
}

namespace {

struct receive_state {
    http_response* response;
    std::size_t max_body;
    bool too_large = false;
};

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
    auto* st = static_cast<receive_state*>(user);
    std::size_t len = size * n;
    if (st->response->body.size() + len > st->max_body) {
        st->too_large = true;
        return 0; // aborts the transfer with CURLE_WRITE_ERROR
    }
    st->response->body.append(data, len);
    return len;
}

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
    auto* st = static_cast<receive_state*>(user);
    std::size_t len = size * n;
    std::string_view line(data, len);
    if (line.starts_with("HTTP/")) {
        st->response->headers.clear(); // a new response (after 1xx): forget earlier headers
        return len;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return len;
    std::string name;
    for (char c : line.substr(0, colon))
        name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
        value.remove_suffix(1);
    st->response->headers[name] = std::string(value);
    return len;
}

error_kind kind_of(CURLcode rc) {
    switch (rc) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE: return error_kind::tls;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT: return error_kind::protocol;
    default: return error_kind::network;
    }
}

class curl_transport final : public transport {
public:
    explicit curl_transport(const curl_options& o) : options_(o) {
        static std::once_flag once;
        std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
        handle_ = curl_easy_init();
    }
    ~curl_transport() override {
        if (handle_) curl_easy_cleanup(handle_);
    }
    curl_transport(const curl_transport&) = delete;
    curl_transport& operator=(const curl_transport&) = delete;

    std::expected<http_response, error> perform(const http_request& req) override {
        if (!handle_)
            return std::unexpected(error{error_kind::network, 0, {}, "curl init failed", {}});
        if (!req.url.starts_with("https://"))
            return std::unexpected(
                error{error_kind::protocol, 0, {}, "refusing a non-https URL: " + req.url, {}});
        CURL* h = handle_;
        curl_easy_reset(h); // keeps the connection cache
        http_response response;
        receive_state st{&response, options_.max_body};
        char errbuf[CURL_ERROR_SIZE] = {0};

        curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        // TLS verification is always on; a test CA replaces the trust store, never disables it.
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
        if (!options_.ca_file.empty())
            curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        auto total = static_cast<long>(options_.timeout.count());
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, total);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, std::min(total, 15000L));
        curl_easy_setopt(h, CURLOPT_USERAGENT, options_.user_agent.c_str());
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &st);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &st);
        if (req.ip_version == 4) curl_easy_setopt(h, CURLOPT_IPRESOLVE, CURL_IPRESOLVE_V4);
        if (req.ip_version == 6) curl_easy_setopt(h, CURLOPT_IPRESOLVE, CURL_IPRESOLVE_V6);

        curl_slist* headers = nullptr;
        for (const auto& [k, v] : req.headers)
            headers = curl_slist_append(headers, (k + ": " + v).c_str());
        headers = curl_slist_append(headers, "Expect:"); // no 100-continue round trip
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);

        if (req.method == "GET") {
            curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        } else {
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
            if (req.method != "DELETE" || !req.body.empty()) {
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.data());
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                                 static_cast<curl_off_t>(req.body.size()));
            }
        }
        CURLcode rc = curl_easy_perform(h);
        curl_slist_free_all(headers);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
        if (rc != CURLE_OK) {
            error e;
            e.kind = st.too_large ? error_kind::network : kind_of(rc);
            e.message = st.too_large ? std::string("answer larger than the limit")
                                     : std::string(curl_easy_strerror(rc));
            if (errbuf[0] != 0 && !st.too_large) e.message += std::string(": ") + errbuf;
            return std::unexpected(std::move(e));
        }
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        response.status = static_cast<int>(status);
        return response;
    }

private:
    curl_options options_;
    CURL* handle_ = nullptr;
};

} // namespace

std::unique_ptr<transport> make_curl_transport(const curl_options& options) {
    return std::make_unique<curl_transport>(options);
}

} // namespace splitmail::desec
