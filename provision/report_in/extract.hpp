#pragma once
// From the bytes of one file to the DMARC aggregate reports in it: a bare .xml, a .xml.gz,
// a .zip, or a whole mail (a Maildir file) whose attachments are any of these (mail_parts.hpp).
// The kind is told by content, never by file name: gzip and ZIP by their magic numbers
// (RFC 1952 2.3.1, APPNOTE 4.3.7), XML by a leading "<" (after a byte order mark and white
// space), a mail by a header field on its first line.
//
// Guarantees: pure; each report document found is parsed (aggregate_parse.hpp); whatever
// could not be used is a problem text saying which part and why; a file with neither is
// one problem ("no DMARC report in it: ..."). Decompression is capped (unpack.hpp).
// Does not: read the file (the caller does), de-duplicate, or look into archives inside
// archives (a .zip in a .gz is a problem).
#include "splitmail/dmarc/aggregate_parse.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace splitmail::provision::report_in {

struct found_report {
    std::string where; // "" for the file itself, or the attachment: "attachment \"a.zip\""
    dmarc::report_in::aggregate_report report;
};

struct file_reports {
    std::vector<found_report> reports;
    std::vector<std::string> problems;
};

file_reports extract_reports(std::string_view bytes);

} // namespace splitmail::provision::report_in
