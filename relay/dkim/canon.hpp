#pragma once
// DKIM canonicalization: "relaxed" (RFC 6376 3.4.2 header, 3.4.4 body) for signing and
// verifying, "simple" (3.4.1 header, 3.4.3 body) for verifying, as pure functions, plus a
// streaming body canonicalizer (either algorithm) for messages never held in one piece.
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
//  - simple_body() / body_canonicalizer(canon::simple) keep every line as it is and only drop
//    the empty lines at the end; an empty body canonicalizes to one CRLF (RFC 6376 3.4.3).
//    Line ends are read as for relaxed (bare CR / bare LF = a line end; output is CRLF-only).
//  - simple header canonicalization is the field unchanged (RFC 6376 3.4.1): no function.
//
// Does not: hash, or parse the header section (see message.hpp).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace splitmail::relay::dkim {

// c= of a signature, one per part (header/body), RFC 6376 3.4.
enum class canon { simple, relaxed };

// One header field as it appears in the message, "Name: value" with its continuation lines and
// (optionally) its final line end; returns the canonical "name:value\r\n". A field without a
// colon is treated as a name with an empty value.
std::string relaxed_header(std::string_view field);

// The whole body (the octets after the empty line that ends the header section).
std::string relaxed_body(std::string_view body);
std::string simple_body(std::string_view body);

// Incremental form of relaxed_body(): feed any chunking, then finish(). Each call hands the
// canonical bytes it can already decide to `sink` (a callable taking std::string_view); empty
// lines are held back (as a count, not as bytes) until non-empty content follows them.
class body_canonicalizer {
public:
    explicit body_canonicalizer(canon mode = canon::relaxed) : relaxed_(mode == canon::relaxed) {}
    template <class Sink>
    void update(std::string_view chunk, Sink&& sink) {
        // Slices bound the output buffer, so a 25 MB chunk is not copied whole.
        constexpr std::size_t slice = 16 * 1024;
        for (std::size_t at = 0; at < chunk.size(); at += slice) {
            out_.clear();
            feed(chunk.substr(at, slice));
            if (!out_.empty()) sink(std::string_view(out_));
        }
    }
    template <class Sink>
    void finish(Sink&& sink) {
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
    bool relaxed_ = true;     // false: simple (WSP is content, empty body is one CRLF)
};

} // namespace splitmail::relay::dkim
