// Fuzz target: the UIDVALIDITY counter files (imap/uidvalidity.hpp). The first input byte
// picks the file (even: splitmail-uidvalidity, odd: Dovecot's dovecot-uidvalidity), the rest
// is its content. Invariants: no crash; a parsed value is never 0; next_uidvalidity() either
// fails or returns a value above what the file held (when it parsed) and writes exactly that
// value back as the new counter.
#include "imap/uidvalidity.hpp"

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string_view>
#include <unistd.h>

using namespace splitmail::home::imap;

namespace {
struct temp_root {
    std::filesystem::path root;
    temp_root() {
        char tmpl[] = "/tmp/imap-uidvalidity-fuzz-XXXXXX";
        root = ::mkdtemp(tmpl);
    }
    ~temp_root() {
        std::error_code ec;
        std::filesystem::remove_all(root, ec);
    }
};
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const temp_root dir;
    if (size == 0) return 0;
    bool dovecot = (data[0] & 1) != 0;
    std::string_view content(reinterpret_cast<const char*>(data + 1), size - 1);
    auto parsed = dovecot ? parse_dovecot_uidvalidity(content) : parse_uidvalidity_counter(content);
    if (parsed && *parsed == 0) std::abort();
    const char* names[] = {"splitmail-uidvalidity", "dovecot-uidvalidity"};
    for (auto n : names) std::filesystem::remove(dir.root / n);
    std::ofstream(dir.root / names[dovecot ? 1 : 0], std::ios::binary)
        .write(content.data(), static_cast<std::streamsize>(content.size()));
    auto v = next_uidvalidity(dir.root, 1'800'000'000);
    if (!v) return 0;
    if (*v == 0 || (parsed && *v <= *parsed)) std::abort();
    std::ifstream in(dir.root / names[0]);
    std::stringstream ss;
    ss << in.rdbuf();
    if (ss.str() != std::to_string(*v) + "\n") std::abort();
    return 0;
}
