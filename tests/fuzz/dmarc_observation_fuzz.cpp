// Fuzz target: the DMARC report record line codec (common splitmail/dmarc/records.hpp), the
// rua= parser (relay/dmarc/policy.hpp) and the report built from what decodes (report.hpp).
// Invariants (abort on violation): a decoded line re-encodes to a line without CR/LF that
// decodes to the same observation; a report built from it counts one message and its text
// holds no '<' or '>' but our (balanced) markup; parse_rua() keeps
// at most 10 addresses, each with an '@' and a non-empty domain.
#include "dmarc/store.hpp"
#include "dmarc/report.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

using namespace splitmail::relay::dmarc;

namespace {
void require(bool ok) {
    if (!ok) std::abort();
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    if (auto o = decode(in)) {
        const std::string line = encode(*o);
        require(line.find('\n') == std::string::npos && line.find('\r') == std::string::npos);
        auto again = decode(line);
        require(again.has_value() && *again == *o);
        auto reps = build_reports(std::vector<observation>{*o}, {"org", "e@x.test", "mx", 0, 1});
        require(reps.size() == 1 && reps[0].messages == 1);
        const auto& x = reps[0].xml;
        // Escaped text holds neither '<' nor '>': only our markup does, and it is balanced.
        std::size_t lt = 0, gt = 0;
        for (char c : x) {
            lt += c == '<';
            gt += c == '>';
        }
        require(lt == gt);
        require(x.find("<header_from>" + xml_escape(o->header_from) + "</header_from>") !=
                std::string::npos);
    }
    const auto rua = parse_rua(in);
    require(rua.size() <= 10);
    for (const auto& u : rua) {
        const auto at = u.address.rfind('@');
        require(at != std::string::npos && at > 0 && at + 1 < u.address.size());
    }
    return 0;
}
