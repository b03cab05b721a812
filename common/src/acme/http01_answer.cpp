// The pure half of http-01 (see http01.hpp): the answer to a request head and the webroot
// file reader, with the token check. No libcurl: splitmail-relay's port 80 links it from
// splitmail_common (common/CMakeLists.txt), the ACME client from splitmail_desec.
#include "splitmail/acme/crypto.hpp"
#include "splitmail/acme/http01.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace splitmail::acme {

namespace {

constexpr std::string_view prefix = "/.well-known/acme-challenge/";

std::string response(int code, std::string_view reason, std::string_view body, bool head_only,
                     std::string_view extra = {}) {
    std::string out = "HTTP/1.1 " + std::to_string(code) + " " + std::string(reason) + "\r\n";
    out += "Content-Type: " + std::string(code == 200 ? "application/octet-stream" : "text/plain") +
           "\r\n";
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    out += extra;
    out += "Connection: close\r\n\r\n";
    if (!head_only) out += body;
    return out;
}

} // namespace

bool valid_token(std::string_view token) noexcept {
    if (token.empty() || token.size() > 256) return false;
    for (char c : token) {
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok) return false;
    }
    return true;
}

std::string http01_answer(std::string_view head, const std::map<std::string, std::string>& tokens) {
    return http01_answer(head, [&tokens](std::string_view t) -> std::optional<std::string> {
        auto it = tokens.find(std::string(t));
        if (it == tokens.end()) return std::nullopt;
        return it->second;
    });
}

std::string http01_answer(std::string_view head, const token_lookup& lookup) {
    auto eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    auto sp1 = line.find(' ');
    auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp1 == std::string_view::npos || sp2 == std::string_view::npos ||
        !line.substr(sp2 + 1).starts_with("HTTP/1."))
        return response(400, "Bad Request", "bad request\n", false);
    std::string_view method = line.substr(0, sp1);
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    bool head_only = method == "HEAD";
    if (method != "GET" && !head_only)
        return response(405, "Method Not Allowed", "only GET\n", false, "Allow: GET, HEAD\r\n");
    // An absolute-form target (RFC 9112 3.2.2) carries scheme and host first.
    if (target.starts_with("http://")) {
        auto slash = target.find('/', 7);
        target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
    if (!target.starts_with(prefix)) return response(404, "Not Found", "not found\n", head_only);
    std::string_view token = target.substr(prefix.size());
    std::optional<std::string> answer;
    if (valid_token(token)) answer = lookup(token);
    if (!answer) return response(404, "Not Found", "not found\n", head_only);
    return response(200, "OK", *answer, head_only);
}

std::optional<std::string> read_webroot_token(const std::filesystem::path& dir,
                                              std::string_view token) {
    if (!valid_token(token)) return std::nullopt;
    const auto p = dir / std::string(token);
    int fd = ::open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return std::nullopt;
    struct stat st {};
    std::optional<std::string> out;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= 4096) {
        std::string text(static_cast<std::size_t>(st.st_size), '\0');
        std::size_t got = 0;
        while (got < text.size()) {
            ssize_t n = ::read(fd, text.data() + got, text.size() - got);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            got += static_cast<std::size_t>(n);
        }
        text.resize(got);
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' ||
                                 text.back() == '\t'))
            text.pop_back();
        if (!text.empty()) out = std::move(text);
    }
    ::close(fd);
    return out;
}

} // namespace splitmail::acme
