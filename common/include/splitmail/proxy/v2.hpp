#pragma once
// PROXY protocol version 2 (HAProxy's "The PROXY protocol", section 2.2: the binary header),
// for TCP over IPv4 and IPv6: the relay's IMAP pass-through prefixes each forwarded
// connection with one header naming the real client; home reads it before anything else.
//
// Pure: bytes in, a parsed header, "need more" or an error out. No sockets, no clock.
// Guarantees:
//   - parse() never reads past the header: `need` says exactly how many bytes the header has
//     once its fixed 16-byte part is known, so a driver reading exactly `need` bytes leaves
//     the client's first bytes (a TLS ClientHello) unread in the socket;
//   - a prefix that cannot become a valid signature is an error at once (a client that does
//     not speak PROXY is refused after its first bytes, not after a timeout);
//   - headers longer than max_header are refused (memory per connection is a constant);
//   - TLVs after the addresses are skipped (spec 2.2.7: unknown types are ignored) but their
//     framing is checked.
// Accepted: version 2; LOCAL (spec: the receiver uses the connection's own addresses; any
// family, the address block is skipped); PROXY with AF_INET or AF_INET6 over STREAM.
// Refused: version 1 text headers, PROXY over UDP or UNIX sockets, PROXY with AF_UNSPEC,
// commands other than LOCAL/PROXY, an address block shorter than its family needs.
// Does not: decide whom to trust (see source_policy below and the listeners) or read sockets.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace splitmail::proxy {

// 2.2: "\r\n\r\n\0\r\nQUIT\n"
inline constexpr std::array<unsigned char, 12> signature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                            0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
inline constexpr std::size_t fixed_size = 16;   // signature, ver/cmd, fam/proto, length
inline constexpr std::size_t max_header = 1024; // fixed part + addresses + TLVs we accept

struct endpoint {
    bool v6 = false;
    std::array<unsigned char, 16> addr{}; // first 4 bytes for IPv4, network order
    std::uint16_t port = 0;
    // "192.0.2.7", "2001:db8::1"; an IPv4-mapped IPv6 address is written as IPv4.
    std::string ip_text() const;
};

// "192.0.2.7", "2001:db8::1", "::ffff:192.0.2.7" (becomes IPv4), "[::1]"; nullopt otherwise.
std::optional<endpoint> make_endpoint(std::string_view ip, std::uint16_t port);

enum class command { local, proxy };

struct header {
    command cmd = command::local;
    endpoint source;      // the real client (PROXY only)
    endpoint destination; // the address the client connected to (PROXY only)
};

struct parse_result {
    enum class status { need_more, done, error } st = status::need_more;
    std::size_t need = fixed_size; // need_more: the header's total size as far as known
    header value;                  // done
    std::string_view error;        // error: static text for the log
};

// `data` holds the first bytes of the connection (possibly more than the header: the result
// says how many belong to it: `need` on done).
parse_result parse(std::span<const unsigned char> data);

// A PROXY header for a TCP connection from `source` to `destination`. Mixed families (an IPv4
// client on an IPv6 listener) are written as AF_INET6 with the IPv4 side mapped (::ffff:a.b.c.d).
std::string encode(const endpoint& source, const endpoint& destination);
// A LOCAL header (the sender's own connection, e.g. a health check).
std::string encode_local();

// Who must, may or must not send a header on a listener (pure decision for the drivers).
//   dedicated listener: only trusted sources; each must send a header;
//   shared listener:    trusted sources must send a header, others must not (they are served
//                       as ordinary clients: a header from them is just bytes the protocol
//                       rejects, e.g. a failed TLS handshake).
enum class expectation { refuse, header, none };
expectation source_policy(bool dedicated_listener, bool trusted_source);

} // namespace splitmail::proxy
