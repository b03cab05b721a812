// gzip and single-member ZIP for DMARC reports; see unpack.hpp.
#include "report_in/unpack.hpp"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <memory>
#include <optional>

namespace splitmail::provision::report_in {
namespace {

std::string mib(std::size_t n) {
    constexpr std::size_t m = 1024 * 1024;
    return n % m == 0 ? std::to_string(n / m) + " MiB" : std::to_string(n) + " bytes";
}

struct inflater {
    z_stream zs{};
    bool ok = false;
    explicit inflater(int window_bits) { ok = inflateInit2(&zs, window_bits) == Z_OK; }
    ~inflater() {
        if (ok) inflateEnd(&zs);
    }
    inflater(const inflater&) = delete;
    inflater& operator=(const inflater&) = delete;
};

// Inflates from `in` (zlib set up by the caller) into `out`, stopping at the stream's end.
// Refuses to write more than `cap` bytes. `what` names the format in errors.
std::expected<void, std::string> inflate_into(inflater& z, std::string_view in, std::string& out,
                                              std::size_t cap, const char* what) {
    constexpr std::size_t chunk = 64 * 1024;
    z.zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.zs.avail_in = static_cast<uInt>(in.size());
    while (true) {
        std::size_t room = std::min(chunk, cap + 1 - std::min(cap + 1, out.size()));
        if (room == 0)
            return std::unexpected(std::string(what) + ": decompresses to more than " + mib(cap) +
                                   " (refused: possible zip bomb)");
        std::size_t old = out.size();
        out.resize(old + room);
        z.zs.next_out = reinterpret_cast<Bytef*>(out.data() + old);
        z.zs.avail_out = static_cast<uInt>(room);
        int rc = inflate(&z.zs, Z_NO_FLUSH);
        out.resize(old + room - z.zs.avail_out);
        if (out.size() > cap)
            return std::unexpected(std::string(what) + ": decompresses to more than " + mib(cap) +
                                   " (refused: possible zip bomb)");
        if (rc == Z_STREAM_END) return {};
        if (rc == Z_BUF_ERROR && z.zs.avail_in == 0)
            return std::unexpected(std::string(what) + ": data ends before the stream does "
                                                       "(truncated)");
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return std::unexpected(std::string(what) + ": corrupt data (" +
                                   (z.zs.msg ? z.zs.msg : "zlib error " + std::to_string(rc)) +
                                   ")");
    }
}

std::uint32_t le16(std::string_view b, std::size_t at) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(b[at])) |
           static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 1])) << 8;
}
std::uint32_t le32(std::string_view b, std::size_t at) {
    return le16(b, at) | le16(b, at + 2) << 16;
}

bool ends_with_xml(std::string_view n) {
    if (n.size() < 4) return false;
    std::string t(n.substr(n.size() - 4));
    std::transform(t.begin(), t.end(), t.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return t == ".xml";
}

struct zip_entry {
    std::uint32_t flags = 0, method = 0, crc = 0, csize = 0, usize = 0, local = 0;
    std::string name;
};

} // namespace

std::expected<std::string, std::string> gunzip(std::string_view gz, std::size_t cap) {
    std::string out;
    // RFC 1952 2.2: a gzip file is a series of members; each is inflated in turn.
    while (true) {
        inflater z(16 + MAX_WBITS); // gzip wrapper only
        if (!z.ok) return std::unexpected(std::string("gzip: zlib could not start"));
        auto r = inflate_into(z, gz, out, cap, "gzip");
        if (!r) return std::unexpected(r.error());
        gz.remove_prefix(gz.size() - z.zs.avail_in);
        if (gz.size() < 2 || gz[0] != '\x1f' || gz[1] != '\x8b') return out;
    }
}

