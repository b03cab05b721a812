// The relay's port 80 for ACME http-01; see challenges.hpp.
#include "http/challenges.hpp"

#include "splitmail/acme/http01.hpp"
#include "splitmail/log/log.hpp"

#include <array>
#include <string>

namespace splitmail::relay {

net::asio::awaitable<void> serve_http(net::connection& c, http_options& o) {
    const std::string id = "H" + std::to_string(o.next_id++);
    const auto deadline = net::clock::now() + o.head_timeout;
    std::string head;
    std::array<char, 2048> buf{};
    bool complete = false;
    while (head.size() < http_max_head) {
        const auto left = deadline - net::clock::now();
        if (left <= net::clock::duration::zero()) break;
        std::size_t n = 0;
        try {
            n = co_await c.read_some(buf, left);
        } catch (const boost::system::system_error&) {
            break; // timed out or reset: nothing to answer
        }
        if (n == 0) break;
        head.append(buf.data(), n);
        if (auto end = head.find("\r\n\r\n"); end != std::string::npos) {
            head.resize(end + 4);
            complete = true;
            break;
        }
    }
    if (!complete && head.size() < http_max_head) {
        log::debug("http", id, "request head incomplete; closed",
                   {{"client", c.remote_ip()}, {"octets", head.size()}});
        co_return;
    }
    if (!complete) { // RFC 6585 5: more head than we read
        static constexpr std::string_view too_large =
            "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\n"
            "Content-Length: 15\r\nConnection: close\r\n\r\nhead too large\n";
        log::info("http", id, "request head over 8 KiB; refused",
                  {{"client", c.remote_ip()}, {"status", "431"}});
        co_await c.write(too_large, o.head_timeout);
        co_return;
    }
    // Port 80 of a VPS is scanned all day: requests for anything but a challenge are logged
    // at debug level only, a CA's validations (and what it got) always. A challenge is what
    // http01_answer looks up (GET/HEAD of a valid token under the challenge path).
    bool challenge = false;
    const auto answer = acme::http01_answer(head, [&o, &challenge](std::string_view t) {
        challenge = true;
        return acme::read_webroot_token(o.challenge_dir, t);
    });
    const std::string_view line = std::string_view(head).substr(0, head.find("\r\n"));
    (challenge ? log::info : log::debug)("http", id, "request",
                                         {{"client", c.remote_ip()},
                                          {"request", std::string(line.substr(0, 200))},
                                          {"status", answer.substr(9, 3)}});
    co_await c.write(answer, o.head_timeout);
}

} // namespace splitmail::relay
