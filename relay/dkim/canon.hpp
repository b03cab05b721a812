#pragma once
// DKIM "relaxed" canonicalization (RFC 6376 3.4.2 header, 3.4.4 body) as pure functions, plus a
// streaming body canonicalizer for messages that are never held in one piece.
//
// Guarantees:
//  - relaxed_header() returns "name:value\r\n": name lower-cased, continuation lines unfolded,
//    WSP runs reduced to one SP, WSP at the end of the value and around the colon removed. The
//    result holds exactly one CRLF, at its end.
//  - relaxed_body() / body_canonicalizer produce the same bytes whatever the chunking: WSP at
//    line ends removed, WSP runs reduced to one SP, empty lines at the end of the body removed,
//    a CRLF added to a last line that lacks one; an empty body (or one of empty lines only)
//    canonicalizes to the null input (RFC 6376 3.4.4; NOT the CRLF of "simple", 3.4.3).
//  - Output never contains a bare CR or a bare LF, and relaxed_body(relaxed_body(x)) ==
//    relaxed_body(x). Messages reaching the relay are CRLF-only (bare CR/LF is refused in DATA);
//    for anything else a bare LF, and a CR not followed by LF, each count as one line end, which
//    is what the message becomes once our SMTP client sends it with CRLF line ends.
//
// Does not: implement "simple" canonicalization (we only sign relaxed/relaxed), hash, or parse
// the header section (see message.hpp).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace splitmail::relay::dkim {

// One header field as it appears in the message, "Name: value" with its continuation lines and
// (optionally) its final line end; returns the canonical "name:value\r\n". A field without a
// colon is treated as a name with an empty value.
std::string relaxed_header(std::string_view field);

// The whole body (the octets after the empty line that ends the header section).
std::string relaxed_body(std::string_view body);

// Incremental form of relaxed_body(): feed any chunking, then finish(). Each call hands the
// canonical bytes it can already decide to `sink` (a callable taking std::string_view); empty
// lines are held back (as a count, not as bytes) until non-empty content follows them.
class body_canonicalizer {
public:
    template <class Sink> void update(std::string_view chunk, Sink&& sink) {
        // Slices bound the output buffer, so a 25 MB chunk is not copied whole.
        constexpr std::size_t slice = 16 * 1024;
        for (std::size_t at = 0; at < chunk.size(); at += slice) {
            out_.clear();
            feed(chunk.substr(at, slice));
            if (!out_.empty()) sink(std::string_view(out_));
        }
    }
    template <class Sink> void finish(Sink&& sink) {
        out_.clear();
        end();
        if (!out_.empty()) sink(std::string_view(out_));
    }
    // Canonical octets emitted so far (what an l= tag would count).
    std::uint64_t emitted() const { return emitted_; }

private:
    void feed(std::string_view chunk);
    void end();
    void end_line();
    void content(char c);

    std::string out_;             // output of the current call
    std::uint64_t emitted_ = 0;   // canonical octets handed out in total
    std::uint64_t held_crlf_ = 0; // empty lines seen since the last content (maybe trailing)
    bool pending_wsp_ = false;    // WSP seen in this line, not yet known to be trailing
    bool line_has_content_ = false;
    bool pending_cr_ = false; // last octet was CR: a following LF belongs to it
};

} // namespace splitmail::relay::dkim
