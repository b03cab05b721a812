// Reading a PROXY v2 header off a connection; see proxy/reader.hpp.
#include "splitmail/proxy/reader.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/system/system_error.hpp>

#include <array>

namespace splitmail::proxy {

net::asio::awaitable<read_result> read_and_apply(net::connection& c, net::clock::duration timeout) {
    read_result out;
    std::array<unsigned char, max_header> buf{};
    std::size_t have = 0;
    const auto deadline = net::clock::now() + timeout;
    for (;;) {
        auto r = parse(std::span<const unsigned char>(buf.data(), have));
        if (r.st == parse_result::status::error) {
            out.error = std::string(r.error);
            co_return out;
        }
        if (r.st == parse_result::status::done) {
            out.value = r.value;
            break;
        }
        // Never ask for more than the header still needs (r.need <= max_header).
        auto left = deadline - net::clock::now();
        if (left <= net::clock::duration::zero()) {
            out.error = "timed out waiting for the PROXY header";
            co_return out;
        }
        std::size_t n = 0;
        try {
            n = co_await c.read_some(
                std::span<char>(reinterpret_cast<char*>(buf.data()) + have, r.need - have), left);
        } catch (const boost::system::system_error& e) {
            out.error = "while reading the PROXY header: " + net::error_text(e);
            co_return out;
        }
        if (n == 0) {
            out.error = have == 0 ? "closed without sending a PROXY header"
                                  : "closed in the middle of the PROXY header";
            co_return out;
        }
        have += n;
    }
    if (out.value.cmd == command::proxy) {
        const auto& s = out.value.source;
        net::asio::ip::address addr;
        if (s.v6) {
            net::asio::ip::address_v6::bytes_type b;
            std::copy(s.addr.begin(), s.addr.end(), b.begin());
            addr = net::asio::ip::address_v6(b);
        } else {
            net::asio::ip::address_v4::bytes_type b;
            std::copy(s.addr.begin(), s.addr.begin() + 4, b.begin());
            addr = net::asio::ip::address_v4(b);
        }
        c.set_remote(net::tcp::endpoint(addr, s.port));
    }
    out.ok = true;
    co_return out;
}

} // namespace splitmail::proxy
