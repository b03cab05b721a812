// deSEC REST client: URL building, pagination, status mapping. See client.hpp.
#include "splitmail/desec/client.hpp"

#include "splitmail/desec/parse.hpp"

namespace splitmail::desec {
namespace {

// Pagination is bounded so a misbehaving server cannot keep us looping.
constexpr int max_pages = 1000;

error protocol_error(std::string text) {
    error e;
    e.kind = error_kind::protocol;
    e.message = std::move(text);
    return e;
}

} // namespace

std::string url_encode(std::string_view text) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        bool unreserved = (u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') ||
                          (u >= '0' && u <= '9') || u == '-' || u == '.' || u == '_' || u == '~';
        if (unreserved) {
            out += c;
        } else {
            out += '%';
            out += hex[u >> 4];
            out += hex[u & 15];
        }
    }
    return out;
}

client::client(client_options options)
    : client(options, std::shared_ptr<transport>(make_curl_transport(
                          curl_options{options.ca_file, options.timeout, options.user_agent}))) {}

client::client(client_options options, std::shared_ptr<transport> t)
    : options_(std::move(options)), transport_(std::move(t)) {
    if (options_.base_url.empty() || options_.base_url.back() != '/') options_.base_url += '/';
}

std::string client::domain_url(std::string_view domain) const {
    return options_.base_url + "domains/" + url_encode(domain) + "/";
}

result<http_response> client::call(std::string_view method, const std::string& url,
                                   std::string body) {
    http_request req;
    req.method = std::string(method);
    req.url = url;
    req.headers.emplace_back("Authorization", "Token " + options_.token);
    req.headers.emplace_back("Accept", "application/json");
    if (method != "GET") req.headers.emplace_back("Content-Type", "application/json");
    req.body = std::move(body);
    ++requests_;
    auto r = transport_->perform(req);
    if (!r) return std::unexpected(r.error());
    if (r->status < 200 || r->status > 299)
        return std::unexpected(parse_error_response(r->status, r->body, r->header("retry-after")));
    return std::move(*r);
}

result<std::vector<domain_info>> client::list_domains() {
    std::vector<domain_info> all;
    std::string url = options_.base_url + "domains/?cursor=";
    for (int page = 0; page < max_pages; ++page) {
        auto r = call("GET", url);
        if (!r) return std::unexpected(r.error());
        auto items = parse_domain_list(r->body);
        if (!items) return std::unexpected(protocol_error("domain list: " + items.error()));
        all.insert(all.end(), items->begin(), items->end());
        auto next = parse_link_next(r->header("link"));
        if (!next) return all;
        if (!next->starts_with(options_.base_url))
            return std::unexpected(protocol_error("pagination link leaves the API base URL"));
        url = *next;
    }
    return std::unexpected(protocol_error("too many pages"));
}

result<domain_info> client::get_domain(std::string_view domain) {
    auto r = call("GET", domain_url(domain));
    if (!r) return std::unexpected(r.error());
    auto d = parse_domain(r->body);
    if (!d) return std::unexpected(protocol_error("domain: " + d.error()));
    return *d;
}

result<std::vector<rrset>> client::list_rrsets(std::string_view domain,
                                               const rrset_filter& filter) {
    // RRsets documentation, "Pagination": with more than 500 matches the cursor parameter is
    // required; an empty cursor asks for the first page, so we always send it.
    std::string url = domain_url(domain) + "rrsets/?cursor=";
    if (filter.subname) url += "&subname=" + url_encode(*filter.subname);
    if (filter.type) url += "&type=" + url_encode(*filter.type);
    std::vector<rrset> all;
    for (int page = 0; page < max_pages; ++page) {
        auto r = call("GET", url);
        if (!r) return std::unexpected(r.error());
        auto items = parse_rrset_list(r->body);
        if (!items) return std::unexpected(protocol_error("RRset list: " + items.error()));
        all.insert(all.end(), items->begin(), items->end());
        auto next = parse_link_next(r->header("link"));
        if (!next) return all;
        if (!next->starts_with(options_.base_url))
            return std::unexpected(protocol_error("pagination link leaves the API base URL"));
        if (*next == url) return std::unexpected(protocol_error("pagination link loops"));
        url = *next;
    }
    return std::unexpected(protocol_error("too many pages"));
}

result<rrset> client::get_rrset(std::string_view domain, std::string_view subname,
                                std::string_view type) {
    // The apex cannot be addressed as "//" (URL normalisation); deSEC reserves "@" for it.
    std::string sub = subname.empty() ? std::string("@") : url_encode(subname);
    auto r = call("GET", domain_url(domain) + "rrsets/" + sub + "/" + url_encode(type) + "/");
    if (!r) return std::unexpected(r.error());
    auto one = parse_rrset(r->body);
    if (!one) return std::unexpected(protocol_error("RRset: " + one.error()));
    return *one;
}

result<std::vector<rrset>> client::bulk(std::string_view method, std::string_view domain,
                                        std::span<const rrset> items) {
    auto r = call(method, domain_url(domain) + "rrsets/", serialize_rrsets(items));
    if (!r) return std::unexpected(r.error());
    // A bulk write that deleted everything it touched may answer with an empty body.
    if (r->status == 204 || r->body.empty()) return std::vector<rrset>{};
    auto stored = parse_rrset_list(r->body);
    if (!stored) return std::unexpected(protocol_error("bulk answer: " + stored.error()));
    return *stored;
}

result<std::vector<rrset>> client::patch_rrsets(std::string_view domain,
                                                std::span<const rrset> items) {
    return bulk("PATCH", domain, items);
}

result<std::vector<rrset>> client::put_rrsets(std::string_view domain,
                                              std::span<const rrset> items) {
    return bulk("PUT", domain, items);
}

result<std::vector<rrset>> client::post_rrsets(std::string_view domain,
                                               std::span<const rrset> items) {
    return bulk("POST", domain, items);
}

} // namespace splitmail::desec
