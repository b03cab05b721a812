// The rspamd and clamd clients; see clients.hpp.
#include "filter/clients.hpp"

#include "splitmail/net/connection.hpp"

#include <array>

namespace splitmail::relay::filter {

namespace asio = boost::asio;

namespace {

constexpr std::size_t max_rspamd_answer = 1 << 20;
constexpr std::size_t max_clamd_reply = 4096;

std::string problem_text(const std::exception& e) {
    if (auto* se = dynamic_cast<const boost::system::system_error*>(&e);
        se && se->code() == asio::error::timed_out)
        return "timeout";
    return net::error_text(e);
}

asio::awaitable<std::expected<rspamd_answer, std::string>>
rspamd_exchange(const scanner_settings& s, const rspamd_request& req, std::string_view prefix,
                message_file file) {
    auto sock = co_await scanner_socket::connect(s.address, s.timeout);
    auto [host, port] = net::split_host_port(s.address);
    // RFC 9110 7.2: an IPv6 literal in Host keeps its brackets.
    const std::string authority = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    const std::string head = rspamd_request_head(req, authority, prefix.size() + file.size);
    co_await sock->write(head);
    co_await sock->write(prefix);
    const std::function<std::string(std::size_t)> raw = [](std::size_t) { return std::string(); };
    co_await sock->write_file(file, raw);
    std::string in;
    std::array<char, 16384> buf;
    bool eof = false;
    for (;;) {
        auto r = parse_http_response(in, eof);
        if (!r) co_return std::unexpected(r.error());
        if (*r) {
            if ((*r)->status != 200)
                co_return std::unexpected("HTTP status " + std::to_string((*r)->status));
            co_return parse_rspamd_answer((*r)->body);
        }
        if (in.size() > max_rspamd_answer) co_return std::unexpected("answer too large");
        auto n = co_await sock->read_some(buf);
        if (n == 0) eof = true;
        in.append(buf.data(), n);
    }
}

asio::awaitable<void> send_instream(scanner_socket& sock, std::string_view prefix,
                                    message_file file) {
    co_await sock.write(clamd_instream_command);
    if (!prefix.empty()) {
        const auto len = clamd_chunk_length(static_cast<std::uint32_t>(prefix.size()));
        co_await sock.write(std::string_view(len.data(), len.size()));
        co_await sock.write(prefix);
    }
    const std::function<std::string(std::size_t)> framed = [](std::size_t n) {
        auto len = clamd_chunk_length(static_cast<std::uint32_t>(n));
        return std::string(len.data(), len.size());
    };
    co_await sock.write_file(file, framed);
    const auto end = clamd_chunk_length(0);
    co_await sock.write(std::string_view(end.data(), end.size()));
}

asio::awaitable<std::expected<clamd_reply, std::string>>
clamd_exchange(const scanner_settings& s, std::string_view prefix, message_file file) {
    auto sock = co_await scanner_socket::connect(s.address, s.timeout);
    bool cut_off = false;
    try {
        co_await send_instream(*sock, prefix, file);
    } catch (const boost::system::system_error& e) {
        // clamd answers and hangs up mid-stream past its StreamMaxLength: read why.
        if (e.code() != asio::error::broken_pipe && e.code() != asio::error::connection_reset)
            throw;
        cut_off = true;
    }
    std::string in;
    std::array<char, 1024> buf;
    // One NUL-terminated line, then clamd closes the connection.
    while (in.find('\0') == std::string::npos && in.size() < max_clamd_reply) {
        auto n = co_await sock->read_some(buf);
        if (n == 0) break;
        in.append(buf.data(), n);
    }
    if (in.empty())
        co_return std::unexpected(cut_off ? "connection closed while sending the message"
                                          : "connection closed without a reply");
    co_return parse_clamd_reply(in.substr(0, in.find('\0')));
}

} // namespace

asio::awaitable<std::expected<rspamd_answer, std::string>> rspamd_check(const scanner_settings& s,
                                                                        const rspamd_request& req,
                                                                        std::string_view prefix,
                                                                        message_file file) {
    std::string problem;
    try {
        co_return co_await rspamd_exchange(s, req, prefix, file);
    } catch (const std::exception& e) {
        problem = problem_text(e);
    }
    co_return std::unexpected(problem);
}

asio::awaitable<std::expected<clamd_reply, std::string>>
clamd_scan(const scanner_settings& s, std::string_view prefix, message_file file) {
    std::string problem;
    try {
        co_return co_await clamd_exchange(s, prefix, file);
    } catch (const std::exception& e) {
        problem = problem_text(e);
    }
    co_return std::unexpected(problem);
}

} // namespace splitmail::relay::filter
