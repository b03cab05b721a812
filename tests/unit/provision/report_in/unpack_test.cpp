// gzip and ZIP reading for DMARC reports (provision/report_in/unpack.hpp): round trips, a
// Python-made Google-style zip, truncation, corruption, and zip bombs (made here with zlib:
// 65 MiB of zeros deflate to about 64 KiB).
#include "report_in/unpack.hpp"

#include <gtest/gtest.h>

#include "support/test_data.hpp"
#include <zlib.h>

#include <cstdint>
#include <fstream>
#include <sstream>

using namespace splitmail::provision::report_in;

namespace {

std::string data_file(const std::string& name) {
    return splitmail::test::test_data("dmarc_report_in/" + name);
}

// window_bits: 16 + 15 for gzip, -15 for raw deflate (ZIP).
std::string deflate_with(std::string_view in, int window_bits) {
    z_stream zs{};
    EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, window_bits, 9, Z_DEFAULT_STRATEGY), Z_OK);
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
std::string gzip_of(std::string_view in) { return deflate_with(in, 16 + 15); }

void put16(std::string& s, std::uint32_t v) {
    s.push_back(static_cast<char>(v & 0xff));
    s.push_back(static_cast<char>((v >> 8) & 0xff));
}
void put32(std::string& s, std::uint32_t v) {
    put16(s, v & 0xffff);
    put16(s, v >> 16);
}

struct zip_member {
    std::string name, content;
    int method = 8;
    std::optional<std::uint32_t> declared_size, crc;
    std::uint32_t flags = 0;
};

zip_member m(std::string name, std::string content, int method = 8,
             std::optional<std::uint32_t> declared_size = std::nullopt,
             std::optional<std::uint32_t> crc = std::nullopt, std::uint32_t flags = 0) {
    zip_member z;
    z.name = std::move(name);
    z.content = std::move(content);
    z.method = method;
    z.declared_size = declared_size;
    z.crc = crc;
    z.flags = flags;
    return z;
}

// A ZIP archive as APPNOTE 4.3 lays it out: local headers + data, central directory, EOCD.
std::string make_zip(const std::vector<zip_member>& members) {
    std::string out, cd;
    for (const auto& m : members) {
        std::string packed = m.method == 8 ? deflate_with(m.content, -15) : m.content;
        std::uint32_t crc = m.crc.value_or(
            static_cast<std::uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(m.content.data()),
                                             static_cast<uInt>(m.content.size()))));
        std::uint32_t usize =
            m.declared_size.value_or(static_cast<std::uint32_t>(m.content.size()));
        std::uint32_t offset = static_cast<std::uint32_t>(out.size());
        put32(out, 0x04034b50);
        put16(out, 20);
        put16(out, m.flags);
        put16(out, static_cast<std::uint32_t>(m.method));
        put32(out, 0); // time, date
        put32(out, crc);
        put32(out, static_cast<std::uint32_t>(packed.size()));
        put32(out, usize);
        put16(out, static_cast<std::uint32_t>(m.name.size()));
        put16(out, 0);
        out += m.name + packed;
        put32(cd, 0x02014b50);
        put16(cd, 20);
        put16(cd, 20);
        put16(cd, m.flags);
        put16(cd, static_cast<std::uint32_t>(m.method));
        put32(cd, 0);
        put32(cd, crc);
        put32(cd, static_cast<std::uint32_t>(packed.size()));
        put32(cd, usize);
        put16(cd, static_cast<std::uint32_t>(m.name.size()));
        put16(cd, 0);
        put16(cd, 0);
        put16(cd, 0);
        put16(cd, 0);
        put32(cd, 0);
        put32(cd, offset);
        cd += m.name;
    }
    std::uint32_t cd_offset = static_cast<std::uint32_t>(out.size());
    out += cd;
    put32(out, 0x06054b50);
    put16(out, 0);
    put16(out, 0);
    put16(out, static_cast<std::uint32_t>(members.size()));
    put16(out, static_cast<std::uint32_t>(members.size()));
    put32(out, static_cast<std::uint32_t>(cd.size()));
    put32(out, cd_offset);
    put16(out, 0);
    return out;
}

const std::string xml = "<feedback><report_metadata/></feedback>\n";

TEST(ReportInGunzip, RoundTripsAndConcatenatedMembers) {
    auto r = gunzip(gzip_of(xml));
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(*r, xml);
    auto two = gunzip(gzip_of("<a>") + gzip_of("</a>"));
    ASSERT_TRUE(two) << two.error();
    EXPECT_EQ(*two, "<a></a>");
    auto empty = gunzip(gzip_of(""));
    ASSERT_TRUE(empty);
    EXPECT_EQ(*empty, "");
}

