// Reports in files and mails (provision/report_in/extract.hpp, mail_parts.hpp): bare XML,
// gzip, a Python-made zip, a Python-made mail with a base64 gzip attachment, mails built here
// (zip + text/xml attachments, forwarded report, octet-stream), and what is skipped and why.
#include "report_in/extract.hpp"
#include "report_in/mail_parts.hpp"

#include "splitmail/smtp/base64.hpp"

#include <gtest/gtest.h>

#include "support/test_data.hpp"
#include <zlib.h>

#include <fstream>
#include <sstream>

using namespace splitmail::provision::report_in;

namespace {

std::string data_file(const std::string& name) {
    return splitmail::test::test_data("dmarc_report_in/" + name);
}

std::string gzip_of(std::string_view in) {
    z_stream zs{};
    EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, 16 + 15, 9, Z_DEFAULT_STRATEGY), Z_OK);
    std::string out(deflateBound(&zs, static_cast<uLong>(in.size())) + 64, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

// base64 in 76-character lines (RFC 2045 6.8).
std::string b64_lines(std::string_view data) {
    std::string b = splitmail::smtp::encode_base64(data), out;
    for (std::size_t i = 0; i < b.size(); i += 76) out += b.substr(i, 76) + "\r\n";
    return out;
}

std::string joined(const std::vector<std::string>& v) {
    std::string o;
    for (auto& s : v) o += s + "\n";
    return o;
}

TEST(ReportInExtract, BareXmlGzipAndZip) {
    for (auto bytes :
         {data_file("google.xml"), gzip_of(data_file("google.xml")), data_file("google.zip")}) {
        auto f = extract_reports(bytes);
        ASSERT_EQ(f.reports.size(), 1u) << joined(f.problems);
        EXPECT_TRUE(f.problems.empty()) << joined(f.problems);
        EXPECT_EQ(f.reports[0].report.org_name, "google.com");
        EXPECT_EQ(f.reports[0].report.records.size(), 3u);
    }
    auto z = extract_reports(data_file("google.zip"));
    EXPECT_EQ(z.reports.at(0).where,
              "zip member \"google.com!example.org!1764979200!1765065599.xml\"");
}

TEST(ReportInExtract, PythonMadeMailWithBase64Gzip) {
    auto f = extract_reports(data_file("outlook.eml"));
    ASSERT_EQ(f.reports.size(), 1u) << joined(f.problems);
    EXPECT_TRUE(f.problems.empty()) << joined(f.problems);
    EXPECT_EQ(f.reports[0].report.org_name, "Enterprise Outlook");
    EXPECT_EQ(f.reports[0].where, "attachment application/gzip");
    EXPECT_EQ(f.reports[0].report.records.at(1).count, 40u);
}

std::string mail(const std::string& parts, const std::string& boundary = "b1") {
    return "From: noreply-dmarc-support@google.com\r\nTo: dmarc@example.org\r\n"
           "Subject: Report domain: example.org\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed;\r\n\tboundary=\"" +
           boundary + "\"\r\n\r\npreamble\r\n" + parts + "--" + boundary + "--\r\nepilogue\r\n";
}
std::string part(const std::string& type, const std::string& headers, const std::string& body,
                 const std::string& boundary = "b1") {
    return "--" + boundary + "\r\nContent-Type: " + type + "\r\n" + headers + "\r\n" + body +
           "\r\n";
}

TEST(ReportInExtract, MailWithZipAndXmlAttachments) {
    std::string m =
        mail(part("text/plain", "", "Here is your report.") +
             part("application/zip; name=\"g.zip\"",
                  "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; "
                  "filename=\"google.com!example.org!1764979200!1765065599.zip\"\r\n",
                  b64_lines(data_file("google.zip"))) +
             part("text/xml", "Content-Transfer-Encoding: 7bit\r\n", data_file("outlook.xml")));
    auto f = extract_reports(m);
    ASSERT_EQ(f.reports.size(), 2u) << joined(f.problems);
    EXPECT_TRUE(f.problems.empty()) << joined(f.problems);
    EXPECT_EQ(f.reports[0].where,
              "attachment application/zip \"google.com!example.org!1764979200!1765065599.zip\": "
              "zip member \"google.com!example.org!1764979200!1765065599.xml\"");
    EXPECT_EQ(f.reports[1].report.org_name, "Enterprise Outlook");
}

TEST(ReportInExtract, ForwardedReportAndOctetStreamAndBareLf) {
    std::string inner = "From: a@b\nContent-Type: application/octet-stream; name=r.xml.gz\n"
                        "Content-Transfer-Encoding: base64\n\n" +
                        b64_lines(gzip_of(data_file("google.xml")));
    std::string m = "From: me@example.org\nContent-Type: multipart/mixed; boundary=x\n\n"
                    "--x\nContent-Type: message/rfc822\n\n" +
                    inner + "\n--x--\n";
    auto f = extract_reports(m);
    ASSERT_EQ(f.reports.size(), 1u) << joined(f.problems);
    EXPECT_EQ(f.reports[0].where, "attachment application/octet-stream \"r.xml.gz\"");
    // An octet-stream without a report name is not looked at.
    auto g = extract_reports("From: a@b\nContent-Type: application/octet-stream\n\nxx\n");
    EXPECT_TRUE(g.reports.empty());
    EXPECT_NE(joined(g.problems).find("a mail without an XML, gzip or zip attachment"),
              std::string::npos);
}

TEST(ReportInExtract, SaysWhyNothingWasUsed) {
    struct row {
        std::string bytes, says;
    } rows[] = {
        {"hello world\n", "neither a mail, XML, gzip nor zip"},
        {"", "neither a mail, XML, gzip nor zip"},
        {"From: a@b\r\nSubject: hi\r\n\r\nno attachment\r\n",
         "a mail without an XML, gzip or zip attachment"},
        {data_file("malformed.xml"), "XML: offset"},
        {gzip_of("just text"), "the decompressed content is not XML"},
        {gzip_of(data_file("malformed.xml")), "does not close <record>"},
        {std::string("\x1f\x8b\x08\x00", 4), "gzip: "},
        {"PK\x03\x04garbage", "zip: "},
        {"From: a@b\r\nContent-Type: multipart/mixed\r\n\r\nx\r\n", "without a boundary"},
        {mail(part("application/gzip", "Content-Transfer-Encoding: base64\r\n", "QQ\r\nQ\r\n")),
         "attachment application/gzip: neither XML, gzip nor zip"},
        {mail(part("application/gzip", "Content-Transfer-Encoding: base64\r\n", "A")),
         "base64 that does not decode"},
        {mail(part("text/xml", "Content-Transfer-Encoding: quoted-printable\r\n", "<a/>")),
         "quoted-printable is not supported"},
        {mail(part("text/xml", "", "<html></html>")), "root element is <html>"},
    };
    for (const auto& r : rows) {
        auto f = extract_reports(r.bytes);
        EXPECT_TRUE(f.reports.empty()) << r.says;
        EXPECT_NE(joined(f.problems).find(r.says), std::string::npos) << r.says << " not in:\n"
                                                                      << joined(f.problems);
    }
}

TEST(ReportInExtract, NestingAndPartCountAreCapped) {
    // Nested multiparts deeper than max_nesting: the report at the bottom is not reached.
    std::string body = part("text/xml", "", data_file("google.xml"), "b9");
    for (int i = 8; i >= 0; --i) {
        std::string b = "b" + std::to_string(i), next = "b" + std::to_string(i + 1);
        body = "--" + b + "\r\nContent-Type: multipart/mixed; boundary=" + next + "\r\n\r\n" +
               body + "--" + next + "--\r\n";
    }
    auto deep = extract_reports("From: a@b\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n" +
                                body + "--b0--\r\n");
    EXPECT_TRUE(deep.reports.empty());
    EXPECT_NE(joined(deep.problems).find("nested deeper than 8"), std::string::npos)
        << joined(deep.problems);

    std::string many;
    for (std::size_t i = 0; i < max_parts + 50; ++i) many += part("text/plain", "", "x");
    many += part("text/xml", "", data_file("google.xml"));
    auto wide = extract_reports(mail(many));
    EXPECT_TRUE(wide.reports.empty());
    EXPECT_NE(joined(wide.problems).find("more than 200 MIME parts"), std::string::npos);
}

TEST(ReportInMailParts, LooksLikeMessage) {
    EXPECT_TRUE(looks_like_message("Return-Path: <a@b>\r\n"));
    EXPECT_TRUE(looks_like_message("X-Y:z"));
    EXPECT_FALSE(looks_like_message(": x"));
    EXPECT_FALSE(looks_like_message("From a@b Mon Dec 1\n"));
    EXPECT_FALSE(looks_like_message(std::string(300, 'a') + ":"));
}

} // namespace
