// Fuzz target: clamd's VERSION answer as `splitmail check` reads it (provision/check/
// scanners.hpp) and the findings made from it.
// Invariants (abort on violation): the engine is 1-64 printable characters without spaces; a
// database version comes with a date and vice versa; the date is from 1970 to 9999; every
// finding is one line (no CR/LF) whatever the answer.
#include "check/scanners.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

using namespace splitmail::provision::check;

bool one_line(const std::string& s) { return s.find_first_of("\r\n") == std::string::npos; }

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    auto v = parse_clamd_version(in);
    clamd_probe p;
    if (v) {
        if (v->engine.empty() || v->engine.size() > 64) std::abort();
        for (char c : v->engine) {
            auto u = static_cast<unsigned char>(c);
            if (u <= 0x20 || u >= 0x7f) std::abort();
        }
        if (v->db.has_value() != v->db_time.has_value()) std::abort();
        if (v->db_time && (*v->db_time < 0 || *v->db_time > 253402300799)) std::abort();
        p.version = *v;
    } else {
        p.problem = "VERSION: " + v.error();
    }
    for (const auto& f :
         clamd_findings({"/run/clamav/clamd.ctl", false, "relay.toml"}, p, 1798000000))
        if (!one_line(f.detail) || !one_line(f.fix)) std::abort();
    auto t = parse_ctime(in);
    if (t && (*t < 0 || *t > 253402300799)) std::abort();
    return 0;
}
