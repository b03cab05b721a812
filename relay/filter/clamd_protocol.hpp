#pragma once
// clamd's INSTREAM protocol (clamd(8), "zINSTREAM"), the pure half: the command, the chunk
// length prefix, and the reply.
//
// The client sends "zINSTREAM\0", then chunks each preceded by its length as 4 octets in
// network byte order, then a zero length; clamd answers one NUL-terminated line:
//   "stream: OK", "stream: <signature> FOUND", or "<text> ERROR" (e.g. "INSTREAM size limit
//   exceeded. ERROR" past its StreamMaxLength).
// Guarantees: parse_clamd_reply never throws and returns a signature name of at most 128
// printable ASCII characters without spaces (it goes into an SMTP reply).
// Does not: do any I/O (clamd_client.hpp).
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace splitmail::relay::filter {

// "zINSTREAM" with its NUL terminator.
inline constexpr std::string_view clamd_instream_command{"zINSTREAM\0", 10};

// The 4-octet big-endian length that precedes a chunk (0 ends the stream).
std::array<char, 4> clamd_chunk_length(std::uint32_t n);

struct clamd_reply {
    enum class kind { clean, found, error };
    kind status = kind::error;
    std::string detail; // found: the signature name; error: clamd's text (or ours)
};

// One reply, with or without its trailing NUL / newline.
clamd_reply parse_clamd_reply(std::string_view text);

} // namespace splitmail::relay::filter
