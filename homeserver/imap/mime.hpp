#pragma once
// A small MIME parser for IMAP FETCH (RFC 3501 6.4.5 and 7.4.2, RFC 2045/2046, RFC 5322):
// the part tree of a message (offsets into the original bytes, never copies), header field
// lookup, BODYSTRUCTURE/BODY and ENVELOPE text, and section addressing ("1.2", "HEADER").
//
// Guarantees: any input parses (bad MIME degrades to a text/plain leaf); nesting is capped at
// `max_depth` (deeper parts are leaves); offsets always lie within the message.
// Content-Transfer-Encoding decoding for FETCH BINARY (RFC 3516, RFC 9051 6.4.5) is here too;
// it is tolerant (see decode_base64 / decode_quoted_printable) and never fails on bad input.
// Does not: decode RFC 2047 words (IMAP returns raw values), or follow RFC 2231 parameter
// continuations.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace splitmail::home::imap::mime {

inline constexpr std::size_t max_depth = 20;

struct part {
    std::size_t begin = 0;                        // start of the part's header
    std::size_t body_begin = 0;                   // start of the body (after the blank line)
    std::size_t end = 0;                          // end of the body
    std::string type = "TEXT", subtype = "PLAIN"; // upper case
    std::vector<std::pair<std::string, std::string>> params;
    std::string id, description, encoding = "7BIT", md5, location, language;
    std::string disposition;
    std::vector<std::pair<std::string, std::string>> disposition_params;
    std::vector<part> children; // multipart parts, or the one message/rfc822 message
    bool multipart() const { return type == "MULTIPART"; }
    bool rfc822() const { return type == "MESSAGE" && subtype == "RFC822"; }
};

// Parses a whole message (header + body).
part parse(std::string_view msg);

// The header block of a part, blank line included (RFC 3501 BODY[HEADER]).
std::string_view header_of(std::string_view msg, const part& p);
std::string_view body_of(std::string_view msg, const part& p);

// Unfolded value of the first field `name` (case-insensitive) in a header block.
std::optional<std::string> field(std::string_view header, std::string_view name);
// The unfolded values of every field `name`, in header order (SEARCH HEADER: RFC 3501 6.4.4).
std::vector<std::string> fields(std::string_view header, std::string_view name);
// The fields named (or, with `negate`, not named) in `names`, plus the blank line
// (RFC 3501 BODY[HEADER.FIELDS (...)] / HEADER.FIELDS.NOT). `names` in any order; sorted
// ASCII-case-insensitively they are binary-searched (O(lines x log names)).
std::string select_fields(std::string_view header, const std::vector<std::string>& names,
                          bool negate);

// IMAP "body" (extensible: BODYSTRUCTURE) and "envelope" (RFC 3501 9).
std::string body_structure(std::string_view msg, const part& p, bool extensible);
std::string envelope(std::string_view header);

// The part at "1.2.3" (numbers) below `root`; nullptr if there is none. For a non-multipart
// message, part 1 is the message body itself (RFC 3501 6.4.5).
// A message/rfc822 part's sub-parts are those of the message it encapsulates, so for a
// top-level message/rfc822 part 1 is the whole encapsulated message and 1.1 its body.
const part* find_part(const part& root, const std::vector<unsigned>& path);

// ---- Content-Transfer-Encoding (RFC 2045 6) for BINARY[section] (RFC 3516, RFC 9051 6.4.5).
// Both decoders accept any input and never fail; what they do with garbage is what common
// servers and clients do, so a slightly broken attachment still comes out:
//
// base64 (RFC 2045 6.8): smtp::decode_base64_lax (common/smtp/base64.hpp says what it does
// with characters outside the alphabet, padding inside the data and a trailing partial group).
std::string decode_base64(std::string_view in);
// quoted-printable (RFC 2045 6.7): "=XX" with hex digits of either case is the octet; "=" at
// the end of a line (after optional trailing blanks) is a soft line break; trailing blanks of
// a line are removed (rule 3); line ends (CRLF, bare LF) become CRLF. An "=" not followed by
// two hex digits or a line end is kept literally with what follows (6.7 note 2).
std::string decode_quoted_printable(std::string_view in);
// The decoded content of a leaf part's body for BINARY: nullopt when its encoding is not one
// of 7BIT, 8BIT, BINARY, BASE64, QUOTED-PRINTABLE (the caller answers NO [UNKNOWN-CTE]).
// The octets are returned exactly as decoded, whatever the part's type (RFC 3516 4.2): no
// line-end conversion (quoted-printable line breaks are CRLF by its definition, RFC 2045 6.7).
std::optional<std::string> decoded_body(std::string_view msg, const part& p);

// NUL in BODY[part] (issue 15 item 1; RFC 3501 9: CHAR8 excludes NUL, so no plain literal or
// quoted string may carry it, and IMAP4rev1 has no literal8 outside BINARY): a leaf part with
// an identity encoding (7BIT, 8BIT, BINARY, RFC 2045 6.2) whose body holds NUL is given to
// the client base64-encoded (RFC 2045 6.8: lines of 76 characters joined by CRLF), and
// body_structure describes it that way ("BASE64", the encoded size and line count), so a
// client decoding what BODYSTRUCTURE says gets the stored octets back; BINARY[part] still
// returns them as they are (literal8). nullopt for every other part: it is sent as stored.
// Linear in the part's size.
std::optional<std::string> reencoded_body(std::string_view msg, const part& p);

} // namespace splitmail::home::imap::mime