std::expected<std::string, std::string> unzip_report(std::string_view zip, std::string& name,
                                                     std::size_t cap) {
    // APPNOTE 4.3.16: end of central directory record, 22 bytes + a comment of up to 65535.
    constexpr std::size_t eocd_size = 22;
    if (zip.size() < eocd_size) return std::unexpected(std::string("zip: too short"));
    std::size_t eocd = std::string_view::npos;
    std::size_t lowest = zip.size() > eocd_size + 0xFFFF ? zip.size() - eocd_size - 0xFFFF : 0;
    for (std::size_t i = zip.size() - eocd_size + 1; i-- > lowest;) {
        if (le32(zip, i) == 0x06054b50) {
            eocd = i;
            break;
        }
    }
    if (eocd == std::string_view::npos)
        return std::unexpected(std::string("zip: no end of central directory (not a zip file, "
                                           "or truncated)"));
    if (le16(zip, eocd + 4) != 0 || le16(zip, eocd + 6) != 0)
        return std::unexpected(std::string("zip: multi-disk archives are not supported"));
    std::uint32_t entries = le16(zip, eocd + 10);
    std::uint32_t cd_size = le32(zip, eocd + 12);
    std::uint32_t cd_offset = le32(zip, eocd + 16);
    if (entries == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF)
        return std::unexpected(std::string("zip: ZIP64 archives are not supported"));
    if (static_cast<std::uint64_t>(cd_offset) + cd_size > eocd)
        return std::unexpected(std::string("zip: central directory lies outside the file"));
    if (entries == 0) return std::unexpected(std::string("zip: the archive is empty"));

    // APPNOTE 4.3.12: central directory file headers, 46 bytes + name + extra + comment.
    std::optional<zip_entry> chosen;
    std::size_t pos = cd_offset, seen = 0;
    const std::size_t cd_end = static_cast<std::size_t>(cd_offset) + cd_size;
    for (; seen < entries && seen < max_zip_entries; ++seen) {
        if (pos + 46 > cd_end || le32(zip, pos) != 0x02014b50)
            return std::unexpected(std::string("zip: damaged central directory"));
        zip_entry e;
        e.flags = le16(zip, pos + 8);
        e.method = le16(zip, pos + 10);
        e.crc = le32(zip, pos + 16);
        e.csize = le32(zip, pos + 20);
        e.usize = le32(zip, pos + 24);
        std::size_t nlen = le16(zip, pos + 28), xlen = le16(zip, pos + 30),
                    clen = le16(zip, pos + 32);
        e.local = le32(zip, pos + 42);
        if (pos + 46 + nlen + xlen + clen > cd_end)
            return std::unexpected(std::string("zip: damaged central directory"));
        e.name.assign(zip.substr(pos + 46, nlen));
        pos += 46 + nlen + xlen + clen;
        if (ends_with_xml(e.name)) {
            chosen = std::move(e);
            break;
        }
        if (entries == 1) chosen = std::move(e);
    }
    if (!chosen) return std::unexpected(std::string("zip: no .xml member"));
    const zip_entry& e = *chosen;
    name = e.name;
    if (e.flags & 1) return std::unexpected("zip: member " + e.name + " is encrypted");
    if (e.method != 0 && e.method != 8)
        return std::unexpected("zip: member " + e.name + " uses compression method " +
                               std::to_string(e.method) + " (only stored and deflate are read)");
    if (e.csize == 0xFFFFFFFF || e.usize == 0xFFFFFFFF || e.local == 0xFFFFFFFF)
        return std::unexpected(std::string("zip: ZIP64 members are not supported"));
    if (e.usize > cap)
        return std::unexpected("zip: member " + e.name + " declares " + std::to_string(e.usize) +
                               " bytes, more than " + mib(cap) + " (refused: possible zip bomb)");

    // APPNOTE 4.3.7: local file header, 30 bytes + name + extra; then the data. Sizes come
    // from the central directory: with flag bit 3 the local header holds zeros.
    std::size_t lh = e.local;
    if (static_cast<std::uint64_t>(lh) + 30 > cd_offset || le32(zip, lh) != 0x04034b50)
        return std::unexpected(std::string("zip: damaged local header"));
    std::uint64_t data =
        static_cast<std::uint64_t>(lh) + 30 + le16(zip, lh + 26) + le16(zip, lh + 28);
    if (data + e.csize > cd_offset)
        return std::unexpected(std::string("zip: member data lies outside the file"));
    std::string_view packed = zip.substr(static_cast<std::size_t>(data), e.csize);

    std::string out;
    if (e.method == 0) {
        if (e.csize != e.usize)
            return std::unexpected(std::string("zip: stored member with two different sizes"));
        out.assign(packed);
    } else {
        inflater z(-MAX_WBITS); // raw deflate (APPNOTE 4.4.5 method 8)
        if (!z.ok) return std::unexpected(std::string("zip: zlib could not start"));
        // No more than declared: a member that inflates further lied in its header.
        auto r = inflate_into(z, packed, out, e.usize, "zip");
        if (!r) return std::unexpected(r.error());
        if (out.size() != e.usize)
            return std::unexpected("zip: member " + e.name + " inflates to " +
                                   std::to_string(out.size()) + " bytes, not the declared " +
                                   std::to_string(e.usize));
    }
    auto crc = crc32(0L, reinterpret_cast<const Bytef*>(out.data()), static_cast<uInt>(out.size()));
    if (crc != e.crc) return std::unexpected("zip: member " + e.name + " fails its CRC-32 check");
    return out;
}

} // namespace splitmail::provision::report_in
