#pragma once
// Test helper for scripted scanners on loopback: reads one HTTP request (head and a
// Content-Length body) from a socket. Shared by the rspamd stand-ins of the filter tests.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <string>
#include <utility>

namespace splitmail::test {

// {head (through the empty line), body}. Throws on a closed connection.
inline boost::asio::awaitable<std::pair<std::string, std::string>>
read_http_request(boost::asio::ip::tcp::socket& s) {
    namespace asio = boost::asio;
    std::string in;
    char tmp[4096];
    while (in.find("\r\n\r\n") == std::string::npos) {
        auto n = co_await s.async_read_some(asio::buffer(tmp), asio::use_awaitable);
        in.append(tmp, n);
    }
    const auto end = in.find("\r\n\r\n") + 4;
    std::string head = in.substr(0, end), body = in.substr(end);
    const auto cl = head.find("Content-Length: ");
    const std::size_t len = cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 16));
    while (body.size() < len) {
        auto n = co_await s.async_read_some(asio::buffer(tmp), asio::use_awaitable);
        body.append(tmp, n);
    }
    co_return std::pair{std::move(head), std::move(body)};
}

} // namespace splitmail::test
