// Fuzz target: the splitmail-headercache file reader (imap/header_cache.hpp header_cache::
// parse and parse_dates), on the input as it is and on the input made into a file whose two
// checksums are right (the date table is the first date_table_size(count) - 8 octets, count
// read where the file has it; the rest is the strings part), so the record parsers are
// reached, not only the checksum tests. Invariants: no crash; a file is either refused whole
// or gives at most one entry per 43 octets, each with at most max_references references; the
// date table is strictly ascending by UID; when the whole file parses, its date table parses
// too and gives the same UIDs and dates in the same order.
#include "imap/header_cache.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

using namespace splitmail::home::imap;

namespace {
void check(std::string_view in) {
    for (std::uint32_t uv : {1700000000u, 1u}) {
        auto dates = header_cache::parse_dates(in, uv);
        if (dates)
            for (std::size_t i = 1; i < dates->size(); ++i)
                if ((*dates)[i - 1].first >= (*dates)[i].first) std::abort();
        auto got = header_cache::parse(in, uv);
        if (!got) continue;
        if (got->size() > in.size() / 43) std::abort();
        if (!dates || dates->size() != got->size()) std::abort();
        for (std::size_t i = 0; i < got->size(); ++i) {
            const auto& [uid, f] = (*got)[i];
            if (f.references.size() > header_cache::max_references) std::abort();
            if ((*dates)[i].first != uid || (*dates)[i].second != f.sent) std::abort();
        }
    }
}

void put_sum(std::string& out, std::string_view part) {
    std::uint64_t h = header_cache::checksum(part);
    char sum[8];
    std::memcpy(sum, &h, 8);
    out.append(sum, 8);
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    check(in);
    // The same bytes with both checksums in place: header and date table, sum, strings, sum.
    std::size_t table = in.size();
    if (in.size() >= header_cache::header_size) {
        std::uint32_t count = 0;
        std::memcpy(&count, in.data() + header_cache::header_size - 4, 4);
        table = std::min(in.size(), header_cache::date_table_size(count) - 8);
    }
    std::string file(in.substr(0, table));
    put_sum(file, file);
    std::size_t strings = file.size();
    file += in.substr(table);
    put_sum(file, std::string_view(file).substr(strings));
    check(file);
    return 0;
}
