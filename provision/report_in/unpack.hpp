#pragma once
// The containers DMARC aggregate reports travel in (RFC 7489 7.2.1.1: "gzip" is the
// recommended compression; Google and others send .zip): gzip (RFC 1952) and a minimal ZIP
// reader (PKWARE APPNOTE 4.3: end of central directory, central directory, local header) for
// one stored or deflated member, both inflated with zlib.
//
// Guarantees: pure (bytes in, bytes or an error text out); never more than `cap` output bytes
// are produced: a member or stream that would inflate to more is refused ("zip bomb"), and
// a ZIP member whose header declares more is refused before inflating. A ZIP member is
// checked against its declared size and CRC-32. Linear in the input (the end-of-central-
// directory search looks at the last 64 KiB + 22 bytes only; at most `max_zip_entries`
// central directory entries are looked at).
// Does not: read ZIP64, encrypted, multi-disk or non-deflate (bzip2, LZMA...) archives (each is
// an error naming the reason), or more than one member of an archive.
#include <cstddef>
#include <expected>
#include <string>
#include <string_view>

namespace splitmail::provision::report_in {

inline constexpr std::size_t max_decompressed = 64u * 1024 * 1024;
inline constexpr std::size_t max_zip_entries = 1000;

// Inflates gzip data; concatenated gzip members (RFC 1952 2.2) are one stream. Bytes after the
// last member that are not another member are ignored.
std::expected<std::string, std::string> gunzip(std::string_view gz,
                                               std::size_t cap = max_decompressed);

// The content of the first member whose name ends in ".xml" (any case), or of the only member
// when there is one; `name` gets the member's name.
std::expected<std::string, std::string> unzip_report(std::string_view zip, std::string& name,
                                                     std::size_t cap = max_decompressed);

} // namespace splitmail::provision::report_in
