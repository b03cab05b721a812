#pragma once
// The attachments of a report mail that can hold a DMARC aggregate report (RFC 7489 7.2.1.1:
// the report is a MIME part of type application/gzip, application/zip or text/xml; receivers
// also use application/x-gzip, application/x-zip-compressed, application/xml, and
// application/octet-stream with a .xml/.gz/.zip file name).
//
// A small MIME walker for one purpose: RFC 5322 header fields (unfolded), RFC 2045
// Content-Type / Content-Transfer-Encoding / Content-Disposition with their parameters,
// RFC 2046 5.1 multipart bodies split on their boundary lines, message/rfc822 parts (a
// forwarded report) walked as messages. The full MIME parser of the IMAP server
// (homeserver/imap/mime.hpp) is not reachable from provision/ (programs do not include each
// other); the base64 alphabet is common/smtp/base64.hpp's.
//
// Guarantees: pure; any input is walked without error (a part that cannot be decoded becomes
// a problem text, the walk goes on); nesting deeper than `max_nesting` and parts beyond
// `max_parts` are not looked at (each says so in a problem); every byte of the message is
// scanned at most max_nesting + 1 times (linear).
// Does not: decode quoted-printable (a problem says so), RFC 2047 words, RFC 2231 parameter
// continuations (a single "filename*=utf-8''name" value is read), or check signatures.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::provision::report_in {

inline constexpr std::size_t max_nesting = 8;
inline constexpr std::size_t max_parts = 200;

struct mail_part {
    std::string content_type; // lower case, "application/gzip"
    std::string filename;     // from Content-Disposition filename= or Content-Type name=
    std::string data;         // decoded (base64 or as is for 7bit/8bit/binary)
};

struct mail_scan {
    std::vector<mail_part> parts;
    std::vector<std::string> problems;
};

// True when `bytes` starts like an RFC 5322 message: a header field "Name: ..." on line one.
bool looks_like_message(std::string_view bytes);

mail_scan report_parts(std::string_view message);

} // namespace splitmail::provision::report_in