TEST(ReportInGunzip, TruncatedAndCorruptDataAreErrors) {
    std::string gz = gzip_of(std::string(10000, 'x') + xml);
    auto cut = gunzip(std::string_view(gz).substr(0, gz.size() / 2));
    ASSERT_FALSE(cut);
    EXPECT_NE(cut.error().find("truncated"), std::string::npos) << cut.error();
    std::string bad = gz;
    bad[12] = static_cast<char>(bad[12] ^ 0x55);
    bad[13] = static_cast<char>(bad[13] ^ 0x55);
    auto corrupt = gunzip(bad);
    ASSERT_FALSE(corrupt);
    EXPECT_NE(corrupt.error().find("gzip: "), std::string::npos) << corrupt.error();
    EXPECT_FALSE(gunzip("\x1f\x8b"));
    EXPECT_FALSE(gunzip("not gzip at all"));
}

TEST(ReportInGunzip, CapIsExactAndBombsAreRefused) {
    std::string k(1000, 'k');
    EXPECT_TRUE(gunzip(gzip_of(k), 1000));
    auto over = gunzip(gzip_of(k + "!"), 1000);
    ASSERT_FALSE(over);
    EXPECT_NE(over.error().find("more than 1000 bytes"), std::string::npos) << over.error();

    std::string zeros(max_decompressed + 1024 * 1024, '\0'); // 65 MiB
    std::string bomb = gzip_of(zeros);
    zeros = {};
    EXPECT_LT(bomb.size(), 100u * 1024); // a ratio above 600:1
    auto r = gunzip(bomb);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("more than 64 MiB"), std::string::npos) << r.error();
    EXPECT_NE(r.error().find("zip bomb"), std::string::npos) << r.error();
}

TEST(ReportInUnzip, ReadsAGoogleStyleZipMadeByPython) {
    std::string name;
    auto r = unzip_report(data_file("google.zip"), name);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(name, "google.com!example.org!1764979200!1765065599.xml");
    EXPECT_EQ(*r, data_file("google.xml"));
}

TEST(ReportInUnzip, PicksTheXmlMemberOrTheOnlyOne) {
    std::string name;
    auto r = unzip_report(make_zip({m("readme.txt", "hello"), m("REPORT.XML", xml)}), name);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(name, "REPORT.XML");
    EXPECT_EQ(*r, xml);
    auto stored = unzip_report(make_zip({m("report", xml, 0)}), name);
    ASSERT_TRUE(stored) << stored.error();
    EXPECT_EQ(*stored, xml);
    auto none = unzip_report(make_zip({m("a.txt", "1"), m("b.txt", "2")}), name);
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error(), "zip: no .xml member");
}

TEST(ReportInUnzip, RefusesWhatItCannotTrust) {
    std::string name;
    auto says = [&](const std::string& zip, const std::string& what) {
        auto r = unzip_report(zip, name);
        ASSERT_FALSE(r) << what;
        EXPECT_NE(r.error().find(what), std::string::npos) << r.error();
    };
    says(make_zip({m("r.xml", xml, 8, std::nullopt, 12345u)}), "fails its CRC-32 check");
    says(make_zip({m("r.xml", xml, 8, 5u)}), "more than 5 bytes"); // inflates past its size
    says(make_zip({m("r.xml", xml, 8, 500u)}), "not the declared 500");
    says(make_zip({m("r.xml", xml, 12)}), "compression method 12");
    says(make_zip({m("r.xml", xml, 8, std::nullopt, std::nullopt, 1)}), "encrypted");
    says(make_zip({m("r.xml", xml, 0, 3u)}), "two different sizes");
    std::string z = make_zip({m("r.xml", xml)});
    says(z.substr(0, z.size() - 30), "no end of central directory");
    says(z.substr(0, 10), "too short");
    says("PK\x03\x04" + std::string(100, '\0'), "no end of central directory");
    std::string moved = z;
    moved[moved.size() - 6] = '\x7f'; // central directory offset beyond the file
    says(moved, "outside the file");
    std::string no_local = z;
    no_local[0] = 'X';
    says(no_local, "damaged local header");
}

TEST(ReportInUnzip, ZipBombsAreRefused) {
    std::string zeros(max_decompressed + 1024 * 1024, '\0');
    std::string name;
    // Honest header: refused before inflating anything.
    auto honest = make_zip({m("bomb.xml", zeros)});
    auto r = unzip_report(honest, name);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("declares 68157440 bytes, more than 64 MiB"), std::string::npos)
        << r.error();
    // Lying header (says 1 KiB): inflating stops one chunk past the declared size.
    auto liar = make_zip({m("bomb.xml", zeros, 8, 1024u)});
    EXPECT_LT(liar.size(), 100u * 1024);
    auto l = unzip_report(liar, name);
    ASSERT_FALSE(l);
    EXPECT_NE(l.error().find("more than 1024 bytes"), std::string::npos) << l.error();
}

} // namespace
