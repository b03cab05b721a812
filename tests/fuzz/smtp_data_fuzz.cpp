// Fuzz target: DATA reader. Invariants (abort on violation):
// - output never longer than the input consumed;
// - done only right after the octets CR LF "." CR LF (with the first CRLF allowed to be the
//   virtual one that ended the DATA command), and never earlier than the first such sequence;
// - feeding byte by byte gives the same result as feeding whole;
// - without bare CR/LF and without limit, re-stuffing the output gives back the input.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "splitmail/smtp/data_reader.hpp"

using splitmail::smtp::data_reader;

namespace {
// Offset just past the first CRLF.CRLF of "\r\n" + in, relative to in; npos if none.
std::size_t first_terminator(std::string_view in) {
    std::string framed = "\r\n" + std::string(in);
    auto p = framed.find("\r\n.\r\n");
    if (p == std::string::npos) return std::string::npos;
    return p + 5 - 2;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    std::uint64_t limit = size && data[0] == 'L' ? 16 : 0;

    data_reader whole(limit);
    std::string out_whole;
    auto rw = whole.feed(in, out_whole);

    data_reader bytes(limit);
    std::string out_bytes;
    std::size_t consumed = 0;
    bool done = false;
    for (std::size_t i = 0; i < in.size() && !done; ++i) {
        auto r = bytes.feed(in.substr(i, 1), out_bytes);
        consumed += r.consumed;
        done = r.done;
    }
    if (out_whole.size() > rw.consumed) std::abort();
    if (rw.done != done || rw.consumed != consumed || out_whole != out_bytes) std::abort();
    if (whole.err() != bytes.err() || whole.long_lines() != bytes.long_lines()) std::abort();

    std::size_t term = first_terminator(in);
    if (rw.done) {
        if (term == std::string::npos || rw.consumed < term) std::abort();
        // The consumed input must end with CRLF.CRLF (or be exactly ".\r\n").
        std::string framed = "\r\n" + std::string(in.substr(0, rw.consumed));
        if (framed.size() < 5 || framed.compare(framed.size() - 5, 5, "\r\n.\r\n") != 0)
            std::abort();
    } else {
        if (rw.consumed != in.size()) std::abort();
        // Clean input with a terminator must have finished at the first one.
        if (term != std::string::npos && whole.err() == data_reader::error::none) std::abort();
    }
    if (rw.done && whole.err() == data_reader::error::none) {
        if (rw.consumed != term) std::abort();
        // Re-stuff the output (every line starting with '.' gets another '.') and read it
        // again: the same content must come back, ending exactly at the new terminator.
        // (Not compared with the input: a lone leading dot is removed leniently, RFC 5321 4.5.2.)
        std::string stuffed;
        bool sol = true;
        for (char c : out_whole) {
            if (sol && c == '.') stuffed += '.';
            stuffed += c;
            sol = c == '\n';
        }
        stuffed += ".\r\n";
        data_reader again(0);
        std::string out_again;
        auto ra = again.feed(stuffed, out_again);
        if (!ra.done || ra.consumed != stuffed.size() || out_again != out_whole ||
            again.err() != data_reader::error::none)
            std::abort();
    }
    return 0;
}
