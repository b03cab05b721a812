// Fuzz target: the Authentication-Results writer's inputs and the forged-field removal
// (relay/sender_auth/auth_results.hpp). Invariants (abort on violation):
//  - whatever the method, result, reason and property text, the field has exactly one CRLF per
//    line we start (header, each method, each property), every other line starts with WSP, no
//    bare CR or LF, no line over 998 octets;
//  - remove_results_for() output is the input minus whole fields (a subsequence of the parsed
//    fields, in order) and then holds no field claiming the authserv-id;
//  - authserv_id_of() returns a substring-sized value (never longer than its input).
#include "dkim/message.hpp"
#include "sender_auth/auth_results.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

using namespace splitmail::relay;
using namespace splitmail::relay::sender_auth;

namespace {
void require(bool ok) {
    if (!ok) std::abort();
}

// Splits the input at NUL bytes into up to 8 strings.
std::vector<std::string> pieces(std::string_view in) {
    std::vector<std::string> out(8);
    std::size_t i = 0;
    for (char c : in) {
        if (c == '\0') {
            if (++i == out.size()) break;
            continue;
        }
        out[i].push_back(c);
    }
    return out;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const auto p = pieces(in);
    std::vector<method_result> m = {{"dkim", p[1], p[2], {{"header.d", p[3]}, {"header.b", p[4]}}},
                                    {"spf", "pass", p[5], {{"smtp.mailfrom", p[6]}}}};
    const std::string f = authentication_results(p[0], m);
    require(f.ends_with("\r\n"));
    std::size_t lines = 0, line_start = 0;
    for (std::size_t i = 0; i < f.size(); ++i) {
        if (f[i] == '\r') require(i + 1 < f.size() && f[i + 1] == '\n');
        if (f[i] == '\n') {
            require(i > 0 && f[i - 1] == '\r');
            require(i - line_start <= 998);
            ++lines;
            line_start = i + 1;
            if (i + 1 < f.size()) require(f[i + 1] == '\t');
        }
    }
    require(lines == 1 + 2 + 3);
    require(authserv_id_of(in).size() <= in.size());

    const std::string id = p[7].empty() ? "mx.example.test" : p[7];
    if (auto r = remove_results_for(in, id)) {
        require(r->fields > 0 && r->block.size() < in.size());
        const auto kept = dkim::parse_header(r->block);
        for (const auto& k : kept)
            if (dkim::iequals(k.name, "authentication-results"))
                require(!dkim::iequals(authserv_id_of(k.raw.substr(k.raw.find(':') + 1)), id));
    }
    return 0;
}
